"""The sweep: a validated config expanded into training cells with hive-style paths.

A cell is one combination of an experiment's grid values. Its path lists the extra grid axes (in the
order the kind's schema declares its settings), then ``coupling``, ``sigma`` and ``seed``:

    n_pairs=16/coupling=rotated/sigma=0.05/seed=0

Values have one text form each: floats by ``repr`` (shortest round trip: 0.05 -> ``0.05``, 0 -> ``0.0``),
so a value maps to exactly one folder. Data is keyed by the data settings the cell sweeps, and the seed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from rfpipe import kinds
from rfpipe.config import GRID_AXES, load_schema

__all__ = ["Cell", "Experiment", "Sweep", "expand_experiment", "format_value"]

def format_value(value: Any) -> str:
    """The one text form of a grid value in a path."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value + 0.0)  # -0.0 -> '0.0'
    return str(value)


def _arrow_type(prop: dict[str, Any]) -> pa.DataType:
    kind = prop.get("type")
    if kind == "number":
        return pa.float64()
    if kind == "integer":
        return pa.int64()
    if kind == "boolean":
        return pa.bool_()
    return pa.string()


def _hive(items: list[tuple[str, Any]]) -> str:
    return "/".join(f"{k}={format_value(v)}" for k, v in items)


@dataclass(frozen=True)
class Cell:
    """One training cell.

    Attributes:
        experiment: experiment name.
        kind: experiment kind.
        params: the cell's grid values in path order.
        settings: every setting the cell's jobs read (the wire form of its kind's typed settings): the fixed
            settings less the report's (the kind's ``report_keys``), with the grid values in place.
        data_params: the data-determining grid values and the seed, in path order.
    """

    experiment: str
    kind: str
    params: tuple[tuple[str, Any], ...]
    settings: dict[str, Any] = field(hash=False, compare=False)
    data_params: tuple[tuple[str, Any], ...] = ()

    @property
    def path(self) -> str:
        """The hive path of the cell, relative to the experiment's ``cells/`` folder."""
        return _hive(list(self.params))

    @property
    def data_path(self) -> str:
        """The hive path of the cell's data, relative to the experiment's ``data/`` folder."""
        return _hive(list(self.data_params))


@dataclass
class Experiment:
    """One experiment of the config and its cells.

    Attributes:
        settings: the fixed settings (the report's included), keys sorted.
        axes: the grid axes in path order.
    """

    name: str
    kind: str
    settings: dict[str, Any]
    axes: tuple[str, ...]
    cells: dict[str, Cell]

    def job_settings(self) -> dict[str, Any]:
        """What every job of the experiment reads: the fixed settings less the report's, and ``grid`` (axis ->
        values in grid order). A rule's params, so that changing any of them reruns the rule."""
        grid = {a: list(dict.fromkeys(dict(c.params)[a] for c in self.cells.values())) for a in self.axes}
        skip = kinds.get(self.kind).not_cell_keys
        return {**{k: v for k, v in self.settings.items() if k not in skip}, "grid": grid}

    def report_settings(self) -> dict[str, Any]:
        """What the experiment's report reads: every fixed setting (the report's included) and ``grid``. A rule's
        params, so that a changed verdict setting reruns the report alone."""
        return {**self.settings, "grid": self.job_settings()["grid"]}

    @property
    def chunks(self) -> int:
        """How many jobs compute the experiment's cells (a kind computed in one job per experiment)."""
        return int(self.settings.get("chunks", 1))

    def chunk_names(self) -> list[str]:
        """The chunks' names, ``<i>-of-<chunks>`` for i = 1..chunks, in cell order."""
        return [f"{i}-of-{self.chunks}" for i in range(1, self.chunks + 1)]

    def chunk(self, name: str) -> Experiment:
        """The experiment with only the cells of chunk ``name`` (``<i>-of-<n>``): the i-th of n contiguous shares
        of the cells in grid order, sizes differing by at most one, so the chunks in order are the cells in order."""
        i, sep, n = name.partition("-of-")
        if not (sep and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n) <= len(self.cells)):
            raise ValueError(f"chunk {name!r} of experiment {self.name!r}: expected <i>-of-<n> with 1 <= i <= n <= "
                             f"{len(self.cells)} cells")
        paths = list(self.cells)
        lo, hi = ((int(i) - 1) * len(paths)) // int(n), (int(i) * len(paths)) // int(n)
        return dataclasses.replace(self, cells={p: self.cells[p] for p in paths[lo:hi]})

    def partition_schema(self) -> pa.Schema:
        """Arrow types of the path keys (float ``sigma``, string ``coupling``, int ``seed``, ...)."""
        return self.column_schema(self.axes)

    def column_schema(self, names: tuple[str, ...] | list[str]) -> pa.Schema:
        """Arrow types of the settings ``names``, as the schema declares them."""
        props = load_schema()["$defs"][self.kind]["properties"]
        return pa.schema([(name, _arrow_type(props[name])) for name in names])

    def data_settings(self, data_path: str) -> dict[str, Any]:
        """The settings that produce the data at ``data_path`` (a key of :meth:`data_paths`)."""
        keys = sorted((*kinds.get(self.kind).data_keys, "kind", "seed"))
        for cell in self.cells.values():
            if cell.data_path == data_path:
                return {k: cell.settings[k] for k in keys}
        raise KeyError(f"experiment {self.name!r} has no data {data_path!r} in its grid")

    def teachers(self) -> dict[str, str]:
        """Cell path -> the path of the cell whose outputs make its data (its kind's ``teachers``): a failed
        teacher fails its pupils."""
        return kinds.get(self.kind).teachers(self.cells, self.data_settings)

    def data_paths(self) -> list[str]:
        """Every distinct data path of the experiment."""
        return sorted({c.data_path for c in self.cells.values()})


def expand_experiment(name: str, exp: dict[str, Any]) -> Experiment:
    """The experiment ``name`` of a validated config's ``experiments`` (``kind``, ``grid`` and fixed settings;
    also what :meth:`Experiment.job_settings` or :meth:`Experiment.report_settings` give), with its cells."""
    kind = kinds.get(exp["kind"])
    order = list(load_schema()["$defs"][kind.name]["properties"])
    grid: dict[str, list[Any]] = exp["grid"]
    extra = sorted((a for a in grid if a not in GRID_AXES), key=order.index)
    axes = (*extra, *GRID_AXES)
    fixed = dict(sorted((k, v) for k, v in exp.items() if k != "grid"))
    training = {k: v for k, v in fixed.items() if k not in kind.not_cell_keys}
    data_axes = [a for a in axes if a in kind.data_keys] + ["seed"]
    cells: dict[str, Cell] = {}
    for values in itertools.product(*(grid[a] for a in axes)):
        params = tuple(zip(axes, values))
        # Sorted keys: Snakemake compares params by their text, so key order must not depend on the YAML.
        settings = dict(sorted({**training, **dict(params)}.items()))
        data_params = tuple((a, settings[a]) for a in data_axes)
        cell = Cell(name, kind.name, params, settings, data_params)
        cells[cell.path] = cell
    return Experiment(name, kind.name, fixed, axes, cells)


class Sweep:
    """All cells of a validated config (see :func:`rfpipe.config.validate_config`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.results_dir: str = config["results_dir"]
        self.experiments: dict[str, Experiment] = {
            name: self._expand(name, exp) for name, exp in config["experiments"].items()
        }

    @staticmethod
    def _expand(name: str, exp: dict[str, Any]) -> Experiment:
        return expand_experiment(name, exp)

    def __iter__(self) -> Iterator[Cell]:
        for exp in self.experiments.values():
            yield from exp.cells.values()

    def cell(self, experiment: str, path: str) -> Cell:
        """The cell of ``experiment`` at hive ``path``; KeyError if the grid has no such cell."""
        try:
            return self.experiments[experiment].cells[path]
        except KeyError:
            raise KeyError(f"no cell {path!r} in experiment {experiment!r} of the config") from None
