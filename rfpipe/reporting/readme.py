"""The generated results: ``docs/results.md`` whole, and a short block of the README (never edited by hand).

    python -m rfpipe.reporting.readme [RESULTS_DIR] [--readme README.md] [--page docs/results.md]
                                      [--figures-dir docs/figures] [--wall-time "11 min on 2 cores"]
                                      [--check | --print]

reads ``RESULTS_DIR/tables/paper_results.md`` (the summary line per claim and the table, written by the
``paper_results`` rule) and ``paper_results.json`` (the scale of the run: config files, cells, job time,
wall time) and copies each experiment's key figures into ``--figures-dir`` (``results/`` is not tracked by
git; the copies are). It then writes

- ``--page`` (default ``docs/results.md``), a whole generated file: the scale and times of the run, the
  summary per claim, every key figure and the full table;
- the README's block between the two marker lines ``<!-- results:start -->`` and ``<!-- results:end -->``,
  nothing else of the README: the summary per claim, three key figures (``FRONT_FIGURES``) and a link to the
  page. The block holds no run time, so it changes only when a result does.

``--check`` writes nothing and exits 1 if the page (the run's times aside: a rerun of the same config passes)
or the README's block differs from what the run gives, or a figure they link is missing; ``--print`` writes
the page and the block to stdout and touches no file. Run times and test counts belong in these generated
files (or in ``results/``), never in hand-written prose.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rfpipe import kinds
from rfpipe.layout import Layout
from rfpipe.sweep import Experiment

__all__ = ["FRONT_FIGURES", "END", "START", "front_figures", "key_figures", "main", "replace_section",
           "results_page", "results_section", "run_scale"]

START = "<!-- results:start -->"
END = "<!-- results:end -->"

FRONT_FIGURES = ("trajectories", "variance_angle", "image_grid")
"""The figures the README's block shows, by figure name: the first key figure of each name (the failure,
its mechanism, real images), then, where a name has none in the run, the run's next key figures, up to
three in all. The results page shows every key figure."""


def _figure_names(kind: str, axes: Iterable[str]) -> tuple[str, ...]:
    """The key figures of an experiment of ``kind`` with grid ``axes`` (the kind's ``key_figures``)."""
    return kinds.get(kind).key_figures(tuple(axes))


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
            path = Layout(root).experiment(name).figure(fig)
            if path.exists():
                out.append((name, fig, path))
    return out


def front_figures(figures: Sequence[tuple[str, str, Path]], n: int = 3) -> list[tuple[str, str, Path]]:
    """The (at most ``n``) figures of ``figures`` that the README shows, in ``figures``' order: the first of
    each name in ``FRONT_FIGURES``, then the first others to make up ``n``."""
    chosen: list[int] = []
    for name in FRONT_FIGURES:
        first = next((i for i, (_, fig, _) in enumerate(figures) if fig == name), None)
        if first is not None and len(chosen) < n:
            chosen.append(first)
    for i in range(len(figures)):
        if len(chosen) >= n:
            break
        if i not in chosen:
            chosen.append(i)
    return [figures[i] for i in sorted(chosen)]


def _read_run(root: Path) -> tuple[str, dict[str, Any]]:
    md = Layout(root).paper_results("md").read_text()
    scale_file = Layout(root).paper_results("json")
    return md, (json.loads(scale_file.read_text()) if scale_file.exists() else {})


def _summary(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("- **")]


def _header(root: Path) -> str:
    return (f"<!-- Generated by `python -m rfpipe.reporting.readme {root}` from {root}/tables/paper_results.md; "
            "do not edit by hand. -->")


def _shown(figures: Iterable[tuple[str, str, Path]], figures_dir: str | os.PathLike | None,
           copy: bool) -> list[tuple[str, str, Path]]:
    """``figures`` with each path replaced by its copy in ``figures_dir`` (made if ``copy``)."""
    if figures_dir is None:
        return list(figures)
    target = Path(figures_dir)
    out = []
    for exp, fig, path in figures:
        shown = target / f"{exp}_{fig}.png"
        if copy:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, shown)
        out.append((exp, fig, shown))
    return out


def _rel(path: str | os.PathLike, start: str | os.PathLike) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")


def results_page(results_dir: str | os.PathLike, page_dir: str | os.PathLike,
                 figures_dir: str | os.PathLike | None = None, copy: bool = True, wall_time: str | None = None,
                 readme: str | os.PathLike | None = None) -> str:
    """The whole generated results page: the scale and times of the run, the summary per claim, every key
    figure and the full table. Figures are copied into ``figures_dir`` (if given and ``copy``) and linked
    relative to ``page_dir``; ``wall_time`` (e.g. "11 min on 2 cores") replaces the span of the output files'
    times; ``readme``, if given, is linked for the verdict rules."""
    root = Path(results_dir)
    md, scale = _read_run(root)
    table_start = md.index("| claim |") if "| claim |" in md else len(md)
    note = md[:table_start].rstrip().splitlines()[-1] if "`paper_value`" in md else ""
    table = md[table_start:].strip()

    configs = ", ".join(f"`{c}`" for c in scale.get("configfiles", [])) or "an unrecorded config"
    exps = scale.get("experiments", {})
    cells = ", ".join(f"{n} {name}" for name, n in ((k, v["cells"]) for k, v in exps.items()))
    if wall_time:
        wall = wall_time
    elif scale.get("wall_seconds") is not None:
        wall = (f"{_duration(scale['wall_seconds'])} from the first output to the results table (pauses between "
                "partial runs included)")
    else:
        wall = "unknown"
    written = str(scale.get("written", "unknown")).replace("T", " ").split("+")[0][:16]
    rules = (f" The verdict rule of each claim is on its experiment's page, linked from the "
             f"[README]({_rel(readme, page_dir)})." if readme is not None else "")
    lines = [_header(root), "", "# Results", "",
             f"Generated by `python -m rfpipe.reporting.readme {root}` from the run's "
             f"`{root}/tables/paper_results.md` and `paper_results.json`; do not edit by hand.{rules}", "",
             "## The run", "",
             f"Produced by `snakemake` with {configs}: {scale.get('cells', '?')} cells ({cells}). The "
             f"benchmarked jobs ran {_duration(scale.get('job_seconds'))} in total; wall time: {wall}; table "
             f"written {written} UTC. The full table is `{root}/tables/paper_results.{{csv,md,tex}}`; "
             f"`snakemake --report {root}/report.html` gathers every figure and table of the run.", "",
             "## Summary per claim", "", *_summary(md), ""]
    figures = _shown(key_figures(root, scale), figures_dir, copy)
    if figures:
        lines += ["## Key figures", ""]
        for exp, fig, shown in figures:
            lines += [f"![{exp}: {fig}]({_rel(shown, page_dir)})", ""]
    n_rows = max(len(table.splitlines()) - 2, 0)
    lines += [f"## The full table ({n_rows} rows)", "", note, "", table]
    return "\n".join(lines).rstrip() + "\n"


def results_section(results_dir: str | os.PathLike, readme_dir: str | os.PathLike,
                    figures_dir: str | os.PathLike | None = None, copy: bool = True,
                    page: str | os.PathLike | None = None) -> str:
    """The README's text between the markers: the summary per claim, the ``front_figures`` side by side and a
    link to ``page`` (the results page). No times: it changes only when a result does. Figures are copied
    into ``figures_dir`` (if given and ``copy``) and linked relative to ``readme_dir``."""
    root = Path(results_dir)
    md, scale = _read_run(root)
    lines = [_header(root), "", *_summary(md), ""]
    figures = _shown(front_figures(key_figures(root, scale)), figures_dir, copy)
    if figures:
        lines.append("<p>")
        lines += [f'<img src="{_rel(shown, readme_dir)}" alt="{exp}: {fig}" width="32%">'
                  for exp, fig, shown in figures]
        lines += ["</p>", ""]
    if page is not None:
        lines.append(f"Every number of the run, its scale and times, all key figures and the full table: "
                     f"[{_rel(page, readme_dir)}]({_rel(page, readme_dir)}).")
    return "\n".join(lines).rstrip() + "\n"


_TIMES = re.compile(r"The benchmarked jobs ran .*? UTC\.", re.S)


def _without_times(text: str) -> str:
    """``text`` less the sentence of the run's job time, wall time and date (they differ from run to run)."""
    return _TIMES.sub("The benchmarked jobs ran (times).", text)


_SECTION = re.compile(re.escape(START) + r"\n?(.*?)" + re.escape(END), re.S)


def replace_section(text: str, section: str) -> str:
    """``text`` with the lines between the two markers replaced by ``section``; ValueError without markers."""
    if not _SECTION.search(text):
        raise ValueError(f"the README has no {START} ... {END} markers: put them where the section goes")
    return _SECTION.sub(lambda _: f"{START}\n{section}{END}", text, count=1)


def _linked_images(text: str, base: Path) -> list[Path]:
    """The local image files ``text`` links (Markdown ``![..](path)`` and ``<img src="path">``)."""
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
    return [base / link for link in links if "://" not in link]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rfpipe.reporting.readme", description=__doc__.split("\n")[0])
    parser.add_argument("results_dir", nargs="?", default="results", help="the run's results_dir (default results)")
    parser.add_argument("--readme", default="README.md",
                        help="the README whose results block is updated (default README.md)")
    parser.add_argument("--page", default="docs/results.md",
                        help="the generated results page, written whole (default docs/results.md)")
    parser.add_argument("--figures-dir", default="docs/figures",
                        help="where the key figures are copied (default docs/figures)")
    parser.add_argument("--wall-time", help='the run\'s wall time if known, e.g. "11 min on 2 cores" (default: '
                        "the span from the first output file to the results table)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if the page or the README's block is out of date (the run's times aside)")
    mode.add_argument("--print", action="store_true", help="print the page and the README's block; write nothing")
    args = parser.parse_args(argv)
    readme, page = Path(args.readme), Path(args.page)
    if not Layout(args.results_dir).paper_results("md").exists():
        print(f"error: {args.results_dir}/tables/paper_results.md not found: run snakemake first", file=sys.stderr)
        return 1
    copy = not (args.check or args.print)
    page_text = results_page(args.results_dir, page.parent, args.figures_dir, copy=copy, wall_time=args.wall_time,
                             readme=readme)
    section = results_section(args.results_dir, readme.parent, args.figures_dir, copy=copy, page=page)
    if args.print:
        sys.stdout.write(f"{page_text}\n{START}\n{section}{END}\n")
        return 0
    try:
        text = readme.read_text()
        new = replace_section(text, section)
    except (OSError, ValueError) as err:
        print(f"error: {readme}: {err}", file=sys.stderr)
        return 1
    if args.check:
        stale = []
        old_page = page.read_text() if page.exists() else None
        if old_page is None or _without_times(old_page) != _without_times(page_text):
            stale.append(f"{page}: the results page is out of date")
        if new != text:
            stale.append(f"{readme}: the results block is out of date")
        missing = [p for p in _linked_images(page_text, page.parent) + _linked_images(section, readme.parent)
                   if not p.exists()]
        stale += [f"{p}: linked figure missing" for p in dict.fromkeys(missing)]
        for line in stale:
            print(f"{line}; run python -m rfpipe.reporting.readme {args.results_dir}", file=sys.stderr)
        return 1 if stale else 0
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(page_text)
    readme.write_text(new)
    print(f"{page} written and {readme}'s results block updated from {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
