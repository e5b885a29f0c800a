"""The README's "Results" section, regenerated from a finished run (never edited by hand).

    python -m rfpipe.reporting.readme [RESULTS_DIR] [--readme README.md] [--figures-dir docs/figures]
                                      [--wall-time "11 min on 2 cores"] [--check | --print]

reads ``RESULTS_DIR/tables/paper_results.md`` (the summary line per claim and the table, written by the
``paper_results`` rule) and ``paper_results.json`` (the scale of the run: config files, cells, job time,
wall time), copies each experiment's key figures into ``--figures-dir`` (``results/`` is not tracked by
git; the copies are) and replaces the text between the two marker lines ``<!-- results:start -->`` and
``<!-- results:end -->`` of the README, nothing else. ``--check`` exits 1 if the README's section differs
from what the run gives, the run's times aside (a rerun of the same config passes); ``--print`` writes the
section to stdout and touches no file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rfpipe.sweep import Experiment

__all__ = ["KEY_FIGURES", "END", "START", "key_figures", "replace_section", "results_section", "run_scale", "main"]

START = "<!-- results:start -->"
END = "<!-- results:end -->"

KEY_FIGURES = {
    "rotation": ("trajectories",),
    "gaussian_variance": ("variance_angle", "variance_c3"),
    "mog": ("mmd",),
    "reflow": ("reflow",),
    "images": ("image_grid", "l2"),
}
"""Per experiment kind, the figures the README shows (a rotation experiment with an ``n_pairs`` axis shows its
memorisation map instead of its trajectories)."""


def _figure_names(kind: str, axes: Iterable[str]) -> tuple[str, ...]:
    if kind == "rotation" and "n_pairs" in axes:
        return ("memorisation_map",)
    return KEY_FIGURES.get(kind, ())


def _benchmark_seconds(root: Path) -> float:
    total = 0.0
    for tsv in root.rglob("benchmarks/**/*.tsv"):
        for line in tsv.read_text().splitlines()[1:]:
            try:
                total += float(line.split("\t", 1)[0])
            except ValueError:
                continue
    return total


def run_scale(experiments: Mapping[str, Experiment], results_dir: str | os.PathLike,
              configfiles: Iterable[str] = ()) -> dict[str, Any]:
    """The scale of the run in ``results_dir``: config files, cells per experiment, the summed run time of the
    benchmarked jobs and the wall time from the first output file of the experiments to now."""
    root = Path(results_dir)
    exps = {name: {"kind": exp.kind, "cells": len(exp.cells), "axes": list(exp.axes)}
            for name, exp in experiments.items()}
    first = None
    for name in experiments:
        for path in (root / name).rglob("*"):
            if path.is_file():
                mtime = path.stat().st_mtime
                first = mtime if first is None or mtime < first else first
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "configfiles": [str(f) for f in configfiles],
        "experiments": exps,
        "cells": sum(e["cells"] for e in exps.values()),
        "job_seconds": round(sum(_benchmark_seconds(root / name) for name in experiments), 1),
        "first_output": (dt.datetime.fromtimestamp(first, dt.timezone.utc).isoformat(timespec="seconds")
                         if first is not None else None),
        "written": now.isoformat(timespec="seconds"),
        "wall_seconds": round(now.timestamp() - first, 1) if first is not None else None,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def key_figures(results_dir: str | os.PathLike, scale: Mapping[str, Any]) -> list[tuple[str, str, Path]]:
    """(experiment, figure name, path) of every key figure that exists in the run."""
    root = Path(results_dir)
    out = []
    for name, exp in scale.get("experiments", {}).items():
        for fig in _figure_names(exp["kind"], exp.get("axes", ())):
            path = root / name / "figures" / f"{fig}.png"
            if path.exists():
                out.append((name, fig, path))
    return out


def results_section(results_dir: str | os.PathLike, readme_dir: str | os.PathLike,
                    figures_dir: str | os.PathLike | None = None, copy: bool = True,
                    wall_time: str | None = None) -> str:
    """The text between the markers: the scale, the summary per claim, the key figures, the full table.
    Figures are copied into ``figures_dir`` (if given and ``copy``) and linked relative to ``readme_dir``;
    ``wall_time`` (e.g. "11 min on 2 cores") replaces the span of the output files' times."""
    root = Path(results_dir)
    md = (root / "tables" / "paper_results.md").read_text()
    scale_file = root / "tables" / "paper_results.json"
    scale = json.loads(scale_file.read_text()) if scale_file.exists() else {}
    summary = [line for line in md.splitlines() if line.startswith("- **")]
    table_start = md.index("| claim |") if "| claim |" in md else len(md)
    note = md[:table_start].rstrip().splitlines()[-1] if "`paper_value`" in md else ""
    table = md[table_start:].strip()

    configs = ", ".join(f"`{c}`" for c in scale.get("configfiles", [])) or "an unrecorded config"
    exps = scale.get("experiments", {})
    cells = ", ".join(f"{n} {name}" for name, n in ((k, v["cells"]) for k, v in exps.items()))
    lines = [f"<!-- Generated by `python -m rfpipe.reporting.readme {root}` from "
             f"{root}/tables/paper_results.md; do not edit by hand. -->", ""]
    if wall_time:
        wall = wall_time
    elif scale.get("wall_seconds") is not None:
        wall = (f"{_duration(scale['wall_seconds'])} from the first output to the results table (pauses between "
                "partial runs included)")
    else:
        wall = "unknown"
    written = str(scale.get("written", "unknown")).replace("T", " ").split("+")[0][:16]
    lines.append(f"Produced by `snakemake` with {configs}: {scale.get('cells', '?')} cells ({cells}). The "
                 f"benchmarked jobs ran {_duration(scale.get('job_seconds'))} in total; wall time: {wall}; table "
                 f"written {written} UTC. The full table is `{root}/tables/paper_results.{{csv,md,tex}}`; "
                 f"`snakemake --report {root}/report.html` gathers every figure and table of the run.")
    lines += ["", *summary, ""]
    figures = key_figures(root, scale)
    if figures:
        target = Path(figures_dir) if figures_dir is not None else None
        if target is not None and copy:
            target.mkdir(parents=True, exist_ok=True)
        for exp, fig, path in figures:
            shown = path
            if target is not None:
                shown = target / f"{exp}_{fig}.png"
                if copy:
                    shutil.copyfile(path, shown)
            rel = os.path.relpath(shown, readme_dir).replace(os.sep, "/")
            lines.append(f"![{exp}: {fig}]({rel})")
            lines.append("")
    n_rows = max(len(table.splitlines()) - 2, 0)
    lines += [f"<details><summary>The full table ({n_rows} rows)</summary>", "", note, "", table, "",
              "</details>"]
    return "\n".join(lines).rstrip() + "\n"


_TIMES = re.compile(r"The benchmarked jobs ran .*? UTC\.", re.S)


def _without_times(section: str) -> str:
    """``section`` less the sentence of the run's job time, wall time and date (they differ from run to run)."""
    return _TIMES.sub("The benchmarked jobs ran (times).", section)


def replace_section(text: str, section: str) -> str:
    """``text`` with the lines between the two markers replaced by ``section``; ValueError without markers."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"the README has no {START} ... {END} markers: put them where the section goes")
    return pattern.sub(lambda _: f"{START}\n{section}{END}", text, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rfpipe.reporting.readme", description=__doc__.split("\n")[0])
    parser.add_argument("results_dir", nargs="?", default="results", help="the run's results_dir (default results)")
    parser.add_argument("--readme", default="README.md", help="the README to update (default README.md)")
    parser.add_argument("--figures-dir", default="docs/figures",
                        help="where the key figures are copied for the README (default docs/figures)")
    parser.add_argument("--wall-time", help='the run\'s wall time if known, e.g. "11 min on 2 cores" (default: the span '
                        "from the first output file to the results table)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if the README's section is out of date (the run's times aside)")
    mode.add_argument("--print", action="store_true", help="print the section; write nothing")
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    if not (Path(args.results_dir) / "tables" / "paper_results.md").exists():
        print(f"error: {args.results_dir}/tables/paper_results.md not found: run snakemake first", file=sys.stderr)
        return 1
    section = results_section(args.results_dir, readme.parent, args.figures_dir, copy=not (args.check or args.print),
                              wall_time=args.wall_time)
    if args.print:
        sys.stdout.write(section)
        return 0
    try:
        text = readme.read_text()
        new = replace_section(text, section)
    except (OSError, ValueError) as err:
        print(f"error: {readme}: {err}", file=sys.stderr)
        return 1
    if args.check:
        old = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
        same = old is not None and _without_times(old.group(1)) == _without_times(section)
        if not same:
            print(f"{readme}: the results section is out of date; run python -m rfpipe.reporting.readme "
                  f"{args.results_dir}", file=sys.stderr)
        return 0 if same else 1
    readme.write_text(new)
    print(f"{readme}: results section updated from {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
