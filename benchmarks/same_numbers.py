"""Check that a speed change leaves rfpipe's numbers alone: train small models and probe them in many settings,
then save everything (``save``) or compare it bit for bit, signs of zeros included, with a saved file (``check``).

Covers ``rfpipe.training.train`` (weights, probe rows, final loss) for 2 couplings x 3 noise settings
(sigma 0, 0.05 constant, 0.1 brownian) x probe_batch fresh/train x constant/cosine lr (MLP width 64, 120 steps),
the benchmark's width-256 MLP, ``draw_batch`` outputs, and ``grad_variance`` (linear and vmap) and
``output_grad_variance`` on stratified batches.

Run the old code, then the new, e.g. with the package as of the commit before the change:

    mkdir /tmp/rfpipe-old && git archive <commit> rfpipe | tar -x -C /tmp/rfpipe-old
    PYTHONPATH=/tmp/rfpipe-old .venv/bin/python benchmarks/same_numbers.py save /tmp/ref.pt
    .venv/bin/python benchmarks/same_numbers.py check /tmp/ref.pt      # prints "identical" or what differs
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch

from rfpipe.couplings import PairSampler
from rfpipe.data import rotation_data
from rfpipe.gradvar import grad_variance, output_grad_variance
from rfpipe.interpolants import Interpolant
from rfpipe.models import MLP
from rfpipe.training import TrainConfig, draw_batch, train

torch.set_num_threads(1)


def outputs() -> dict[str, Any]:
    paired = rotation_data(2, 180.0, 5.0, 256, 16, 0)
    out: dict[str, Any] = {}
    for coupling in ("paired", "independent"):
        for sigma, noise in ((0.0, "constant"), (0.05, "constant"), (0.1, "brownian")):
            for probe_batch in ("fresh", "train"):
                for schedule in ("constant", "cosine"):
                    sampler = PairSampler(paired.train.x_0, paired.train.x_1, coupling)
                    torch.manual_seed(0)
                    net = MLP(2, 64, 3)
                    config = TrainConfig(steps=120, batch_size=64, lr=3e-3, probe_every=10, probe_size=64, t_bins=10,
                                         lr_schedule=schedule, probe_batch=probe_batch)
                    result = train(net, sampler, Interpolant(sigma, noise), config, seed=3)
                    out[f"train {coupling} {sigma} {noise} {probe_batch} {schedule}"] = {
                        "weights": net.state_dict(), "probes": result.probes, "final_loss": result.final_loss}
    sampler = PairSampler(paired.train.x_0, paired.train.x_1, "paired")
    for probe_batch in ("fresh", "train"):
        torch.manual_seed(0)
        net = MLP(2, 256, 3)
        result = train(net, sampler, Interpolant(0.05), TrainConfig(steps=60, batch_size=256, probe_every=10,
                                                                     probe_batch=probe_batch), seed=0)
        out[f"train width 256 {probe_batch}"] = {"weights": net.state_dict(), "probes": result.probes,
                                                 "final_loss": result.final_loss}
    gen = torch.Generator().manual_seed(5)
    for sigma, noise in ((0.0, "constant"), (0.05, "constant"), (0.3, "brownian")):
        batch = draw_batch(sampler, Interpolant(sigma, noise), 500, gen, stratified=True)
        out[f"batch {sigma} {noise}"] = {"t": batch.t, "x_t": batch.x_t, "dx_t": batch.dx_t}
        stats = (grad_variance(net, batch, 10) + grad_variance(net, batch, 7, "vmap")
                 + output_grad_variance(net, batch, 10))
        out[f"probe {sigma} {noise}"] = [vars(s) for s in stats]
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
                and torch.equal(torch.signbit(a), torch.signbit(b)))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("save", "check"):
        raise SystemExit("usage: same_numbers.py save|check FILE")
    mode, path = sys.argv[1:]
    out = outputs()
    if mode == "save":
        torch.save(out, path)
        print(f"saved {len(out)} cases to {path}")
        return
    ref = torch.load(path, weights_only=False)
    bad = [k for k in ref.keys() | out.keys() if k not in ref or k not in out or not same(ref[k], out[k])]
    print(f"identical ({len(out)} cases)" if not bad else f"DIFFERENT: {sorted(bad)}")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
