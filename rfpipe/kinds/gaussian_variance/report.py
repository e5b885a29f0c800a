"""The ``gaussian_variance`` report (claims C1, C2, C3): tables, verdicts and figures.

Input: one row per cell x repetition x space (``output``, ``parameter``) x t-bin, from
:func:`rfpipe.gaussian.variance_at_field`; the verdicts use the whole-t rows (``t_bin`` null). A
*setting* is one value of every grid axis other than ``field``, ``coupling``, ``sigma`` and ``seed``.
The rules, fixed before any run:

- **C1** (per setting, space, field; "own" data: ``coupling == field``): reproduced if every
  repetition at sigma = 0 has grad_var_trace <= ``zero_tol`` and every repetition at each sigma > 0 has
  grad_var_trace > ``zero_tol``; not reproduced if either fails; inconclusive without both sigma = 0 and
  a sigma > 0 in the grid.
- **C2** (per setting, sigma > 0, space, reading): paired by (seed, repetition), A = trace at the OT
  field and B = trace at the rotated field, with the data from each field's own coupling (reading
  ``own``) or from the independent coupling for both (reading ``independent``). One-sided Wilcoxon
  signed-rank tests: reproduced if A < B with p < ``alpha``; not reproduced if A > B with p < ``alpha``;
  inconclusive otherwise.
- **C3** (per setting, sigma, space): at the OT field, A = trace on independent data and B = trace on
  rotated data (by ``angle``; the paper's figure is 120 degrees), paired, the same test and thresholds.

All three are the shared three-outcome rule (:func:`rfpipe.reporting.verdict.decide`): C2 and C3 with the two
one-sided tests as evidence, C1 with its thresholds in every repetition (at least one on each side).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.parquet as pq
import seaborn as sns

from rfpipe.reporting.common import save_figure, summarise, write_table
from rfpipe.reporting.verdict import decide, one_sided, significant
from rfpipe.kinds.gaussian_variance import KIND
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.paper import (CLAIMS, as_float, axes_except, read_table, setting_text, summary_stats, value_text,
                                    verdict_text)
from rfpipe.sweep import Experiment

__all__ = ["gaussian_verdicts", "paired_verdict", "report_gaussian", "paper_rows", "report"]

PAIR_KEYS = ["seed", "rep"]


def _setting_axes(frame: pd.DataFrame, experiment: Experiment) -> list[str]:
    return [a for a in experiment.axes if a not in ("field", "coupling", "sigma", "seed")]


def paired_verdict(a: pd.Series, b: pd.Series, alpha: float) -> tuple[str, float, float]:
    """Verdict for "a < b" from samples paired by position: (verdict, p of a < b, p of a > b), one-sided
    Wilcoxon signed-rank tests (:func:`rfpipe.reporting.verdict.one_sided`) into the shared rule."""
    p_less, p_greater = one_sided(a, b, test="wilcoxon")
    return decide(significant([p_less], alpha), significant([p_greater], alpha), len(a)), p_less, p_greater


def _groups(frame: pd.DataFrame, keys: list[str]):
    if not keys:
        yield {}, frame
        return
    for key, group in frame.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(keys, key)), group


def _c1(whole: pd.DataFrame, axes: list[str], zero_tol: float) -> list[dict[str, Any]]:
    rows = []
    own = whole[whole["field"] == whole["coupling"]]
    for key, group in _groups(own, [*axes, "space", "field"]):
        zero = group[group["sigma"] == 0.0]["grad_var_trace"]
        noisy = group[group["sigma"] > 0.0]
        row: dict[str, Any] = {"claim": "C1", "paper_item": "Proposition 1", **key, "data": "own",
                               "max_trace_sigma0": float(zero.max()) if len(zero) else math.nan,
                               "min_trace_noisy": float(noisy["grad_var_trace"].min()) if len(noisy) else math.nan,
                               "n_reps": int(group[PAIR_KEYS].drop_duplicates().shape[0])}
        zero_ok, noisy_ok = bool((zero <= zero_tol).all()), bool((noisy["grad_var_trace"] > zero_tol).all())
        # a threshold rule, no test: each side in every repetition; inconclusive unless both sigma = 0 and sigma > 0
        row["verdict"] = decide([zero_ok, noisy_ok], [not zero_ok, not noisy_ok], min(len(zero), len(noisy)),
                                min_n=1)
        rows.append(row)
    return rows


def _paired_rows(whole: pd.DataFrame, keys: list[str], pick_a: dict[str, str], pick_b: dict[str, str],
                 base: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    rows = []
    for key, group in _groups(whole, keys):
        sel_a = group.loc[(group[list(pick_a)] == pd.Series(pick_a)).all(axis=1)].set_index(PAIR_KEYS)
        sel_b = group.loc[(group[list(pick_b)] == pd.Series(pick_b)).all(axis=1)].set_index(PAIR_KEYS)
        common = sel_a.index.intersection(sel_b.index)
        if len(common) == 0:
            continue
        a, b = sel_a.loc[common, "grad_var_trace"], sel_b.loc[common, "grad_var_trace"]
        verdict, p_less, p_greater = paired_verdict(a, b, alpha)
        rows.append({**base, **key, "mean_a": float(a.mean()), "mean_b": float(b.mean()), "n_reps": len(common),
                     "p_value": p_less, "p_opposite": p_greater, "verdict": verdict})
    return rows


def gaussian_verdicts(whole: pd.DataFrame, axes: list[str], zero_tol: float, alpha: float) -> pd.DataFrame:
    """C1, C2 and C3 verdict rows (rules in the module docstring) from the whole-t rows."""
    rows = _c1(whole, axes, zero_tol)
    noisy = whole[whole["sigma"] > 0.0]
    keys = [*axes, "sigma", "space"]
    rows += _paired_rows(noisy, keys, {"field": "ot", "coupling": "ot"}, {"field": "rotated", "coupling": "rotated"},
                         {"claim": "C2", "paper_item": "Figure 4", "data": "own",
                          "a": "OT field, OT pairs", "b": "rotated field, rotated pairs"}, alpha)
    rows += _paired_rows(noisy, keys, {"field": "ot", "coupling": "independent"},
                         {"field": "rotated", "coupling": "independent"},
                         {"claim": "C2", "paper_item": "Figure 4", "data": "independent",
                          "a": "OT field, independent pairs", "b": "rotated field, independent pairs"}, alpha)
    rows += _paired_rows(whole, keys, {"field": "ot", "coupling": "independent"},
                         {"field": "ot", "coupling": "rotated"},
                         {"claim": "C3", "paper_item": "Figure 5", "data": "OT field",
                          "a": "independent pairs", "b": "rotated pairs"}, alpha)
    frame = pd.DataFrame(rows)
    front = ["claim", "paper_item", *axes, "sigma", "space", "field", "data", "a", "b"]
    return frame[[c for c in front if c in frame] + [c for c in frame if c not in front]]


def _bin_mid(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame["t_bin"].notna()].copy()
    frame["t"] = (frame["t_low"] + frame["t_high"]) / 2
    return frame


def report_gaussian(experiment: Experiment, variance: str | os.PathLike, tables_dir: str | os.PathLike,
                    figures_dir: str | os.PathLike) -> None:
    """Write the summary and verdict tables (CSV and Markdown) and the figures of a gaussian_variance run."""
    tables, figures = Path(tables_dir), Path(figures_dir)
    frame = pq.read_table(variance).to_pandas()
    axes = _setting_axes(frame, experiment)
    whole = frame[frame["t_bin"].isna()]
    cell_keys = [*axes, "field", "coupling", "sigma", "space"]
    summary = summarise(whole, cell_keys, value="grad_var_trace", count_by="rep", count_name="n_reps")
    write_table(summary, tables / "variance_summary.csv", tables / "variance_summary.md",
                f"{experiment.name}: gradient-variance trace at closed-form fields (mean and 95 % CI over repetitions)")
    st = KIND.report_of(experiment.settings)
    verdicts = gaussian_verdicts(whole, axes, st.zero_tol, st.alpha)
    write_table(verdicts, tables / "variance_verdicts.csv", tables / "variance_verdicts.md",
                f"{experiment.name}: claims C1-C3 (A against B; p_value: one-sided Wilcoxon of A < B)")

    own = frame[(frame["field"] == frame["coupling"]) & (frame["sigma"] > 0)]
    first = {a: sorted(frame[a].unique())[0] for a in axes if a not in ("angle",)}
    sub = _bin_mid(own)
    for a, v in first.items():
        sub = sub[sub[a] == v]
    grid = sns.relplot(data=sub, kind="line", x="t", y="grad_var_trace", hue="field", style="sigma", col="angle",
                       row="space", errorbar=("ci", 95), seed=0,
                       marker="o", height=2.6, aspect=1.2, facet_kws={"sharey": False})
    grid.set(yscale="log")
    grid.figure.suptitle(", ".join(f"{a}={v}" for a, v in first.items()) + " (own pairs)", y=1.02, fontsize=9)
    save_figure(grid.figure, figures / "variance_t.png")

    whole_own = own[own["t_bin"].isna()]
    grid = sns.relplot(data=whole_own, kind="line", x="angle", y="grad_var_trace", hue="field", style="sigma",
                       col="dim", row="space", errorbar=("ci", 95), seed=0, marker="o", height=2.6, aspect=1.2,
                       facet_kws={"sharey": False})
    grid.set(yscale="log")
    save_figure(grid.figure, figures / "variance_angle.png")

    c3 = whole[(whole["field"] == "ot") & whole["coupling"].isin(["independent", "rotated"])]
    if 120.0 in set(c3["angle"]):
        c3 = c3[c3["angle"] == 120.0]
    grid = sns.catplot(data=c3, kind="bar", x="sigma", y="grad_var_trace", hue="coupling", col="dim", row="space",
                       errorbar=("ci", 95), seed=0, height=2.6, aspect=1.1, sharey=False)
    grid.set(yscale="log")
    grid.figure.suptitle("at the OT field: independent vs rotated pairs", y=1.02, fontsize=9)
    save_figure(grid.figure, figures / "variance_c3.png")
    plt.close("all")


def report(experiment: Experiment, layout: ExperimentLayout) -> None:
    """The kind's report: every table and figure of ``experiment``, whose outputs are in ``layout``."""
    report_gaussian(experiment, layout.file("variance.parquet"), layout.tables, layout.figures)


_GAUSSIAN_PAIRS = {
    ("C2", "own"): (("ot", "ot"), ("rotated", "rotated")),
    ("C2", "independent"): (("ot", "independent"), ("rotated", "independent")),
    ("C3", "OT field"): (("ot", "independent"), ("ot", "rotated")),
}
"""(claim, data) -> ((field, coupling) of A, (field, coupling) of B), as in rfpipe.kinds.gaussian_variance.report."""


def paper_rows(experiment: Experiment, experiment_dir: Path) -> list[dict[str, Any]]:
    """C1: the trace at each field on its own pairs, every sigma (no test: a threshold rule). C2, C3: the
    traces of A and B (the two sides of the paired Wilcoxon test), p_value the one-sided p of A < B."""
    verdicts = read_table(experiment_dir, "variance_verdicts.csv")
    summary = read_table(experiment_dir, "variance_summary.csv")
    axes = axes_except(experiment, ("field", "coupling", "sigma", "seed"))
    sigmas = sorted(summary["sigma"].astype(float).unique())
    rows: list[dict[str, Any]] = []
    for _, v in verdicts.iterrows():
        setting = {a: v[a] for a in axes if a in v}
        if v["claim"] == "C1":
            text = setting_text({**setting, "space": v["space"], "field": v["field"], "pairs": "own"})
            for sigma in sigmas:
                stats = summary_stats(summary, {**setting, "space": v["space"], "field": v["field"],
                                                "coupling": v["field"], "sigma": sigma}, count="n_reps")
                rows.append({"claim": "C1", "paper_item": CLAIMS["C1"][0], "setting": text,
                             "metric": "grad_var_trace", "sigma": sigma, "paper_value": math.nan, **stats,
                             "p_value": math.nan, "verdict": verdict_text(v["verdict"])})
            continue
        sides = _GAUSSIAN_PAIRS[(v["claim"], v["data"])]
        extra = {"pairs": v["data"]} if v["claim"] == "C2" else {}
        text = setting_text({**setting, "space": v["space"], **extra})
        for (field, coupling), name in zip(sides, (v["a"], v["b"])):
            stats = summary_stats(summary, {**setting, "space": v["space"], "field": field, "coupling": coupling,
                                            "sigma": v["sigma"]}, count="n_reps")
            rows.append({"claim": v["claim"], "paper_item": CLAIMS[v["claim"]][0], "setting": text,
                         "metric": f"grad_var_trace ({name})", "sigma": float(v["sigma"]),
                         "paper_value": math.nan, **stats, "p_value": as_float(v["p_value"]),
                         "verdict": verdict_text(v["verdict"]), "unit": f"{text}|sigma={value_text(v['sigma'])}"})
    return rows
