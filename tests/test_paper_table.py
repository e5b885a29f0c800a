"""The paper results table (rfpipe.reporting.paper) and the generated results page and README block
(rfpipe.reporting.readme).

The run (``paper_run``, tests/synthetic_run.py) holds each experiment's tables made the way its report makes them
(the real verdict functions and ``summarise`` on small synthetic metrics, written as CSV), read back into the
paper table: no training. The rows each kind contributes are tested in tests/kinds/test_<kind>.py.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from synthetic_run import experiment, read_table

from rfpipe.reporting.paper import CLAIMS, COLUMNS, claim_summary, paper_table, to_latex, write_paper_table
from rfpipe.reporting.readme import (END, FRONT_FIGURES, START, front_figures, main, replace_section, results_page,
                                     results_section)


def test_columns_and_row_counts(paper_run) -> None:
    """The issue's columns in order; one row per claim x setting x metric x sigma."""
    root, exps, frame = paper_run
    assert list(frame.columns[:len(COLUMNS)]) == COLUMNS
    counts = frame.groupby("experiment").size().to_dict()
    assert counts["rot"] == 4 * 4 * 2           # (n_pairs x solver_steps) settings x 4 metrics x 2 sigmas
    assert counts["mixture"] == 1 * 3 * 2       # one setting x 3 MMDs (memorisation u, b; generalisation) x 2 sigmas
    assert counts["rf"] == 4 * 2                # 4 (start, sigma) rows x rounds 1, 2
    g = read_table(root, "gauss", "variance_verdicts.csv")
    n_c1, n_paired = int((g["claim"] == "C1").sum()), int((g["claim"] != "C1").sum())
    assert counts["gauss"] == n_c1 * 2 + n_paired * 2  # C1: both sigmas; C2/C3: the A and B traces
    assert not frame.duplicated(["claim", "experiment", "setting", "metric", "sigma"]).any()
    assert list(dict.fromkeys(frame["claim"])) == ["C1", "C2", "C3", "C4", "C5", "C8"]
    assert set(frame["verdict"]) <= {"reproduced", "not reproduced", "inconclusive", ""}
    assert frame["paper_item"].map(lambda item: item in {v[0] for v in CLAIMS.values()}).all()



def test_files_markdown_and_latex(paper_run, tmp_path: Path) -> None:
    """CSV with the columns; Markdown headed by one summary line per claim (C1-C8); a well-formed longtable."""
    _, _, frame = paper_run
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


def test_registry_plugs_in_a_kind(paper_run, caplog: pytest.LogCaptureFixture, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind plugs in with its package's report.paper_rows, registered once; a kind not registered is skipped
    with a warning."""
    from rfpipe import kinds
    from rfpipe.settings import CellSettings

    root, exps, _ = paper_run
    package = tmp_path / "toykind"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "report.py").write_text(TOY_REPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    kinds.kinds()  # the built-in kinds first, then the toy
    kinds.register(kinds.Kind(name="toy", settings=CellSettings, package="toykind"))
    try:
        toy = experiment("toys", "toy", ("coupling", "sigma", "seed"))
        other = experiment("nothing", "unknown_kind", ("coupling", "sigma", "seed"))
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


def test_results_page_and_readme_block(paper_run, tmp_path: Path) -> None:
    """The results page is written whole (the scale and times, the summary lines, every key figure, the table);
    of the README only the text between the markers changes (the summary lines, the front figures, a link to
    the page; no times). --check passes on a rerun's times only."""
    _, _, frame = paper_run
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



def test_claim_summary_counts_unconverged_tests_apart() -> None:
    """Tests whose training did not converge are no verdict on the claim: counted apart, never in 'of N'."""
    import pandas as pd

    def frame(verdicts):
        return pd.DataFrame({"claim": "C4", "experiment": "rot", "unit": [f"u{i}" for i in range(len(verdicts))],
                             "setting": "s", "verdict": verdicts})

    (line,) = [s for s in claim_summary(frame(["reproduced", "not converged", "not reproduced"]))
               if s.startswith("- **C4**")]
    assert line.startswith("- **C4** (Counter Example 1, Figure 6): reproduced in 1 of 2 tests (not reproduced 1); "
                           "not converged 1 (")
    (line,) = [s for s in claim_summary(frame(["not converged"] * 3)) if s.startswith("- **C4**")]
    assert "no verdict: 3 of 3 tests not converged" in line and "reproduced in" not in line


def test_converged_column_follows_the_cells_behind_the_row() -> None:
    """``converged``: yes when every cell behind a verdict row met its criterion, no when one did not (and the
    verdict then reads not converged), empty where no cell was trained (closed forms: no cell counts)."""
    from rfpipe.reporting.paper import converged_text, verdict_metric_rows

    assert converged_text({"cells": 6, "cells_converged": 6}) == "yes"
    assert converged_text({"cells": 6, "cells_converged": 5}) == "no"
    assert converged_text({"cells": 0, "cells_converged": 0}) == ""
    assert converged_text({"verdict": "reproduced"}) == ""
    verdict = {"claim": "C4", "paper_item": "x", "n_pairs": 16, "verdict": "not converged", "cells": 6,
               "cells_converged": 3, "l2_sigma0": 1.0, "l2_noisy": 2.0, "n_seeds": 3}
    rows = verdict_metric_rows(verdict, pd.DataFrame(columns=["metric", "sigma", "n_pairs", "mean"]),
                               setting_cols=["n_pairs"], metrics=["l2"], sigmas={"sigma0": 0.0, "noisy": 0.05},
                               summary_match={})
    assert [r["converged"] for r in rows] == ["no", "no"] and {r["verdict"] for r in rows} == {"not converged"}


def test_converged_column_in_every_output(paper_run, tmp_path: Path) -> None:
    """The column is in the CSV and the LaTeX table; the closed-form rows leave it empty."""
    _, _, frame = paper_run
    assert "converged" in COLUMNS and set(frame.loc[frame["experiment"] == "gauss", "converged"]) == {""}
    assert "Converged" in to_latex(frame)
