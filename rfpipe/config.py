"""Configuration: load, validate against the JSON schema, fill defaults, check cross-field rules.

Every error is a :class:`ConfigError` whose message names the offending key as a dotted path
(``experiments.rotation.grid.sigma[1]``) and says what is allowed. The same function serves the
Snakemake workflow (``workflow/rules/common.smk``) and the command line, before any job starts.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rfpipe import kinds
from rfpipe.launch import JOBS, SlurmResources
from rfpipe.solvers import solver_hits_half

__all__ = ["GRID_AXES", "ConfigError", "check_flow_cell", "check_odd_steps", "check_probe", "load_config",
           "load_schema", "validate_config", "values"]

GRID_AXES: tuple[str, ...] = ("coupling", "sigma", "seed")
"""The axes every grid must have, in the order they close a cell path (``.../coupling=/sigma=/seed=``)."""

class ConfigError(ValueError):
    """An invalid configuration; the message names the key."""


@cache
def load_schema() -> dict[str, Any]:
    """The config schema shipped with the package (``workflow/schemas/config.schema.yaml`` links to it)."""
    return yaml.safe_load(resources.files("rfpipe").joinpath("schemas/config.schema.yaml").read_text())


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _check(instance: Any, schema: dict[str, Any], where: str) -> None:
    """Validate ``instance`` against ``schema`` (with the root's $defs); raise the first error, located."""
    root = load_schema()
    validator = jsonschema.Draft202012Validator({**schema, "$defs": root["$defs"]})
    errors = sorted(validator.iter_errors(instance),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        key = _where([*where.split("."), *err.absolute_path]) if where else _where(err.absolute_path)
        raise ConfigError(f"{key}: {_message(err)}")


def _message(err: jsonschema.ValidationError) -> str:
    """The validator's message, plus what is allowed where it does not say so itself."""
    schema = err.schema if isinstance(err.schema, dict) else {}
    if err.validator in ("anyOf", "oneOf") and schema.get("description"):
        return f"{err.message}; allowed: {schema['description'].rstrip('.')}"
    if err.validator == "additionalProperties" and schema.get("properties"):
        return f"{err.message}; allowed: {', '.join(schema['properties'])}"
    return err.message


def _fill_defaults(settings: dict[str, Any], schema: dict[str, Any]) -> None:
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop and name not in settings:
            settings[name] = copy.deepcopy(prop["default"])


def _canonical(value: Any, prop: dict[str, Any]) -> Any:
    """One value, one form: ``number`` -> float (0 and 0.0, 0.05 and 0.050, -0.0 and 0.0 are one value),
    ``integer`` -> int (16.0, which JSON Schema counts as an integer, is 16)."""
    if prop.get("type") == "number":
        return float(value) + 0.0
    if prop.get("type") == "integer":
        return int(value)
    return value


def values(key: str, settings: dict[str, Any], grid: dict[str, list[Any]]) -> list[Any]:
    """Every value ``key`` takes in the experiment: its grid values, or the fixed setting."""
    return list(grid[key]) if key in grid else [settings[key]]


def check_odd_steps(where: str, settings: dict[str, Any], grid: dict[str, list[Any]]) -> None:
    """The odd/even rule: Euler and Heun on n uniform steps evaluate the field at t = 1/2 iff n is even, the time
    where every line of the 180-degree rotated pairing crosses (2.5, 2.5): odd counts only. The solver and the
    step lists may be grid axes: every combination is checked."""
    solvers = grid.get("solver", [settings.get("solver")])
    step_lists = grid.get("solver_steps", [settings.get("solver_steps", [])])
    for solver in solvers:
        for step_list in step_lists:
            for steps in step_list:
                if solver in ("euler", "heun") and solver_hits_half(solver, steps):
                    raise ConfigError(f"{where}.solver_steps: {steps} is even; solver {solver} then evaluates "
                                      f"the field at t = 1/2 (singular for angle 180); use odd step counts")


def check_flow_cell(where: str, settings: dict[str, Any], grid: dict[str, list[Any]], check_data: bool) -> None:
    """The cross-key rules of an MLP cell evaluated by a fixed-step solver: :func:`check_odd_steps` and
    :func:`check_probe` (a kind's ``check``)."""
    check_odd_steps(where, settings, grid)
    check_probe(where, settings, grid)


def check_probe(where: str, settings: dict[str, Any], grid: dict[str, list[Any]]) -> None:
    """Two samples per t-bin: the probe holds probe_size samples with ``probe_batch: fresh``, the step's
    batch_size with ``train``."""
    if not (settings.get("probe_every", 0) or "probe_every" in grid):
        return
    bins = grid.get("t_bins", [settings.get("t_bins")])
    for mode in grid.get("probe_batch", [settings.get("probe_batch", "fresh")]):
        key = "probe_size" if mode == "fresh" else "batch_size"
        for n in grid.get(key, [settings.get(key)]):
            for b in bins:
                if n is not None and b is not None and n < 2 * b:
                    raise ConfigError(f"{where}.{key}: {n} must be at least 2 * t_bins = {2 * b} "
                                      f"(two samples per t-bin in a probe with probe_batch {mode})")


SLURM_AT_LEAST_ONE: tuple[str, ...] = ("cpus", "mem_mb", "time_min", "signal_delay_s")
"""Slurm resources that no job can run with at 0 (``gpus: 0`` is a CPU job)."""


SBATCH_WORD = re.compile(r"[^\s\x00-\x1f\x7f]+")
"""A Slurm option value as it goes into a ``#SBATCH --key=value`` line of the job script: one word. A line
break in it would start a shell line of the script (a config value run as a command), so none is allowed."""
SBATCH_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _check_slurm(resources: dict[str, Any], where: str) -> None:
    for key in SLURM_AT_LEAST_ONE:
        if key in resources and resources[key] is not None and int(resources[key]) < 1:
            raise ConfigError(f"{where}.{key}: {resources[key]!r} cannot be satisfied; allowed: an integer of at "
                              f"least 1 (or leave it out for the cluster's default)")
    words = [(key, resources.get(key)) for key in ("partition", "account", "constraint")]
    for key, value in (resources.get("extra") or {}).items():
        if not SBATCH_KEY.fullmatch(str(key).lstrip("-")):
            raise ConfigError(f"{where}.extra.{key}: not an sbatch option name; allowed: letters, digits, - and _")
        words.append((f"extra.{key}", value))
    for key, value in words:
        if value is not None and not SBATCH_WORD.fullmatch(str(value)):
            raise ConfigError(f"{where}.{key}: {value!r} is not one word; allowed: a value without spaces, line "
                              f"breaks or control characters (it goes into the job script's #SBATCH line)")


def _slurm_blocks(slurm: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ``jobs.<job>`` and ``experiments.<name>.jobs.<job>`` override blocks of a ``slurm`` block, by key;
    deeper nesting (``jobs`` in a job's block, ``experiments`` in an experiment's) is refused."""
    out = []
    for name, block in [("", slurm)] + [(f".experiments.{n}", b or {}) for n, b in (slurm.get("experiments") or
                                                                                      {}).items()]:
        if name and "experiments" in block:
            raise ConfigError(f"slurm{name}.experiments: experiments cannot nest; allowed here: resources and jobs")
        for job, overrides in (block.get("jobs") or {}).items():
            for inner in ("jobs", "experiments"):
                if inner in (overrides or {}):
                    raise ConfigError(f"slurm{name}.jobs.{job}.{inner}: cannot nest in a job's resources")
            out.append((f"slurm{name}.jobs.{job}", overrides or {}))
    return out


def validate_config(config: dict[str, Any], check_data: bool = True) -> dict[str, Any]:
    """Validate ``config`` and return a new dict with defaults filled and grid values canonical.

    With ``check_data`` (the default; off for ``snakemake -n``, which reads no data) image datasets must be
    readable and hold n_pairs + n_test images, and ``device: cuda`` with the local executor needs a GPU here.

    Raises:
        ConfigError: naming the first offending key.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"(top level): the config must be a mapping, got {type(config).__name__}")
    schema = load_schema()
    top = {k: v for k, v in schema.items() if k != "$defs"}
    _check(config, top, "")
    out = copy.deepcopy(config)
    _fill_defaults(out, top)
    _check_slurm(out.get("slurm") or {}, "slurm")
    for name, overrides in ((out.get("slurm") or {}).get("experiments") or {}).items():
        if name not in out["experiments"]:
            raise ConfigError(f"slurm.experiments.{name}: no experiment of that name; experiments: "
                              f"{', '.join(out['experiments'])}")
        _check_slurm(overrides or {}, f"slurm.experiments.{name}")
    slurm = out.get("slurm") or {}
    for where, block in _slurm_blocks(slurm):
        _check_slurm(block, where)
    for name in out["experiments"]:  # the keys together, as each experiment's jobs get them
        for job in JOBS:
            try:
                SlurmResources.for_job(slurm, name, job)
            except ValueError as err:
                overrides = (slurm.get("experiments") or {}).get(name) or {}
                where = ("slurm" + (f".experiments.{name}" if overrides else "")
                         + (f".jobs.{job}" if job in (overrides.get("jobs") or slurm.get("jobs") or {}) else ""))
                raise ConfigError(f"{where}: {str(err).replace('SlurmResources.', '')} (resources of its {job} "
                                  f"jobs)") from None
    for name, exp in out["experiments"].items():
        kind = exp["kind"]
        kind_schema = schema["$defs"][kind]
        props = kind_schema["properties"]
        where = f"experiments.{name}"
        grid = exp["grid"]
        _check(grid, schema["$defs"]["grid"], f"{where}.grid")
        for axis in GRID_AXES:
            if axis in exp:
                raise ConfigError(f"{where}.{axis}: must be listed under {where}.grid, not as a fixed setting")
        for axis, values in grid.items():
            if axis not in props or axis in ("kind", "grid"):
                allowed = ", ".join(k for k in props if k not in ("kind", "grid"))
                raise ConfigError(f"{where}.grid.{axis}: unknown setting for kind {kind!r}; allowed: {allowed}")
            if axis in exp:
                raise ConfigError(f"{where}.{axis}: set both as a fixed setting and as a grid axis; keep one")
            if axis in kinds.get(kind).report_keys:
                raise ConfigError(f"{where}.grid.{axis}: a report setting (read by the verdicts only, it changes no "
                                  f"cell) cannot be a grid axis; set it once as {where}.{axis}")
            if axis in kinds.get(kind).workflow_keys:
                raise ConfigError(f"{where}.grid.{axis}: a workflow setting (how the work is split into jobs, it "
                                  f"changes no cell) cannot be a grid axis; set it once as {where}.{axis}")
            for i, value in enumerate(values):
                _check(value, props[axis], f"{where}.grid.{axis}[{i}]")
            canonical = [_canonical(v, props[axis]) for v in values]
            seen: set[str] = set()
            for value in canonical:
                if repr(value) in seen:
                    raise ConfigError(f"{where}.grid.{axis}: value {value!r} is listed twice")
                seen.add(repr(value))
            grid[axis] = canonical
        fixed = {k: v for k, v in exp.items() if k != "grid"}
        _check({**fixed, "grid": grid}, kind_schema, where)
        _fill_defaults(exp, {"properties": {k: p for k, p in props.items() if k not in grid}})
        for key in list(exp):
            if key in props and key not in ("kind", "grid"):
                exp[key] = _canonical(exp[key], props[key])
        kinds.get(kind).check(where, exp, grid, check_data)
        if check_data and out["executor"] == "local":
            _check_device(exp, grid, where)
    return out


def _check_device(exp: dict[str, Any], grid: dict[str, list[Any]], where: str) -> None:
    """``device: cuda`` runs here with the local executor: refuse it before any job if this machine has no GPU
    (under Slurm the jobs' nodes, not the submit host, have the GPUs)."""
    key, values = (f"{where}.grid.device", grid["device"]) if "device" in grid else (f"{where}.device",
                                                                                     [exp.get("device", "cpu")])
    if "cuda" in values:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{key}: 'cuda', but torch sees no CUDA GPU on this machine and the executor is "
                              "'local'; allowed here: cpu or auto (or run with --profile slurm on GPU nodes)")


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it (:func:`validate_config`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return validate_config(raw if raw is not None else {})
