"""GPU check (issue 17): is the GPU path sound, before anyone spends GPU time on a sweep? Under 5 minutes on one GPU.

1. The paper-scale image network (``config/paper.yaml``'s ``images`` UNet: channels 64, mults 1-2-2-2, emb 256,
   CelebA-shaped 3 x 64 x 64 random data, batch 128) trained ``--steps`` steps on ``--device``: steps/s, peak
   device memory, the time of one gradient-variance probe against one training step, and whether two runs
   with the same seed give the same weights (to ``--tolerance``, relative, largest over parameters: GPU kernels
   such as cuDNN's convolutions may sum in another order from run to run; on the CPU they agree exactly).
2. One rotation cell (the default config's network and data, ``--rotation-steps`` steps) trained on
   ``--device`` and on the CPU from the same seed: the L2 of the training sources' endpoints to their partners
   and its difference between the two devices (batches are drawn on the CPU either way, so only the
   arithmetic differs).

Settings stated: ``torch.backends.cudnn.benchmark = False`` and TF32 off for matmuls and convolutions (exact
float32, as the CPU), printed with the run. Without a GPU the same code runs on the CPU at a tiny size
(``--tiny``: a 16 x 16 UNet of 8 channels, a few steps), which is what ``tests/test_benchmarks.py`` checks.

    .venv/bin/python benchmarks/gpu_check.py                 # cuda if there is one, else --tiny on the CPU
    .venv/bin/python benchmarks/gpu_check.py --device cuda --steps 200 --autocast bf16

On a GPU the training pairs are moved to it once per cell when they take at most a quarter of its memory
(``pairs_on_device_once``; ``rfpipe.training.resident``), else each batch is moved.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import torch

from rfpipe.couplings import PairSampler
from rfpipe.data import rotation_data
from rfpipe.interpolants import Interpolant
from rfpipe.metrics import l2
from rfpipe.models import MLP
from rfpipe.sampling import integrate
from rfpipe.training import TrainConfig, resident, train
from rfpipe.unet import UNet


@dataclass(frozen=True)
class ImageScale:
    resolution: int
    channels: int
    channel_mults: tuple[int, ...]
    emb_dim: int
    batch_size: int
    n_pairs: int


PAPER = ImageScale(64, 64, (1, 2, 2, 2), 256, 128, 512)
TINY = ImageScale(16, 8, (1, 2), 16, 8, 32)


def settings(device: torch.device) -> dict[str, object]:
    """The numerics settings of the run (stated, so that a reader knows what the numbers mean)."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return {"device": str(device), "torch": torch.__version__, "cudnn.benchmark": False, "tf32": False,
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}


def image_run(scale: ImageScale, device: torch.device, steps: int, probe_every: int, seed: int = 0,
              autocast: str = "none") -> tuple[dict[str, torch.Tensor], float]:
    """Train the UNet ``steps`` steps on random CelebA-shaped pairs; its weights (on the CPU) and seconds."""
    gen = torch.Generator().manual_seed(seed)
    shape = (scale.n_pairs, 3, scale.resolution, scale.resolution)
    x_0, x_1 = torch.randn(shape, generator=gen), torch.rand(shape, generator=gen) * 2 - 1
    torch.manual_seed(seed)
    net = UNet(3, scale.channels, scale.channel_mults, scale.emb_dim).to(device)
    config = TrainConfig(steps=steps, batch_size=scale.batch_size, lr=2e-4, probe_every=probe_every, probe_size=32,
                         t_bins=4, autocast=autocast)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    train(net, PairSampler(x_0, x_1, "paired"), Interpolant(0.05), config, seed=seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}, time.perf_counter() - start


def largest_relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max() / b[k].double().abs().max().clamp_min(1e-12))
               for k in a if a[k].is_floating_point())


def rotation_run(device: torch.device, steps: int, seed: int = 0) -> float:
    """The default rotation cell's network trained on ``device``: mean L2 of the training endpoints to their
    partners at 31 Euler steps."""
    paired = rotation_data(2, 180.0, 5.0, 256, 16, seed)
    torch.manual_seed(seed)
    net = MLP(2, 128, 3, "silu", 16).to(device)
    train(net, PairSampler(paired.train.x_0, paired.train.x_1, "paired"), Interpolant(0.0),
          TrainConfig(steps=steps, batch_size=256, lr=3e-3, lr_schedule="cosine"), seed=seed)
    with torch.no_grad():
        end = integrate(net, paired.train.x_0.to(device), 31, "euler").x_1.cpu()
    return float(l2(end, paired.train.x_1).mean())


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="a tiny UNet (the default without a GPU)")
    parser.add_argument("--steps", type=int, default=None, help="image steps (100; tiny: 4)")
    parser.add_argument("--rotation-steps", type=int, default=None, help="rotation steps (2000; tiny: 50)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--autocast", choices=("none", "bf16"), default="none",
                        help="bf16: also train the UNet under bf16 autocast (the images' `autocast` key): its steps/s, "
                             "speed-up over float32 and largest relative weight difference from the float32 run")
    args = parser.parse_args()
    device = torch.device(args.device)
    tiny = args.tiny or device.type == "cpu"
    scale = TINY if tiny else PAPER
    steps = args.steps or (4 if tiny else 100)
    rotation_steps = args.rotation_steps or (50 if tiny else 2000)
    out: dict[str, object] = {"settings": settings(device), "scale": "tiny" if tiny else "paper"}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    first, _ = image_run(scale, device, steps, probe_every=0)  # also the warm-up: timed below, once warm
    second, seconds = image_run(scale, device, steps, probe_every=0)
    out["image_steps_per_s"] = steps / seconds
    shape = (scale.n_pairs, 3, scale.resolution, scale.resolution)
    out["pairs_on_device_once"] = resident(PairSampler(torch.empty(shape), torch.empty(shape), "paired"),
                                           device) is not None
    out["peak_device_memory_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                                    else None)
    out["same_seed_max_relative_difference"] = largest_relative_difference(first, second)
    out["same_seed_agrees"] = out["same_seed_max_relative_difference"] <= args.tolerance
    if args.autocast == "bf16":
        mixed, mixed_seconds = image_run(scale, device, steps, probe_every=0, autocast="bf16")
        out["bf16"] = {"image_steps_per_s": steps / mixed_seconds, "speedup": seconds / mixed_seconds,
                       "max_relative_difference_from_float32": largest_relative_difference(mixed, first)}
    _, probed = image_run(scale, device, steps, probe_every=1)
    out["probe_per_training_step"] = (probed - seconds) / seconds  # every step probed: its extra cost per step
    here, cpu = rotation_run(device, rotation_steps), rotation_run(torch.device("cpu"), rotation_steps)
    out["rotation_l2_to_partner"] = {"device": here, "cpu": cpu, "difference": abs(here - cpu)}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
