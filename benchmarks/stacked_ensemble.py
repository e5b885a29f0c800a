"""Benchmark: would training several cells of one architecture in one process, as a stacked ensemble, or
``torch.compile``, make a converged cell cheaper? (issue 15, item 5: levers weighed, measured.)

The default rotation cell's network (MLP width 128, depth 3, SiLU, 16 Fourier time features: input 2 + 1 + 32,
batch 256, Adam fused, one thread). Contenders, each a full training step (forward, backward, Adam):

- ``single``: one nn.Sequential MLP, as rfpipe trains a cell;
- ``bmm E``: E members with stacked weights (E, fan_in, fan_out), one ``torch.baddbmm`` per layer, each member's
  loss its own batch's mean, summed (Adam is elementwise, so each member gets its own update);
- ``vmap E``: the same E members through ``torch.func.stack_module_state`` + ``vmap(functional_call)``;
- ``compiled``: ``torch.compile`` of the single MLP's forward (``--compile``; needs a C++ compiler).

Printed: milliseconds per step and, for the ensembles, the cost per member against ``single`` measured in the
same round (rounds interleaved; medians over ``--rounds``). A ratio below 1 is what stacking saves per cell.

    .venv/bin/python benchmarks/stacked_ensemble.py [--members 2 4 8] [--rounds 5] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from rfpipe.models import MLP

WIDTH, DEPTH, BATCH, DIM, FEATURES = 128, 3, 256, 2, 16
IN = DIM + 1 + 2 * FEATURES


def mlp() -> nn.Sequential:
    """The layers of rfpipe's MLP (:class:`rfpipe.models.MLP`, K = 16) on its already-built input [x, t, phi(t)]."""
    return MLP(DIM, WIDTH, DEPTH, "silu", FEATURES).net


def single_step(compiled: bool = False) -> Callable[[], None]:
    net = mlp()
    forward = torch.compile(net) if compiled else net
    opt = torch.optim.Adam(net.parameters(), 1e-3, fused=True)
    x, y = torch.randn(BATCH, IN), torch.randn(BATCH, DIM)

    def step() -> None:
        loss = ((forward(x) - y) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def bmm_step(members: int) -> Callable[[], None]:
    dims = [IN] + [WIDTH] * DEPTH + [DIM]
    weights = [nn.Parameter(torch.randn(members, a, b) / a ** 0.5) for a, b in zip(dims[:-1], dims[1:])]
    biases = [nn.Parameter(torch.zeros(members, 1, b)) for b in dims[1:]]
    opt = torch.optim.Adam([*weights, *biases], 1e-3, fused=True)
    x, y = torch.randn(members, BATCH, IN), torch.randn(members, BATCH, DIM)

    def step() -> None:
        h = x
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = torch.baddbmm(b, h, w)
            if i < len(weights) - 1:
                h = torch.nn.functional.silu(h)
        loss = ((h - y) ** 2).sum(2).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def vmap_step(members: int) -> Callable[[], None]:
    nets = [mlp() for _ in range(members)]
    params, buffers = stack_module_state(nets)
    leaves = [nn.Parameter(p) for p in params.values()]
    params = dict(zip(params, leaves))
    base = mlp().to("meta")
    opt = torch.optim.Adam(leaves, 1e-3, fused=True)
    x, y = torch.randn(members, BATCH, IN), torch.randn(members, BATCH, DIM)

    def one(p: dict, b: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    def step() -> None:
        out = vmap(one)(params, buffers, x)
        loss = ((out - y) ** 2).sum(2).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def per_step(step: Callable[[], None], steps: int) -> float:
    for _ in range(20):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    contenders: dict[str, tuple[Callable[[], None], int]] = {"single": (single_step(), 1)}
    for e in args.members:
        contenders[f"bmm {e}"] = (bmm_step(e), e)
        contenders[f"vmap {e}"] = (vmap_step(e), e)
    if args.compile:
        contenders["compiled"] = (single_step(compiled=True), 1)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    ratios: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        base = per_step(contenders["single"][0], args.steps)
        times["single"].append(base)
        ratios["single"].append(1.0)
        for name, (step, members) in contenders.items():
            if name != "single":
                ms = per_step(step, args.steps)
                times[name].append(ms)
                ratios[name].append(ms / members / base)
    print(f"MLP width {WIDTH}, depth {DEPTH}, input {IN}, batch {BATCH}, Adam fused, 1 thread; "
          f"{args.rounds} interleaved rounds of {args.steps} steps, medians")
    print(f"{'contender':<10} {'ms/step':>8} {'per member vs single':>22}")
    for name in contenders:
        print(f"{name:<10} {statistics.median(times[name]):8.2f} {statistics.median(ratios[name]):22.2f}")


if __name__ == "__main__":
    main()
