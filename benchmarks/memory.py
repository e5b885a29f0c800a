"""Benchmark: peak memory of a training cell and of the submit host per in-flight Slurm cell, in one table.

Each row is a fresh Python process; its peak resident set is ``ru_maxrss`` (``resource.getrusage``, read by the
process itself at its end):

- a training cell: ``rfpipe.pipeline.train_cell`` on the first cell of the ``rotation`` experiment of
  config/config.yaml (its default settings: MLP width 128, depth 3, 256 pairs, batch 256, 5,000 steps, a probe
  every 100 steps), its data written beforehand by the kind's ``jobs.prepare_data`` in another process, 1 torch thread;
- the process that submits one cell to Slurm through ``rfpipe.launch`` and waits for it (what
  ``snakemake --profile slurm`` keeps on the submit host per in-flight cell; the code of
  benchmarks/submit_memory.py). Needs a running Slurm (``bash .ci/start_slurm.sh``), else the row says n/a;
- for scale: a process that only imports ``rfpipe.pipeline`` (torch and the training code), and a bare Python.

Run:  .venv/bin/python benchmarks/memory.py [--steps N]   (--steps shortens the training cell)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit_memory import SUBMIT  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAXRSS = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"

SETTINGS = """
import json, sys
from rfpipe.config import load_config
from rfpipe.sweep import Sweep
cell = next(iter(Sweep(load_config(sys.argv[1])).experiments["rotation"].cells.values()))
print(json.dumps({"path": cell.path, "settings": cell.settings}))
"""
PREPARE = """
import json, sys
from rfpipe.kinds.rotation.jobs import prepare_data
from rfpipe.pipeline import cell_settings
prepare_data(cell_settings(json.loads(sys.argv[1])).data, sys.argv[2])
"""
TRAIN = """
import json, sys
from rfpipe.pipeline import cell_settings, log_to, train_cell
settings = cell_settings(json.loads(sys.argv[1]))
with log_to(sys.argv[2] + "/train.log", threads=1):
    train_cell(settings, sys.argv[2] + "/data.pt", sys.argv[2] + "/model.pt", sys.argv[2] + "/gradvar.parquet")
"""


def python(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def peak_mb(code: str, *args: str) -> float:
    return float(python(code + MAXRSS, *args))


def slurm_up() -> bool:
    sinfo = shutil.which("sinfo")
    return sinfo is not None and subprocess.run([sinfo, "-h"], capture_output=True, timeout=20).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps of the cell (default: the config's)")
    args = parser.parse_args()

    cell = json.loads(python(SETTINGS, str(ROOT / "config" / "config.yaml")))
    settings = cell["settings"]
    if args.steps is not None:
        settings["steps"] = args.steps
    rows: list[tuple[str, float | None, str]] = []
    with tempfile.TemporaryDirectory(prefix="rfpipe-memory-") as tmp:
        python(PREPARE, json.dumps(settings), tmp + "/data.pt")
        start = time.perf_counter()
        train_mb = peak_mb(TRAIN, json.dumps(settings), tmp)
        seconds = time.perf_counter() - start
    rows.append((f"training cell (train_cell, rotation {cell['path']})", train_mb,
                 f"width {settings['width']}, {settings['steps']} steps, {seconds:.0f} s"))
    if slurm_up():
        rows.append(("submit host: submit one cell to Slurm and wait", peak_mb(SUBMIT), "rfpipe.launch, per cell"))
    else:
        rows.append(("submit host: submit one cell to Slurm and wait", None, "n/a: no Slurm (.ci/start_slurm.sh)"))
    rows.append(("import rfpipe.pipeline only (torch, training code)", peak_mb("import rfpipe.pipeline"), "for scale"))
    rows.append(("bare python", peak_mb("pass"), "for scale"))

    print(f"{'process':70s} {'peak RSS MB':>12s}  note")
    for name, mb, note in rows:
        print(f"{name:70s} {'n/a' if mb is None else f'{mb:.1f}':>12s}  {note}")


if __name__ == "__main__":
    main()
