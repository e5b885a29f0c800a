"""benchmarks/gpu_check.py, run as a user without a GPU runs it: the same code on the CPU at its tiny size, so
that the GPU path is known to run before any GPU time is spent on it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_the_cpu_at_its_tiny_size() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu",
                           "--autocast", "bf16"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["scale"] == "tiny" and out["settings"]["device"] == "cpu" and out["settings"]["tf32"] is False
    # the CPU is deterministic: the same seed gives the same weights, and "device" and "cpu" are one device
    assert out["same_seed_max_relative_difference"] == 0.0 and out["same_seed_agrees"] is True
    assert out["rotation_l2_to_partner"]["difference"] == 0.0
    assert out["image_steps_per_s"] > 0 and math.isfinite(out["probe_per_training_step"])
    assert out["peak_device_memory_mb"] is None
    assert out["pairs_on_device_once"] is False  # on the CPU the pairs are where they are
    # bf16 autocast ran: its weights are not float32's
    assert out["bf16"]["image_steps_per_s"] > 0 and 0 < out["bf16"]["max_relative_difference_from_float32"] < math.inf
