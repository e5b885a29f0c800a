"""The training loop: conditional flow matching on a coupling, with a gradient-variance probe.

    L(theta) = E_{(x_0, x_1) ~ coupling, t ~ p, z ~ N(0, I)} ||dx_t - v_theta(x_t, t)||^2

with p uniform on [0, 1], or half of each batch about t = 1/2 (``t_centre_scale``, :mod:`rfpipe.times`: the same
minimiser; the recorded losses are then the uniform-time loss, weighted by 1 / p(t)).

Every ``probe_every`` steps the probe yields the loss and the per-sample gradient variance (see
:mod:`rfpipe.gradvar`): with ``probe_batch="train"``, of that step's own training batch (read off the backward
pass it needs anyway); with ``"fresh"``, of a stratified batch drawn with its own generator, also after the
last step. Probing never consumes the training generator, so a run with the probe off trains the same weights.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import math
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from rfpipe.couplings import PairSampler
from rfpipe.gradvar import TrainingStepCapture, binned_stats, grad_variance
from rfpipe.interpolants import Interpolant, InterpolantSample
from rfpipe.io import load_tensors, save_tensors
from rfpipe.times import centred_times, uniform_weights

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
        probe_batch: ``train`` (the step's own training batch, read off its forward and backward pass: no
            extra pass; networks of ``nn.Linear`` layers only, else falls back to ``fresh``) or ``fresh`` (a
            separate batch of ``probe_size`` with stratified t, from the probe generator). Probes are at steps
            0, k, 2k, ... (before that step's update), and for ``fresh`` also after the last update.
        ema_decay: d in (0, 1) keeps an exponential moving average w_ema <- d w_ema + (1 - d) w after every
            step and loads it into the model at the end (probes still see the raw weights); 0: off.
        autocast: ``none``, or ``bf16``: the training forward pass under ``torch.autocast`` in bfloat16 (the loss,
            the gradients' accumulation in the float32 weights, the probes and the evaluation stay float32).
        t_centre_scale: s = 0: training times uniform on [0, 1]; s > 0: the last half of each batch's times from
            N(1/2, s^2) truncated to [0, 1] (:mod:`rfpipe.times`). A ``fresh`` probe keeps stratified uniform
            times; a ``train`` probe reads the step's batch (per-bin rows unchanged in meaning, more samples in
            the middle bins; the all-t row is that of the training density).
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    probe_every: int = 100
    probe_size: int = 256
    t_bins: int = 10
    lr_schedule: str = "constant"
    probe_batch: str = "train"
    ema_decay: float = 0.0
    autocast: str = "none"
    t_centre_scale: float = 0.0


@dataclass
class TrainResult:
    """Output of :func:`train`: the probe rows (one per probe and t-bin, ``step`` first), the batch loss of every
    step (before its update; the input of :func:`rfpipe.convergence.convergence`), the rows of ``on_snapshot``
    (the memorisation timeline) and the final loss."""

    probes: list[dict[str, float | int | None]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    timeline: list[dict[str, float | int | str]] = field(default_factory=list)
    final_loss: float = float("nan")


def draw_batch(sampler: PairSampler, interpolant: Interpolant, batch_size: int, generator: torch.Generator,
               stratified: bool = False, t_centre_scale: float = 0.0) -> InterpolantSample:
    """Draw pairs, times and noise, and return the interpolant sample, on the device of the sampler's pairs.

    Every random number comes from ``generator`` on the CPU (the same pairs, times and noise on any device);
    with ``stratified`` the times are t_i = (i + u_i) / B, one per slice of [0, 1]; else uniform, or with
    ``t_centre_scale`` s > 0 half of them about 1/2 (:func:`rfpipe.times.centred_times`, the same random numbers).
    """
    x_0, x_1 = sampler.sample(batch_size, generator)
    u = torch.rand(batch_size, generator=generator, dtype=x_0.dtype)
    t = (torch.arange(batch_size, dtype=x_0.dtype) + u) / batch_size if stratified else centred_times(u, t_centre_scale)
    z = torch.randn(x_0.shape, generator=generator, dtype=x_0.dtype) if interpolant.sigma > 0 else None
    return interpolant.sample(x_0, x_1, t.to(x_0.device), None if z is None else z.to(x_0.device))


RESIDENT_FRACTION = 0.25
"""Training pairs that take at most this fraction of an accelerator's memory are moved there once per cell."""


def resident(sampler: PairSampler, device: torch.device, memory: int | None = None) -> PairSampler | None:
    """``sampler`` with its pairs on ``device``, once per cell, if they take at most ``RESIDENT_FRACTION`` of its
    ``memory`` (bytes; by default the device's total), else None: each batch is then drawn on the CPU and moved
    (the two give the same batches). None on the CPU, where the pairs already are."""
    if device.type == "cpu":
        return None
    if memory is None:
        memory = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else 0
    if sampler.nbytes > RESIDENT_FRACTION * memory:
        log.info("training pairs (%.0f MB) kept on the CPU: more than %.0f %% of %s's memory", sampler.nbytes / 1e6,
                 100 * RESIDENT_FRACTION, device)
        return None
    return sampler.to(device)


def _on(batch: InterpolantSample, device: torch.device) -> InterpolantSample:
    """The batch on ``device`` (drawn on the CPU, where the seeded generators live: the same pairs, times and
    noise whatever the device)."""
    if device.type == "cpu":
        return batch
    return InterpolantSample(t=batch.t.to(device), x_t=batch.x_t.to(device), dx_t=batch.dx_t.to(device))


def _state(model: nn.Module, opt: torch.optim.Optimizer, sched: object | None, gen: torch.Generator,
           probe_gen: torch.Generator, result: TrainResult, step: int, tag: str,
           ema: dict[str, Tensor] | None = None) -> dict[str, object]:
    return {"step": step, "tag": tag, "model": model.state_dict(), "opt": opt.state_dict(),
            "sched": sched.state_dict() if sched is not None else None, "gen": gen.get_state(),
            "probe_gen": probe_gen.get_state(), "probes": list(result.probes),
            "losses": list(result.losses), "timeline": list(result.timeline), "ema": ema}


def _not_finite(model: nn.Module, step: int, start: int) -> str | None:
    """The first non-finite gradient left by step ``step - 1`` (named), or None.

    Checked only once a loss is non-finite (and after the last step): a NaN or inf gradient makes Adam's
    update, hence every later loss, non-finite, so the steps in between cost nothing extra.
    """
    if step <= start:
        return None
    for name, p in model.named_parameters():
        if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
            bad = p.grad[~torch.isfinite(p.grad)].flatten()[0].item()
            return f"gradient of {name} is {bad} at step {step - 1}"
    return None


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


class _AdamStep:
    """``opt.zero_grad(set_to_none=True)`` and ``opt.step()`` of the loop's fused Adam, less the per-step Python
    bookkeeping of ``Optimizer.zero_grad`` and ``Optimizer.step``.

    A speed hack on torch internals, kept because it pays for itself (issue 14: >= 10 % on a default cell): on the
    default rotation cell (MLP width 128, depth 3, batch 256, one thread) the training loop runs 11.6 to 13 % more
    steps/s than with ``opt.zero_grad(set_to_none=True)`` / ``opt.step()`` (about 0.12 ms of a 1.2 ms step;
    ``benchmarks/adam_step.py``, 2026-12-02, torch 2.13; at width 256, 4 to 7 %). ``tests/test_training.py``
    fails if it stops engaging on the installed torch or changes a bit.

    The first step is a regular ``opt.step()`` (it creates the state); later steps make the very call that
    ``torch.optim.Adam.step`` makes, ``torch.optim.adam.adam(...)`` with the group's settings, on the parameter
    and state lists gathered once: the same kernels on the same tensors, hence the same numbers (compared bit for
    bit with ``opt.step()`` by ``benchmarks/train_throughput.py --check``). Whenever that is not certain
    (``enabled`` off, not exactly a one-group fused Adam, step hooks, amsgrad, a parameter without gradient, a
    reloaded state, a torch whose functional ``adam`` takes other arguments) it calls ``opt.step()``.
    """

    enabled = True

    def __init__(self, opt: torch.optim.Optimizer) -> None:
        self.opt = opt
        self.params: list[Tensor] | None = None

    def zero_grad(self) -> None:
        if self.params is None:
            self.opt.zero_grad(set_to_none=True)
            return
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        if self.params is not None and self.opt.state is self._state:
            grads = [p.grad for p in self.params]
            if all(g is not None for g in grads):  # not `None in grads`: that compares tensors with ==
                with torch.no_grad():
                    self._adam(self.params, grads, self._exp_avgs, self._exp_avg_sqs, [], self._steps,
                               lr=self._group["lr"], **self._kwargs)
                return
        self.opt.step()
        self._gather()

    def _gather(self) -> None:
        from torch.optim import adam, optimizer

        self.params = None
        opt = self.opt
        if (not self.enabled or type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1
                or opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
                or optimizer._global_optimizer_pre_hooks or optimizer._global_optimizer_post_hooks):
            return
        group = opt.param_groups[0]
        params = list(group["params"])
        try:
            beta1, beta2 = group["betas"]
            kwargs = {"amsgrad": group["amsgrad"], "has_complex": False, "beta1": beta1, "beta2": beta2,
                      "weight_decay": group["weight_decay"], "eps": group["eps"], "maximize": group["maximize"],
                      "foreach": group["foreach"], "capturable": group["capturable"],
                      "differentiable": group["differentiable"], "fused": group["fused"],
                      "grad_scale": getattr(opt, "grad_scale", None), "found_inf": getattr(opt, "found_inf", None),
                      "decoupled_weight_decay": group["decoupled_weight_decay"]}
            states = [opt.state[p] if p in opt.state else {} for p in params]  # never adds an entry
            lists = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states])
        except (KeyError, TypeError, ValueError):
            return
        if (not group["fused"] or group["amsgrad"] or group["differentiable"] or any(p.is_complex() for p in params)
                or {*kwargs, "lr"} - set(inspect.signature(adam.adam).parameters)):
            return
        self._adam, self._group, self._kwargs, self._state = adam.adam, group, kwargs, opt.state
        self._exp_avgs, self._exp_avg_sqs, self._steps = lists
        self.params = params


def train(model: nn.Module, sampler: PairSampler, interpolant: Interpolant, config: TrainConfig, seed: int,
          on_probe: Callable[[int], None] | None = None, checkpoint: str | os.PathLike | None = None,
          checkpoint_every: int = 0, tag: str = "",
          on_snapshot: Callable[[int, nn.Module], list[dict]] | None = None,
          snapshots: Collection[int] = ()) -> TrainResult:
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
        on_snapshot: called as ``on_snapshot(k, model)`` once ``k`` updates are done, for each ``k`` of
            ``snapshots`` (the model in eval mode, no gradient kept); its rows are collected in
            ``TrainResult.timeline`` (and checkpointed). It must not touch the model's weights; training is then
            the same with or without it.

    The model trains on the device its parameters are on (batches are drawn on the CPU and moved there).
    """
    if config.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}")
    if config.autocast not in ("none", "bf16"):
        raise ValueError(f"autocast must be 'none' or 'bf16', got {config.autocast!r}")
    if config.probe_batch not in ("fresh", "train"):
        raise ValueError(f"probe_batch must be 'fresh' or 'train', got {config.probe_batch!r}")
    if not 0.0 <= config.t_centre_scale <= 1.0:
        raise ValueError(f"t_centre_scale must be in [0, 1], got {config.t_centre_scale}")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    probe_gen = torch.Generator().manual_seed(seed + 1_000_003)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps) if config.lr_schedule == "cosine" else None
    result = TrainResult()
    if not 0.0 <= config.ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
    ema = ({k: v.detach().clone() for k, v in model.state_dict().items()} if config.ema_decay > 0 else None)
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
        result.losses = list(state["losses"])
        result.timeline = list(state["timeline"])
        ema = state.get("ema")
        if ema is not None:
            ema = {k: v.to(device) for k, v in ema.items()}
        start = int(state["step"])
        log.info("resumed from %s at step %d", path, start)

    capture = TrainingStepCapture(model) if config.probe_batch == "train" else None
    if capture is not None and not capture.active:
        capture = None  # not an all-Linear network: probe a fresh batch instead

    def record(step: int, stats: list) -> None:
        result.probes.extend({"step": step, **vars(s)} for s in stats)  # asdict, less its deep copies of numbers
        if on_probe is not None:
            on_probe(step)

    def probe(step: int) -> None:
        batch = draw_batch(sampler, interpolant, config.probe_size, probe_gen, stratified=True)
        # The variance kernels run on the CPU: off the CPU, probe a CPU copy of the weights (every probe_every steps).
        net = model if device.type == "cpu" else copy.deepcopy(model).cpu()
        record(step, grad_variance(net, batch, config.t_bins))

    snapshot_at = set(snapshots)

    def snapshot(done: int) -> None:
        if on_snapshot is None or done not in snapshot_at:
            return
        model.eval()
        result.timeline.extend(on_snapshot(done, model))
        model.train()

    on_device = resident(sampler, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if config.autocast == "bf16" else None
    adam = _AdamStep(opt)
    loss: Tensor = torch.tensor(float("nan"))
    centre = config.t_centre_scale
    for step in range(start, config.steps):
        if step > start:
            snapshot(step)  # ``step`` updates done (before the checkpoint, which then holds its rows)
        if path is not None and checkpoint_every and step % checkpoint_every == 0 and step > start:
            save_tensors(_state(model, opt, sched, gen, probe_gen, result, step, tag, ema), path)
        probing = bool(config.probe_every) and step % config.probe_every == 0
        if probing and capture is None:
            probe(step)
        batch = (draw_batch(on_device, interpolant, config.batch_size, gen, t_centre_scale=centre)
                 if on_device is not None
                 else _on(draw_batch(sampler, interpolant, config.batch_size, gen, t_centre_scale=centre), device))
        with capture if (probing and capture is not None) else contextlib.nullcontext():
            if autocast is None:
                output = model(batch.x_t, batch.t)
            else:
                with autocast:
                    output = model(batch.x_t, batch.t).float()
            per_sample = ((output - batch.dx_t) ** 2).flatten(1).sum(1)
        loss = per_sample.mean()
        # The recorded loss is the uniform-time loss: with centred times, the batch mean weighted by 1 / p(t).
        value = loss.item() if not centre else float((per_sample.detach() * uniform_weights(batch.t, centre)).mean())
        if not math.isfinite(value):  # as torch.isfinite(loss), one kernel less per step
            raise FloatingPointError(_not_finite(model, step, start) or f"loss is {value} at step {step}")
        result.losses.append(value)
        adam.zero_grad()
        loss.backward()
        if probing and capture is not None:
            grads = capture.sample_grads(per_sample)
            if grads is None:
                raise ValueError("probe_batch 'train' needs each nn.Linear applied once to (B, in) inputs; "
                                 "use probe_batch 'fresh' for this network")
            record(step, binned_stats(grads, batch.t, config.t_bins))
        adam.step()
        if sched is not None:
            sched.step()
        if ema is not None:
            with torch.no_grad():
                for name, p in model.state_dict().items():
                    if p.is_floating_point():
                        ema[name].lerp_(p, 1.0 - config.ema_decay)
                    else:
                        ema[name].copy_(p)
    if config.steps > start:
        snapshot(config.steps)
    if config.probe_every and capture is None:
        probe(config.steps)  # with probe_batch "train" there is no step after the last update to read
    message = _not_finite(model, config.steps, start)  # the last step's gradients (no later loss shows them)
    if message:
        raise FloatingPointError(message)
    result.final_loss = result.losses[-1] if result.losses else float("nan")
    if ema is not None:
        model.load_state_dict(ema)
    return result
