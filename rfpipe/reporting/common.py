"""Shared pieces of the reports: reading a sweep, intervals, tables and figure files.

Intervals are Student-t 95 % intervals of the mean, mean +- t_{0.975, n-1} s / sqrt(n) (NaN for n < 2).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from rfpipe.failures import cell_failures as _failure_records  # noqa: E402
from rfpipe.io import atomic_path, write_text  # noqa: E402
from rfpipe.sweep import Experiment  # noqa: E402

__all__ = ["failed_cells", "label", "mark_failed_cells", "markdown_table", "mean_ci", "plot_gradvar", "read_cells",
           "plot_timeline", "save_figure", "write_convergence",
           "summarise", "write_table"]


def read_cells(experiment: Experiment, cells_dir: str | os.PathLike, filename: str) -> pd.DataFrame:
    """Read ``filename`` of every cell into one frame, with the path keys as typed columns."""
    root = Path(cells_dir)
    files = [str(root / cell.path / filename) for cell in experiment.cells.values()]
    partitioning = ds.partitioning(experiment.partition_schema(), flavor="hive")
    dataset = ds.dataset(files, format="parquet", partitioning=partitioning, partition_base_dir=str(root))
    return dataset.to_table().to_pandas()


def mean_ci(values: Any) -> tuple[float, float, float]:
    """Mean and Student-t 95 % interval of the mean of ``values`` (NaN bounds for fewer than 2)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def summarise(frame: pd.DataFrame, by: list[str], value: str = "value", count_by: str = "seed",
              count_name: str = "n_seeds") -> pd.DataFrame:
    """One row per group of ``by``: ``mean``, ``ci_low``, ``ci_high`` of ``value``, and the number of distinct
    ``count_by`` values (seeds, or repetitions) as ``count_name``."""
    rows = []
    for key, group in frame.groupby(by, sort=True, dropna=False):
        m, lo, hi = mean_ci(group[value])
        rows.append({**dict(zip(by, key)), "mean": m, "ci_low": lo, "ci_high": hi,
                     count_name: int(group[count_by].nunique())})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table of ``frame``."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, csv: Path, md: Path, title: str) -> None:
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    write_text(f"# {title}\n\n" + markdown_table(frame), md)


def save_figure(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def label(frame: pd.DataFrame, axes: list[str]) -> pd.Series:
    if not axes:
        return pd.Series("all", index=frame.index)
    return frame[axes].astype(str).apply(lambda r: ", ".join(f"{a}={v}" for a, v in zip(axes, r)), axis=1)


FAILED_COLUMNS = ["cell", "error", "record"]


def failed_cells(experiment: Experiment, experiment_dir: str | os.PathLike) -> pd.DataFrame:
    """The cells of ``experiment`` whose training stopped on a NaN or inf, or whose teacher's did (their failure
    records, :mod:`rfpipe.integrity`): one row per cell with its hive path, the error and the record's path."""
    records = _failure_records(experiment_dir, experiment.cells, experiment.teachers())
    return pd.DataFrame([{"cell": path, **{k: r[k] for k in ("error", "record")}} for path, r in records.items()],
                        columns=FAILED_COLUMNS)


def mark_failed_cells(failed: pd.DataFrame, tables: Path, since: float) -> None:
    """Mark failed cells in the report: ``tables/failed_cells.csv`` and ``.md`` (removed when none failed), and a
    closing "Failed cells" section in every Markdown table written at or after ``since`` (a time.time())."""
    csv, md = tables / "failed_cells.csv", tables / "failed_cells.md"
    if failed.empty:
        csv.unlink(missing_ok=True)
        md.unlink(missing_ok=True)
        return
    write_table(failed, csv, md, "Failed cells (training stopped on a NaN or inf; not in the other tables)")
    note = (f"\n## Failed cells\n\n{len(failed)} cell(s) failed and are left out of this table "
            f"(see failed_cells.md): {', '.join(f'`{c}`' for c in failed['cell'])}.\n")
    for path in sorted(tables.glob("*.md")):
        if path != md and path.stat().st_mtime >= since:
            write_text(path.read_text() + note, path)


def plot_gradvar(gradvar: pd.DataFrame, setting_axes: list[str], path: Path) -> None:
    """grad_var_trace over training steps by sigma (95 % CI over seeds), one panel per coupling x setting."""
    g = gradvar[gradvar["t_bin"].isna()].copy()
    g["setting"] = label(g, setting_axes)
    grid = sns.relplot(data=g, kind="line", x="step", y="grad_var_trace", hue="sigma", col="coupling",
                       row="setting" if setting_axes else None, errorbar=("ci", 95), seed=0,
                       palette="viridis", height=2.8, aspect=1.3,
                       facet_kws={"sharey": False})
    grid.set(yscale="log")
    save_figure(grid.figure, path)


def write_convergence(experiment: Experiment, cells_dir: str | os.PathLike, tables: Path) -> pd.DataFrame:
    """Every cell's convergence (its ``convergence.parquet``: :mod:`rfpipe.convergence`) as
    ``tables/convergence.{csv,md}``, one row per cell in grid order; returns the frame (for the verdicts)."""
    frame = read_cells(experiment, cells_dir, "convergence.parquet")
    axes = list(experiment.axes)
    frame = frame[[*axes, "updates", "final_loss", "loss_change", "converged"]]
    n, k = len(frame), int(frame["converged"].sum())
    write_table(frame, tables / "convergence.csv", tables / "convergence.md",
                f"{experiment.name}: convergence of every cell ({k} of {n} converged; rfpipe.convergence)")
    return frame


def plot_timeline(experiment: Experiment, cells_dir: str | os.PathLike, path: Path) -> None:
    """The memorisation timeline: ``closer_to_partner``, ``pair_recovery`` and the L2 gap ``l2_to_ot -
    l2_to_training_partner`` (> 0: nearer the training partner) of the training sources over training ``step``
    (log scale), by sigma (95 % CI over seeds), one line style per coupling, one row per setting (grid values but
    coupling, sigma and seed), at the largest ``solver_steps``."""
    frame = read_cells(experiment, cells_dir, "timeline.parquet")
    if frame.empty:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no timeline (timeline_start: 0)", ha="center", va="center")
        save_figure(fig, path)
        return
    axes = list(experiment.axes)
    frame = frame[frame["solver_steps"] == frame["solver_steps"].max()]
    wide = frame.pivot_table(index=[*axes, "step"], columns="metric", values="value").reset_index()
    wide["l2_gap"] = wide["l2_to_ot"] - wide["l2_to_training_partner"]
    long = wide.melt(id_vars=[*axes, "step"], value_vars=["closer_to_partner", "pair_recovery", "l2_gap"],
                     var_name="metric", value_name="value")
    setting_axes = [a for a in axes if a not in ("coupling", "sigma", "seed")]
    long["setting"] = label(long, setting_axes)
    grid = sns.relplot(data=long, kind="line", x="step", y="value", hue="sigma", style="coupling", col="metric",
                       row="setting" if setting_axes else None, errorbar=("ci", 95), seed=0, palette="viridis",
                       markers=True, height=2.6, aspect=1.3, facet_kws={"sharey": False})
    grid.set(xscale="log")
    save_figure(grid.figure, path)
