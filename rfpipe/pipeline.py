"""The workflow's steps, one function per Snakemake rule, each callable without Snakemake.

    prepare_data          -> data.pt                               (rotation, mog)
    cache_images          -> images.pt                             (images: once per dataset and resolution)
    prepare_image_data    -> data.pt                               (images: noise, OT pairing, coupling)
    evaluate_image_cell   -> metrics.parquet, samples.parquet, grid.pt (images)
    train_cell(_job)      -> model.pt, gradvar.parquet             (rotation, mog, images; _job: through
                                                                    rfpipe.launch, then the evaluation below)
    evaluate_cell         -> metrics.parquet, trajectories.parquet (rotation, mog)
    generate_reflow_pairs -> reflow_pairs.pt                       (any trained cell, on request)
    gaussian_variance     -> variance.parquet                      (every cell of a gaussian_variance experiment)
    reflow_cell           -> reflow.parquet                        (reflow)
    the reports           -> tables and figures                    (rfpipe.reporting)

Each takes the cell's resolved settings (a plain dict, see :class:`rfpipe.sweep.Cell`) and file paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from rfpipe.couplings import PairSampler
from rfpipe.data import PairedData, Pairs, mixture_data, rotation_data
from rfpipe.gaussian import GaussianPair, variance_at_field
from rfpipe.integrity import cell_name, check_file, remove_failure, settings_tag, write_failure
from rfpipe.interpolants import Interpolant
from rfpipe.io import load_tensors, save_tensors, write_parquet
from rfpipe.metrics import l2, pair_recovery
from rfpipe.mmd import mmd
from rfpipe.images import load_images
from rfpipe.models import MLP
from rfpipe.ot import ot_assignment
from rfpipe.reflow import reflow, reflow_pairs
from rfpipe.sampling import integrate
from rfpipe.sweep import Experiment
from rfpipe.training import TrainConfig, train
from rfpipe.unet import UNet

__all__ = ["GRADVAR_SCHEMA", "METRICS_SCHEMA", "REFLOW_SCHEMA", "TRAJECTORY_SCHEMA", "VARIANCE_SCHEMA", "build_model",
           "cache_images", "cell_device", "evaluate_cell", "evaluate_image_cell", "gaussian_variance", "generate_reflow_pairs", "log_to", "prepare_data", "prepare_image_data", "reflow_cell",
           "train_cell", "train_cell_job"]

log = logging.getLogger("rfpipe")

COUPLING_SAMPLERS: dict[str, str] = {"rotated": "paired", "paired": "paired", "independent": "independent",
                                     "adversarial": "paired", "reflow": "paired", "ot": "paired"}
"""Config coupling name -> how :class:`rfpipe.couplings.PairSampler` draws from the training pairs."""

GRADVAR_SCHEMA = pa.schema([
    ("step", pa.int64()), ("t_bin", pa.int32()), ("t_low", pa.float64()), ("t_high", pa.float64()),
    ("n", pa.int64()), ("loss", pa.float64()), ("grad_var_trace", pa.float64()),
    ("grad_mean_sqnorm", pa.float64()), ("grad_var_ratio", pa.float64()),
])
METRICS_SCHEMA = pa.schema([
    ("solver", pa.string()), ("solver_steps", pa.int64()), ("split", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()),
])
TRAJECTORY_SCHEMA = pa.schema([
    ("solver_steps", pa.int64()), ("sample", pa.int64()), ("t", pa.float64()),
    ("x_t_0", pa.float64()), ("x_t_1", pa.float64()),
    ("x_1_0", pa.float64()), ("x_1_1", pa.float64()), ("x_1_ot_0", pa.float64()), ("x_1_ot_1", pa.float64()),
])


REFLOW_SCHEMA = pa.schema([("round", pa.int64()), ("metric", pa.string()), ("value", pa.float64())])
VARIANCE_SCHEMA = pa.schema([
    ("rep", pa.int64()), ("space", pa.string()), *[f for f in GRADVAR_SCHEMA if f.name != "step"],
])


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


def prepare_data(settings: dict[str, Any], data: str | os.PathLike) -> None:
    """Draw the training pairs and fresh test sources of a cell and write them to ``data``."""
    if settings["kind"] == "mog":
        paired = mixture_data(settings["dim"], settings["n_components"], settings["radius"],
                              settings["component_scale"], settings["n_pairs"], settings["n_test"], settings["seed"])
    else:
        paired = rotation_data(settings["dim"], settings["angle"], settings["shift"], settings["n_pairs"],
                               settings["n_test"], settings["seed"])
    paired.save(data)
    log.info("data: %d training pairs, %d test sources in dim %d -> %s", settings["n_pairs"],
             settings["n_test"], settings["dim"], data)


def cell_device(settings: dict[str, Any]) -> torch.device:
    """The cell's ``device`` setting (``cpu`` unless set; ``auto``: the GPU if there is one)."""
    name = settings.get("device", "cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def build_model(settings: dict[str, Any]) -> torch.nn.Module:
    """The cell's velocity network (a :class:`UNet` for ``images``, else an :class:`MLP`), freshly initialised
    from ``torch.manual_seed(seed)`` (on the CPU, so the same on every device), then moved to its device."""
    torch.manual_seed(settings["seed"])
    if settings["kind"] == "images":
        channels = 3 if settings["dataset"] == "celeba" else 1
        net = UNet(channels, settings["channels"], tuple(settings["channel_mults"]), settings["emb_dim"])
    else:
        net = MLP(settings["dim"], settings["width"], settings["depth"], settings["activation"])
    return net.to(cell_device(settings))


def _load_model(settings: dict[str, Any], model: str | os.PathLike) -> torch.nn.Module:
    net = build_model(settings)
    net.load_state_dict(load_tensors(model)["state_dict"])
    return net.eval()


@contextlib.contextmanager
def _recorded_failure(settings: dict[str, Any], output: str | os.PathLike,
                      checkpoint: str | os.PathLike | None) -> Iterator[None]:
    """A new attempt at the cell of ``output``: a NaN or inf (``FloatingPointError``) inside names the cell; with
    ``checkpoint``, an earlier failure record beside it is removed on entry and a new one written
    (:func:`rfpipe.integrity.write_failure`), so that the report can mark the cell."""
    if checkpoint is not None:
        remove_failure(checkpoint)
    try:
        yield
    except FloatingPointError as exc:
        err = FloatingPointError(f"cell {cell_name(output)}: {exc}")
        if checkpoint is not None:
            log.error("%s (failure recorded in %s)", err, write_failure(checkpoint, cell_name(output), settings, err))
        raise err from None


def _trained(tag: str, model: str | os.PathLike, gradvar: str | os.PathLike) -> bool:
    """Whether ``model`` and ``gradvar`` exist, read back whole, and ``model`` was trained with settings ``tag``."""
    try:
        if check_file(gradvar) is not None or check_file(model) is not None:
            return False
    except FileNotFoundError:
        return False
    return load_tensors(model).get("settings") == tag


def train_cell(settings: dict[str, Any], data: str | os.PathLike, model: str | os.PathLike,
               gradvar: str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> None:
    """Train one cell on its data; write the weights to ``model`` and the probe log to ``gradvar``.

    With ``checkpoint`` (a path outside the rule's outputs, which Snakemake deletes on failure) training
    resumes from the last state saved there every ``checkpoint_every`` steps; the file is removed once the
    outputs are written. A resumable call that finds both outputs whole and made with these settings (a job
    requeued after training, during its evaluation) returns at once.
    """
    tag = settings_tag(settings)
    if checkpoint is not None and _trained(tag, model, gradvar):
        log.info("%s: already trained with these settings, not training again", cell_name(model))
        return
    paired = PairedData.load(data)
    sampler = PairSampler(paired.train.x_0, paired.train.x_1, COUPLING_SAMPLERS[settings["coupling"]])
    interpolant = Interpolant(settings["sigma"], settings["noise"])
    config = TrainConfig(steps=settings["steps"], batch_size=settings["batch_size"], lr=settings["lr"],
                         probe_every=settings["probe_every"], probe_size=settings["probe_size"],
                         t_bins=settings["t_bins"], lr_schedule=settings["lr_schedule"],
                         probe_batch=settings["probe_batch"], ema_decay=settings.get("ema_decay", 0.0))
    net = build_model(settings)
    start = time.perf_counter()
    with _recorded_failure(settings, model, checkpoint):
        result = train(net, sampler, interpolant, config, seed=settings["seed"],
                       on_probe=lambda step: log.info("step %d", step), checkpoint=checkpoint,
                       checkpoint_every=settings["checkpoint_every"], tag=tag)
    log.info("trained %d steps in %.1f s, final batch loss %.4g", config.steps, time.perf_counter() - start,
             result.final_loss)
    write_parquet(pa.Table.from_pylist(result.probes, schema=GRADVAR_SCHEMA), gradvar)
    save_tensors({"state_dict": net.state_dict(), "settings": tag}, model)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)


def train_cell_job(settings: dict[str, Any], data: str, model: str, gradvar: str, checkpoint: str | None = None,
                   log: str | None = None, threads: int = 1, evaluation: dict[str, str] | None = None) -> None:
    """:func:`train_cell` as a job of :mod:`rfpipe.launch`: logs to ``log``, with ``threads`` torch threads, or as a
    job that submitit submitted to Slurm, as many as it has CPUs (``SLURM_CPUS_PER_TASK``; not when merely
    running inside an allocation, where Snakemake shares the CPUs among its jobs). Resumable through ``checkpoint``.

    With ``evaluation`` (the output paths of :func:`evaluate_cell`, or of :func:`evaluate_image_cell` for
    ``images``), the trained cell is then evaluated in the same process: one job per cell, one start-up.
    """
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK", threads))
    with log_to(log, threads):
        train_cell(settings, data, model, gradvar, checkpoint=checkpoint)
        if evaluation:
            evaluate = evaluate_image_cell if settings["kind"] == "images" else evaluate_cell
            evaluate(settings, data, model, **evaluation)


def evaluate_cell(settings: dict[str, Any], data: str | os.PathLike, model: str | os.PathLike,
                  metrics: str | os.PathLike, trajectories: str | os.PathLike) -> None:
    """Integrate the learned flow from training and test sources at each ``solver_steps``; write metrics.

    Metrics (per split, long format): ``l2_to_training_partner``, ``l2_to_ot``, ``pair_recovery`` and
    ``closer_to_partner`` (share of endpoints nearer their training partner than their OT partner). For
    ``mog``, also ``memorisation_mmd`` (endpoints of the training sources against the training targets) and,
    on the test split instead of the paired metrics, ``generalisation_mmd`` (endpoints of fresh sources
    against fresh target samples); both the unbiased MMD^2 of :func:`rfpipe.mmd.mmd`.
    Trajectories of the first ``n_trajectories`` training sources go to ``trajectories``.
    """
    paired = PairedData.load(data)
    net = _load_model(settings, model)
    solver = settings["solver"]
    mog = settings["kind"] == "mog"
    rows: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    n_traj = min(settings["n_trajectories"], paired.train.x_0.shape[0])
    for steps in settings["solver_steps"]:
        for split in ("train", "test"):
            pairs = getattr(paired, split)
            traj = integrate(net, pairs.x_0, steps, solver, return_path=split == "train")
            d_partner, d_ot = l2(traj.x_1, pairs.x_1), l2(traj.x_1, pairs.x_1_ot)
            if mog and split == "test":  # fresh targets are unpaired: only the distribution can be compared
                values = {"generalisation_mmd": mmd(traj.x_1, pairs.x_1).mmd2}
            else:
                values = {
                    "l2_to_training_partner": float(d_partner.mean()),
                    "l2_to_ot": float(d_ot.mean()),
                    "pair_recovery": pair_recovery(traj.x_1, pairs.x_1),
                    "closer_to_partner": float((d_partner < d_ot).double().mean()),
                }
                if mog:
                    values["memorisation_mmd"] = mmd(traj.x_1, pairs.x_1).mmd2
            rows += [{"solver": solver, "solver_steps": steps, "split": split, "metric": k, "value": v}
                     for k, v in values.items()]
            if traj.path is not None:
                for i in range(n_traj):
                    for k in range(steps + 1):
                        x_t = traj.path[k, i]
                        paths.append({"solver_steps": steps, "sample": i, "t": float(traj.t[k]),
                                      "x_t_0": float(x_t[0]), "x_t_1": float(x_t[1]),
                                      "x_1_0": float(pairs.x_1[i, 0]), "x_1_1": float(pairs.x_1[i, 1]),
                                      "x_1_ot_0": float(pairs.x_1_ot[i, 0]), "x_1_ot_1": float(pairs.x_1_ot[i, 1])})
        log.info("evaluated with %s, %d steps", solver, steps)
    write_parquet(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), metrics)
    write_parquet(pa.Table.from_pylist(paths, schema=TRAJECTORY_SCHEMA), trajectories)




def gaussian_variance(experiment: Experiment, variance: str | os.PathLike) -> None:
    """Every cell of a ``gaussian_variance`` experiment into one Parquet file.

    Columns: the grid axes and ``field``, ``dim``, ``angle``, ``noise``, ``cov`` (typed as in the schema),
    then ``rep``, ``space`` and the :class:`rfpipe.gradvar.GradVarStats` fields.
    """
    schema = experiment.partition_schema()
    keys = list(schema) + [f for f in experiment.column_schema(("field", "dim", "angle", "noise", "cov"))
                           if f.name not in schema.names]
    tables = []
    for cell in experiment.cells.values():
        st = cell.settings
        pair = GaussianPair.from_settings(st["dim"], st["mean"], st["cov"])
        start = time.perf_counter()
        rows = variance_at_field(pair, st["field"], st["coupling"], st["angle"], Interpolant(st["sigma"], st["noise"]),
                                 st["n_samples"], st["repetitions"], st["t_bins"], st["seed"])
        table = pa.Table.from_pylist(rows, schema=VARIANCE_SCHEMA)
        for field in reversed(list(keys)):
            table = table.add_column(0, field, pa.array([st[field.name]] * len(table), type=field.type))
        tables.append(table)
        log.info("%s: %d rows in %.2f s", cell.path, len(table), time.perf_counter() - start)
    write_parquet(pa.concat_tables(tables), variance)


def generate_reflow_pairs(settings: dict[str, Any], data: str | os.PathLike, model: str | os.PathLike,
                          pairs: str | os.PathLike) -> None:
    """The ReFlow step of a trained cell: (x_0, phi(x_0)) for its training sources, integrated with the cell's
    ``solver`` at its largest ``solver_steps``, saved as ``{"x_0", "x_1"}`` (the input of a next round)."""
    paired = PairedData.load(data)
    net = _load_model(settings, model)
    steps = max(settings["solver_steps"])
    device = cell_device(settings)
    x_0, x_1 = reflow_pairs(net, paired.train.x_0.to(device), steps, settings["solver"], chunk=EVAL_CHUNK)
    x_0, x_1 = x_0.cpu(), x_1.cpu()
    save_tensors({"x_0": x_0, "x_1": x_1}, pairs)
    log.info("reflow pairs: %d sources, %s with %d steps -> %s", x_0.shape[0], settings["solver"], steps, pairs)


def reflow_cell(settings: dict[str, Any], out: str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> None:
    """Round 0 and the ReFlow rounds of one cell (:func:`rfpipe.reflow.reflow`); one row per round and metric.

    A NaN or inf in any round stops the cell naming it; with ``checkpoint`` (the cell's checkpoint path, as for
    :func:`train_cell`) a failure record goes beside it, so that the report marks the cell as failed.
    """
    gen = torch.Generator().manual_seed(settings["seed"])
    d, n, shift = settings["dim"], settings["n_pairs"], settings["shift"]
    x_0 = torch.randn(n, d, generator=gen)
    x_1_ot = x_0 + shift
    x_1 = x_1_ot if settings["coupling"] == "ot" else torch.randn(n, d, generator=gen) + shift
    config = TrainConfig(steps=settings["steps"], batch_size=settings["batch_size"], lr=settings["lr"],
                         probe_every=0, lr_schedule=settings["lr_schedule"])

    def make_model() -> MLP:
        return MLP(d, settings["width"], settings["depth"], settings["activation"])

    torch.manual_seed(settings["seed"])
    with _recorded_failure(settings, out, checkpoint):
        rounds = reflow(make_model, x_0, x_1, "paired" if settings["coupling"] == "ot" else "independent", x_1_ot,
                        Interpolant(settings["sigma"], settings["noise"]), config, settings["rounds"],
                        settings["seed"], settings["solver_steps"], settings["solver"])
    chord = float((x_1 - x_0).norm(dim=1).mean())
    rows = []
    for r in rounds:
        log.info("round %d: %s", r.round, r)
        rows += [{"round": r.round, "metric": k, "value": v} for k, v in
                 (("coupling_shift", r.coupling_shift), ("relative_shift", r.coupling_shift / chord),
                  ("straightness", r.straightness), ("l2_to_ot", r.l2_to_ot))]
    write_parquet(pa.Table.from_pylist(rows, schema=REFLOW_SCHEMA), out)


EVAL_CHUNK = 500
"""Images integrated at a time in evaluation (bounds the UNet's activation memory)."""

SAMPLE_SCHEMA = pa.schema([
    ("solver_steps", pa.int64()), ("split", pa.string()), ("sample", pa.int64()),
    ("l2_to_training_partner", pa.float64()), ("l2_to_ot", pa.float64()),
])


def cache_images(dataset: str, resolution: int, data_dir: str | None, limit: int, images: str | os.PathLike) -> None:
    """Decode and resize the first ``limit`` images of ``dataset`` once; write them (in [-1, 1]) to ``images``."""
    start = time.perf_counter()
    x = load_images(dataset, resolution, data_dir, limit)
    save_tensors({"images": x}, images)
    log.info("%s: %d images of shape %s in %.1f s -> %s", dataset, x.shape[0], tuple(x.shape[1:]),
             time.perf_counter() - start, images)


def prepare_image_data(settings: dict[str, Any], images: str | os.PathLike, data: str | os.PathLike,
                       teacher_pairs: str | os.PathLike | None = None) -> None:
    """Training pairs of an ``images`` cell: N noise images x_0 ~ N(0, I) matched by OT to the first N images.

    x_1_ot is the OT partner of x_0 (:func:`rfpipe.ot.ot_assignment`). The training partner x_1 is, by coupling:
    ``ot`` and ``independent`` x_1_ot (the sampler re-pairs ``independent`` at every step), ``adversarial``
    x_1_ot with the targets shuffled by a seeded permutation, ``reflow`` the endpoints phi(x_0) of the teacher
    flow (``teacher_pairs``); x_1_ot is always the OT partner among the real images (the OT assignment of the
    sources to their own flow endpoints would be the identity, the training partner itself). The test split: ``n_test`` fresh noise
    images matched by OT to the next ``n_test`` (held-out) images.
    """
    n, n_test, seed = settings["n_pairs"], settings["n_test"], settings["seed"]
    pool = load_tensors(images)["images"]
    shape = tuple(pool.shape[1:])
    gen = torch.Generator().manual_seed(seed)
    x_0 = torch.randn((n, *shape), generator=gen)
    perm = torch.randperm(n, generator=gen)
    start = time.perf_counter()

    def match(sources: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return targets[ot_assignment(sources, targets, settings["ot_exact_max"], settings["ot_block"])]

    x_1_ot = match(x_0, pool[:n])
    coupling = settings["coupling"]
    x_1 = x_1_ot[perm] if coupling == "adversarial" else x_1_ot
    if coupling == "reflow":
        if teacher_pairs is None:
            raise ValueError("coupling 'reflow' needs the teacher's pairs (teacher_pairs)")
        pairs = load_tensors(teacher_pairs)
        if not torch.equal(pairs["x_0"], x_0):
            raise ValueError(f"{teacher_pairs}: the teacher's sources are not this cell's noise images")
        x_1 = pairs["x_1"]  # x_1_ot stays the ground-truth OT partner among the real images, as in Table 2
    test_gen = torch.Generator().manual_seed(seed + 7_919)
    t_0 = torch.randn((n_test, *shape), generator=test_gen)
    t_1 = match(t_0, pool[n:n + n_test])
    PairedData(Pairs(x_0, x_1, x_1_ot), Pairs(t_0, t_1, t_1)).save(data)
    log.info("images data: %d pairs (%s), %d test sources, OT in %.1f s -> %s", n, coupling, n_test,
             time.perf_counter() - start, data)


def evaluate_image_cell(settings: dict[str, Any], data: str | os.PathLike, model: str | os.PathLike,
                        metrics: str | os.PathLike, samples: str | os.PathLike, grid: str | os.PathLike) -> None:
    """Integrate the learned flow from the training sources (and the test sources) at each ``solver_steps``.

    Per sample (``samples``): Euclidean L2 over all pixels from the endpoint to the training partner and to the
    OT partner. Per split (``metrics``, long format): their means and standard deviations over samples; for
    the training split also ``pair_recovery`` and ``closer_to_partner``. ``grid`` keeps the first ``n_grid``
    training sources, both partners and the endpoints at the largest step count, for the image-grid figure.
    """
    paired = PairedData.load(data)
    net = _load_model(settings, model)
    device = cell_device(settings)
    solver = settings["solver"]
    rows: list[dict[str, Any]] = []
    per_sample: list[dict[str, Any]] = []
    keep = min(settings["n_grid"], paired.train.x_0.shape[0])
    shown: dict[str, torch.Tensor] = {}
    for steps in settings["solver_steps"]:
        for split in ("train", "test"):
            pairs = getattr(paired, split)
            x_1 = integrate(net, pairs.x_0.to(device), steps, solver, chunk=EVAL_CHUNK).x_1.cpu()
            d_partner, d_ot = l2(x_1, pairs.x_1), l2(x_1, pairs.x_1_ot)
            values = {"l2_to_training_partner": float(d_partner.mean()), "l2_to_ot": float(d_ot.mean()),
                      "l2_to_training_partner_std": float(d_partner.std()), "l2_to_ot_std": float(d_ot.std())}
            if split == "train":
                values["pair_recovery"] = pair_recovery(x_1, pairs.x_1)
                values["closer_to_partner"] = float((d_partner < d_ot).double().mean())
                if steps == max(settings["solver_steps"]):
                    shown = {"x_0": pairs.x_0[:keep], "x_1": pairs.x_1[:keep], "x_1_ot": pairs.x_1_ot[:keep],
                             "output": x_1[:keep]}
            rows += [{"solver": solver, "solver_steps": steps, "split": split, "metric": k, "value": v}
                     for k, v in values.items()]
            per_sample += [{"solver_steps": steps, "split": split, "sample": i, "l2_to_training_partner": float(a),
                            "l2_to_ot": float(b)} for i, (a, b) in enumerate(zip(d_partner, d_ot))]
        log.info("evaluated with %s, %d steps", solver, steps)
    write_parquet(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), metrics)
    write_parquet(pa.Table.from_pylist(per_sample, schema=SAMPLE_SCHEMA), samples)
    save_tensors(shown, grid)
