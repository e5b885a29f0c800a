"""Benchmark: the cost of one gradient-variance probe, and of logging it during training.

Prints, side by side in one run (ratios are what count on a noisy machine):
- one probe of a batch of 256 on an MLP (width 256, depth 3, d = 2) by the naive per-sample loop, by
  torch.func vmap(grad), and by rfpipe's exact one-pass linear-layer kernel, each as a ratio to one plain
  training step (forward, backward, Adam) on a batch of 256;
- training throughput with the probe off and every 10 steps, and the overhead.

Run:  .venv/bin/python benchmarks/gradvar.py
"""

from __future__ import annotations

import statistics
import time

import torch

from rfpipe.couplings import AffineCoupling, PairSampler
from rfpipe.gradvar import grad_variance, per_sample_grads
from rfpipe.interpolants import Interpolant
from rfpipe.models import MLP
from rfpipe.training import TrainConfig, draw_batch, train

torch.set_num_threads(1)
WIDTH, DEPTH, BATCH = 256, 3, 256


def _time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    x_0 = torch.randn(4096, 2, generator=gen)
    sampler = PairSampler(x_0, AffineCoupling.rotation(2, 180, 5.0, torch.float32).transport(x_0), "paired")
    interp = Interpolant(0.05)
    torch.manual_seed(0)
    model = MLP(2, WIDTH, DEPTH)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    batch = draw_batch(sampler, interp, BATCH, gen, stratified=True)

    def step() -> None:
        b = draw_batch(sampler, interp, BATCH, gen)
        loss = ((model(b.x_t, b.t) - b.dx_t) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def naive() -> None:
        params = list(model.parameters())
        for i in range(BATCH):
            loss = ((model(batch.x_t[i:i + 1], batch.t[i:i + 1])[0] - batch.dx_t[i]) ** 2).sum()
            torch.autograd.grad(loss, params)

    t_step = _time(step, 50)
    rows = [("naive per-sample loop", _time(naive, 3)),
            ("torch.func vmap(grad)", _time(lambda: per_sample_grads(model, batch), 10)),
            ("rfpipe linear kernel (probe, 10 t-bins)", _time(lambda: grad_variance(model, batch, 10, "linear"), 30))]
    print(f"MLP width {WIDTH}, depth {DEPTH}, batch {BATCH}, 1 thread")
    print(f"{'':42s} {'ms':>8s} {'x train step':>13s}")
    print(f"{'one training step':42s} {t_step * 1e3:8.2f} {1.0:13.2f}")
    for name, t in rows:
        print(f"{name:42s} {t * 1e3:8.2f} {t / t_step:13.2f}")

    steps = 500
    results = {}
    for every, mode in ((0, "fresh"), (10, "fresh"), (10, "train")):
        config = TrainConfig(steps=steps, batch_size=BATCH, probe_every=every, probe_size=BATCH, t_bins=10,
                             probe_batch=mode)
        rates = []
        for _ in range(3):
            torch.manual_seed(0)
            net = MLP(2, WIDTH, DEPTH)
            start = time.perf_counter()
            train(net, sampler, interp, config, seed=0)
            rates.append(steps / (time.perf_counter() - start))
        results[every, mode] = statistics.median(rates)
    base = results[0, "fresh"]
    print(f"training: {base:.0f} steps/s without the probe (median of 3 runs of {steps} steps)")
    for mode in ("fresh", "train"):
        rate = results[10, mode]
        overhead = 100 * (base / rate - 1)
        print(f"  probing every 10 steps, probe_batch={mode}: {rate:.0f} steps/s, overhead {overhead:.1f} %")


if __name__ == "__main__":
    main()
