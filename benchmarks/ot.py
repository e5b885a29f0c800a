"""Benchmark: the OT pairing of N noise images with N images (rfpipe.ot), time and peak memory.

Each case runs in its own process (peak RSS is that process's ru_maxrss, the inputs included):
- exact, N = 5,000 MNIST digits (28 x 28, the default run's data) and N = 5,000 images of CelebA's shape
  (3 x 64 x 64, uniform pixels standing in for faces): goal under 30 s;
- blockwise (block 5,000) at N = 5,000 of each shape, against the exact solution of the same problem: excess
  mean cost in % and the share of sources given the same partner; and a random-minibatch baseline (random
  blocks of 5,000, as in minibatch OT) for the excess it would have;
- blockwise at N = 50,000 of CelebA's shape (the paper's larger N): time and peak memory. (The exact solve
  would need a 50,000^2 float64 cost matrix, 20 GB, and is not run.)

Run:  .venv/bin/python benchmarks/ot.py            (about 5 minutes on 2 cores)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import torch

from rfpipe.images import load_images
from rfpipe.ot import assignment_cost, blockwise_assignment, exact_assignment

torch.set_num_threads(2)
BLOCK = 5_000


def _data(shape: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    if shape == "mnist":
        images = load_images("mnist5k", 28)[:n]
    else:
        images = torch.rand((n, 3, 64, 64), generator=gen).mul_(2).sub_(1)
    return torch.randn(images.shape, generator=gen), images


def _random_blocks(x_0: torch.Tensor, x_1: torch.Tensor, block: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    n = x_0.shape[0]
    p, q = torch.randperm(n, generator=gen), torch.randperm(n, generator=gen)
    cols = torch.empty(n, dtype=torch.int64)
    for s in range(0, n, block):
        i, j = p[s:s + block], q[s:s + block]
        cols[i] = j[exact_assignment(x_0[i], x_1[j])]
    return cols


def case(name: str) -> dict[str, object]:
    """Run one case in this process; return its figures."""
    method, shape, n = name.split(":")
    x_0, x_1 = _data(shape, int(n))
    start = time.perf_counter()
    if method == "exact":
        cols = exact_assignment(x_0, x_1)
    elif method == "blockwise":
        cols = blockwise_assignment(x_0, x_1, BLOCK // 10 if int(n) <= BLOCK else BLOCK)
    else:
        cols = _random_blocks(x_0, x_1, BLOCK // 10)
    seconds = time.perf_counter() - start
    out: dict[str, object] = {"case": name, "seconds": seconds, "cost": assignment_cost(x_0, x_1, cols),
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if method != "exact" and int(n) <= BLOCK:
        exact = exact_assignment(x_0, x_1)
        best = assignment_cost(x_0, x_1, exact)
        out["excess_cost_pct"] = 100 * (float(out["cost"]) - best) / best
        out["same_partner_pct"] = 100 * float((cols == exact).double().mean())
    return out


def main() -> None:
    cases = ["exact:mnist:5000", "exact:celeba:5000", "blockwise:mnist:5000", "random:mnist:5000",
             "blockwise:celeba:5000", "random:celeba:5000", "blockwise:celeba:50000"]
    print(f"{'case':<24} {'block':>6} {'time s':>8} {'peak MB':>8} {'excess %':>9} {'same %':>7}")
    for name in cases:
        proc = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        block = "-" if name.startswith("exact") else (BLOCK // 10 if int(name.split(":")[2]) <= BLOCK else BLOCK)
        excess = f"{r['excess_cost_pct']:.3f}" if "excess_cost_pct" in r else "-"
        same = f"{r['same_partner_pct']:.1f}" if "same_partner_pct" in r else "-"
        print(f"{name:<24} {block:>6} {r['seconds']:>8.1f} {r['peak_rss_mb']:>8.0f} {excess:>9} {same:>7}",
              flush=True)
    print("excess %: mean cost above the exact optimum; same %: sources matched as the exact solution does. "
          "At N = 5,000 the approximate paths use blocks of 500 so that their error is visible.")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(case(sys.argv[1])))
    else:
        main()
