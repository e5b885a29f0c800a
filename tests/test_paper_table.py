"""The paper results table (rfpipe.reporting.paper) and the generated results page and README block
(rfpipe.reporting.readme).

Each experiment's tables are made the way its report makes them (the real verdict functions and
``summarise`` on small synthetic metrics, written as CSV), then read back into the paper table: no training.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfpipe.reporting.common import summarise
from rfpipe.kinds.gaussian_variance.report import gaussian_verdicts
from rfpipe.kinds.images.report import c6_c7_verdicts
from rfpipe.kinds.mog.report import c5_verdicts
from rfpipe.reporting.paper import (CLAIMS, COLUMNS, claim_summary, paper_table, to_latex,
                                    write_paper_table)
from rfpipe.reporting.readme import (END, FRONT_FIGURES, START, front_figures, main, replace_section, results_page,
                                     results_section)
from rfpipe.reporting.reference import reported_results, reported_value
from rfpipe.kinds.reflow.report import c8_verdicts
from rfpipe.kinds.rotation.report import c4_verdicts
from rfpipe.sweep import Experiment

SIGMA_V = 0.05
SEEDS = [0, 1, 2]


def _experiment(name: str, kind: str, axes: tuple[str, ...], **settings) -> Experiment:
    return Experiment(name, kind, dict(settings), axes, {})


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _rotation(root: Path) -> Experiment:
    """Setting axis n_pairs (16, 256) x solver_steps (11, 31); sigma = 0 near the training partner only at
    n_pairs = 16."""
    exp = _experiment("rot", "rotation", ("n_pairs", "coupling", "sigma", "seed"), verdict_sigma=SIGMA_V)
    rng = np.random.default_rng(0)
    rows = []
    for n in (16, 256):
        for steps in (11, 31):
            for sigma in (0.0, SIGMA_V):
                for seed in SEEDS:
                    near = sigma == 0.0 and n == 16
                    for split in ("train", "test"):
                        values = {"l2_to_training_partner": (0.3 if near else 2.0) + 0.05 * rng.random(),
                                  "l2_to_ot": (2.0 if near else 0.5) + 0.05 * rng.random(),
                                  "pair_recovery": 0.5 * rng.random(), "closer_to_partner": rng.random()}
                        for metric, value in values.items():
                            rows.append({"n_pairs": n, "coupling": "rotated", "sigma": sigma, "seed": seed,
                                         "solver_steps": steps, "split": split, "metric": metric, "value": value})
    metrics = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    _write(summarise(metrics, ["n_pairs", "solver_steps", "split", "metric", "coupling", "sigma"]),
           tables / "summary.csv")
    _write(c4_verdicts(metrics, ["n_pairs"], SIGMA_V), tables / "verdicts.csv")
    return exp


def _mog(root: Path) -> Experiment:
    """dim = 3 as a fixed setting (the paper's d = 3 row)."""
    exp = _experiment("mixture", "mog", ("coupling", "sigma", "seed"), verdict_sigma=SIGMA_V, alpha=0.05, dim=3)
    rng = np.random.default_rng(1)
    rows = []
    for sigma in (0.0, SIGMA_V):
        for seed in SEEDS:
            rows.append({"coupling": "paired", "sigma": sigma, "seed": seed, "solver_steps": 101, "split": "train",
                         "metric": "memorisation_mmd", "value": (0.001 if sigma == 0 else 0.01) + 1e-4 * rng.random()})
            rows.append({"coupling": "paired", "sigma": sigma, "seed": seed, "solver_steps": 101, "split": "test",
                         "metric": "generalisation_mmd", "value": (0.02 if sigma == 0 else 0.005) + 1e-4 * rng.random()})
    metrics = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    _write(summarise(metrics, ["solver_steps", "split", "metric", "coupling", "sigma"]), tables / "summary.csv")
    _write(c5_verdicts(metrics, [], SIGMA_V, 0.05, 3), tables / "verdicts.csv")
    return exp


def _gaussian(root: Path) -> Experiment:
    exp = _experiment("gauss", "gaussian_variance", ("dim", "field", "coupling", "sigma", "seed"), zero_tol=1e-12,
                      alpha=0.05)
    rng = np.random.default_rng(2)
    rows = []
    scale = {("ot", "ot"): 1.0, ("rotated", "rotated"): 3.0, ("ot", "independent"): 2.0,
             ("rotated", "independent"): 4.0, ("ot", "rotated"): 5.0, ("rotated", "ot"): 6.0}
    for dim in (2, 10):
        for (field, coupling), s in scale.items():
            for sigma in (0.0, SIGMA_V):
                for rep in range(8):
                    for space in ("output", "parameter"):
                        own = field == coupling
                        value = 0.0 if (own and sigma == 0.0) else s * (1 + 0.1 * rng.random())
                        rows.append({"dim": dim, "field": field, "coupling": coupling, "sigma": sigma, "seed": 0,
                                     "rep": rep, "space": space, "grad_var_trace": value})
    whole = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    _write(summarise(whole, ["dim", "field", "coupling", "sigma", "space"], value="grad_var_trace", count_by="rep",
                     count_name="n_reps"), tables / "variance_summary.csv")
    _write(gaussian_verdicts(whole, ["dim"], 1e-12, 0.05), tables / "variance_verdicts.csv")
    return exp


def _reflow(root: Path) -> Experiment:
    exp = _experiment("rf", "reflow", ("coupling", "sigma", "seed"), stall_tol=0.01)
    rng = np.random.default_rng(3)
    rows = []
    for coupling in ("ot", "independent"):
        for sigma in (0.0, SIGMA_V):
            for seed in SEEDS:
                for rnd in (0, 1, 2):
                    shift = (0.001 if coupling == "ot" else 0.05) * (1 + rng.random())
                    rows.append({"coupling": coupling, "sigma": sigma, "seed": seed, "round": rnd,
                                 "metric": "relative_shift", "value": shift})
    frame = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    _write(summarise(frame, ["coupling", "sigma", "metric", "round"]), tables / "summary.csv")
    _write(c8_verdicts(frame, [], 0.01), tables / "verdicts.csv")
    return exp


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Experiment], pd.DataFrame]:
    root = tmp_path_factory.mktemp("results")
    exps = {e.name: e for e in (_rotation(root), _gaussian(root), _mog(root), _reflow(root))}
    return root, exps, paper_table(exps, root)


def _verdicts(root: Path, name: str, file: str = "verdicts.csv") -> pd.DataFrame:
    return pd.read_csv(root / name / "tables" / file)


def test_columns_and_row_counts(run) -> None:
    """The issue's columns in order; one row per claim x setting x metric x sigma."""
    root, exps, frame = run
    assert list(frame.columns[:len(COLUMNS)]) == COLUMNS
    counts = frame.groupby("experiment").size().to_dict()
    assert counts["rot"] == 4 * 4 * 2           # (n_pairs x solver_steps) settings x 4 metrics x 2 sigmas
    assert counts["mixture"] == 1 * 2 * 2       # one setting x 2 MMDs x 2 sigmas
    assert counts["rf"] == 4 * 2                # 4 (start, sigma) rows x rounds 1, 2
    g = _verdicts(root, "gauss", "variance_verdicts.csv")
    n_c1, n_paired = int((g["claim"] == "C1").sum()), int((g["claim"] != "C1").sum())
    assert counts["gauss"] == n_c1 * 2 + n_paired * 2  # C1: both sigmas; C2/C3: the A and B traces
    assert not frame.duplicated(["claim", "experiment", "setting", "metric", "sigma"]).any()
    assert list(dict.fromkeys(frame["claim"])) == ["C1", "C2", "C3", "C4", "C5", "C8"]
    assert set(frame["verdict"]) <= {"reproduced", "not reproduced", "inconclusive", ""}
    assert frame["paper_item"].map(lambda item: item in {v[0] for v in CLAIMS.values()}).all()


def test_rotation_rows_copy_the_c4_verdicts(run) -> None:
    root, _, frame = run
    verdicts = _verdicts(root, "rot")
    summary = pd.read_csv(root / "rot" / "tables" / "summary.csv")
    rows = frame[frame["experiment"] == "rot"]
    assert set(verdicts["verdict"]) == {"reproduced", "not reproduced"}  # both outcomes are exercised
    for _, v in verdicts.iterrows():
        setting = f"n_pairs={v['n_pairs']}, solver_steps={v['solver_steps']}"
        part = rows[rows["setting"] == setting]
        assert len(part) == 8
        assert (part["verdict"] == v["verdict"]).all() and np.allclose(part["p_value"], v["p_value"])
        for metric in ("l2_to_training_partner", "pair_recovery"):
            for label, sigma in (("sigma0", 0.0), ("noisy", SIGMA_V)):
                row = part[(part["metric"] == metric) & (part["sigma"] == sigma)].iloc[0]
                assert row["ours_mean"] == pytest.approx(v[f"{metric}_{label}"])
                s = summary[(summary["n_pairs"] == v["n_pairs"]) & (summary["solver_steps"] == v["solver_steps"])
                            & (summary["split"] == "train") & (summary["metric"] == metric)
                            & (summary["sigma"] == sigma)].iloc[0]
                assert (row["ours_ci_low"], row["ours_ci_high"]) == pytest.approx((s["ci_low"], s["ci_high"]))
                assert row["n_seeds"] == len(SEEDS)
    assert rows["paper_value"].isna().all()  # C4: a direction, no reported number


def test_mog_rows_take_the_reported_numbers(run) -> None:
    """paper_value from rfpipe/reference/reported_results.csv (Table 1, d = 3), p-value per MMD."""
    root, _, frame = run
    v = _verdicts(root, "mixture").iloc[0]
    rows = frame[frame["experiment"] == "mixture"].set_index(["metric", "sigma"])
    ref = reported_results()
    for metric, ref_name in (("memorisation_mmd", "memorization_mmd"), ("generalisation_mmd", "generalization_mmd")):
        for sigma in (0.0, SIGMA_V):
            expected = ref[(ref["table"] == "table1") & (ref["setting"] == "d=3") & (ref["metric"] == ref_name)
                           & np.isclose(ref["sigma"], sigma)]["value"].item()
            assert rows.loc[(metric, sigma), "paper_value"] == pytest.approx(expected)
    assert rows.loc[("memorisation_mmd", 0.0), "paper_value"] == pytest.approx(1.758e-6)
    assert rows.loc[("memorisation_mmd", 0.0), "p_value"] == pytest.approx(v["p_memorisation"])
    assert rows.loc[("generalisation_mmd", SIGMA_V), "p_value"] == pytest.approx(v["p_generalisation"])
    assert rows.loc[("generalisation_mmd", 0.0), "ours_mean"] == pytest.approx(v["generalisation_mmd_sigma0"])
    assert set(rows["verdict"]) == {v["verdict"]} == {"reproduced"}
    assert set(rows["setting"]) == {"dim=3, solver_steps=101"}
    assert reported_value("table1", "d=50", "generalisation_mmd", 0.05) == pytest.approx(0.0020)
    assert math.isnan(reported_value("table1", "d=7", "memorisation_mmd", 0.0))


def test_gaussian_rows(run) -> None:
    """C1 rows per field and sigma on its own pairs; C2/C3 rows carry A and B with the Wilcoxon p of A < B."""
    root, _, frame = run
    verdicts = _verdicts(root, "gauss", "variance_verdicts.csv")
    rows = frame[frame["experiment"] == "gauss"]
    c1 = rows[(rows["claim"] == "C1") & (rows["setting"] == "dim=2, space=output, field=rotated, pairs=own")]
    assert list(c1["sigma"]) == [0.0, SIGMA_V]
    assert c1["ours_mean"].iloc[0] == 0.0 and c1["ours_mean"].iloc[1] > 1 and (c1["n_seeds"] == 8).all()
    v = verdicts[(verdicts["claim"] == "C2") & (verdicts["data"] == "own") & (verdicts["dim"] == 10)
                 & (verdicts["space"] == "parameter")].iloc[0]
    c2 = rows[(rows["claim"] == "C2") & (rows["setting"] == "dim=10, space=parameter, pairs=own")]
    assert list(c2["metric"]) == [f"grad_var_trace ({v['a']})", f"grad_var_trace ({v['b']})"]
    assert list(c2["ours_mean"]) == pytest.approx([v["mean_a"], v["mean_b"]])
    assert (c2["p_value"] == v["p_value"]).all() and (c2["verdict"] == v["verdict"]).all()
    c3 = rows[rows["claim"] == "C3"]
    assert len(c3) == 2 * int((verdicts["claim"] == "C3").sum())
    for claim in ("C1", "C2", "C3"):
        want = verdicts[verdicts["claim"] == claim]["verdict"].value_counts().to_dict()
        line = next(s for s in claim_summary(frame) if s.startswith(f"- **{claim}**"))
        assert f"reproduced in {want.get('reproduced', 0)} of {sum(want.values())} tests" in line


def test_reflow_rows(run) -> None:
    """The C8 verdict on the ot start at sigma = 0; the other starts and sigmas are context without a verdict."""
    root, _, frame = run
    v = _verdicts(root, "rf")
    rows = frame[frame["experiment"] == "rf"]
    claim = rows[rows["setting"] == "start=ot"]
    assert list(claim["metric"]) == ["relative_shift (round 1)", "relative_shift (round 2)"]
    assert set(claim["verdict"]) == {v[v["claim"] == "C8"]["verdict"].item()} == {"reproduced"}
    context = rows[rows["setting"].str.endswith("(context)")]
    assert len(context) == 6 and (context["verdict"] == "").all()
    line = next(s for s in claim_summary(frame) if s.startswith("- **C8**"))
    assert "reproduced in 1 of 1 test;" in line


def test_files_markdown_and_latex(run, tmp_path: Path) -> None:
    """CSV with the columns; Markdown headed by one summary line per claim (C1-C8); a well-formed longtable."""
    _, _, frame = run
    csv, md, tex = write_paper_table(frame, tmp_path / "tables", tmp_path / "report" / "paper_results.html")[:3]
    back = pd.read_csv(csv)
    assert list(back.columns) == COLUMNS and len(back) == len(frame)
    assert back["n_seeds"].dtype.kind == "i"
    text = md.read_text()
    head = text[:text.index("| claim |")]
    for claim in CLAIMS:
        assert len(re.findall(rf"^- \*\*{claim}\*\* \(", head, re.M)) == 1, claim
    assert "no rows" in next(s for s in head.splitlines() if s.startswith("- **C6**"))
    assert "reported" in head and "not checked against the PDF" in head
    assert text.count("\n| C") == len(frame)

    latex = tex.read_text()
    assert latex.count(r"\begin{longtable}") == 1 and latex.rstrip().endswith(r"\end{longtable}")
    body = [line for line in latex.splitlines() if re.match(r"C\d", line)]
    assert len(body) == len(frame)
    for line in body:
        assert line.endswith(r"\\")
        assert len(re.findall(r"(?<!\\)&", line)) == len(COLUMNS) - 1
        assert not re.search(r"(?<!\\)[_%#]", line.replace("$", ""))  # escaped text, exponents in math
    assert latex.count("{") - latex.count(r"\{") == latex.count("}") - latex.count(r"\}")
    assert r"solver\_steps=11" in latex
    assert to_latex(frame.iloc[:0]).count(r"\\") >= 2  # an empty table is still a table
    page = (tmp_path / "report" / "paper_results.html").read_text()
    assert page.count("<tr>") == len(frame) + 1 and "<b>C4</b>" in page


TOY_REPORT = """
from rfpipe.reporting.reference import reported_value


def paper_rows(experiment, experiment_dir):
    assert experiment_dir.name == "toys"
    return [{"claim": "C6", "paper_item": "Table 2", "setting": f"n={n}", "metric": "l2_to_ot", "sigma": s,
             "paper_value": reported_value("table2", f"n={n}", "l2_to_ot", s), "ours_mean": 1.0,
             "n_seeds": 2, "verdict": "reproduced" if n == 5000 else "inconclusive"}
            for n in (5000, 50000) for s in (0.0, 0.05)]
"""


def test_registry_plugs_in_a_kind(run, caplog: pytest.LogCaptureFixture, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind plugs in with its package's report.paper_rows, registered once; a kind not registered is skipped
    with a warning."""
    from rfpipe import kinds
    from rfpipe.settings import CellSettings

    root, exps, _ = run
    package = tmp_path / "toykind"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "report.py").write_text(TOY_REPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    kinds.kinds()  # the built-in kinds first, then the toy
    kinds.register(kinds.Kind(name="toy", settings=CellSettings, package="toykind"))
    try:
        toy = _experiment("toys", "toy", ("coupling", "sigma", "seed"))
        other = _experiment("nothing", "unknown_kind", ("coupling", "sigma", "seed"))
        frame = paper_table({**exps, "toys": toy, "nothing": other}, root)
    finally:
        kinds._KINDS.pop("toy")
    assert "unknown_kind" in caplog.text
    rows = frame[frame["experiment"] == "toys"]
    assert len(rows) == 4 and list(frame["claim"].drop_duplicates()) == ["C1", "C2", "C3", "C4", "C5", "C6", "C8"]
    assert rows["paper_value"].tolist() == pytest.approx([50.40, 34.25, 46.78, 30.05])
    assert math.isnan(rows["p_value"].iloc[0]) and rows["ours_ci_low"].isna().all()
    line = next(s for s in claim_summary(frame) if s.startswith("- **C6**"))
    assert line == "- **C6** (Table 2): reproduced in 1 of 2 tests (inconclusive 1); experiments: toys."


def test_images_rows(tmp_path: Path) -> None:
    """C6 and C7 rows from the images report's verdict table, beside Table 2 / Table 3 at the row's
    paper_setting; the C6 size trend as one test with two rows."""
    rng = np.random.default_rng(4)
    rows = []
    for coupling, sizes in (("adversarial", (64, 256)), ("reflow", (64,))):
        for n in sizes:
            for sigma in (0.0, SIGMA_V):
                for seed in SEEDS:
                    near = {"l2_to_training_partner": 5.0, "l2_to_ot": 9.0} if sigma == 0 else \
                        {"l2_to_training_partner": 9.0, "l2_to_ot": 5.0}
                    for metric, value in {**near, "pair_recovery": 0.5}.items():
                        rows.append({"n_pairs": n, "coupling": coupling, "sigma": sigma, "seed": seed,
                                     "solver_steps": 20, "split": "train", "metric": metric,
                                     "value": value + rng.random()})
    metrics = pd.DataFrame(rows)
    tables = tmp_path / "imgs" / "tables"
    _write(summarise(metrics, ["n_pairs", "solver_steps", "split", "metric", "coupling", "sigma"]),
           tables / "summary.csv")
    verdicts = c6_c7_verdicts(metrics, ["n_pairs"], SIGMA_V, 0.05)
    _write(verdicts, tables / "verdicts.csv")
    exp = _experiment("imgs", "images", ("n_pairs", "coupling", "sigma", "seed"), verdict_sigma=SIGMA_V)
    frame = paper_table({"imgs": exp}, tmp_path).set_index(["setting", "metric", "sigma"])
    c6 = frame.loc[("coupling=adversarial, n_pairs=256, solver_steps=20", "l2_to_training_partner", 0.0)]
    assert c6["claim"] == "C6" and c6["paper_value"] == pytest.approx(45.98)  # Table 2, n=50000, sigma = 0
    v = verdicts[(verdicts["claim"] == "C6") & (verdicts["n_pairs"].astype(str) == "256")].iloc[0]
    assert c6["p_value"] == pytest.approx(v["p_sigma0"]) and c6["verdict"] == v["verdict"] == "reproduced"
    assert c6["ours_mean"] == pytest.approx(v["l2_to_training_partner_sigma0"])
    c7 = frame.loc[("coupling=reflow, n_pairs=64, solver_steps=20", "l2_to_ot", SIGMA_V)]
    assert c7["claim"] == "C7" and c7["paper_value"] == pytest.approx(31.35)  # Table 3, n=5000
    assert c7["p_value"] == pytest.approx(verdicts[verdicts["claim"] == "C7"]["p_noisy"].item())
    size = frame[frame.index.get_level_values("setting").str.endswith("(size trend)")]
    assert len(size) == 2 and size["paper_value"].isna().all()
    summary = claim_summary(frame.reset_index())
    assert next(s for s in summary if s.startswith("- **C6**")).startswith("- **C6** (Table 2): reproduced in 2 of 3 tests")
    assert next(s for s in summary if s.startswith("- **C7**")) == \
        "- **C7** (Table 3): reproduced in 1 of 1 test; experiments: imgs."


def _finished_run(root: Path, frame: pd.DataFrame) -> None:
    write_paper_table(frame, root / "tables")
    (root / "tables" / "paper_results.json").write_text(json.dumps({
        "configfiles": ["config/test.yaml"], "cells": 12, "job_seconds": 300.0, "wall_seconds": 190.0,
        "written": "2026-01-01T00:00:00+00:00",
        "experiments": {"rot": {"kind": "rotation", "cells": 8, "axes": ["n_pairs", "coupling", "sigma", "seed"]},
                        "rf": {"kind": "reflow", "cells": 4, "axes": ["coupling", "sigma", "seed"]}}}))
    for exp, fig in (("rot", "memorisation_map"), ("rf", "reflow")):
        (root / exp / "figures").mkdir(parents=True, exist_ok=True)
        (root / exp / "figures" / f"{fig}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + exp.encode())


def test_results_page_and_readme_block(run, tmp_path: Path) -> None:
    """The results page is written whole (the scale and times, the summary lines, every key figure, the table);
    of the README only the text between the markers changes (the summary lines, the front figures, a link to
    the page; no times). --check passes on a rerun's times only."""
    _, _, frame = run
    results = tmp_path / "results"
    _finished_run(results, frame)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Results\n\n{START}\nold text\n{END}\n\n## Layout\nkept\n")
    page = tmp_path / "docs" / "results.md"
    figures = tmp_path / "docs" / "figures"
    args = [str(results), "--readme", str(readme), "--page", str(page), "--figures-dir", str(figures)]
    assert main(args + ["--check"]) == 1
    assert not page.exists() and not figures.exists()  # --check writes nothing
    assert main(args) == 0

    text = readme.read_text()
    assert text.startswith("# Title\n\n## Results\n\n" + START + "\n") and text.endswith(END + "\n\n## Layout\nkept\n")
    assert "old text" not in text
    block = text[text.index(START):text.index(END)]
    for claim in CLAIMS:
        assert len(re.findall(rf"^- \*\*{claim}\*\* \(", block, re.M)) == 1, claim
    assert '<img src="docs/figures/rot_memorisation_map.png" alt="rot: memorisation_map" width="32%">' in block
    assert '<img src="docs/figures/rf_reflow.png"' in block
    assert "[docs/results.md](docs/results.md)" in block
    assert "| C" not in block and "wall time" not in block and "2026" not in block and " min" not in block
    assert len(block.splitlines()) <= 20

    body = page.read_text()
    assert body.startswith(f"<!-- Generated by `python -m rfpipe.reporting.readme {results}` from ")
    assert "do not edit by hand" in body.splitlines()[0]
    assert "`config/test.yaml`: 12 cells (8 rot, 4 rf)" in body and "5 min in total" in body
    assert "wall time: 3 min from the first output" in body and "written 2026-01-01 00:00 UTC" in body
    for claim in CLAIMS:
        assert len(re.findall(rf"^- \*\*{claim}\*\* \(", body, re.M)) == 1, claim
    assert "![rot: memorisation_map](figures/rot_memorisation_map.png)" in body
    assert "![rf: reflow](figures/rf_reflow.png)" in body
    assert "[README](../README.md)" in body
    assert f"## The full table ({len(frame)} rows)" in body and body.count("\n| C") == len(frame)
    assert "`paper_value`" in body
    assert (figures / "rf_reflow.png").read_bytes().endswith(b"rf")
    assert (figures / "rot_memorisation_map.png").read_bytes().endswith(b"rot")

    assert main(args + ["--check"]) == 0
    page.write_text(body.replace("written 2026-01-01 00:00 UTC", "written 2027-05-05 12:00 UTC"))
    assert main(args + ["--check"]) == 0  # the run's times aside
    page.write_text(body.replace("- **C1** (", "- **C1** (x", 1))
    assert main(args + ["--check"]) == 1  # a stale page
    page.write_text(body.replace("8 rot, 4 rf", "8 rot, 5 rf"))
    assert main(args + ["--check"]) == 1  # the scale is not a time
    page.write_text(body)
    readme.write_text(text.replace("- **C8** (", "- **C8** (x", 1))
    assert main(args + ["--check"]) == 1  # a stale README block, the page up to date
    readme.write_text(text)
    (figures / "rf_reflow.png").unlink()
    assert main(args + ["--check"]) == 1  # a linked figure is missing
    assert main(args) == 0 and main(args + ["--check"]) == 0
    page.unlink()
    assert main(args + ["--check"]) == 1
    assert main(args) == 0 and page.read_text() == body and readme.read_text() == text  # idempotent

    again = replace_section(text, results_section(results, tmp_path, figures, page=page))
    assert again == text
    assert results_page(results, page.parent, figures, readme=readme) == body
    assert "wall time: 11 min on 2 cores;" in results_page(results, tmp_path, None, wall_time="11 min on 2 cores")

    bare = tmp_path / "BARE.md"
    bare.write_text("# no markers\n")
    other = tmp_path / "other" / "results.md"
    assert main([str(results), "--readme", str(bare), "--page", str(other), "--figures-dir", str(figures)]) == 1
    assert bare.read_text() == "# no markers\n" and not other.exists()
    with pytest.raises(ValueError, match="markers"):
        replace_section("nothing", "x")
    assert main([str(tmp_path / "no_run"), "--readme", str(readme), "--page", str(page), "--check"]) == 1


def test_front_figures() -> None:
    """The README shows the first figure of each FRONT_FIGURES name, in the run's order, filled up to three."""
    def figs(*pairs: tuple[str, str]) -> list[tuple[str, str, Path]]:
        return [(exp, fig, Path(f"{exp}/{fig}.png")) for exp, fig in pairs]

    def names(chosen: list[tuple[str, str, Path]]) -> list[tuple[str, str]]:
        return [(exp, fig) for exp, fig, _ in chosen]

    assert FRONT_FIGURES == ("trajectories", "variance_angle", "image_grid")
    default = figs(("rotation", "trajectories"), ("rotation_map", "memorisation_map"), ("gaussian", "variance_angle"),
                   ("gaussian", "variance_c3"), ("mog", "mmd"), ("reflow", "reflow"), ("images", "image_grid"),
                   ("images", "l2"), ("images_reflow", "image_grid"))
    assert names(front_figures(default)) == [("rotation", "trajectories"), ("gaussian", "variance_angle"),
                                             ("images", "image_grid")]
    no_images = [f for f in default if not f[0].startswith("images")]
    assert names(front_figures(no_images)) == [("rotation", "trajectories"), ("rotation_map", "memorisation_map"),
                                               ("gaussian", "variance_angle")]
    assert names(front_figures(figs(("rf", "reflow"), ("rot", "memorisation_map")))) == [
        ("rf", "reflow"), ("rot", "memorisation_map")]
    assert names(front_figures(default, n=1)) == [("rotation", "trajectories")]
    assert front_figures([]) == []
