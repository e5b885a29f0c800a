"""The paper results table: every claim of the paper beside our numbers, from each experiment's own tables.

:func:`paper_table` reads the summary and verdict tables that each experiment's report already wrote
(``<results>/<experiment>/tables/``) and returns one row per claim x setting x metric x sigma with the
columns :data:`COLUMNS`; :func:`write_paper_table` writes it as ``paper_results.csv``, ``.md`` (a summary
line per claim first) and ``.tex``. Nothing is recomputed: the verdicts, p-values and verdict rules are the
ones of the per-kind reports (each kind's ``rfpipe.kinds.<kind>.report``), whose ``paper_rows`` give the rows.

Columns:

- ``claim`` (C1-C8), ``paper_item`` (Proposition 1, Figure 4, Table 1, ...), ``experiment`` (its name in the
  config), ``setting`` (``key=value, ...``: the grid values and evaluation settings one verdict is made for),
  ``metric``, ``sigma``;
- ``paper_value``: the number reported for the paper (``rfpipe/reference/reported_results.csv``, from
  third-party summaries, not checked against the PDF: "reported"; read by
  :func:`rfpipe.reporting.reference.reported_value`), empty where the paper states a direction only;
- ``ours_mean``, ``ours_ci_low``, ``ours_ci_high``, ``n_seeds``: mean and Student-t 95 % interval over seeds
  (over seeds x repetitions for the closed-form ``gaussian_variance`` kind, where ``n_seeds`` counts them);
- ``p_value``: the p-value of the verdict's test for this row's metric where one applies;
- ``verdict``: reproduced / not reproduced / inconclusive (the rule of :mod:`rfpipe.reporting.verdict`),
  copied from the experiment's verdict table (repeated on every row of the setting it was made for); empty on
  context rows;
- ``converged``: ``yes`` when every trained cell behind the row met its convergence criterion
  (:mod:`rfpipe.convergence`), ``no`` when one did not (the verdict is then ``not converged``), empty for rows
  with no training (the closed forms).

A kind's rows (one function)
----------------------------
Each kind's ``report`` module has ``paper_rows(experiment, experiment_dir) -> rows``, where ``experiment`` is the
:class:`rfpipe.sweep.Experiment` and ``experiment_dir`` the :class:`~pathlib.Path` ``<results>/<name>``;
rows are a list of dicts (or a DataFrame) with the columns above (``experiment`` may be left out, it is
filled in; missing columns are left empty), plus an optional ``unit``: rows with the same ``unit`` share one
verdict, and the per-claim summary counts distinct units (default: experiment and setting). For example (the
images kind's function is written this way)::

    from rfpipe.reporting.paper import read_table, verdict_metric_rows

    def paper_rows(experiment, experiment_dir):
        verdicts, summary = read_table(experiment_dir, "verdicts.csv"), read_table(experiment_dir, "summary.csv")
        rows = []
        for _, v in verdicts.iterrows():
            rows += verdict_metric_rows(
                v, summary, setting_cols=[...], metrics=["l2_to_training_partner", "l2_to_ot"],
                sigmas={"sigma0": 0.0, "noisy": experiment.settings["verdict_sigma"]},
                summary_match={"split": "train", "coupling": v["coupling"]},
                p_value=lambda metric, label: v["p_sigma0" if label == "sigma0" else "p_noisy"],
                paper_value=lambda metric, sigma: reported_value("table2", v["paper_setting"], metric, sigma))
        return rows

:func:`verdict_metric_rows` turns one row of a "wide" verdict table (``<metric>_<label>`` columns, as the
rotation, mog and images reports write) into one row per metric and sigma, with the interval from the
summary table; :func:`table_rows` reads a table that already has the paper-table columns;
:func:`setting_text` writes a setting. An experiment whose kind is not registered is skipped with a warning
(its claims read "no rows" in the summary).

In the workflow (``workflow/rules/report.smk``) nothing changes for a new kind: the ``paper_results`` rule
reads every experiment's tables, and the report page shows the figures and tables of the kind's registration
(:class:`rfpipe.kinds.Kind`), captioned by ``workflow/report/<kind>/<name>.rst`` (``generic.rst``
where that file is missing).
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rfpipe import kinds
from rfpipe.io import atomic_path, write_text
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.common import markdown_table
from rfpipe.reporting.verdict import NOT_CONVERGED, REPRODUCED, VERDICTS
from rfpipe.sweep import Experiment

__all__ = ["CLAIMS", "COLUMNS", "as_float", "axes_except", "claim_summary", "config_html", "converged_text",
           "html_page", "isna", "paper_results_job", "paper_table", "read_table", "setting_text", "summary_stats",
           "table_html", "table_rows", "to_html", "to_latex", "to_markdown", "value_text", "verdict_metric_rows",
           "verdict_text", "write_paper_table"]

log = logging.getLogger("rfpipe")

COLUMNS = ["claim", "paper_item", "experiment", "setting", "metric", "sigma", "paper_value", "ours_mean",
           "ours_ci_low", "ours_ci_high", "n_seeds", "p_value", "verdict", "converged"]
"""The columns of the paper table, in order."""

CLAIMS = {
    "C1": ("Proposition 1", "zero loss and zero gradient variance at sigma = 0 for OT and rotated fields; "
                            "positive variance for sigma > 0"),
    "C2": ("Figure 4", "for sigma > 0, lower gradient variance at the OT field than at the rotated field"),
    "C3": ("Figure 5", "at the OT field, independent pairs give lower variance than 120-degree rotated pairs"),
    "C4": ("Counter Example 1, Figure 6", "sigma = 0 reproduces the crossing training pairing, sigma > 0 "
                                         "does not"),
    "C5": ("Proposition 2, Table 1", "mixture of Gaussians: sigma = 0 memorises (lower memorisation MMD), "
                                     "sigma = 0.05 generalises (lower generalisation MMD)"),
    "C6": ("Table 2", "images, adversarial pairing: sigma = 0 lands nearer the shuffled training partner, "
                      "sigma = 0.05 nearer the OT partner"),
    "C7": ("Table 3", "simulated 1-ReFlow: sigma = 0 reproduces the generated partners, sigma = 0.05 is "
                      "nearer OT"),
    "C8": ("Lemma 2", "ReFlow with the deterministic interpolant stalls at a straight coupling"),
}
"""Per claim: the paper item and the claim in a few words (the summary lines of the Markdown table)."""

# ---------------------------------------------------------------------------------------------- helpers


def value_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):
        return format(float(value), "g")
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def setting_text(values: Mapping[str, Any]) -> str:
    """``key=value, ...`` of a setting (floats in their shortest form), or ``all`` for none."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in values.items()) or "all"


def as_float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _matches(frame: pd.DataFrame, match: Mapping[str, Any]) -> pd.Series:
    keep = pd.Series(True, index=frame.index)
    for key, value in match.items():
        if key not in frame:
            continue
        column = frame[key]
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and pd.api.types.is_numeric_dtype(column):
            keep &= np.isclose(column.astype(float), float(value), rtol=1e-9, atol=0.0)
        else:
            keep &= column.astype(str) == str(value)
    return keep


def summary_stats(summary: pd.DataFrame, match: Mapping[str, Any], count: str = "n_seeds") -> dict[str, float]:
    """``ours_mean``, ``ours_ci_low``, ``ours_ci_high``, ``n_seeds`` of the one summary row that ``match``
    selects (keys absent from the summary are ignored); NaN if there is no such row or more than one."""
    rows = summary[_matches(summary, match)]
    if len(rows) != 1:
        return {"ours_mean": math.nan, "ours_ci_low": math.nan, "ours_ci_high": math.nan, "n_seeds": math.nan}
    row = rows.iloc[0]
    return {"ours_mean": as_float(row["mean"]), "ours_ci_low": as_float(row["ci_low"]),
            "ours_ci_high": as_float(row["ci_high"]), "n_seeds": as_float(row[count])}


def verdict_metric_rows(verdict: Mapping[str, Any], summary: pd.DataFrame, *, setting_cols: Iterable[str],
                        metrics: Iterable[str], sigmas: Mapping[str, float], summary_match: Mapping[str, Any],
                        p_value: Callable[[str, str], Any] | None = None,
                        paper_value: Callable[[str, float], float] | None = None,
                        claim: str | None = None, paper_item: str | None = None,
                        setting_extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One paper-table row per metric and sigma for one row of a wide verdict table.

    ``verdict`` holds the setting columns, ``<metric>_<label>`` means (one label per key of ``sigmas``, e.g.
    ``sigma0`` -> 0.0, ``noisy`` -> verdict_sigma), ``claim``, ``paper_item`` and ``verdict``. The mean,
    interval and seed count come from the ``summary`` row with ``summary_match``, the setting, the metric and
    the sigma; without one, the verdict table's mean. ``p_value(metric, label)`` and
    ``paper_value(metric, sigma)`` fill those columns; ``setting_extra`` (fixed settings worth naming) comes
    first in the setting text.
    """
    cols = [c for c in setting_cols if c in verdict and not isna(verdict[c])]
    setting = {c: verdict[c] for c in cols}
    text = setting_text({**(setting_extra or {}), **setting})
    rows = []
    for metric in metrics:
        for label, sigma in sigmas.items():
            stats = summary_stats(summary, {**summary_match, **setting, "metric": metric, "sigma": sigma})
            if math.isnan(stats["ours_mean"]):
                stats["ours_mean"] = as_float(verdict.get(f"{metric}_{label}"))
                stats["n_seeds"] = as_float(verdict.get("n_seeds"))
            rows.append({"claim": claim or verdict["claim"], "paper_item": paper_item or verdict.get("paper_item"),
                         "setting": text, "metric": metric, "sigma": float(sigma),
                         "paper_value": paper_value(metric, sigma) if paper_value else math.nan, **stats,
                         "p_value": as_float(p_value(metric, label)) if p_value else math.nan,
                         "verdict": verdict_text(verdict.get("verdict")), "converged": converged_text(verdict)})
    return rows


def converged_text(row: Mapping[str, Any]) -> str:
    """``yes`` / ``no``: whether all ``cells`` of a verdict-table row met the criterion (``cells_converged``);
    empty for a row without trained cells."""
    cells = as_float(row.get("cells"))
    if math.isnan(cells) or cells == 0:
        return ""
    return "yes" if as_float(row.get("cells_converged")) == cells else "no"


def isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def verdict_text(value: Any) -> str:
    return "" if value is None or isna(value) else str(value)


def table_rows(experiment: Experiment, experiment_dir: Path, table: str = "verdicts") -> pd.DataFrame:
    """The rows of the experiment's table ``table`` (CSV) that already has the paper-table columns (any missing
    ones left empty)."""
    frame = pd.read_csv(ExperimentLayout(Path(experiment_dir)).table(table))
    return frame.assign(experiment=experiment.name)


def read_table(experiment_dir: Path, name: str) -> pd.DataFrame:
    """The experiment's table ``name`` (a CSV file name, e.g. ``verdicts.csv``)."""
    return pd.read_csv(ExperimentLayout(Path(experiment_dir)).tables / name)


def axes_except(experiment: Experiment, drop: Iterable[str]) -> list[str]:
    return [a for a in experiment.axes if a not in set(drop)]


# --------------------------------------------------------------------------------------------- the table


def _claim_order(claim: str) -> tuple[int, str]:
    digits = "".join(ch for ch in claim[1:3] if ch.isdigit())
    return (int(digits) if digits else 99, claim)


def paper_table(experiments: Mapping[str, Experiment] | Iterable[Experiment],
                results_dir: str | os.PathLike) -> pd.DataFrame:
    """The paper table of ``experiments`` (a name -> Experiment mapping, e.g. ``Sweep.experiments``) whose
    outputs are in ``results_dir/<name>``: :data:`COLUMNS` plus ``unit`` (see the module docstring)."""
    exps = list(experiments.values()) if isinstance(experiments, Mapping) else list(experiments)
    frames = []
    for order, exp in enumerate(exps):
        try:
            function = kinds.get(exp.kind).function("report", "paper_rows")
        except KeyError as err:
            log.warning("paper table: no rows for experiment %r (%s)", exp.name, err.args[0])
            continue
        rows = function(exp, Path(results_dir) / exp.name)
        frame = pd.DataFrame(rows)
        if frame.empty:
            continue
        frame["experiment"] = exp.name
        frame["_order"] = order
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, "unit"])
    frame = pd.concat(frames, ignore_index=True)
    for col in COLUMNS:
        if col not in frame:
            frame[col] = math.nan if col not in ("verdict", "converged", "paper_item", "setting") else ""
    if "unit" not in frame:
        frame["unit"] = math.nan
    frame["unit"] = frame["unit"].where(frame["unit"].notna(), frame["setting"].astype(str))
    frame["verdict"] = frame["verdict"].map(verdict_text)
    frame["converged"] = frame["converged"].map(verdict_text)
    frame["n_seeds"] = pd.to_numeric(frame["n_seeds"], errors="coerce").round().astype("Int64")
    frame["claim"] = frame["claim"].astype(str)
    frame["_row"] = range(len(frame))
    frame["_claim"] = frame["claim"].map(_claim_order)
    frame = frame.sort_values(["_claim", "_order", "_row"], kind="stable")
    return frame[[*COLUMNS, "unit"]].reset_index(drop=True)


def claim_summary(frame: pd.DataFrame, claims: Iterable[str] = CLAIMS) -> list[str]:
    """One line per claim: how many of its tests (distinct experiment x unit with a verdict) whose training
    converged were reproduced, not reproduced, inconclusive; apart, how many did not converge (no verdict on the
    claim); and in which experiments; "no rows" for a claim this run did not test."""
    lines = []
    known = list(claims)
    extra = sorted({c for c in frame["claim"] if c not in known}, key=_claim_order) if len(frame) else []
    for claim in [*known, *extra]:
        item = CLAIMS.get(claim, ("", ""))[0]
        head = f"**{claim}** ({item})" if item else f"**{claim}**"
        rows = frame[frame["claim"] == claim] if len(frame) else frame
        if rows.empty:
            lines.append(f"- {head}: no rows (no experiment of this run tests it).")
            continue
        tests = rows[rows["verdict"] != ""].drop_duplicates(["experiment", "unit"])
        counts = tests["verdict"].value_counts()
        experiments = ", ".join(dict.fromkeys(rows["experiment"]))
        if tests.empty:
            lines.append(f"- {head}: no verdict (context rows only; experiments: {experiments}).")
            continue
        unconverged = int(counts.get(NOT_CONVERGED, 0))
        n = len(tests) - unconverged
        rep = int(counts.get(REPRODUCED, 0))
        judged = [w for w in VERDICTS[1:] if w != NOT_CONVERGED]
        others = ", ".join(f"{word} {int(counts[word])}" for word in judged if counts.get(word, 0))
        others += "".join(f", {word} {int(c)}" for word, c in counts.items() if word not in VERDICTS)
        word = "test" if n == 1 else "tests"
        if n == 0:
            tests_word = "test" if unconverged == 1 else "tests"
            lines.append(f"- {head}: no verdict: {unconverged} of {unconverged} {tests_word} not converged (training "
                         f"did not reach its criterion); experiments: {experiments}.")
            continue
        apart = (f"; not converged {unconverged} (training did not reach its criterion: no verdict)"
                 if unconverged else "")
        lines.append(f"- {head}: reproduced in {rep} of {n} {word}" + (f" ({others})" if others else "") + apart
                     + f"; experiments: {experiments}.")
    return lines


REPORTED_NOTE = ("`paper_value`: reported for the paper by third-party summaries, not checked against the PDF "
                 "(`rfpipe/reference/reported_results.csv`); empty where the paper states a direction only. "
                 "`ours_*`: mean and 95 % interval over seeds (over seeds x repetitions for the closed-form "
                 "`gaussian` rows). `verdict`: the rule of each experiment's report; rows without one are "
                 "context.")


def to_markdown(frame: pd.DataFrame, title: str = "Paper results") -> str:
    """The Markdown version: a title, the summary line per claim, a note on the columns, the table."""
    table = frame[COLUMNS].astype({"n_seeds": object})
    table["n_seeds"] = [("" if isna(n) else int(n)) for n in frame["n_seeds"]]
    return (f"# {title}\n\n" + "\n".join(claim_summary(frame)) + "\n\n" + REPORTED_NOTE + "\n\n"
            + markdown_table(table))


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_number(value: Any) -> str:
    x = as_float(value)
    if math.isnan(x):
        return ""
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    text = format(x, ".3g")
    if "e" in text:
        mant, exp = text.split("e")
        return f"${mant}\\times10^{{{int(exp)}}}$"
    return f"${text}$" if x < 0 else text


def to_latex(frame: pd.DataFrame, caption: str = "Paper results") -> str:
    """A ``longtable`` (packages ``longtable`` and ``booktabs``) of the table, to ``\\input`` in a document."""
    heads = ["Claim", "Item", "Experiment", "Setting", "Metric", r"$\sigma$", "Paper", "Ours", "CI low",
             "CI high", "$n$", "$p$", "Verdict", "Converged"]
    text_cols = {"claim", "paper_item", "experiment", "setting", "metric", "verdict", "converged"}
    spec = "lllp{4cm}p{3cm}rrrrrrrll"
    lines = ["% Generated by rfpipe.reporting.paper: needs \\usepackage{longtable,booktabs}.",
             f"\\begin{{longtable}}{{{spec}}}",
             f"\\caption{{{tex_escape(caption)}. Paper: reported by third-party summaries, not checked against "
             "the PDF.}\\\\",
             r"\toprule", " & ".join(heads) + r" \\", r"\midrule", r"\endfirsthead",
             r"\toprule", " & ".join(heads) + r" \\", r"\midrule", r"\endhead",
             r"\bottomrule", r"\endlastfoot"]
    for row in frame[COLUMNS].itertuples(index=False):
        cells = [tex_escape("" if isna(v) else v) if c in text_cols else _tex_number(v)
                 for c, v in zip(COLUMNS, row)]
        lines.append(" & ".join(cells) + r" \\")
    lines.append(r"\end{longtable}")
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 8px; color: #111; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eee; position: sticky; top: 0; }
td.text { text-align: left; }
td.reproduced { background: #d9f2d9; } td.not-reproduced { background: #f7d4d4; }
td.inconclusive { background: #f5ecc8; } td.not-converged { background: #dde3ee; }
"""


def html_page(title: str, body: str) -> str:
    """A self-contained HTML page (inline style) with ``title`` as heading and ``body``."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head>\n<body><h3>{html.escape(title)}</h3>\n{body}\n</body></html>\n")


def table_html(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """An HTML table of ``frame``: numbers right-aligned in ``floatfmt``, text left, verdict cells coloured."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for value in values:
            if isna(value):
                cells.append("<td></td>")
            elif isinstance(value, (float, np.floating)):
                cells.append(f"<td>{format(float(value), floatfmt)}</td>")
            elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                cells.append(f"<td>{int(value)}</td>")
            else:
                text = str(value)
                css = text.replace(" ", "-") if text in VERDICTS else "text"
                cells.append(f'<td class="{css}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def config_html(config: Mapping[str, Any], configfiles: Iterable[str | os.PathLike] = ()) -> str:
    """The report's configuration page: each config file as written, then the validated config (defaults
    filled in)."""
    import yaml

    parts = []
    for f in configfiles:
        path = Path(f)
        text = path.read_text() if path.exists() else "(not found)"
        parts.append(f"<h4>{html.escape(str(f))}</h4>\n<pre>{html.escape(text)}</pre>")
    dump = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None, width=110)
    parts.append(f"<h4>The validated config (defaults filled in)</h4>\n<pre>{html.escape(dump)}</pre>")
    return html_page("Configuration", "\n".join(parts))


def to_html(frame: pd.DataFrame, title: str = "Paper results") -> str:
    """The report's page of the table: the summary line per claim, the note on the columns, the table."""
    items = []
    for line in claim_summary(frame):
        text = html.escape(line[2:])
        items.append("<li>" + text.replace("**", "<b>", 1).replace("**", "</b>", 1) + "</li>")
    note = html.escape(REPORTED_NOTE).replace("`", "")
    return html_page(title, f"<ul>{''.join(items)}</ul>\n<p>{note}</p>\n" + table_html(frame[COLUMNS]))


def write_paper_table(frame: pd.DataFrame, tables_dir: str | os.PathLike,
                      html_path: str | os.PathLike | None = None) -> list[Path]:
    """Write ``paper_results.csv``, ``.md`` and ``.tex`` of ``frame`` into ``tables_dir`` (and the report's HTML
    page to ``html_path`` if given); returns the paths."""
    tables = Path(tables_dir)
    tables.mkdir(parents=True, exist_ok=True)
    csv, md, tex = (tables / f"paper_results.{ext}" for ext in ("csv", "md", "tex"))
    with atomic_path(csv) as tmp:
        frame[COLUMNS].to_csv(tmp, index=False)
    write_text(to_markdown(frame), md)
    write_text(to_latex(frame), tex)
    paths = [csv, md, tex]
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        write_text(to_html(frame), html_path)
        paths.append(Path(html_path))
    return paths


def paper_results_job(config: Mapping[str, Any], results_dir: str | os.PathLike,
                      configfiles: Iterable[str | os.PathLike], outputs: Mapping[str, str],
                      log: str | None = None) -> None:
    """The ``paper_results`` rule: every experiment's tables into the paper table (``outputs`` ``csv``, ``md``,
    ``tex``, ``html``), the configuration page (``config``) and the scale of the run (``scale``, JSON; see
    :func:`rfpipe.reporting.readme.run_scale`), for the validated ``config`` whose outputs are in ``results_dir``."""
    import json

    from rfpipe.pipeline import log_to
    from rfpipe.reporting.readme import run_scale
    from rfpipe.sweep import Sweep

    with log_to(log):
        experiments = Sweep(dict(config)).experiments
        frame = paper_table(experiments, results_dir)
        write_paper_table(frame, Path(outputs["csv"]).parent, outputs["html"])
        write_text(config_html(config, configfiles), outputs["config"])
        scale = run_scale(experiments, Path(results_dir), configfiles)
        write_text(json.dumps({**scale, "rows": len(frame)}, indent=2) + "\n", outputs["scale"])
