"""The training loop: conditional flow matching on a coupling, with a gradient-variance probe.

    L(theta) = E_{(x_0, x_1) ~ coupling, t ~ U[0, 1], z ~ N(0, I)} ||dx_t - v_theta(x_t, t)||^2

Every ``probe_every`` steps (and at the first and last) a probe batch drawn with its own generator
yields the loss and the per-sample gradient variance (see :mod:`rfpipe.gradvar`); probing never
consumes the training generator, so a run with the probe off trains the same weights.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from rfpipe.couplings import PairSampler
from rfpipe.gradvar import TrainingStepCapture, binned_stats, grad_variance
from rfpipe.interpolants import Interpolant, InterpolantSample
from rfpipe.io import load_tensors, save_tensors

__all__ = ["TrainConfig", "TrainResult", "draw_batch", "train"]

log = logging.getLogger("rfpipe")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (Adam).

    Attributes:
        steps: optimiser steps.
        batch_size: pairs per step.
        lr: Adam learning rate.
        probe_every: probe period in steps (0: no probe).
        probe_size: samples per probe batch, times stratified over [0, 1].
        t_bins: number of equal t-bins for the per-bin statistics.
        lr_schedule: ``constant`` or ``cosine`` (annealed to 0 over ``steps``).
        probe_batch: ``fresh`` (a separate batch of ``probe_size`` with stratified t, from the probe
            generator) or ``train`` (the step's own training batch, read off its forward and backward pass at
            almost no cost; networks of ``nn.Linear`` layers only, else falls back to ``fresh``). Probes are
            at steps 0, k, 2k, ... (before that step's update), and for ``fresh`` also after the last update.
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    probe_every: int = 100
    probe_size: int = 256
    t_bins: int = 10
    lr_schedule: str = "constant"
    probe_batch: str = "fresh"


@dataclass
class TrainResult:
    """Output of :func:`train`: the probe rows (one per probe and t-bin, ``step`` first) and the final loss."""

    probes: list[dict[str, float | int | None]] = field(default_factory=list)
    final_loss: float = float("nan")


def draw_batch(sampler: PairSampler, interpolant: Interpolant, batch_size: int, generator: torch.Generator,
               stratified: bool = False) -> InterpolantSample:
    """Draw pairs, times and noise, and return the interpolant sample.

    With ``stratified`` the times are t_i = (i + u_i) / B, one per slice of [0, 1].
    """
    x_0, x_1 = sampler.sample(batch_size, generator)
    u = torch.rand(batch_size, generator=generator, dtype=x_0.dtype)
    t = (torch.arange(batch_size, dtype=x_0.dtype) + u) / batch_size if stratified else u
    z = torch.randn(x_0.shape, generator=generator, dtype=x_0.dtype) if interpolant.sigma > 0 else None
    return interpolant.sample(x_0, x_1, t, z)


def _state(model: nn.Module, opt: torch.optim.Optimizer, sched: object | None, gen: torch.Generator,
           probe_gen: torch.Generator, result: TrainResult, step: int, tag: str) -> dict[str, object]:
    return {"step": step, "tag": tag, "model": model.state_dict(), "opt": opt.state_dict(),
            "sched": sched.state_dict() if sched is not None else None, "gen": gen.get_state(),
            "probe_gen": probe_gen.get_state(), "probes": list(result.probes)}


def _resume(path: Path, tag: str) -> dict[str, object] | None:
    """The checkpoint at ``path`` if it loads and belongs to this run (same ``tag``), else None (logged)."""
    if not path.exists():
        return None
    try:
        state = load_tensors(path)
    except Exception as exc:  # a truncated or corrupted file: retrain rather than reuse
        log.warning("checkpoint %s is unreadable (%s): starting afresh", path, exc)
        return None
    if state.get("tag") != tag:
        log.warning("checkpoint %s belongs to other settings: starting afresh", path)
        return None
    return state


def train(model: nn.Module, sampler: PairSampler, interpolant: Interpolant, config: TrainConfig, seed: int,
          on_probe: Callable[[int], None] | None = None, checkpoint: str | os.PathLike | None = None,
          checkpoint_every: int = 0, tag: str = "") -> TrainResult:
    """Train ``model`` in place by flow matching on ``sampler``'s coupling with ``interpolant``.

    With ``checkpoint``, the whole training state (weights, optimiser, schedule, both generators, probe rows)
    is written there atomically every ``checkpoint_every`` steps, and a run finding a readable checkpoint with
    the same ``tag`` resumes from it: the result equals that of an uninterrupted run, bit for bit on the CPU.

    Args:
        model: v_theta(x, t).
        sampler: source of training pairs.
        interpolant: the interpolant (sigma, noise shape).
        config: optimisation and probe settings.
        seed: seeds the training generator; the probe generator is seeded with ``seed + 1_000_003``.
        on_probe: called with the step after each probe (progress reporting).
        checkpoint: path of the resume file (kept by the caller outside any output that may be deleted).
        checkpoint_every: period in steps (0: never written, but still read).
        tag: identifies the settings; a checkpoint with another tag is ignored.
    """
    if config.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}")
    if config.probe_batch not in ("fresh", "train"):
        raise ValueError(f"probe_batch must be 'fresh' or 'train', got {config.probe_batch!r}")
    gen = torch.Generator().manual_seed(seed)
    probe_gen = torch.Generator().manual_seed(seed + 1_000_003)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps) if config.lr_schedule == "cosine" else None
    result = TrainResult()
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    state = _resume(path, tag) if path is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if sched is not None:
            sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        probe_gen.set_state(state["probe_gen"])
        result.probes = list(state["probes"])
        start = int(state["step"])
        log.info("resumed from %s at step %d", path, start)

    capture = TrainingStepCapture(model) if config.probe_batch == "train" else None
    if capture is not None and not capture.active:
        capture = None  # not an all-Linear network: probe a fresh batch instead

    def record(step: int, stats: list) -> None:
        result.probes.extend({"step": step, **asdict(s)} for s in stats)
        if on_probe is not None:
            on_probe(step)

    def probe(step: int) -> None:
        batch = draw_batch(sampler, interpolant, config.probe_size, probe_gen, stratified=True)
        record(step, grad_variance(model, batch, config.t_bins))

    loss: Tensor = torch.tensor(float("nan"))
    for step in range(start, config.steps):
        if path is not None and checkpoint_every and step % checkpoint_every == 0 and step > start:
            save_tensors(_state(model, opt, sched, gen, probe_gen, result, step, tag), path)
        probing = bool(config.probe_every) and step % config.probe_every == 0
        if probing and capture is None:
            probe(step)
        batch = draw_batch(sampler, interpolant, config.batch_size, gen)
        with capture if (probing and capture is not None) else contextlib.nullcontext():
            per_sample = ((model(batch.x_t, batch.t) - batch.dx_t) ** 2).flatten(1).sum(1)
        loss = per_sample.mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if probing and capture is not None:
            grads = capture.sample_grads(per_sample)
            if grads is None:
                raise ValueError("probe_batch 'train' needs each nn.Linear applied once to (B, in) inputs; "
                                 "use probe_batch 'fresh' for this network")
            record(step, binned_stats(grads, batch.t, config.t_bins))
        opt.step()
        if sched is not None:
            sched.step()
    if config.probe_every and capture is None:
        probe(config.steps)  # with probe_batch "train" there is no step after the last update to read
    result.final_loss = float(loss.detach())
    return result
