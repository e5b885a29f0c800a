"""The results layout (rfpipe.layout): every path it builds is the one its module docstring draws, Snakemake
wildcard patterns pass through unchanged, and ``cell_of`` finds the cell of a file again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rfpipe import layout
from rfpipe.failures import failure_record
from rfpipe.integrity import VERIFIED
from rfpipe.layout import ExperimentLayout, Layout, cell_of

CELL = "coupling=rotated/sigma=0.0/seed=0"
DATA = "n_pairs=32/seed=0"


def _expand(entry: str) -> list[str]:
    """``tables/<name>.{csv,md}`` -> ``tables/<name>.csv``, ``tables/<name>.md``."""
    m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", entry)
    return [m[1] + alt + m[3] for alt in m[2].split(",")] if m else [entry]


def documented_paths() -> set[str]:
    """The paths of the tree in rfpipe.layout's docstring, in full (``<results>/<experiment>/cells/...``):
    a line that is one name ending in ``/`` opens a folder for the lines indented below it; any other line is
    one or more comma-separated paths, then (after two spaces) what they are."""
    tree = [line for line in layout.__doc__.splitlines() if line.startswith("    ")]
    assert tree, "no layout tree in the module docstring"
    folders: list[tuple[int, str]] = []
    out: set[str] = set()
    for line in tree:
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = "".join(name for _, name in folders)
        text = line.strip()
        if text.endswith("/") and not re.search(r"\s{2}|, ", text):
            folders.append((indent, text))
            continue
        entries = re.split(r"\s{2,}", text)[0]
        for entry in entries.split(", "):
            out.update(prefix + path.rstrip("/") for path in _expand(entry))
    return out


def built_paths() -> dict[str, Path]:
    """Every path of Layout and ExperimentLayout, built with the docstring's placeholders as arguments (and the
    two files that other modules put into an experiment's folder: the failure record and the check record)."""
    run = Layout("<results>")
    exp = run.experiment("<experiment>")
    return {
        "ExperimentLayout.root": exp.root,
        "ExperimentLayout.data": exp.data("<data path>"),
        "ExperimentLayout.cells": exp.cells,
        "ExperimentLayout.cell": exp.cell("<cell path>", "<file>"),
        "ExperimentLayout.checkpoint": exp.checkpoint("<cell path>"),
        "failures.failure_record": failure_record(exp.checkpoint("<cell path>")),
        "ExperimentLayout.file": exp.file("<file>"),
        "ExperimentLayout.chunk": exp.chunk("<stem>.<ext>", "<i>-of-<n>"),
        "ExperimentLayout.tables": exp.tables,
        "ExperimentLayout.table": exp.table("<name>"),
        "ExperimentLayout.table(md)": exp.table("<name>", "md"),
        "ExperimentLayout.figures": exp.figures,
        "ExperimentLayout.figure": exp.figure("<name>"),
        "ExperimentLayout.log": exp.log("<stage>", "<name>"),
        "ExperimentLayout.log(report)": exp.log("report"),
        "ExperimentLayout.slurm_logs": exp.slurm_logs("<cell>"),
        "ExperimentLayout.benchmark": exp.benchmark("<stage>", "<name>"),
        "integrity.VERIFIED": exp.root / VERIFIED,
        "Layout.root": run.root,
        "Layout.experiment": run.experiment("<experiment>").root,
        "Layout.dataset_cache": run.dataset_cache("<dataset>", "<r>"),
        "Layout.tables": run.tables,
        **{f"Layout.paper_results({ext})": run.paper_results(ext) for ext in ("csv", "md", "tex", "json")},
        "Layout.report_pages": run.report_pages,
        "Layout.report_page": run.report_page("<table>", "<experiment>"),
        "Layout.report_page(paper_results)": run.report_page("paper_results"),
        "Layout.report_page(config)": run.report_page("config"),
        "Layout.log": run.log("<name>"),
    }


def _folders(path: str) -> set[str]:
    parts = path.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


def test_every_path_is_the_documented_one() -> None:
    """Each path built is in the docstring's tree, and each file of the tree is built (its folders, which the
    tree shows as the prefixes of its files, are the properties ``cells``, ``tables``, ... )."""
    documented = documented_paths()
    built = {name: path.as_posix() for name, path in built_paths().items()}
    folders = set().union(*map(_folders, documented))
    assert {name: path for name, path in built.items() if path not in documented | folders} == {}
    assert documented - set(built.values()) == set()
    assert {"<results>/<experiment>/cells/<cell path>/<file>", "<results>/tables/paper_results.tex",
            "<results>/datasets/<dataset>/resolution=<r>/images.pt",
            "<results>/<experiment>/checkpoints/<cell path>/failed.json"} <= documented


def test_every_public_path_is_tested() -> None:
    """A path added to Layout or ExperimentLayout gets a line in :func:`built_paths` (and so in the docstring)."""
    tested = {name.split("(")[0] for name in built_paths()} | {"ExperimentLayout.name"}  # test_paths_by_example
    for cls in (ExperimentLayout, Layout):
        public = {f"{cls.__name__}.{name}" for name in [*vars(cls), "root"] if not name.startswith("_")}
        assert public - tested == set()


@pytest.mark.parametrize("results", ["results/x", "/abs/results", "."])
def test_paths_by_example(results: str) -> None:
    """The same paths on a real results folder: Paths under it, the experiment's name its folder's."""
    run = Layout(results)
    root = Path(results)
    assert run.root == root and Layout(Path(results)) == run and hash(Layout(results)) == hash(run)
    exp = run.experiment("rot")
    assert exp == ExperimentLayout(root / "rot") and exp.name == "rot"
    assert exp.data(DATA) == root / "rot" / "data" / "n_pairs=32" / "seed=0" / "data.pt"
    assert exp.cell(CELL, "model.pt") == \
        root / "rot" / "cells" / "coupling=rotated" / "sigma=0.0" / "seed=0" / "model.pt"
    assert exp.checkpoint(CELL) == root / "rot" / "checkpoints" / CELL / "state.pt"
    assert exp.table("verdicts") == root / "rot" / "tables" / "verdicts.csv"
    assert exp.figure("trajectories") == root / "rot" / "figures" / "trajectories.png"
    assert exp.file("variance.parquet") == root / "rot" / "variance.parquet"
    assert exp.log("train", CELL) == root / "rot" / "logs" / "train" / f"{CELL}.log"
    assert exp.log("variance") == root / "rot" / "logs" / "variance.log"
    assert exp.benchmark("train", CELL) == root / "rot" / "benchmarks" / "train" / f"{CELL}.tsv"
    assert exp.benchmark("variance") == root / "rot" / "benchmarks" / "variance.tsv"
    assert exp.slurm_logs(CELL) == root / "rot" / "logs" / "slurm" / CELL
    assert run.dataset_cache("mnist5k", 28) == root / "datasets" / "mnist5k" / "resolution=28" / "images.pt"
    assert run.paper_results("csv") == root / "tables" / "paper_results.csv"
    assert run.report_page("summary", "rot") == root / "report" / "rot" / "summary.html"
    assert run.report_page("config") == root / "report" / "config.html"
    assert run.log("paper_results") == root / "logs" / "paper_results.log"


@pytest.mark.parametrize("experiment,cell,data", [("{experiment}", "{cell}", "{data}"),
                                                  ("{experiment,[^/]+}", "{cell,.+}", "{data,.+}")])
def test_wildcard_patterns_pass_through(experiment: str, cell: str, data: str) -> None:
    """The Snakefile's patterns (``LAYOUT.experiment("{experiment}")`` ...) are the paths with the wildcards
    left as they are, constraints (regular expressions, even with a ``/``) included."""
    run = Layout("results/x")
    exp = run.experiment(experiment)
    assert str(exp.root) == f"results/x/{experiment}"
    assert str(exp.data(data)) == f"results/x/{experiment}/data/{data}/data.pt"
    assert str(exp.cell(cell, "model.pt")) == f"results/x/{experiment}/cells/{cell}/model.pt"
    assert str(exp.checkpoint(cell)) == f"results/x/{experiment}/checkpoints/{cell}/state.pt"
    assert str(exp.log("train", cell)) == f"results/x/{experiment}/logs/train/{cell}.log"
    assert str(exp.benchmark("data", data)) == f"results/x/{experiment}/benchmarks/data/{data}.tsv"
    assert str(exp.slurm_logs(cell)) == f"results/x/{experiment}/logs/slurm/{cell}"
    assert str(exp.table("{table}")) == f"results/x/{experiment}/tables/{{table}}.csv"
    assert str(run.dataset_cache("{dataset}", "{resolution}")) == \
        "results/x/datasets/{dataset}/resolution={resolution}/images.pt"
    assert str(run.report_page("{table}", experiment)) == f"results/x/report/{experiment}/{{table}}.html"


@pytest.mark.parametrize("results", ["results/x", "/abs/results", "results"])
@pytest.mark.parametrize("cell", [CELL, "seed=0", "dim=3/coupling=paired/sigma=0.05/seed=12"])
def test_cell_of_inverts_cell_and_checkpoint(results: str, cell: str) -> None:
    """``cell_of`` gives back (experiment, cell path) of a cell's output, its checkpoint and its failure record,
    as a Path or a string; any other path of the experiment is no cell's."""
    exp = Layout(results).experiment("rot")
    for path in (exp.cell(cell, "model.pt"), exp.cell(cell, "metrics.parquet"), exp.checkpoint(cell),
                 failure_record(exp.checkpoint(cell))):
        assert cell_of(path) == ("rot", cell)
        assert cell_of(str(path)) == ("rot", cell)
    for path in (exp.data(DATA), exp.table("summary"), exp.figure("mmd"), exp.file("variance.parquet"),
                 exp.log("report"), exp.root / VERIFIED, Layout(results).paper_results("csv")):
        assert cell_of(path) is None
