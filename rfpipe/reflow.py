"""ReFlow: retrain a flow on the pairs (x_0, phi(x_0)) its predecessor generates (claim C8, Lemma 2).

Round 0 trains on an initial coupling; round r >= 1 trains on (x_0, x_hat_1^{(r-1)}), where
x_hat_1^{(r-1)} = phi_{r-1}(x_0) integrates the round r-1 flow from the training sources. Per round:

    coupling_shift = mean_i ||x_hat_1^{(r)} - x_hat_1^{(r-1)}||   (x_hat_1^{(-1)} = the initial targets),
    straightness   = mean_i sum_k h ||v(x_{t_k}^i, t_k) - (x_hat_1^i - x_0^i)||^2 along the solver path
                     (0 for a flow whose paths are straight lines at constant speed),
    l2_to_ot       = mean_i ||x_hat_1^{(r)} - T_OT(x_0^i)||,

and the round's training against the convergence criterion of :mod:`rfpipe.convergence` (every round trains a
fresh network; round r >= 1 on a fixed pairing, so at sigma = 0 its minimum is 0 and the loss target applies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rfpipe.convergence import Convergence, convergence
from rfpipe.couplings import PairSampler
from rfpipe.interpolants import Interpolant
from rfpipe.sampling import integrate
from rfpipe.training import TrainConfig, train

__all__ = ["ReflowRound", "reflow", "reflow_pairs", "straightness"]


@torch.no_grad()
def straightness(model: nn.Module, x_0: Tensor, steps: int, solver: str = "euler") -> tuple[Tensor, float]:
    """Endpoints of the flow from x_0 and sum_k h mean_i ||v(x_{t_k}, t_k) - (x_1 - x_0)||^2 on its path."""
    traj = integrate(model, x_0, steps, solver, return_path=True)
    chord = (traj.x_1 - x_0).flatten(1)
    total = 0.0
    for k in range(steps):
        t = torch.full((x_0.shape[0],), k / steps, dtype=x_0.dtype)
        v = model(traj.path[k], t).flatten(1)
        total += float(((v - chord) ** 2).sum(1).mean()) / steps
    return traj.x_1, total


def reflow_pairs(model: nn.Module, x_0: Tensor, steps: int, solver: str = "euler",
                 chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """The ReFlow training pairs (x_0, phi(x_0)) of a trained flow ``model`` (batched integration, ``chunk``
    samples at a time if given)."""
    return x_0, integrate(model, x_0, steps, solver, chunk=chunk).x_1


@dataclass
class ReflowRound:
    """Measurements of one ReFlow round (see the module docstring)."""

    round: int
    coupling_shift: float
    straightness: float
    l2_to_ot: float
    convergence: Convergence


def reflow(make_model: Callable[[], nn.Module], x_0: Tensor, x_1: Tensor, coupling: str, x_1_ot: Tensor,
           interpolant: Interpolant, config: TrainConfig, rounds: int, seed: int, solver_steps: int,
           solver: str = "euler", converge_tol: float = 0.05, loss_target: float = 0.005) -> list[ReflowRound]:
    """Train round 0 on (x_0, x_1) under ``coupling`` (``paired`` or ``independent``), then ``rounds`` ReFlow
    rounds on the generated pairs, each with a fresh ``make_model()``; return one :class:`ReflowRound` each,
    with its training held to the criterion (``converge_tol``, ``loss_target``)."""
    out: list[ReflowRound] = []
    targets, previous = x_1, x_1
    sampler_coupling = coupling
    for r in range(rounds + 1):
        model = make_model()
        result = train(model, PairSampler(x_0, targets, sampler_coupling), interpolant, config, seed=seed + 7 * r)
        record = convergence(result.losses, interpolant.sigma == 0 and sampler_coupling == "paired",
                             x_0[0].numel(), converge_tol, loss_target)
        end, straight = straightness(model, x_0, solver_steps, solver)
        out.append(ReflowRound(r, float((end - previous).flatten(1).norm(dim=1).mean()), straight,
                               float((end - x_1_ot).flatten(1).norm(dim=1).mean()), record))
        _, targets = reflow_pairs(model, x_0, solver_steps, solver)
        previous, sampler_coupling = end, "paired"
    return out
