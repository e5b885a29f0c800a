"""Benchmark: what rfpipe's lean Adam step (``rfpipe.training._AdamStep``) buys, on the default rotation cell.

``_AdamStep`` replaces ``opt.zero_grad(set_to_none=True)`` / ``opt.step()`` of the training loop by the functional
``torch.optim.adam.adam(...)`` call that ``Adam.step`` makes, skipping the per-step Python bookkeeping of
``Optimizer.zero_grad`` and ``Optimizer.step``. Issue 14 keeps such a hack only where it gains >= 10 % on a
default cell. This script times ``rfpipe.training.train`` with ``_AdamStep`` (lean) and with ``_AdamStep``
replaced by a class that only calls ``opt.zero_grad(set_to_none=True)`` and ``opt.step()`` (plain: the loop
without the hack), interleaved in every round (the order alternates), on the shape of the cells of the
``rotation`` experiment of ``config/config.yaml``: 2-D rotation R_180 x + 5, 256 training pairs, MLP width 128,
depth 3 (SiLU), batch 256, Adam lr 3e-3 with the cosine schedule, constant noise sigma = 0.05, one torch thread;
once with the probe as the cells run it (every 100 steps, ``probe_batch: train``) and once with the probe off.
Each run is timed by this process's CPU time (one thread: the run's work; less disturbed by other jobs than wall
time); the table gives medians of steps per CPU second and the median of the per-round ratios lean / plain
(wall-time ratio beside it). It first checks that both train bit for bit the same weights, probe rows and final
loss.

Run:  .venv/bin/python benchmarks/adam_step.py [--steps 500] [--rounds 15] [--width 128]

(or against another version of the package: ``PYTHONPATH=<folder holding its rfpipe/>``). Against a package
without ``_AdamStep`` it says so and exits 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import rfpipe.training
from rfpipe.couplings import PairSampler
from rfpipe.data import rotation_data
from rfpipe.interpolants import Interpolant
from rfpipe.models import MLP
from rfpipe.training import TrainConfig, train

torch.set_num_threads(1)
# the `rotation` experiment of config/config.yaml (its first cell but sigma: 0.05, the verdict sigma)
WIDTH, DEPTH, BATCH, N_PAIRS, LR, SIGMA, PROBE_EVERY = 128, 3, 256, 256, 3e-3, 0.05, 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps per run")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (medians over rounds)")
    parser.add_argument("--width", type=int, default=WIDTH, help="MLP width (the default cell's: 128)")
    args = parser.parse_args()
    adam_step = getattr(rfpipe.training, "_AdamStep", None)
    if adam_step is None:
        sys.exit(f"{rfpipe.training.__file__} has no _AdamStep; run against a package that has it "
                 "(PYTHONPATH=/tmp/rfpipe-old, see the docstring)")

    data = rotation_data(2, 180.0, 5.0, n_pairs=N_PAIRS, n_test=16, seed=0)
    sampler = PairSampler(data.train.x_0, data.train.x_1, "paired")
    interpolant = Interpolant(SIGMA)

    class PlainStep:
        """What the loop does without the hack: ``opt.zero_grad(set_to_none=True)`` and ``opt.step()``."""

        def __init__(self, opt: torch.optim.Optimizer) -> None:
            self.zero_grad, self.step = lambda: opt.zero_grad(set_to_none=True), opt.step

    def run(lean: bool, probe_every: int, steps: int) -> tuple[dict, list, float]:
        rfpipe.training._AdamStep = adam_step if lean else PlainStep  # train() looks it up at each call
        try:
            torch.manual_seed(0)
            net = MLP(2, args.width, DEPTH)
            config = TrainConfig(steps=steps, batch_size=BATCH, lr=LR, lr_schedule="cosine", probe_every=probe_every,
                                 t_bins=10, probe_batch="train")
            result = train(net, sampler, interpolant, config, seed=0)
        finally:
            rfpipe.training._AdamStep = adam_step
        return net.state_dict(), result.probes, result.final_loss

    assert torch.get_num_threads() == 1, torch.get_num_threads()
    for probe_every in (PROBE_EVERY, 0):
        plain, lean = run(False, probe_every, args.steps), run(True, probe_every, args.steps)  # also the warm-up
        same = (all(torch.equal(plain[0][k], lean[0][k]) for k in plain[0]) and str(plain[1]) == str(lean[1])
                and plain[2] == lean[2])
        print(f"lean Adam step vs opt.step(), probe every {probe_every}, {args.steps} steps: "
              f"{'bit-identical' if same else 'DIFFERENT'}")
        if not same:
            sys.exit("the lean Adam step changed the numbers")

    names = [(f"{'lean _AdamStep' if lean else 'plain opt.step()'}, probe {'every 100, train' if every else 'off'}",
              lean, every) for every in (PROBE_EVERY, 0) for lean in (False, True)]
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in names}
    wall: dict[str, list[float]] = {name: [] for name, _, _ in names}
    for r in range(args.rounds):
        for name, lean, every in (names if r % 2 == 0 else names[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            run(lean, every, args.steps)
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)

    def ratio(a: str, b: str, times: dict[str, list[float]]) -> float:
        """Median over rounds of (steps/s of a) / (steps/s of b)."""
        return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))

    cell = "default rotation cell" if args.width == WIDTH else "rotation cell but the width"
    print(f"{cell}: 2-D, {N_PAIRS} pairs, MLP width {args.width}, depth {DEPTH}, batch {BATCH}, Adam lr {LR} "
          f"cosine, sigma {SIGMA} constant, 1 thread; {args.rounds} interleaved rounds of {args.steps} steps, medians; "
          "CPU time unless 'wall'")
    print(f"{'contender':40s} {'steps/s':>8s} {'lean/plain':>11s} {'(wall)':>7s} {'steps/s wall':>13s}")
    for i, (name, _, _) in enumerate(names):
        plain = names[i - i % 2][0]
        print(f"{name:40s} {args.steps / statistics.median(cpu[name]):8.0f} {ratio(name, plain, cpu):11.3f} "
              f"{ratio(name, plain, wall):7.3f} {args.steps / statistics.median(wall[name]):13.0f}")
    for every in (PROBE_EVERY, 0):
        probe = "every 100, train" if every else "off"
        gain = 100 * (ratio(f"lean _AdamStep, probe {probe}", f"plain opt.step(), probe {probe}", cpu) - 1)
        print(f"rule of issue 14, gain >= 10 % on a default cell, probe {probe}: {gain:+.1f} % "
              f"{'met' if gain >= 10 else 'not met'}{'' if args.width == WIDTH else ' (not the default width)'}")


if __name__ == "__main__":
    main()
