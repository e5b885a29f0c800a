"""Variance of per-sample loss gradients.

For per-sample losses l_i(theta) = ||dx_t^i - v_theta(x_t^i, t_i)||^2 and their gradients g_i = grad_theta l_i
over a probe batch of size B, with mean g = (1/B) sum_i g_i:

    grad_var_trace   = tr Cov[g_i] = 1/(B - 1) sum_i ||g_i - g||^2
                     = 1/(B - 1) (sum_i ||g_i||^2 - B ||g||^2)          (unbiased, summed over parameters),
    grad_mean_sqnorm = ||g||^2,
    grad_var_ratio   = grad_var_trace / grad_mean_sqnorm.

Statistics are given over the whole probe batch and per t-bin (bin b holds t in [b/K, (b+1)/K)). Only
per-sample squared norms ||g_i||^2 and subset sums sum_{i in S} g_i are needed, never the (B, P) matrix:

- ``linear`` (exact, one forward and one backward pass): for a network whose parameters all sit in
  ``nn.Linear`` layers applied to (B, in) inputs, the layer's per-sample gradient is the outer product
  delta_i a_i^T of the output gradient and the input, so ||g_i||^2 = sum_layers ||delta_i||^2 (||a_i||^2 + 1)
  and sum_{i in S} g_i = delta_S^T a_S;
- ``vmap`` (any network): per-sample gradients from ``torch.func.vmap(torch.func.grad(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from rfpipe.interpolants import InterpolantSample

__all__ = ["GRAD_METHODS", "GradVarStats", "SampleGrads", "TrainingStepCapture", "binned_stats", "grad_var_stats",
           "grad_variance", "output_grad_variance", "output_sample_grads", "per_sample_grads", "sample_grads"]

Method = Literal["auto", "linear", "vmap"]
GRAD_METHODS: tuple[str, ...] = ("auto", "linear", "vmap")


@dataclass
class GradVarStats:
    """Gradient statistics of one group of probe samples.

    Attributes:
        t_bin: index of the t-bin, or None for the whole probe batch.
        t_low, t_high: the bin's edges ([0, 1] for the whole batch).
        n: number of samples.
        loss: mean per-sample loss.
        grad_var_trace: tr Cov[g_i] (unbiased).
        grad_mean_sqnorm: ||mean g_i||^2.
        grad_var_ratio: grad_var_trace / grad_mean_sqnorm (inf if the mean gradient is 0).
    """

    t_bin: int | None
    t_low: float
    t_high: float
    n: int
    loss: float
    grad_var_trace: float
    grad_mean_sqnorm: float
    grad_var_ratio: float


@dataclass
class SampleGrads:
    """Per-sample losses and what the statistics need of the per-sample gradients g_i.

    Attributes:
        losses: l_i, shape (B,).
        sqnorms: ||g_i||^2 in float64, shape (B,).
        parts: either [(G,)] with G the (B, P) per-sample gradients, or [(delta, a), ...] per linear
            layer, with g_i's block for that layer = [delta_i a_i^T, delta_i] (weight, bias); in the
            model's dtype.
        total_sqnorm: ||sum_i g_i||^2 if already known (a training step has it in its .grad), else None.
    """

    losses: Tensor
    sqnorms: Tensor
    parts: list[tuple[Tensor, ...]]
    total_sqnorm: float | None = None

    def group_sum_sqnorms(self, groups: Tensor, n_groups: int) -> tuple[Tensor, float]:
        """Squared norms of the group sums ||sum_{i : groups_i = k} g_i||^2, shape (n_groups,), and of the total
        ||sum_i g_i||^2, in float64, never materialising a (B, P) or (K, P) matrix.

        For a linear layer, ||sum_{i in k} delta_i a_i^T||_F^2 = sum_{i, j in k} (delta_i . delta_j)(a_i . a_j + 1)
        (weight and bias): one batched pair of small Gram matrices over the groups, padded to equal size.
        """
        per_group = torch.zeros(n_groups, dtype=torch.float64)
        total = 0.0
        order = torch.argsort(groups, stable=True)
        counts = torch.bincount(groups, minlength=n_groups)
        size = int(counts.max())
        starts = torch.cumsum(counts, 0) - counts
        slot = groups[order] * size + torch.arange(groups.shape[0]) - starts[groups[order]]
        dest = torch.empty_like(slot).index_copy_(0, order, slot)  # row of sample i in the padded layout
        padding = torch.ones(n_groups * size, dtype=torch.bool).index_fill_(0, dest, False).nonzero()[:, 0]

        def padded(x: Tensor) -> Tensor:  # no gathered copy of x, and only the padding rows zeroed
            out = torch.empty(n_groups * size, x.shape[1], dtype=x.dtype).index_fill_(0, padding, 0)
            return out.index_copy_(0, dest, x).view(n_groups, size, x.shape[1])

        for part in self.parts:
            if len(part) == 1:
                g = part[0].double()
                sums = torch.zeros(n_groups, g.shape[1], dtype=torch.float64).index_add_(0, groups, g)
                per_group += (sums ** 2).sum(1)
                whole = g.sum(0)
                total += float(whole @ whole)
                continue
            delta, a = part
            d_p, a_p = padded(delta), padded(a)
            gram = ((d_p @ d_p.transpose(1, 2)) * (a_p @ a_p.transpose(1, 2) + 1)).double()  # 0 on padding
            per_group += gram.sum((1, 2))
            if self.total_sqnorm is None:
                whole_w, whole_b = delta.T @ a, delta.sum(0)
                total += float(whole_w.double().pow_(2).sum() + whole_b.double().pow_(2).sum())  # as ** 2
        return per_group, total if self.total_sqnorm is None else self.total_sqnorm


def per_sample_grads(model: nn.Module, batch: InterpolantSample) -> tuple[Tensor, Tensor]:
    """Per-sample losses (B,) and flattened per-sample parameter gradients (B, P), by ``torch.func``."""
    params = {k: p.detach() for k, p in model.named_parameters()}
    buffers = {k: b.detach() for k, b in model.named_buffers()}

    def loss_one(p: dict[str, Tensor], x: Tensor, t: Tensor, target: Tensor) -> Tensor:
        v = functional_call(model, (p, buffers), (x[None], t[None]))
        return ((v[0] - target) ** 2).sum()

    def loss_and_grad(p: dict[str, Tensor], x: Tensor, t: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        g = grad(loss_one)(p, x, t, target)
        return loss_one(p, x, t, target), torch.cat([gi.reshape(-1) for gi in g.values()])

    return vmap(loss_and_grad, in_dims=(None, 0, 0, 0))(params, batch.x_t, batch.t, batch.dx_t)


def _linear_layers(model: nn.Module) -> list[nn.Linear] | None:
    """The model's Linear layers if they hold every trainable parameter (with bias), else None."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if any(m.bias is None for m in layers):
        return None
    covered = {id(p) for m in layers for p in m.parameters()}
    if any(id(p) not in covered for p in model.parameters() if p.requires_grad):
        return None
    return layers


def _linear_sample_grads(model: nn.Module, layers: list[nn.Linear], batch: InterpolantSample) -> SampleGrads | None:
    inputs: list[Tensor] = []
    outputs: list[Tensor] = []

    def hook(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        inputs.append(args[0])
        outputs.append(out)

    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.enable_grad():
            x_t = batch.x_t.detach()
            v = model(x_t, batch.t)
            losses = ((v - batch.dx_t) ** 2).flatten(1).sum(1)
            if any(a.dim() != 2 for a in inputs) or len(outputs) != len(layers):
                return None  # a layer applied to more than one row per sample, or twice: not this shortcut
            deltas = torch.autograd.grad(losses.sum(), outputs)
    finally:
        for h in handles:
            h.remove()
    return _from_linear_parts(losses.detach(), [(d.detach(), a.detach()) for d, a in zip(deltas, inputs)])


class TrainingStepCapture:
    """Per-sample gradients of a training step's own batch, at no extra forward or backward pass.

    Use around the step's forward pass, then call :meth:`sample_grads` after ``loss.backward()`` with the
    per-sample losses l_i, where loss = mean_i l_i (the output gradients are then delta_i / B)::

        capture = TrainingStepCapture(model)          # None-safe: .active is False if the model is not all-Linear
        with capture:
            per_sample = ((model(x_t, t) - dx_t) ** 2).flatten(1).sum(1)
        per_sample.mean().backward()
        grads = capture.sample_grads(per_sample)
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = _linear_layers(model) or []
        self.active = bool(self.layers)
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        out.retain_grad()
        self.inputs.append(args[0])
        self.outputs.append(out)

    def __enter__(self) -> TrainingStepCapture:
        self.inputs, self.outputs = [], []
        self._handles = [m.register_forward_hook(self._hook) for m in self.layers]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def sample_grads(self, losses: Tensor) -> SampleGrads | None:
        """The step's :class:`SampleGrads` (after backward), or None if the shortcut does not apply.

        The whole batch's gradient sum is B times the step's mean gradient, already in the parameters' .grad.
        """
        if (not self.active or len(self.outputs) != len(self.layers) or any(a.dim() != 2 for a in self.inputs)
                or any(o.grad is None for o in self.outputs)):
            return None
        n = losses.shape[0]
        parts = [(o.grad.detach() * n, a.detach()) for o, a in zip(self.outputs, self.inputs)]
        grads = _from_linear_parts(losses.detach(), parts)
        mean_sqnorm = sum(float(p.grad.to(torch.float64, copy=True).pow_(2).sum())  # as (p.grad.double() ** 2)
                          for m in self.layers for p in m.parameters())
        grads.total_sqnorm = n**2 * mean_sqnorm
        return grads


def _from_linear_parts(losses: Tensor, parts: list[tuple[Tensor, Tensor]]) -> SampleGrads:
    # Products stay in the model's dtype (float32: ~1e-7 relative); per-sample and group norms are then
    # accumulated in float64.
    sqnorms = sum(((d ** 2).sum(1) * ((a ** 2).sum(1) + 1)).double() for d, a in parts)
    return SampleGrads(losses, sqnorms, parts)


def sample_grads(model: nn.Module, batch: InterpolantSample, method: Method = "auto") -> SampleGrads:
    """Per-sample gradient summaries by the exact ``linear`` shortcut or by ``vmap`` (``auto``: linear if it
    applies)."""
    if method not in GRAD_METHODS:
        raise ValueError(f"method must be one of {GRAD_METHODS}, got {method!r}")
    if method in ("auto", "linear"):
        layers = _linear_layers(model)
        out = _linear_sample_grads(model, layers, batch) if layers else None
        if out is not None:
            return out
        if method == "linear":
            raise ValueError("method 'linear' needs a network whose parameters all sit in nn.Linear layers "
                             "applied once to (B, in) inputs")
    losses, grads = per_sample_grads(model, batch)
    grads = grads.double()
    return SampleGrads(losses.detach(), (grads ** 2).sum(1), [(grads,)])


def grad_var_stats(grads: SampleGrads, mask: Tensor | None = None, t_bin: int | None = None, t_low: float = 0.0,
                   t_high: float = 1.0, sum_sqnorm: float | None = None) -> GradVarStats:
    """Reduce the samples selected by ``mask`` (all if None) to :class:`GradVarStats` (needs n >= 2).

    ``sum_sqnorm``, if given, is ||sum_{i in mask} g_i||^2 (saves recomputing it).
    """
    if mask is None:
        mask = torch.ones_like(grads.losses, dtype=torch.bool)
    n = int(mask.sum())
    if n < 2:
        raise ValueError(f"gradient variance needs at least 2 samples, got {n}")
    if sum_sqnorm is None:
        sum_sqnorm = float(grads.group_sum_sqnorms(mask.long(), 2)[0][1])
    return _stats(t_bin, t_low, t_high, n, grads.sqnorms[mask], grads.losses[mask].double(), sum_sqnorm)


def _stats(t_bin: int | None, t_low: float, t_high: float, n: int, sqnorms: Tensor, losses: Tensor,
           sum_sqnorm: float) -> GradVarStats:
    """:class:`GradVarStats` of ``n`` samples from their ||g_i||^2 and float64 losses (contiguous, in sample order)
    and ||sum_i g_i||^2."""
    sqnorm = sum_sqnorm / n**2
    trace = max(float(sqnorms.sum()) - n * sqnorm, 0.0) / (n - 1)
    ratio = trace / sqnorm if sqnorm > 0 else float("inf")
    return GradVarStats(t_bin, t_low, t_high, n, float(losses.mean()), trace, sqnorm, ratio)


def binned_stats(grads: SampleGrads, t: Tensor, t_bins: int) -> list[GradVarStats]:
    """Statistics over all samples (first entry) and in each of ``t_bins`` equal t-bins (bins with < 2 samples
    skipped), from one pass over the samples (:meth:`SampleGrads.group_sum_sqnorms`)."""
    bins = torch.clamp((t * t_bins).long(), min=0, max=t_bins - 1)
    per_bin, total = grads.group_sum_sqnorms(bins, t_bins)
    n = grads.losses.shape[0]
    if n < 2:
        raise ValueError(f"gradient variance needs at least 2 samples, got {n}")
    stats = [_stats(None, 0.0, 1.0, n, grads.sqnorms.contiguous(), grads.losses.double().contiguous(), total)]
    # Each bin's samples as one contiguous slice, in sample order: the values that ``grads.sqnorms[bins == b]``
    # selects, without a mask and a gathered copy per bin.
    order = torch.argsort(bins, stable=True)
    sqnorms, losses = grads.sqnorms[order], grads.losses[order].double()
    start = 0
    for b, (count, sum_sqnorm) in enumerate(zip(torch.bincount(bins, minlength=t_bins).tolist(), per_bin.tolist())):
        if count >= 2:
            stats.append(_stats(b, b / t_bins, (b + 1) / t_bins, count, sqnorms[start:start + count],
                                losses[start:start + count], sum_sqnorm))
        start += count
    return stats


def grad_variance(model: nn.Module, batch: InterpolantSample, t_bins: int,
                  method: Method = "auto") -> list[GradVarStats]:
    """Parameter-space gradient statistics over the probe ``batch`` and per t-bin (see :func:`binned_stats`)."""
    return binned_stats(sample_grads(model, batch, method), batch.t, t_bins)


@torch.no_grad()
def output_sample_grads(field: nn.Module, batch: InterpolantSample) -> SampleGrads:
    """Gradients of l_i with respect to the field's output, 2 (v(x_t^i, t_i) - dx_t^i): parameter-free."""
    r = (field(batch.x_t, batch.t) - batch.dx_t).flatten(1).double()
    g = 2 * r
    return SampleGrads((r ** 2).sum(1), (g ** 2).sum(1), [(g,)])


def output_grad_variance(field: nn.Module, batch: InterpolantSample, t_bins: int) -> list[GradVarStats]:
    """Output-space gradient statistics over ``batch`` and per t-bin (see :func:`output_sample_grads`)."""
    return binned_stats(output_sample_grads(field, batch), batch.t, t_bins)
