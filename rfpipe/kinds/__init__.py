"""Experiment kinds: one package each, found through a registry; the shared machinery names none of them.

A kind is a package ``rfpipe/kinds/<kind>/`` whose ``__init__`` registers one :class:`Kind` (light: no torch,
no pandas, so the Snakefile can plan a sweep cheaply) and whose submodules do the work: ``jobs`` (data
preparation and the cell or experiment job, torch) and ``report`` (tables, figures, verdicts, paper rows).
Every package here is imported on first use of the registry, so adding a kind is adding its package (plus its
entry in the config schema, ``$defs/<kind>``, and its figure captions in ``workflow/report/<kind>/``).

    kind = get("mog")
    kind.settings.from_mapping(cell.settings)      # typed settings of one cell
    kind.function("jobs", "prepare_data")(...)      # a function of the kind's jobs module, imported on demand
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rfpipe.settings import CellSettings, Settings

__all__ = ["FLOW_CELL_OUTPUTS", "Kind", "get", "kinds", "register"]

FLOW_CELL_OUTPUTS: dict[str, str] = {"model": "model.pt", "gradvar": "gradvar.parquet",
                                     "convergence": "convergence.parquet", "timeline": "timeline.parquet",
                                     "metrics": "metrics.parquet", "trajectories": "trajectories.parquet"}
"""The outputs of a trained point-cloud cell: weights, probe log, convergence, evaluation metrics, ODE paths."""


def _no_check(where: str, settings: Mapping[str, Any], grid: Mapping[str, list[Any]], check_data: bool) -> None:
    return None


def _no_inputs(experiment: Any, data_path: str, layout: Any) -> dict[str, str]:
    return {}


def _no_teachers(cells: Mapping[str, Any], data_settings: Callable[[str], dict[str, Any]]) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Kind:
    """Everything the workflow and the shared code need to know about one experiment kind.

    Attributes:
        name: the ``kind`` of the config (and the schema's ``$defs`` entry).
        settings: typed settings of one cell (flat keys: the schema's properties less ``kind``, ``grid`` and
            the report's keys).
        package: the kind's package; its ``jobs`` and ``report`` modules are imported when first called.
        data_settings: typed settings of a cell's prepared data (the part of ``settings`` that determines it:
            one data file per distinct value); ``None``: the kind prepares no data.
        data_inputs: further inputs of a data job, ``data_inputs(experiment, data_path, layout) -> {name:
            path}`` (an :class:`rfpipe.sweep.Experiment` and an :class:`rfpipe.layout.Layout`), passed by name
            to ``jobs.prepare_data``.
        cell_outputs: the files one cell's job writes (``{name: filename}``; the job is ``jobs.run_cell``);
            empty for a kind computed in one job per experiment.
        experiment_outputs: the files of the one job per experiment (``jobs.run_experiment``), if any.
        report_inputs: what the report reads: cell files (``cell_outputs`` names) and experiment files.
        tables: the report's tables (each ``.csv`` and ``.md`` in ``tables/``).
        figures: the report's figures (``.png`` in ``figures/``).
        key_figures: the key figures of an experiment with these grid axes (``docs/results.md`` shows them all,
            the README three of them; :mod:`rfpipe.reporting.readme`).
        has_model: cells write a ``model.pt`` a ReFlow step can integrate (rule ``reflow_pairs``).
        couplings: config coupling -> how :class:`rfpipe.couplings.PairSampler` draws from the training pairs.
        check: the rules that span several keys, ``check(where, settings, grid, check_data)``, raising
            :class:`rfpipe.config.ConfigError` naming the key.
        teachers: cell path -> the path of the cell whose outputs make its data, ``teachers(cells,
            data_settings)`` (a failed teacher fails its pupils).
        report_settings: typed settings read only by the report (its verdict rule): never a cell's, never a
            grid axis, so that changing one reruns the report alone.
        heavy_data: its data preparation is heavy (the images' OT pairing of up to 50,000 images): with
            ``executor: slurm`` it runs as a Slurm job (resources ``slurm.jobs.data``), not where Snakemake runs.
        workflow_keys: keys read only by the workflow, to split the work into jobs (``chunks``): they change no
            number, so they are never a cell's setting, never a grid axis.
    """

    name: str
    settings: type[CellSettings]
    package: str
    data_settings: type[Settings] | None = None
    data_inputs: Callable[[Any, str, Any], dict[str, str]] = _no_inputs
    cell_outputs: Mapping[str, str] = field(default_factory=dict)
    experiment_outputs: Mapping[str, str] = field(default_factory=dict)
    report_inputs: tuple[str, ...] = ()
    tables: tuple[str, ...] = ("summary", "verdicts")
    figures: tuple[str, ...] = ()
    key_figures: Callable[[Iterable[str]], tuple[str, ...]] = lambda axes: ()
    has_model: bool = False
    couplings: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[str, Mapping[str, Any], Mapping[str, list[Any]], bool], None] = _no_check
    teachers: Callable[[Mapping[str, Any], Callable[[str], dict[str, Any]]], dict[str, str]] = _no_teachers
    report_settings: type[Settings] | None = None
    heavy_data: bool = False
    workflow_keys: frozenset[str] = frozenset()

    @property
    def data_keys(self) -> tuple[str, ...]:
        """The settings that determine the prepared data, besides ``kind`` and ``seed``."""
        if self.data_settings is None:
            return ()
        return tuple(k for k in dict.fromkeys(self.data_settings.keys()) if k not in ("kind", "seed"))

    @property
    def report_keys(self) -> frozenset[str]:
        """The flat keys of :attr:`report_settings`."""
        return frozenset(self.report_settings.keys()) if self.report_settings is not None else frozenset()

    @property
    def not_cell_keys(self) -> frozenset[str]:
        """Fixed settings that no cell's job reads: the report's and the workflow's."""
        return self.report_keys | self.workflow_keys

    def report_of(self, settings: Mapping[str, Any]) -> Any:
        """The typed report settings among an experiment's fixed ``settings``."""
        if self.report_settings is None:
            raise KeyError(f"kind {self.name!r} has no report settings")
        return self.report_settings.from_mapping({k: settings[k] for k in self.report_settings.keys()})

    def function(self, module: str, name: str) -> Callable[..., Any]:
        """``name`` of the kind's submodule ``module`` (``jobs`` or ``report``), imported now."""
        return getattr(importlib.import_module(f"{self.package}.{module}"), name)

    def target(self, name: str) -> str:
        """The ``module:function`` text of a job function (what :mod:`rfpipe.launch` submits)."""
        return f"{self.package}.jobs:{name}"


_KINDS: dict[str, Kind] = {}
_DISCOVERED: list[bool] = []


def register(kind: Kind) -> Kind:
    """Register ``kind`` under its name (a later registration replaces an earlier one); returns it."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> dict[str, Kind]:
    """Every registered kind, by name (the packages of this folder imported on the first call)."""
    if not _DISCOVERED:
        for module in pkgutil.iter_modules(__path__):
            if module.ispkg:
                importlib.import_module(f"{__name__}.{module.name}")
        _DISCOVERED.append(True)
    return dict(_KINDS)


def get(name: str) -> Kind:
    """The kind called ``name``; KeyError listing the known kinds otherwise."""
    known = kinds()
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"no experiment kind {name!r}; known: {', '.join(sorted(known))}") from None
