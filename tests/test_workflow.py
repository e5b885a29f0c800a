"""The Snakemake workflow end to end on config/test.yaml, in a scratch copy of the workflow.

One run (module-scoped) produces every output; the tests read them. A second run from scratch checks
that the Parquet files, tensor files and tables are byte-identical, and an added sigma value trains only the
new cells.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
import yaml

from rfpipe.config import load_config
from rfpipe.sweep import Sweep
from workflow_copy import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
EXPERIMENT = "rotation"
KIND = "rotation"  # the kind of that experiment


_copy_workflow = copy_workflow


def _snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Targets and flags first: --configfile takes every following word as a file.
    proc = subprocess.run([*SNAKEMAKE, *args, "--cores", "2", "--configfile", "config/test.yaml"],
                          cwd=workdir, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of config/test.yaml; returns its working directory."""
    workdir = _copy_workflow(tmp_path_factory.mktemp("wf"))
    _snakemake(workdir)
    return workdir


@pytest.fixture(scope="module")
def sweep() -> Sweep:
    return Sweep(load_config(ROOT / "config/test.yaml"))


def _results(workdir: Path) -> Path:
    return workdir / load_config(ROOT / "config/test.yaml")["results_dir"] / EXPERIMENT


def test_every_output_exists(run: Path, sweep: Sweep) -> None:
    """Each cell has its model, gradient-variance log, metrics and trajectories; the report is complete."""
    exp = _results(run)
    for cell in sweep.experiments[EXPERIMENT].cells.values():
        for name in ("model.pt", "gradvar.parquet", "metrics.parquet", "trajectories.parquet"):
            assert (exp / "cells" / cell.path / name).stat().st_size > 0, (cell.path, name)
        assert (exp / "logs" / "train" / f"{cell.path}.log").read_text().strip()
    for name in ("summary.csv", "summary.md", "verdicts.csv", "verdicts.md"):
        assert (exp / "tables" / name).stat().st_size > 0
    for name in ("gradvar", "gradvar_t", "trajectories", "memorisation_map"):
        assert (exp / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(exp.rglob("*.tmp")), "no temporary files are left behind"


def test_sweep_reads_with_typed_partitions(run: Path, sweep: Sweep) -> None:
    """pyarrow.dataset over the cells folder reads the whole sweep with float sigma, string coupling, int seed."""
    exp = sweep.experiments[EXPERIMENT]
    part = ds.partitioning(pa.schema([("coupling", pa.string()), ("sigma", pa.float64()), ("seed", pa.int64())]),
                           flavor="hive")
    table = ds.dataset(_results(run) / "cells", format="parquet", partitioning=part,
                       exclude_invalid_files=True).to_table()
    assert table.schema.field("sigma").type == pa.float64()
    assert table.schema.field("seed").type == pa.int64()
    frame = ds.dataset([str(p) for p in (_results(run) / "cells").rglob("gradvar.parquet")], format="parquet",
                       partitioning=part, partition_base_dir=str(_results(run) / "cells")).to_table().to_pandas()
    assert set(frame["sigma"]) == {0.0, 0.05} and set(frame["seed"]) == {0, 1}
    # Probe rows at steps 0, probe_every, ... (before each update: the training batch of that step; a fresh probe
    # batch has one more, after the last update); one whole-batch row and t_bins rows per probe.
    settings = exp.settings
    steps = sorted(frame["step"].unique())
    last = settings["steps"] + (settings["probe_batch"] == "fresh")
    assert steps == list(range(0, last, settings["probe_every"]))
    per_probe = frame.groupby(["coupling", "sigma", "seed", "step"]).size()
    assert (per_probe == settings["t_bins"] + 1).all()
    assert (frame["grad_var_trace"] >= 0).all() and (frame["grad_mean_sqnorm"] >= 0).all()


def test_metrics_in_range(run: Path, sweep: Sweep) -> None:
    """Rates lie in [0, 1], distances are positive, every cell x solver_steps x split x metric is present."""
    exp = sweep.experiments[EXPERIMENT]
    frame = ds.dataset([str(p) for p in (_results(run) / "cells").rglob("metrics.parquet")],
                       format="parquet").to_table().to_pandas()
    n = len(exp.cells) * len(exp.settings["solver_steps"]) * (2 * 4 + 1)  # 4 per split, target_collapse on test
    assert len(frame) == n
    rates = frame[frame["metric"].isin(["pair_recovery", "closer_to_partner"])]["value"]
    assert rates.between(0, 1).all()
    assert (frame[frame["metric"] == "target_collapse"]["split"] == "test").all()
    assert (frame[frame["metric"] == "target_collapse"]["value"] >= 0).all()
    assert (frame[frame["metric"].str.startswith("l2")]["value"] > 0).all()


def test_verdict_table(run: Path) -> None:
    """One verdict row per solver_steps, claim C4, one of the allowed words; 'not converged' exactly when a
    rotated cell at sigma 0 or 0.05 did not converge by the convergence table (60 steps: none does here)."""
    import pandas as pd

    verdicts = pd.read_csv(_results(run) / "tables" / "verdicts.csv")
    convergence = pd.read_csv(_results(run) / "tables" / "convergence.csv")
    assert list(verdicts["solver_steps"]) == [5, 11]
    assert set(verdicts["verdict"]) <= {"reproduced", "not reproduced", "inconclusive", "not converged"}
    assert set(verdicts["claim"]) == {"C4"}
    rotated = convergence[convergence["coupling"] == "rotated"]
    assert len(convergence) == 8 and len(rotated) == 4
    expected = "not converged" if not rotated["converged"].all() else None
    assert all((v == expected) if expected else (v != "not converged") for v in verdicts["verdict"])
    assert (verdicts["cells"] == 4).all() and (verdicts["cells_converged"] == rotated["converged"].sum()).all()


def test_timeline_ends_at_the_evaluated_model(run: Path) -> None:
    """Each rotation cell's timeline is evaluated after 20, 40 and 60 updates (timeline_start 20, 60 steps); its
    last point is the trained model itself, so it equals the cell's final training-split metrics exactly."""
    import pandas as pd

    for cell in Sweep(load_config(run / "config/test.yaml")).experiments[EXPERIMENT].cells.values():
        folder = _results(run) / "cells" / cell.path
        timeline = pd.read_parquet(folder / "timeline.parquet")
        assert sorted(timeline["step"].unique()) == [20, 40, 60] and set(timeline["split"]) == {"train"}
        final = pd.read_parquet(folder / "metrics.parquet")
        final = final[final["split"] == "train"].set_index(["solver_steps", "metric"])["value"]
        last = timeline[timeline["step"] == 60].set_index(["solver_steps", "metric"])["value"]
        assert last.to_dict() == final.loc[last.index].to_dict()


def test_rerun_is_a_no_op_and_dry_run_clean(run: Path) -> None:
    """After a complete run, `snakemake -n` has nothing to do."""
    proc = _snakemake(run, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_same_config_same_bytes(run: Path, tmp_path: Path) -> None:
    """A second run from scratch, in another folder, writes byte-identical Parquet files, tensor files (data,
    models) and tables, CSV and Markdown, of every experiment (CPU, same config and seeds)."""
    other = _copy_workflow(tmp_path / "again")
    _snakemake(other)

    def files(root: Path) -> list[Path]:
        results = _results(root).parent
        found = [*results.rglob("*.parquet"), *results.rglob("*.pt"), *results.glob("*/tables/*.csv"),
                 *results.glob("*/tables/*.md")]
        return sorted(p.relative_to(root) for p in found if "checkpoints" not in p.parts)

    first, second = files(run), files(other)
    assert first == second and first
    assert {p.suffix for p in first} == {".parquet", ".pt", ".csv", ".md"}
    differ = [str(rel) for rel in first if (run / rel).read_bytes() != (other / rel).read_bytes()]
    assert not differ, differ


def _planned(run: Path, config: dict) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` plans in the finished ``run`` for ``config``."""
    (run / "config/more.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([*SNAKEMAKE, "-n", "--cores", "2", "--configfile", "config/more.yaml", "--quiet", "rules"],
                          cwd=run, capture_output=True, text=True, check=True)
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def test_adding_sigma_trains_only_new_cells(run: Path, tmp_path: Path) -> None:
    """Adding a sigma value to the grid schedules training for the new cells only."""
    config = yaml.safe_load((run / "config/test.yaml").read_text())
    config["experiments"][EXPERIMENT]["grid"]["sigma"].append(0.1)
    counts = _planned(run, config)
    grid = config["experiments"][EXPERIMENT]["grid"]
    n_new = len(grid["coupling"]) * len(grid["seed"])
    assert counts[f"train_{KIND}"] == n_new and "evaluate" not in counts  # one job trains and evaluates a cell
    assert "data" not in counts  # the data of the existing seeds is reused
    assert counts[f"report_{KIND}"] == 1


@pytest.mark.parametrize("experiment,key,value,rules", [
    ("mog", "alpha", 0.2, {"report_mog"}),
    ("gaussian", "zero_tol", 1e-9, {"report_gaussian_variance"}),
    ("gaussian", "repetitions", 3, {"compute_gaussian_variance", "merge_gaussian_variance",
                                    "report_gaussian_variance"}),
])
def test_changed_setting_reruns_what_reads_it(run: Path, experiment: str, key: str, value: object,
                                              rules: set[str]) -> None:
    """A verdict setting reruns the experiment's report only (no cell retrains); a setting of the Gaussian
    variance job reruns that job and its report. (Plus the tables that gather every report.)"""
    config = yaml.safe_load((run / "config/test.yaml").read_text())
    assert config["experiments"][experiment].get(key) != value
    config["experiments"][experiment][key] = value
    counts = _planned(run, config)
    assert set(counts) - {"all", "report_tables", "paper_results", "total"} == rules, counts
    assert all(counts[r] == 1 for r in rules)


def test_config_error_stops_before_any_job(tmp_path: Path) -> None:
    """A bad config makes snakemake exit non-zero with the key named, and no output is created."""
    workdir = _copy_workflow(tmp_path / "bad")
    config = yaml.safe_load((workdir / "config/test.yaml").read_text())
    config["experiments"][EXPERIMENT]["grid"]["coupling"] = ["rotated", "optimal"]
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(workdir, check=False)
    assert proc.returncode != 0
    assert ("rfpipe config error: experiments.rotation.grid.coupling[1]: 'optimal' is not one of "
            "['rotated', 'independent']") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "results").exists()


def test_lint_is_clean() -> None:
    """`snakemake --lint` on the shipped workflow reports nothing."""
    proc = subprocess.run([*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_gaussian_variance_report(run: Path, sweep: Sweep) -> None:
    """The gaussian_variance experiment writes one Parquet with typed axis columns, and verdicts for C1-C3."""
    import pandas as pd
    import pyarrow.parquet as pq

    root = _results(run).parent / "gaussian"
    table = pq.read_table(root / "variance.parquet")
    assert table.schema.field("sigma").type == pa.float64() and table.schema.field("seed").type == pa.int64()
    exp = sweep.experiments["gaussian"]
    reps, bins = exp.settings["repetitions"], exp.settings["t_bins"]
    assert table.num_rows == len(exp.cells) * reps * 2 * (bins + 1)
    verdicts = pd.read_csv(root / "tables" / "variance_verdicts.csv")
    assert set(verdicts["claim"]) == {"C1", "C2", "C3"}
    assert set(verdicts["verdict"]) <= {"reproduced", "not reproduced", "inconclusive"}
    for name in ("variance_t", "variance_angle", "variance_c3"):
        assert (root / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_mog_report(run: Path, sweep: Sweep) -> None:
    """The mog experiment's cells carry both MMDs; its verdict table has the paper's d = 3 values beside ours."""
    import pandas as pd

    root = _results(run).parent / "mog"
    frame = ds.dataset([str(p) for p in (root / "cells").rglob("metrics.parquet")],
                       format="parquet").to_table().to_pandas()
    assert set(frame[frame["split"] == "test"]["metric"]) == {"generalisation_mmd", "target_collapse"}
    # MMD_b^2 - MMD_u^2 of the same sets and bandwidths is (2 - kbar_xx - kbar_yy) / n >= 0 (test_mmd), and MMD_b^2 >= 0
    for path in (root / "cells").rglob("metrics.parquet"):
        cell = pd.read_parquet(path)
        train = cell[cell["split"] == "train"].pivot_table(index="solver_steps", columns="metric", values="value")
        assert (train["memorisation_mmd_biased"] >= train["memorisation_mmd"]).all()
        assert (train["memorisation_mmd_biased"] >= -1e-9).all()
    verdicts = pd.read_csv(root / "tables" / "verdicts.csv")
    assert list(verdicts["claim"]) == ["C5"]
    assert verdicts["memorisation_mmd_sigma0_paper"].iloc[0] == pytest.approx(1.758e-6)
    for name in ("mmd", "gradvar"):
        assert (root / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_reflow_report(run: Path) -> None:
    """The reflow experiment writes one row per round and metric per cell, and a C8 verdict row."""
    import pandas as pd

    root = _results(run).parent / "reflow"
    frame = ds.dataset([str(p) for p in (root / "cells").rglob("reflow.parquet")],
                       format="parquet").to_table().to_pandas()
    assert sorted(frame["round"].unique()) == [0, 1]
    assert set(frame["metric"]) == {"coupling_shift", "relative_shift", "straightness", "l2_to_ot", "final_loss",
                                   "loss_change", "converged"}
    verdicts = pd.read_csv(root / "tables" / "verdicts.csv")
    assert (verdicts["claim"] == "C8").sum() == 1
    assert (root / "figures" / "reflow.png").read_bytes()[:4] == b"\x89PNG"


def test_reflow_pairs_rule(run: Path, sweep: Sweep) -> None:
    """The reusable ReFlow step, requested for one trained cell: its x_1 is the cell's flow integrated from the
    training sources (the same Euler endpoints the evaluation scored)."""
    import torch

    from rfpipe.data import PairedData
    from rfpipe.pipeline import cell_settings, load_model
    from rfpipe.sampling import integrate

    cell = next(iter(sweep.experiments[EXPERIMENT].cells.values()))
    target = _results(run) / "cells" / cell.path / "reflow_pairs.pt"
    _snakemake(run, str(target.relative_to(run)))
    pairs = torch.load(target, weights_only=True)
    data = PairedData.load(_results(run) / "data" / cell.data_path / "data.pt")
    assert torch.equal(pairs["x_0"], data.train.x_0)
    net = load_model(cell_settings(cell.settings), _results(run) / "cells" / cell.path / "model.pt")
    expected = integrate(net, data.train.x_0, max(cell.settings["solver_steps"]), cell.settings["solver"]).x_1
    assert torch.equal(pairs["x_1"], expected)


def test_images_experiment(run: Path, sweep: Sweep) -> None:
    """The images experiment: one shared image cache; each reflow cell trains on its teacher's generated pairs
    (the independent sigma = 0 cell's flow from the same sources); per-sample L2 for every training source;
    C6 and C7 verdict rows beside Tables 2 and 3; the image grid."""
    import pandas as pd
    import torch

    from rfpipe.data import PairedData

    results = _results(run).parent
    root = results / "images"
    assert [p.relative_to(results).as_posix() for p in (results / "datasets").rglob("images.pt")] == [
        "datasets/mnist5k/resolution=8/images.pt"]
    exp = sweep.experiments["images"]
    for cell in exp.cells.values():
        if cell.settings["coupling"] != "reflow":
            continue
        teacher = exp.cells[exp.teachers()[cell.path]]
        assert teacher.settings["coupling"] == "independent" and teacher.settings["sigma"] == 0.0
        pairs = torch.load(root / "cells" / teacher.path / "reflow_pairs.pt", weights_only=True)
        data = PairedData.load(root / "data" / cell.data_path / "data.pt")
        assert torch.equal(data.train.x_0, pairs["x_0"]) and torch.equal(data.train.x_1, pairs["x_1"])
    samples = pd.read_parquet(root / "cells" / next(iter(exp.cells)) / "samples.parquet")
    n = exp.settings["n_pairs"]
    assert (samples["split"] == "train").sum() == n
    assert (samples[["l2_to_training_partner", "l2_to_ot"]] >= 0).all().all()
    verdicts = pd.read_csv(root / "tables" / "verdicts.csv")
    assert list(verdicts["claim"]) == ["C6", "C7"]
    convergence = pd.read_csv(root / "tables" / "convergence.csv")
    assert len(convergence) == len(exp.cells)
    # the images' tiny training never reaches the sigma = 0 loss target: no verdict on C6 or C7 from it (the
    # independent teacher re-pairs every batch, so no loss target applies to it: only the flatness)
    fixed = (convergence["sigma"] == 0.0) & (convergence["coupling"] != "independent")
    assert fixed.any() and not convergence.loc[fixed, "converged"].any()
    assert set(verdicts["verdict"]) == {"not converged"}
    assert verdicts.loc[verdicts["claim"] == "C7", "l2_to_training_partner_sigma0_paper"].iloc[0] == pytest.approx(8.63)
    for name in ("image_grid", "l2", "gradvar"):
        assert (root / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
