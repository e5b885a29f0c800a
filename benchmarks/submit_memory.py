"""Benchmark: memory of the submit-host process that waits for one training cell on Slurm.

Prints the peak resident set (VmHWM) of three fresh processes, measured in the same run:
- a process that submits a cell through rfpipe.launch (executor slurm) and waits for it: what
  `snakemake --profile slurm` keeps per in-flight cell (a cell rule's script, workflow/scripts/cell.py, imports
  rfpipe.launch only);
- a process that only imports rfpipe.pipeline (torch and the training code): what a waiting process
  would cost if it imported the training code;
- a bare Python process, for scale.

Needs a working Slurm (`bash .ci/start_slurm.sh`). Run:  .venv/bin/python benchmarks/submit_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

PEAK = "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)"

SUBMIT = """
import sys, tempfile
from rfpipe.launch import SlurmResources, run
d = tempfile.mkdtemp()
run("rfpipe.launch:_selftest", {"path": d + "/ok"}, executor="slurm",
    resources=SlurmResources(mem_mb=200, time_min=5), log_dir=d + "/logs")
assert "torch" not in sys.modules
"""


def peak_mb(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code + "\n" + PEAK], capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = [("submit and wait for one cell (rfpipe.launch, slurm)", peak_mb(SUBMIT)),
            ("import rfpipe.pipeline (torch, training code)", peak_mb("import rfpipe.pipeline")),
            ("bare python", peak_mb("pass"))]
    base = rows[1][1]
    print(f"{'process':55s} {'peak RSS MB':>12s} {'x torch import':>15s}")
    for name, mb in rows:
        print(f"{name:55s} {mb:12.1f} {mb / base:15.2f}")
    print(f"goal: <= 100 MB per in-flight cell: {'met' if rows[0][1] <= 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
