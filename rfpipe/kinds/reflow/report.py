"""The ``reflow`` report (Lemma 2, claim C8): shift of the coupling per ReFlow round, the stall verdict.

C8 rule, fixed before any run, per setting (grid values other than coupling, sigma and seed), on the
``ot`` start (already straight) at sigma = 0: with relative_shift = coupling_shift / mean ||x_1 - x_0||,

- reproduced: relative_shift <= ``stall_tol`` in every seed and every round >= 1;
- not reproduced: relative_shift > ``stall_tol`` in every seed for some round >= 1;
- inconclusive: anything else, or no sigma = 0 cells;

and before all of these ``not converged`` when any round of a cell it rests on did not meet its convergence
criterion (the round's ``converged`` in ``reflow.parquet``; :mod:`rfpipe.convergence`).

That is the shared rule (:func:`rfpipe.reporting.verdict.decide`) with "stalls" as the evidence for the claim,
"moved in some round" against it, and no minimum number of seeds beyond one. Rows for the ``independent``
start and for sigma > 0 are reported beside it with the same measure.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rfpipe.reporting.common import read_cells, save_figure, summarise, write_table
from rfpipe.reporting.verdict import decide
from rfpipe.kinds.reflow import KIND
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.paper import (CLAIMS, axes_except, converged_text, read_table, setting_text, summary_stats,
                                    verdict_text)
from rfpipe.sweep import Experiment

__all__ = ["c8_verdicts", "report_reflow", "paper_rows", "report"]


def c8_verdicts(frame: pd.DataFrame, setting_axes: list[str], stall_tol: float) -> pd.DataFrame:
    """One row per setting, start coupling and sigma: the largest relative shift after round 0, the verdict
    (the claim's verdict is the row with coupling ``ot`` and sigma 0; the others are context). Like every rule it
    needs two seeds; a setting without ``ot`` cells at sigma 0 gets a C8 row ``inconclusive`` (nothing tested
    the claim there)."""
    rel = frame[(frame["metric"] == "relative_shift") & (frame["round"] >= 1)]
    record = frame[frame["metric"] == "converged"]
    rows = []
    for key, group in rel.groupby([*setting_axes, "coupling", "sigma"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        setting = dict(zip([*setting_axes, "coupling", "sigma"], key))
        per_round = group.pivot_table(index="seed", columns="round", values="value")
        stalled = (per_round <= stall_tol).all(axis=None)
        moved = (per_round > stall_tol).all(axis=0).any()
        claim_row = setting["coupling"] == "ot" and setting["sigma"] == 0.0
        mine = record.merge(group[["seed", *setting]].drop_duplicates(), on=["seed", *setting])
        every_round = mine.groupby("seed")["value"].min() if len(mine) else pd.Series(dtype=float)
        cells, cells_converged = int(len(every_round)), int((every_round == 1.0).sum())
        # a threshold rule, no test: in every seed and round; at least two seeds, as every rule asks
        verdict = decide([stalled], [moved], int(per_round.shape[0]), converged=cells_converged == cells)
        rows.append({"claim": "C8" if claim_row else "C8 (context)", "paper_item": "Lemma 2", **setting,
                     "n_seeds": int(per_round.shape[0]), "max_relative_shift": float(per_round.max(axis=None)),
                     "mean_relative_shift_round1": float(per_round[1].mean()), "stall_tol": stall_tol,
                     "stalls": "yes" if stalled else ("no" if moved else "mixed"),
                     "cells_converged": cells_converged, "cells": cells,
                     "verdict": verdict if claim_row else None})
    tested = {tuple(r[a] for a in setting_axes) for r in rows if r["claim"] == "C8"}
    for key in sorted({tuple(r[a] for a in setting_axes) for r in rows} - tested):
        rows.append({"claim": "C8", "paper_item": "Lemma 2", **dict(zip(setting_axes, key)), "coupling": "ot",
                     "sigma": 0.0, "n_seeds": 0, "stall_tol": stall_tol, "stalls": "untested",
                     "verdict": decide([False], [False], 0)})
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
    verdicts = c8_verdicts(frame, axes, KIND.report_of(experiment.settings).stall_tol)
    write_table(verdicts, tables / "verdicts.csv", tables / "verdicts.md",
                f"{experiment.name}: claim C8 (ReFlow stalls at a straight coupling)")
    grid = sns.relplot(data=frame[frame["metric"].isin(["coupling_shift", "straightness"])], kind="line",
                       x="round", y="value", hue="sigma", style="coupling", col="metric", errorbar=("ci", 95), seed=0,
                       marker="o", height=2.8, aspect=1.2, facet_kws={"sharey": False})
    grid.set(yscale="log")
    save_figure(grid.figure, figures / "reflow.png")
    plt.close("all")


def report(experiment: Experiment, layout: ExperimentLayout) -> None:
    """The kind's report: every table and figure of ``experiment``, whose outputs are in ``layout``."""
    report_reflow(experiment, layout.cells, layout.tables, layout.figures)


def paper_rows(experiment: Experiment, experiment_dir: Path) -> list[dict[str, Any]]:
    """C8: the relative shift of the coupling in every ReFlow round >= 1, per setting, start coupling and sigma;
    the verdict on the straight (``ot``) start at sigma = 0, the other rows are context (no verdict)."""
    verdicts, summary = read_table(experiment_dir, "verdicts.csv"), read_table(experiment_dir, "summary.csv")
    axes = axes_except(experiment, ("coupling", "sigma", "seed"))
    rounds = sorted(int(r) for r in summary["round"].unique() if r >= 1)
    rows: list[dict[str, Any]] = []
    for _, v in verdicts.iterrows():
        setting = {a: v[a] for a in axes if a in v}
        context = v["claim"] != "C8"
        text = setting_text({**setting, "start": v["coupling"]}) + (" (context)" if context else "")
        for r in rounds:
            stats = summary_stats(summary, {**setting, "coupling": v["coupling"], "sigma": v["sigma"],
                                            "metric": "relative_shift", "round": r})
            rows.append({"claim": "C8", "paper_item": CLAIMS["C8"][0], "setting": text,
                         "metric": f"relative_shift (round {r})", "sigma": float(v["sigma"]),
                         "paper_value": math.nan, **stats, "p_value": math.nan,
                         "verdict": "" if context else verdict_text(v["verdict"]),
                         "converged": converged_text(v)})
    return rows
