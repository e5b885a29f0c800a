"""The ``reflow`` report (Lemma 2, claim C8): shift of the coupling per ReFlow round, the stall verdict.

C8 rule, fixed before any run, per setting (grid values other than coupling, sigma and seed), on the
``ot`` start (already straight) at sigma = 0: with relative_shift = coupling_shift / mean ||x_1 - x_0||,

- reproduced: relative_shift <= ``stall_tol`` in every seed and every round >= 1;
- not reproduced: relative_shift > ``stall_tol`` in every seed for some round >= 1;
- inconclusive: anything else, or no sigma = 0 cells.

Rows for the ``independent`` start and for sigma > 0 are reported beside it with the same measure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rfpipe.reporting.common import read_cells, save_figure, summarise, write_table
from rfpipe.sweep import Experiment

__all__ = ["c8_verdicts", "report_reflow"]


def c8_verdicts(frame: pd.DataFrame, setting_axes: list[str], stall_tol: float) -> pd.DataFrame:
    """One row per setting, start coupling and sigma: the largest relative shift after round 0, the verdict
    (the claim's verdict is the row with coupling ``ot`` and sigma 0; the others are context)."""
    rel = frame[(frame["metric"] == "relative_shift") & (frame["round"] >= 1)]
    rows = []
    for key, group in rel.groupby([*setting_axes, "coupling", "sigma"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        setting = dict(zip([*setting_axes, "coupling", "sigma"], key))
        per_round = group.pivot_table(index="seed", columns="round", values="value")
        stalled = (per_round <= stall_tol).all(axis=None)
        moved = (per_round > stall_tol).all(axis=0).any()
        claim_row = setting["coupling"] == "ot" and setting["sigma"] == 0.0
        verdict = "reproduced" if stalled else ("not reproduced" if moved else "inconclusive")
        rows.append({"claim": "C8" if claim_row else "C8 (context)", "paper_item": "Lemma 2", **setting,
                     "n_seeds": int(per_round.shape[0]), "max_relative_shift": float(per_round.max(axis=None)),
                     "mean_relative_shift_round1": float(per_round[1].mean()), "stall_tol": stall_tol,
                     "stalls": "yes" if stalled else ("no" if moved else "mixed"),
                     "verdict": verdict if claim_row else None})
    return pd.DataFrame(rows)


def report_reflow(experiment: Experiment, cells_dir: str | os.PathLike, tables_dir: str | os.PathLike,
                  figures_dir: str | os.PathLike) -> None:
    """Write the reflow summary and C8 tables and the per-round figure."""
    tables, figures = Path(tables_dir), Path(figures_dir)
    axes: list[Any] = [a for a in experiment.axes if a not in ("coupling", "sigma", "seed")]
    frame = read_cells(experiment, cells_dir, "reflow.parquet")
    summary = summarise(frame, [*axes, "coupling", "sigma", "metric", "round"])
    write_table(summary, tables / "summary.csv", tables / "summary.md",
                f"{experiment.name}: ReFlow rounds (mean and 95 % CI over seeds)")
    verdicts = c8_verdicts(frame, axes, experiment.settings["stall_tol"])
    write_table(verdicts, tables / "verdicts.csv", tables / "verdicts.md",
                f"{experiment.name}: claim C8 (ReFlow stalls at a straight coupling)")
    grid = sns.relplot(data=frame[frame["metric"].isin(["coupling_shift", "straightness"])], kind="line",
                       x="round", y="value", hue="sigma", style="coupling", col="metric", errorbar=("ci", 95), seed=0,
                       marker="o", height=2.8, aspect=1.2, facet_kws={"sharey": False})
    grid.set(yscale="log")
    save_figure(grid.figure, figures / "reflow.png")
    plt.close("all")
