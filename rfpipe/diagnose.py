"""Diagnose a user's flow model: does it reproduce its training pairs, and how large is its gradient variance?

For a velocity field v(x, t) trained on pairs (x_0^i, x_1^i), i < N, with endpoints y_i = phi(x_0^i) of
dx/dt = v(x, t) integrated from t = 0 to t = 1:

    pair_recovery       = (1/N) sum_i 1[||y_i - x_1^i|| < min_{j != i} ||y_i - x_1^j||]
    l2_partner_i        = ||y_i - x_1^i||
    l2_nearest_other_i  = min_{j != i} ||y_i - x_1^j||
    fresh_l2_nearest_k  = min_j ||phi(x'_k) - x_1^j||,   x'_k ~ N(m, diag(s^2))

with m, s the per-coordinate mean and standard deviation of the training sources (the fresh sources are
"drawn like them": for standard-normal sources this is N(0, I) up to sampling error, and it stays right for
sources that are not standardised). The fresh distances are the baseline: how close an endpoint that is
*not* a training source comes to some training target.

Two verdicts, for the two ways a flow memorises:

- the pairing: the model *reproduces its training pairs* iff pair_recovery >= ``threshold`` (default 0.5, i.e.
  most training sources land nearer their own partner than any other training target; a model that ignores
  the pairing recovers about 1/N of them by chance), else it *does not*;
- the targets: the fresh sources *collapse onto training targets* iff target_collapse < ``collapse_threshold``
  (default 0.5), where target_collapse (:func:`rfpipe.metrics.target_collapse`) = median_k fresh_l2_nearest_k
  / median_j min_{i != j} ||x_1^j - x_1^i||, the fresh endpoints' distance to the nearest training target in
  units of the targets' own nearest-neighbour spacing: about 1 for a flow that generates new samples of the
  target distribution, near 0 for one that maps every source onto some training target. A flow can do the
  second without the first (it has memorised the targets, not which source goes to which).

Gradient variance (see :mod:`rfpipe.gradvar`): on one probe batch of training pairs with stratified times
t and noise z, the trace tr Cov[grad_theta l_i] of the per-sample losses
l_i = ||dx_t^i - v(x_t^i, t_i)||^2 overall and per t-bin, for the interpolant at sigma = 0 and at the
given sigma (same pairs, t and z). A model that fits its pairs exactly has l_i = 0 at sigma = 0, hence
zero gradient variance there: the failure mode's signature. Networks whose parameters all sit in
``nn.Linear`` layers use the exact one-pass shortcut; any other network falls back to ``torch.func.vmap``,
which holds a (B, P) matrix of per-sample gradients, so B is capped at ``probe_memory_mb`` (the cap is
reported in :attr:`DiagnoseResult.notes`; the exact shortcut is capped likewise by its per-bin Gram
matrices, which only matters for probes of many thousand samples).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from rfpipe.gradvar import GradVarStats, binned_stats, sample_grads
from rfpipe.interpolants import NOISE_SHAPES, Interpolant, InterpolantSample
from rfpipe.io import atomic_path, write_text
from rfpipe.metrics import l2, nearest_other, pair_recovery, target_collapse
from rfpipe.sampling import SOLVERS, integrate, solver_hits_half

__all__ = ["PAIR_KEYS", "DiagnoseError", "DiagnoseResult", "GradVarProbe", "check_model", "check_pairs", "diagnose",
           "load_model", "load_pairs", "plot_diagnosis", "write_outputs"]

PAIR_KEYS: tuple[tuple[str, str], ...] = (("x0", "x1"), ("x_0", "x_1"), ("train.x_0", "train.x_1"))
"""Accepted key pairs of a pairs file, in order: plain, rfpipe's ``reflow_pairs.pt``, rfpipe's ``data.pt``."""

_EVALS_PER_STEP: dict[str, int] = {"euler": 1, "heun": 2, "rk4": 4}


class DiagnoseError(ValueError):
    """Bad input to the diagnosis, with a one-line message naming the offending file or argument."""


@dataclass
class GradVarProbe:
    """Gradient statistics of the model on the probe batch at one interpolant noise scale.

    Attributes:
        sigma: the interpolant's sigma.
        overall: statistics over the whole probe batch (None if the model has no trainable parameters).
        bins: statistics per t-bin (bins with fewer than 2 samples are left out).
    """

    sigma: float
    overall: GradVarStats | None
    bins: list[GradVarStats] = field(default_factory=list)


@dataclass
class DiagnoseResult:
    """Output of :func:`diagnose`; :meth:`to_dict` is the JSON summary.

    Attributes:
        verdict: the one-line verdict on the pairing.
        memorises: pair_recovery >= threshold.
        pair_recovery: share of training sources whose endpoint is nearest its own partner.
        n_recovered: how many of them.
        n_pairs: N.
        threshold: the verdict's threshold on pair_recovery.
        collapse_verdict: the one-line verdict on the targets.
        collapses: target_collapse < collapse_threshold.
        target_collapse: the fresh endpoints' median distance to the nearest training target over the targets'
            median nearest-neighbour spacing.
        collapse_threshold: the second verdict's threshold on target_collapse.
        l2_partner: ||y_i - x_1^i||, shape (N,).
        l2_nearest_other: min_{j != i} ||y_i - x_1^j||, shape (N,).
        fresh_l2_nearest: min_j ||phi(x'_k) - x_1^j|| for the fresh sources, shape (M,).
        endpoints: y_i, shape (N, *D).
        fresh_endpoints: phi(x'_k), shape (M, *D).
        gradvar: the probes at sigma = 0 and at the given sigma (one entry if sigma = 0).
        settings: the settings used (solver, steps, seed, probe size requested and used, method, ...).
        notes: caveats worth reading (a probe cap, a grid through t = 1/2, non-finite endpoints).
    """

    verdict: str
    memorises: bool
    pair_recovery: float
    n_recovered: int
    n_pairs: int
    threshold: float
    collapse_verdict: str
    collapses: bool
    target_collapse: float
    collapse_threshold: float
    l2_partner: Tensor
    l2_nearest_other: Tensor
    fresh_l2_nearest: Tensor
    endpoints: Tensor
    fresh_endpoints: Tensor
    gradvar: list[GradVarProbe]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (non-finite numbers become None)."""
        def dist(x: Tensor) -> dict[str, float | None]:
            x = x.double()
            return {"mean": _num(x.mean()), "median": _num(x.median()), "min": _num(x.min()), "max": _num(x.max())}

        def stats(s: GradVarStats | None) -> dict[str, Any] | None:
            return None if s is None else {k: _num(v) if isinstance(v, float) else v for k, v in asdict(s).items()}

        return {
            "verdict": self.verdict,
            "memorises": self.memorises,
            "pair_recovery": self.pair_recovery,
            "n_recovered": self.n_recovered,
            "n_pairs": self.n_pairs,
            "threshold": self.threshold,
            "collapse_verdict": self.collapse_verdict,
            "collapses": self.collapses,
            "target_collapse": _num(self.target_collapse),
            "collapse_threshold": self.collapse_threshold,
            "closer_to_partner": _num((self.l2_partner < self.l2_nearest_other).double().mean()),
            "l2_to_training_partner": dist(self.l2_partner),
            "l2_to_nearest_other_target": dist(self.l2_nearest_other),
            "fresh": {"n": int(self.fresh_l2_nearest.shape[0]),
                      "l2_to_nearest_training_target": dist(self.fresh_l2_nearest)},
            "grad_variance": [{"sigma": p.sigma, "overall": stats(p.overall), "bins": [stats(b) for b in p.bins]}
                              for p in self.gradvar],
            "settings": self.settings,
            "notes": self.notes,
        }


def _stream_seed(seed: int) -> int:
    """The generator seed of the fresh sources and the probe for the user's ``seed``: a hash of it, so that pairs a
    user drew with torch.manual_seed(seed) (0, most often) are not drawn again as the "fresh" sources."""
    return int.from_bytes(hashlib.sha256(f"rfpipe.diagnose:{seed}".encode()).digest()[:8], "little")


def _num(x: float | Tensor) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _shape(x: Tensor) -> str:
    return "(" + ", ".join(map(str, x.shape)) + ")"


# ---------------------------------------------------------------------------------------------------- checks


def check_pairs(x_0: object, x_1: object, names: tuple[str, str] = ("x_0", "x_1")) -> tuple[Tensor, Tensor]:
    """Check that the pairs are two finite floating tensors of the same shape (N, *D) with N >= 2."""
    for name, x in zip(names, (x_0, x_1)):
        if not isinstance(x, Tensor):
            raise DiagnoseError(f"{name} is of type {type(x).__name__}, not a tensor")
        if not x.is_floating_point():
            raise DiagnoseError(f"{name} has dtype {x.dtype}, not a floating-point type")
        if x.dim() < 2:
            raise DiagnoseError(f"{name} has shape {_shape(x)}; expected (N, *D) with one row per pair")
    assert isinstance(x_0, Tensor) and isinstance(x_1, Tensor)
    if x_0.shape[0] != x_1.shape[0]:
        raise DiagnoseError(f"{names[0]} has {x_0.shape[0]} rows but {names[1]} has {x_1.shape[0]}")
    if x_0.shape != x_1.shape:
        raise DiagnoseError(f"{names[0]} has shape {_shape(x_0)} but {names[1]} has shape {_shape(x_1)}")
    if x_0.shape[0] < 2:
        raise DiagnoseError(f"pair recovery needs at least 2 pairs, got {x_0.shape[0]}")
    for name, x in zip(names, (x_0, x_1)):
        if not bool(torch.isfinite(x).all()):
            raise DiagnoseError(f"{name} holds non-finite values")
    return x_0, x_1


def check_model(model: object, x_0: Tensor) -> None:
    """Call the model on two training sources at t = 0 and t = 1/3; its output must be a tensor shaped like them."""
    if not isinstance(model, nn.Module):
        raise DiagnoseError(f"the model is of type {type(model).__name__}, not a torch.nn.Module")
    x = x_0[:2].to(_model_dtype(model, x_0.dtype))
    for s in (0.0, 1 / 3):
        try:
            with torch.no_grad():
                out = model(x, torch.full((x.shape[0],), s, dtype=x.dtype))
        except Exception as exc:  # any failure of user code: report it on one line
            raise DiagnoseError(f"calling the model on inputs of shape {_shape(x)} failed: {_one_line(exc)}") from None
        if not isinstance(out, Tensor):
            raise DiagnoseError(f"the model returned an object of type {type(out).__name__}, not a tensor")
        if out.shape != x.shape:
            raise DiagnoseError(f"the model's output shape {_shape(out)} does not match its input shape {_shape(x)}")


def _model_dtype(model: nn.Module, default: torch.dtype) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), default)


# ---------------------------------------------------------------------------------------------------- loading


def _read(path: str | os.PathLike) -> object:
    """``torch.load(path, weights_only=True)`` on the CPU (no code is unpickled), with a one-line reason on failure."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if isinstance(exc, pickle.UnpicklingError) and zipfile.is_zipfile(path):
            raise DiagnoseError("refused by torch.load(weights_only=True): it holds objects other than tensors and "
                                "plain values") from None
        raise DiagnoseError(f"not a readable torch.save file ({type(exc).__name__})") from None


def load_pairs(path: str | os.PathLike) -> tuple[Tensor, Tensor]:
    """Training pairs from a :func:`torch.save` file with keys ``x0``/``x1``, ``x_0``/``x_1`` or rfpipe's
    ``train.x_0``/``train.x_1`` (``weights_only=True``); checked by :func:`check_pairs`."""
    path = Path(path)
    if not path.is_file():
        raise DiagnoseError(f"{path}: no such file")
    try:
        content = _read(path)
    except DiagnoseError as err:
        raise DiagnoseError(f"{path}: {err}") from None
    if not isinstance(content, Mapping):
        raise DiagnoseError(f"{path}: holds an object of type {type(content).__name__}, expected a dict with keys "
                            "x0 and x1")
    for keys in PAIR_KEYS:
        if all(k in content for k in keys):
            try:
                return check_pairs(content[keys[0]], content[keys[1]], keys)
            except DiagnoseError as err:
                raise DiagnoseError(f"{path}: {err}") from None
    found = ", ".join(map(str, list(content)[:6])) or "none"
    raise DiagnoseError(f"{path}: no training pairs: expected keys x0 and x1 (or x_0 and x_1), found {found}")


def _import_factory(spec: str) -> Callable[[], object]:
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise DiagnoseError(f"{spec!r} is not of the form PKG.MODULE:FACTORY")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise DiagnoseError(f"cannot import module {module_name!r}: {_one_line(exc)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise DiagnoseError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise DiagnoseError(f"{attr!r} in module {module_name!r} is not callable (type {type(obj).__name__})")
    return obj


def _fit_weights(model: nn.Module, state: Mapping[str, Any]) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} has shape {_shape(state[k])}, the model's {_shape(own[k])}" for k in own
             if k in state and isinstance(state[k], Tensor) and state[k].shape != own[k].shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{label} {', '.join(items[:3])}{more}")
    problems += wrong[:2]
    if problems:
        raise DiagnoseError(f"the weights do not fit the model: {'; '.join(problems)}")
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise DiagnoseError(f"the weights do not fit the model: {_one_line(exc)}") from None


def load_model(spec: str, weights: str | os.PathLike | None = None) -> nn.Module:
    """Build the model from ``PKG.MODULE:FACTORY`` (a callable taking no arguments) and load ``weights``
    (a state_dict file, or rfpipe's ``model.pt`` {"state_dict", "settings"}; ``weights_only=True``).

    Errors raise :class:`DiagnoseError` whose message starts with ``--model SPEC`` or ``--weights PATH``.
    """
    if weights is not None and not Path(weights).is_file():
        raise DiagnoseError(f"--weights {weights}: no such file")
    try:
        factory = _import_factory(spec)
        try:
            model = factory()
        except Exception as exc:
            raise DiagnoseError(f"calling the factory failed: {_one_line(exc)}") from None
        if not isinstance(model, nn.Module):
            raise DiagnoseError(f"the factory returned an object of type {type(model).__name__}, not a torch.nn.Module")
    except DiagnoseError as err:
        raise DiagnoseError(f"--model {spec}: {err}") from None
    if weights is None:
        return model.eval()
    try:
        state = _read(weights)
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
            raise DiagnoseError("is not a state_dict (a dict of tensors) nor a dict with a 'state_dict' entry")
        _fit_weights(model, state)
    except DiagnoseError as err:
        raise DiagnoseError(f"--weights {weights}: {err}") from None
    return model.eval()


# ---------------------------------------------------------------------------------------------------- metrics


class _Counted:
    """A field that advances a progress bar by one at every evaluation."""

    def __init__(self, field: nn.Module, bar: tqdm) -> None:
        self.field, self.bar = field, bar

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        self.bar.update(1)
        return self.field(x, t)


def _endpoints(model: nn.Module, x_0: Tensor, steps: int, solver: str, chunk: int, desc: str, progress: bool) -> Tensor:
    chunks = x_0.split(chunk)
    total = len(chunks) * steps * _EVALS_PER_STEP[solver]
    with tqdm(total=total, desc=desc, unit="eval", file=sys.stderr, disable=not progress) as bar:
        field = _Counted(model, bar)
        return torch.cat([integrate(field, c, steps, solver).x_1 for c in chunks])


def _thin(batch: InterpolantSample, cap: int) -> InterpolantSample:
    """At most ``cap`` evenly spaced samples of ``batch`` (whose t are stratified, so they stay spread over [0, 1])."""
    b = batch.t.shape[0]
    if b <= cap:
        return batch
    keep = torch.linspace(0, b - 1, cap).round().long()
    return InterpolantSample(t=batch.t[keep], x_t=batch.x_t[keep], dx_t=batch.dx_t[keep])


def _probe(model: nn.Module, batch: InterpolantSample, t_bins: int,
           memory_mb: float) -> tuple[list[GradVarStats], str, int]:
    """Per-t-bin gradient statistics, within ``memory_mb`` of per-sample gradient summaries.

    The exact ``linear`` shortcut holds (B / K)^2 Gram entries per t-bin (K bins; ~24 bytes each in float32 and
    float64); the ``vmap`` fallback holds the (B, P) per-sample gradients (12 bytes per entry). B is capped
    accordingly, keeping evenly spaced samples. Returns the statistics, the method and the B used.
    """
    budget = memory_mb * 2**20
    linear_cap = max(2, int(math.sqrt(budget * t_bins / 24)))
    try:
        thin = _thin(batch, linear_cap)
        return binned_stats(sample_grads(model, thin, "linear"), thin.t, t_bins), "linear", thin.t.shape[0]
    except ValueError:
        pass
    n_params = sum(p.numel() for p in model.parameters())
    thin = _thin(batch, max(2, int(budget // (12 * n_params))))
    return binned_stats(sample_grads(model, thin, "vmap"), thin.t, t_bins), "vmap", thin.t.shape[0]


def diagnose(model: nn.Module, x_0: Tensor, x_1: Tensor, sigma: float = 0.05, *, solver: str = "euler",
             steps: int = 101, n_fresh: int | None = None, probe_size: int = 512, t_bins: int = 10,
             noise: str = "constant", threshold: float = 0.5, collapse_threshold: float = 0.5, seed: int = 0,
             chunk: int = 4096, probe_memory_mb: float = 256.0, progress: bool = False) -> DiagnoseResult:
    """Integrate ``model`` from the training sources and fresh ones, and probe its gradient variance.

    Args:
        model: v(x, t), x of shape (B, *D) and t of shape (B,), returning (B, *D); put in eval mode.
        x_0, x_1: the training pairs, shape (N, *D) each (cast to the model's parameter dtype).
        sigma: the interpolant noise scale of the second gradient-variance probe (the first is sigma = 0).
        solver, steps: the fixed-step ODE solver and its number of steps (odd for Euler and Heun keeps the
            grid off t = 1/2; a grid on it is noted).
        n_fresh: fresh sources x' ~ N(m, diag(s^2)) (default N).
        probe_size: pairs in the gradient-variance probe (drawn with replacement, t stratified over [0, 1]).
        t_bins: equal t-bins of the per-bin statistics.
        noise: the interpolant's noise shape, ``constant`` or ``brownian``.
        threshold: the verdict's threshold on pair recovery, in (0, 1].
        collapse_threshold: the second verdict's threshold on target_collapse, > 0.
        seed: seeds the fresh sources and the probe.
        chunk: rows integrated (and compared) at once, bounding memory for large N.
        probe_memory_mb: memory for the per-sample gradients of the ``vmap`` fallback; caps the probe.
        progress: show tqdm progress bars on stderr.

    Raises:
        DiagnoseError: bad pairs, a bad model output shape, or bad settings, before any integration.
    """
    if not (math.isfinite(sigma) and sigma >= 0):
        raise DiagnoseError(f"sigma must be finite and >= 0, got {sigma}")
    if solver not in SOLVERS:
        raise DiagnoseError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if noise not in NOISE_SHAPES:
        raise DiagnoseError(f"noise must be one of {', '.join(NOISE_SHAPES)}, got {noise!r}")
    for name, value, low in (("steps", steps, 1), ("probe_size", probe_size, 2), ("t_bins", t_bins, 1),
                             ("chunk", chunk, 1), ("n_fresh", 1 if n_fresh is None else n_fresh, 1)):
        if value < low:
            raise DiagnoseError(f"{name} must be >= {low}, got {value}")
    if not 0 < threshold <= 1:
        raise DiagnoseError(f"threshold must be in (0, 1], got {threshold}")
    if not (math.isfinite(collapse_threshold) and collapse_threshold > 0):
        raise DiagnoseError(f"collapse_threshold must be finite and > 0, got {collapse_threshold}")
    if not probe_memory_mb > 0:
        raise DiagnoseError(f"probe_memory_mb must be > 0, got {probe_memory_mb}")
    x_0, x_1 = check_pairs(x_0, x_1)
    check_model(model, x_0)

    model = model.eval()
    x_0, x_1 = x_0.to(_model_dtype(model, x_0.dtype)), x_1.to(_model_dtype(model, x_1.dtype))
    n = x_0.shape[0]
    n_fresh = n if n_fresh is None else n_fresh
    notes: list[str] = []
    if solver_hits_half(solver, steps):
        notes.append(f"{solver} with {steps} steps evaluates the field at t = 1/2, where a field consistent "
                     "with crossing paths can be singular; an odd step count with euler or heun avoids it")
    gen = torch.Generator().manual_seed(_stream_seed(seed))

    y = _endpoints(model, x_0, steps, solver, chunk, "integrating training sources", progress)
    mean, std = x_0.mean(0), x_0.std(0)
    fresh = mean + std * torch.randn((n_fresh, *x_0.shape[1:]), generator=gen, dtype=x_0.dtype)
    y_fresh = _endpoints(model, fresh, steps, solver, chunk, "integrating fresh sources", progress)
    for name, ends in (("training", y), ("fresh", y_fresh)):
        bad = int((~torch.isfinite(ends.flatten(1))).any(1).sum())
        if bad:
            notes.append(f"{bad} of {ends.shape[0]} {name} endpoints are not finite (they count as not recovered)")

    recovery = pair_recovery(y, x_1, chunk)
    n_recovered = round(recovery * n)
    d_partner = l2(y, x_1).double()
    d_other = nearest_other(y, x_1, True, chunk)
    d_fresh = nearest_other(y_fresh, x_1, False, chunk)
    collapse = target_collapse(y_fresh, x_1, chunk)

    idx = torch.randint(n, (probe_size,), generator=gen)
    u = torch.rand(probe_size, generator=gen, dtype=x_0.dtype)
    t = (torch.arange(probe_size, dtype=x_0.dtype) + u) / probe_size  # stratified over [0, 1]
    z = torch.randn((probe_size, *x_0.shape[1:]), generator=gen, dtype=x_0.dtype)
    probes: list[GradVarProbe] = []
    method, used = "none", 0
    if not any(p.requires_grad for p in model.parameters()):
        notes.append("the model has no trainable parameters: no gradient variance")
        probes = [GradVarProbe(s, None) for s in dict.fromkeys((0.0, float(sigma)))]
    else:
        for s in tqdm(list(dict.fromkeys((0.0, float(sigma)))), desc="gradient variance", unit="sigma",
                      file=sys.stderr, disable=not progress):
            batch = Interpolant(s, noise).sample(x_0[idx], x_1[idx], t, z)
            stats, method, used = _probe(model, batch, t_bins, probe_memory_mb)
            probes.append(GradVarProbe(s, stats[0], stats[1:]))
        if used < probe_size:
            notes.append(f"gradient variance by {method} on {used} of {probe_size} probe samples (capped to fit "
                         f"{probe_memory_mb:g} MB of per-sample gradients)")

    memorises = recovery >= threshold
    pct = f"{100 * recovery:.0f} % recovered ({n_recovered} of {n})"
    verdict = f"reproduces its training pairs: {pct}" if memorises else f"does not reproduce its training pairs: {pct}"
    collapses = collapse < collapse_threshold
    spacing = f"{collapse:.2g} x the training targets' nearest-neighbour spacing"
    collapse_verdict = (f"fresh sources collapse onto training targets: {spacing}" if collapses
                        else f"fresh sources do not collapse onto training targets: {spacing}")
    settings = {"sigma": float(sigma), "noise": noise, "solver": solver, "steps": steps, "n_fresh": n_fresh,
                "fresh_sources": "gaussian with the training sources' per-coordinate mean and std",
                "probe_size": probe_size, "probe_size_used": used, "grad_method": method, "t_bins": t_bins,
                "threshold": threshold, "collapse_threshold": collapse_threshold, "seed": seed,
                "dtype": str(x_0.dtype).removeprefix("torch.")}
    return DiagnoseResult(verdict, memorises, recovery, n_recovered, n, threshold, collapse_verdict, collapses,
                          collapse, collapse_threshold, d_partner, d_other, d_fresh, y, y_fresh, probes, settings,
                          notes)


# ---------------------------------------------------------------------------------------------------- outputs


def plot_diagnosis(result: DiagnoseResult, path: str | os.PathLike) -> None:
    """The figure: gradient-variance trace per t-bin at each sigma, and the histograms of the L2 distances."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    ax_var, ax_l2 = fig.subplots(1, 2)
    rows = [{"t": 0.5 * (b.t_low + b.t_high), "trace": b.grad_var_trace, "probe": f"sigma = {p.sigma:g}"}
            for p in result.gradvar for b in p.bins]
    if rows:
        frame = pd.DataFrame(rows)
        sns.lineplot(data=frame, x="t", y="trace", hue="probe", marker="o", ax=ax_var)
        positive = frame["trace"][frame["trace"] > 0]
        if len(positive) == len(frame):
            ax_var.set_yscale("log")
        elif len(positive):
            ax_var.set_yscale("symlog", linthresh=float(positive.min()))
    else:
        ax_var.text(0.5, 0.5, "no trainable parameters", ha="center", va="center", transform=ax_var.transAxes)
    ax_var.set(xlabel="t", ylabel="tr Cov[grad l_i]", title="Gradient variance per t-bin", xlim=(0, 1))
    dists = pd.DataFrame(
        [{"L2": float(v), "distance": label} for label, values in (
            ("training: to own partner", result.l2_partner),
            ("training: to nearest other target", result.l2_nearest_other),
            ("fresh: to nearest training target", result.fresh_l2_nearest)) for v in values if math.isfinite(float(v))])
    if len(dists):
        bins = int(min(40, max(8, math.sqrt(len(dists)))))
        sns.histplot(data=dists, x="L2", hue="distance", element="step", stat="density", common_norm=False,
                     bins=bins, ax=ax_l2)
    ax_l2.set(xlabel="L2 distance of the endpoint", title="Endpoints")
    fig.suptitle(f"{result.verdict}\n{result.collapse_verdict}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def write_outputs(result: DiagnoseResult, out: str | os.PathLike,
                  extra: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``summary.json`` (:meth:`DiagnoseResult.to_dict` plus ``extra``) and ``diagnose.png`` to ``out``,
    each atomically; returns their paths."""
    out = Path(out)
    summary = {**result.to_dict(), **(extra or {})}
    json_path, png_path = out / "summary.json", out / "diagnose.png"
    write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", json_path)
    plot_diagnosis(result, png_path)
    return json_path, png_path
