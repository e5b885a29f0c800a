"""Benchmark: training throughput of rfpipe's loop against torchcfm's ConditionalFlowMatcher on the same task.

The task: Counter Example 1 (2-D rotation, the default config's data: 256 training pairs x_1 = R_180 x_0 + 5),
batch 256, MLP width 256, depth 3 (SiLU), constant noise sigma = 0.05, Adam lr 1e-3, 1 torch thread.

Contenders, each a fresh network (same init) trained for ``--steps`` steps, run interleaved in every round
(the order rotates from round to round), ``--rounds`` rounds. Each run is timed by the CPU time of this process
(``time.process_time``; one torch thread, so the work of the run), which other processes on a shared machine
disturb far less than wall time; the table gives median steps per CPU second, the median of the per-round
ratios (each ratio between runs of the same round), and the same ratio by wall time for comparison:

- rfpipe ``train`` (rfpipe.training) with the gradient-variance probe off, every 10 steps on a fresh probe
  batch, and every 10 steps on the training batch (``probe_batch`` fresh / train);
- torchcfm: ``ConditionalFlowMatcher(sigma).sample_location_and_conditional_flow(x0, x1)`` in a plain loop as its
  README shows (``loss = torch.mean((vt - ut) ** 2)``), driving the same rfpipe MLP on the same training pairs,
  with the same optimiser (Adam, lr 1e-3, ``fused=True`` as rfpipe) and, for reference, with Adam's defaults
  (as the README, foreach).

torchcfm is a benchmark-only dependency (the ``bench`` extra):
    .venv/bin/pip install --no-deps torchcfm pot

``--check`` first verifies that rfpipe's lean Adam step (``rfpipe.training._AdamStep``) trains bit for bit the
weights and probe rows of ``opt.step()``.

Run:  .venv/bin/python benchmarks/train_throughput.py [--steps 100] [--rounds 21] [--check]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from rfpipe.couplings import PairSampler
from rfpipe.data import rotation_data
from rfpipe.interpolants import Interpolant
from rfpipe.models import MLP
from rfpipe.training import TrainConfig, train

torch.set_num_threads(1)
WIDTH, DEPTH, BATCH, SIGMA, LR = 256, 3, 256, 0.05, 1e-3


def _model() -> MLP:
    torch.manual_seed(0)
    return MLP(2, WIDTH, DEPTH)


def rfpipe_run(sampler: PairSampler, steps: int, probe_every: int, probe_batch: str = "fresh") -> Callable[[], None]:
    config = TrainConfig(steps=steps, batch_size=BATCH, lr=LR, probe_every=probe_every, probe_size=BATCH, t_bins=10,
                         probe_batch=probe_batch)
    interpolant = Interpolant(SIGMA)

    def run() -> None:
        train(_model(), sampler, interpolant, config, seed=0)

    return run


def torchcfm_run(sampler: PairSampler, steps: int, fused: bool) -> Callable[[], None]:
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

    torch.set_num_threads(1)  # importing torchcfm (its POT import) sets torch's threads to the core count

    x_0, x_1 = sampler.x_0, sampler.x_1
    n = x_0.shape[0]

    def run() -> None:
        torch.manual_seed(0)
        model = _model()
        fm = ConditionalFlowMatcher(sigma=SIGMA)
        opt = torch.optim.Adam(model.parameters(), lr=LR, **({"fused": True} if fused else {}))
        for _ in range(steps):
            opt.zero_grad()
            i = torch.randint(n, (BATCH,))
            t, xt, ut = fm.sample_location_and_conditional_flow(x_0[i], x_1[i])
            vt = model(xt, t)
            loss = torch.mean((vt - ut) ** 2)
            loss.backward()
            opt.step()

    return run


def check_lean_adam() -> None:
    """rfpipe's lean Adam step against ``opt.step()``: identical weights and probe rows, bit for bit."""
    from rfpipe.training import _AdamStep

    paired = rotation_data(2, 180.0, 5.0, n_pairs=256, n_test=16, seed=0)
    for coupling, sigma, schedule, probe_batch in (("paired", 0.05, "cosine", "train"),
                                                   ("independent", 0.0, "constant", "fresh")):
        sampler = PairSampler(paired.train.x_0, paired.train.x_1, coupling)
        config = TrainConfig(steps=200, batch_size=BATCH, lr=3e-3, probe_every=10, lr_schedule=schedule,
                             probe_batch=probe_batch)
        out = []
        for lean in (False, True):
            _AdamStep.enabled = lean
            net = _model()
            result = train(net, sampler, Interpolant(sigma), config, seed=0)
            out.append((net.state_dict(), result.probes))
        _AdamStep.enabled = True
        (w0, p0), (w1, p1) = out
        same = all(torch.equal(w0[k], w1[k]) for k in w0) and str(p0) == str(p1)
        print(f"lean Adam step vs opt.step(), {coupling}, sigma {sigma}, {schedule} lr, probe {probe_batch}: "
              f"{'bit-identical' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit("the lean Adam step changed the numbers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per run")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (medians over rounds)")
    parser.add_argument("--check", action="store_true", help="first check the lean Adam step against opt.step()")
    args = parser.parse_args()
    if args.check:
        check_lean_adam()

    paired = rotation_data(2, 180.0, 5.0, n_pairs=256, n_test=16, seed=0)
    sampler = PairSampler(paired.train.x_0, paired.train.x_1, "paired")
    contenders: dict[str, Callable[[], None]] = {
        "rfpipe train, probe off": rfpipe_run(sampler, args.steps, 0),
        "torchcfm CFM loop, Adam fused (same optimiser)": torchcfm_run(sampler, args.steps, fused=True),
        "torchcfm CFM loop, Adam defaults (README)": torchcfm_run(sampler, args.steps, fused=False),
        "rfpipe train, probe every 10, fresh": rfpipe_run(sampler, args.steps, 10, "fresh"),
        "rfpipe train, probe every 10, train": rfpipe_run(sampler, args.steps, 10, "train"),
    }
    names = list(contenders)
    assert torch.get_num_threads() == 1, torch.get_num_threads()
    rfpipe_run(sampler, 20, 10, "fresh")()  # warm-up: allocator, lazy imports, kernels
    rfpipe_run(sampler, 20, 10, "train")()
    torchcfm_run(sampler, 20, True)()
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            contenders[name]()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)

    base, cfm = names[0], names[1]

    def ratio(a: str, b: str, times: dict[str, list[float]] = cpu) -> float:
        """Median over rounds of (steps/s of a) / (steps/s of b)."""
        return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))

    print(f"2-D rotation, MLP width {WIDTH}, depth {DEPTH}, batch {BATCH}, sigma {SIGMA} constant, Adam lr {LR}, "
          f"1 thread; {args.rounds} interleaved rounds of {args.steps} steps, medians; CPU time unless 'wall'")
    print(f"{'contender':48s} {'steps/s':>8s} {'vs torchcfm':>12s} {'vs rfpipe off':>14s} {'(wall)':>7s} "
          f"{'steps/s wall':>12s}")
    for name in names:
        rate = args.steps / statistics.median(cpu[name])
        print(f"{name:48s} {rate:8.0f} {ratio(name, cfm):12.3f} {ratio(name, base):14.3f} "
              f"{ratio(name, cfm, wall):7.3f} {args.steps / statistics.median(wall[name]):12.0f}")
    r = ratio(base, cfm)
    print(f"goal rfpipe/torchcfm >= 1.0 (probe off): {r:.3f} {'met' if r >= 1.0 else 'NOT met'}")
    for mode in ("fresh", "train"):
        # probes at steps 0, 10, ..., and for "fresh" one more after the last update: the overhead is counted per
        # probe and given for one probe every 10 steps (a run of 5,000 steps has 501 fresh probes, not 500)
        probes = -(-args.steps // 10) + (mode == "fresh")
        overhead = 100 * (1 / ratio(f"rfpipe train, probe every 10, {mode}", base) - 1) * (args.steps / 10) / probes
        print(f"goal probe overhead at every 10 steps <= 15 %, probe_batch={mode}: {overhead:.1f} % "
              f"{'met' if overhead <= 15 else 'NOT met'} ({probes} probes in {args.steps} steps)")


if __name__ == "__main__":
    main()
