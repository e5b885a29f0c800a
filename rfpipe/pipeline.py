"""The workflow's jobs, each a thin call into one function that works without Snakemake.

    data_job        -> data.pt           a kind's ``jobs.prepare_data`` (one per data path)
    cell_job        -> the cell's files  a kind's ``jobs.run_cell``: train, then evaluate (through rfpipe.launch,
                                         here or as a Slurm job)
    experiment_job  -> one file          a kind's ``jobs.run_experiment`` (one job for every cell)
    reflow_pairs_job -> reflow_pairs.pt  (x_0, phi(x_0)) of any trained cell, on request

and the pieces every trained kind shares: :func:`train_cell` (the training loop on a cell's data, resumable,
with its failure record), :func:`build_model`, :func:`load_model`. Settings arrive as the flat dict of the
rule's params (the wire format) and are typed here once (:func:`rfpipe.kinds.Kind.settings`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from rfpipe import kinds
from rfpipe.convergence import CONVERGENCE_SCHEMA, Convergence
from rfpipe.convergence import convergence as criterion
from rfpipe.couplings import PairSampler
from rfpipe.data import PairedData
from rfpipe.evaluation import TIMELINE_SCHEMA, snapshot_steps, timeline_rows
from rfpipe.failures import cell_name, remove_failure, settings_tag, write_failure
from rfpipe.integrity import check_file
from rfpipe.interpolants import Interpolant
from rfpipe.io import load_tensors, save_tensors, write_parquet
from rfpipe.reflow import reflow_pairs
from rfpipe.settings import CellSettings
from rfpipe.sweep import Experiment, expand_experiment
from rfpipe.training import train

__all__ = ["EVAL_CHUNK", "GRADVAR_SCHEMA", "build_model", "cell_device", "cell_job", "cell_settings", "data_job",
           "experiment_job", "generate_reflow_pairs", "load_model", "log_to", "merge_chunks", "recorded_failure",
           "reflow_pairs_job", "train_cell"]

log = logging.getLogger("rfpipe")

GRADVAR_SCHEMA = pa.schema([
    ("step", pa.int64()), ("t_bin", pa.int32()), ("t_low", pa.float64()), ("t_high", pa.float64()),
    ("n", pa.int64()), ("loss", pa.float64()), ("grad_var_trace", pa.float64()),
    ("grad_mean_sqnorm", pa.float64()), ("grad_var_ratio", pa.float64()),
])
"""A cell's ``gradvar.parquet``: one row per probe step and t-bin (:func:`rfpipe.training.train`)."""

EVAL_CHUNK = 500
"""Samples integrated at a time where a network's activations are large (images; ReFlow pairs)."""


@contextlib.contextmanager
def log_to(path: str | os.PathLike | None, threads: int = 1) -> Iterator[None]:
    """Send this process's log records, stdout and stderr to ``path``, and set torch's thread count."""
    torch.set_num_threads(threads)
    if path is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        yield
        return
    with open(path, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        handler = logging.StreamHandler(f)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        try:
            yield
        except BaseException:
            log.exception("failed")
            raise
        finally:
            log.removeHandler(handler)


def cell_settings(settings: Mapping[str, Any] | CellSettings) -> CellSettings:
    """The typed settings of a cell from its flat wire form (settings already typed pass through)."""
    if isinstance(settings, CellSettings):
        return settings
    return kinds.get(settings["kind"]).settings.from_mapping(settings)


def cell_device(settings: CellSettings) -> torch.device:
    """The cell's ``device`` (``cpu`` for kinds without one; ``auto``: the GPU if there is one)."""
    name = getattr(settings, "device", "cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def build_model(settings: CellSettings) -> torch.nn.Module:
    """The cell's velocity network (its kind's ``jobs.network``), freshly initialised from
    ``torch.manual_seed(seed)`` (on the CPU, so the same on every device), then moved to its device."""
    torch.manual_seed(settings.seed)
    net = kinds.get(settings.kind).function("jobs", "network")(settings)
    return net.to(cell_device(settings))


def load_model(settings: CellSettings, model: str | os.PathLike) -> torch.nn.Module:
    """The cell's trained network from ``model``, in eval mode."""
    net = build_model(settings)
    net.load_state_dict(load_tensors(model)["state_dict"])
    return net.eval()


@contextlib.contextmanager
def recorded_failure(settings: CellSettings, output: str | os.PathLike,
                     checkpoint: str | os.PathLike | None) -> Iterator[None]:
    """A new attempt at the cell of ``output``: a NaN or inf (``FloatingPointError``) inside names the cell; with
    ``checkpoint``, an earlier failure record beside it is removed on entry and a new one written
    (:func:`rfpipe.failures.write_failure`), so that the report can mark the cell."""
    if checkpoint is not None:
        remove_failure(checkpoint)
    try:
        yield
    except FloatingPointError as exc:
        err = FloatingPointError(f"cell {cell_name(output)}: {exc}")
        if checkpoint is not None:
            record = write_failure(checkpoint, cell_name(output), settings.to_dict(), err)
            log.error("%s (failure recorded in %s)", err, record)
        raise err from None


def _trained(tag: str, model: str | os.PathLike, *logs: str | os.PathLike) -> bool:
    """Whether ``model`` and the training ``logs`` exist, read back whole, and ``model`` was trained with
    settings ``tag``."""
    try:
        if any(check_file(path) is not None for path in (*logs, model)):
            return False
    except FileNotFoundError:
        return False
    return load_tensors(model).get("settings") == tag


def train_cell(settings: CellSettings, data: str | os.PathLike, model: str | os.PathLike,
               gradvar: str | os.PathLike, convergence: str | os.PathLike,
               checkpoint: str | os.PathLike | None = None, timeline: str | os.PathLike | None = None) -> Convergence:
    """Train one cell on its data; write the weights to ``model``, the probe log to ``gradvar`` and the
    convergence criterion of :mod:`rfpipe.convergence` (with the settings' ``converge_tol`` and
    ``loss_target``) to ``convergence``; return the latter. With ``timeline``, the memorisation timeline: the
    endpoint metrics of the training sources at each ``solver_steps`` after ``timeline_start``, twice as many,
    ... updates and at the end (:func:`rfpipe.evaluation.timeline_rows`).

    The pairs are drawn as the cell's coupling says (its kind's ``couplings``); the settings are the kind's
    typed settings with ``train`` (:class:`rfpipe.settings.TrainSettings`). With ``checkpoint`` (a path outside
    the rule's outputs, which Snakemake deletes on failure) training resumes from the last state saved there
    every ``checkpoint_every`` steps; the file is removed once the outputs are written. A resumable call that
    finds both outputs whole and made with these settings (a job requeued after training, during its
    evaluation) returns at once.
    """
    tag = settings_tag(settings.to_dict())
    logs = (gradvar, convergence) if timeline is None else (gradvar, convergence, timeline)
    if checkpoint is not None and _trained(tag, model, *logs):
        log.info("%s: already trained with these settings, not training again", cell_name(model))
        row = pq.read_table(convergence).to_pylist()[0]
        return Convergence(**row, converge_tol=settings.train.converge_tol, loss_target=settings.train.loss_target)
    paired = PairedData.load(data)
    pairing = kinds.get(settings.kind).couplings[settings.coupling]
    sampler = PairSampler(paired.train.x_0, paired.train.x_1, pairing)
    interpolant = Interpolant(settings.sigma, settings.noise)
    config = settings.train.config()
    net = build_model(settings)
    device = cell_device(settings)

    def on_snapshot(step: int, net: torch.nn.Module) -> list[dict[str, Any]]:
        log.info("timeline: evaluated after %d steps", step)
        return timeline_rows(net, paired, settings.solver, settings.solver_steps, step, device)

    start = time.perf_counter()
    with recorded_failure(settings, model, checkpoint):
        result = train(net, sampler, interpolant, config, seed=settings.seed,
                       on_probe=lambda step: log.info("step %d", step), checkpoint=checkpoint,
                       checkpoint_every=settings.train.checkpoint_every, tag=tag,
                       on_snapshot=on_snapshot if timeline is not None else None,
                       snapshots=snapshot_steps(config.steps, settings.train.timeline_start))
    log.info("trained %d steps in %.1f s, final batch loss %.4g", config.steps, time.perf_counter() - start,
             result.final_loss)
    zero_minimum = settings.sigma == 0 and pairing == "paired"
    converged = criterion(result.losses, zero_minimum, paired.train.x_0[0].numel(), settings.train.converge_tol,
                          settings.train.loss_target)
    log.info("convergence: smoothed loss %.4g, fell %.3g over the last fifth: %s", converged.final_loss,
             converged.loss_change, "converged" if converged.converged else "NOT converged")
    write_parquet(pa.Table.from_pylist(result.probes, schema=GRADVAR_SCHEMA), gradvar)
    write_parquet(pa.Table.from_pylist([converged.row()], schema=CONVERGENCE_SCHEMA), convergence)
    if timeline is not None:
        write_parquet(pa.Table.from_pylist(result.timeline, schema=TIMELINE_SCHEMA), timeline)
    save_tensors({"state_dict": net.state_dict(), "settings": tag}, model)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return converged


def _threads(threads: int) -> int:
    """``threads``, or in a job that submitit submitted to Slurm as many as it has CPUs (``SLURM_CPUS_PER_TASK``;
    not when merely running inside an allocation, where Snakemake shares the CPUs among its jobs)."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
        return int(os.environ.get("SLURM_CPUS_PER_TASK", threads))
    return threads


def cell_job(settings: Mapping[str, Any], inputs: Mapping[str, str], outputs: Mapping[str, str],
             checkpoint: str | None = None, log: str | None = None, threads: int = 1) -> None:
    """One cell's job (the target :mod:`rfpipe.launch` runs here or submits to Slurm): its kind's
    ``jobs.run_cell(settings, inputs, outputs, checkpoint)`` (train, then evaluate in the same process: one
    start-up per cell), logging to ``log`` with ``threads`` torch threads. Resumable through ``checkpoint``."""
    with log_to(log, _threads(threads)):
        typed = cell_settings(settings)
        kinds.get(typed.kind).function("jobs", "run_cell")(typed, dict(inputs), dict(outputs), checkpoint)


def data_job(settings: Mapping[str, Any], inputs: Mapping[str, str], data: str, log: str | None = None) -> None:
    """Prepare one data file: its kind's ``jobs.prepare_data(settings, data, **inputs)`` on the typed data
    settings (the kind's ``settings.data`` part)."""
    with log_to(log):
        kind = kinds.get(settings["kind"])
        typed = kind.data_settings.from_mapping(settings)
        kind.function("jobs", "prepare_data")(typed, data, **inputs)


def experiment_job(name: str, settings: Mapping[str, Any], output: str, log: str | None = None,
                   threads: int = 1, chunk: str | None = None) -> None:
    """The job of a whole experiment, or of its ``chunk`` (``<i>-of-<n>``: :meth:`rfpipe.sweep.Experiment.chunk`),
    a target :mod:`rfpipe.launch` runs here or submits to Slurm: its kind's ``jobs.run_experiment(experiment,
    output)``, the experiment expanded from ``settings`` (the rule's params: fixed settings and ``grid``)."""
    with log_to(log, _threads(threads)):
        experiment: Experiment = expand_experiment(name, settings)
        if chunk is not None:
            experiment = experiment.chunk(chunk)
        kinds.get(experiment.kind).function("jobs", "run_experiment")(experiment, output)


def merge_chunks(chunks: list[str], output: str, log: str | None = None) -> None:
    """The Parquet files of an experiment's chunks, in order, as one file: row for row the file that one job over
    every cell writes (same schema, same order; the same bytes, tested)."""
    with log_to(log):
        tables = [pq.read_table(path) for path in chunks]
        write_parquet(pa.concat_tables(tables), output)
        logging.getLogger("rfpipe").info("%d chunks, %d rows -> %s", len(tables), sum(t.num_rows for t in tables),
                                         output)


def generate_reflow_pairs(settings: CellSettings, data: str | os.PathLike, model: str | os.PathLike,
                          pairs: str | os.PathLike) -> None:
    """The ReFlow step of a trained cell: (x_0, phi(x_0)) for its training sources, integrated with the cell's
    ``solver`` at its largest ``solver_steps``, saved as ``{"x_0", "x_1"}`` (the input of a next round)."""
    paired = PairedData.load(data)
    net = load_model(settings, model)
    steps = max(settings.solver_steps)
    device = cell_device(settings)
    x_0, x_1 = reflow_pairs(net, paired.train.x_0.to(device), steps, settings.solver, chunk=EVAL_CHUNK)
    x_0, x_1 = x_0.cpu(), x_1.cpu()
    save_tensors({"x_0": x_0, "x_1": x_1}, pairs)
    log.info("reflow pairs: %d sources, %s with %d steps -> %s", x_0.shape[0], settings.solver, steps, pairs)


def reflow_pairs_job(settings: Mapping[str, Any], data: str, model: str, pairs: str, log: str | None = None,
                     threads: int = 1) -> None:
    """:func:`generate_reflow_pairs` as a job (a target :mod:`rfpipe.launch` runs here or submits to Slurm)."""
    with log_to(log, _threads(threads)):
        generate_reflow_pairs(cell_settings(settings), data, model, pairs)
