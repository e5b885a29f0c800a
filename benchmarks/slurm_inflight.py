"""Benchmark: N cells in flight on the local Slurm from one submit host (issue 17).

For each N of ``--cells``: N waiting processes, each ``rfpipe.launch.run`` of a toy Slurm job (``--sleep`` s of
work, one CPU; the node runs as many at once as it has CPUs, the rest pend: in flight all the same), started
together. ``sacct``, ``squeue`` and ``scontrol`` are wrapped first on PATH so that every call is counted.
Printed per N: controller queries per minute (all three commands, over the run), the largest total RSS of the
waiting processes sampled every 2 s, and the largest delay from a job's end (sacct's End, 1 s resolution) to its
waiting process returning. The status interval is ``RFPIPE_SLURM_SACCT_S`` (default 30 s, as in a real run).

This drives ``rfpipe.launch`` directly, not Snakemake (each Snakemake job of a cell is exactly such a waiting
process; Snakemake itself queries nothing with the local executor).

    bash .ci/start_slurm.sh && .venv/bin/python benchmarks/slurm_inflight.py [--cells 10 100 300] [--sleep 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAIT = r"""
import json, sys, time
from rfpipe import launch
work, log_dir, sleep = sys.argv[1], sys.argv[2], float(sys.argv[3])
job = launch.submit("rfpipe.launch:_selftest_resumable", {"progress": work + ".p", "calls": work + ".c",
                    "steps": 1, "step_s": sleep}, resources=launch.SlurmResources(mem_mb=200, time_min=10),
                    log_dir=log_dir)
launch.wait(job, "toy")
print(json.dumps({"job_id": job.job_id, "returned": time.time()}))
"""


def wrappers(folder: Path) -> None:
    """sacct, squeue, scontrol in ``folder``: each logs one line per call, then runs the real command."""
    folder.mkdir(parents=True)
    for name in ("sacct", "squeue", "scontrol"):
        real = shutil.which(name)
        script = folder / name
        script.write_text(f'#!/bin/bash\necho "{name} $(date +%s.%N)" >> "{folder}/calls.log"\nexec "{real}" "$@"\n')
        script.chmod(0o755)


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def end_time(job_id: str) -> float:
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "End"], capture_output=True, text=True)
    stamp = out.stdout.strip().splitlines()[-1]
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


def one(n: int, sleep: float, scratch: Path) -> dict[str, float]:
    folder = scratch / f"n{n}"
    wrappers(folder / "bin")
    env = {**os.environ, "PATH": f"{folder / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "RFPIPE_SLURM_STATUS_DIR": str(folder / "status")}
    env.pop("SLURM_JOB_ID", None)
    start = time.time()
    procs = [subprocess.Popen([sys.executable, "-c", WAIT, str(folder / f"w{i}"), str(folder / "logs"), str(sleep)],
                              env=env, stdout=subprocess.PIPE, text=True) for i in range(n)]
    peak = 0.0
    while any(p.poll() is None for p in procs):
        peak = max(peak, rss_mb([p.pid for p in procs if p.poll() is None]))
        time.sleep(2)
    wall = time.time() - start
    outs = [json.loads(p.stdout.read()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    delays = [o["returned"] - end_time(o["job_id"]) for o in outs]
    calls = (folder / "bin" / "calls.log").read_text().splitlines() if (folder / "bin" / "calls.log").exists() else []
    return {"cells": n, "wall_s": wall, "queries": len(calls), "queries_per_min": len(calls) / (wall / 60),
            "peak_rss_mb": peak, "rss_per_cell_mb": peak / n, "max_notice_s": max(delays)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--sleep", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rfpipe-inflight-") as tmp:
        rows = [one(n, args.sleep, Path(tmp)) for n in args.cells]
    print(f"status interval {os.environ.get('RFPIPE_SLURM_SACCT_S', '30')} s; toy jobs of {args.sleep:g} s")
    print(f"{'cells':>6} {'wall s':>7} {'queries':>8} {'per min':>8} {'peak RSS MB':>12} {'MB/cell':>8} "
          f"{'notice s':>9}")
    for r in rows:
        print(f"{r['cells']:>6} {r['wall_s']:>7.0f} {r['queries']:>8} {r['queries_per_min']:>8.2f} "
              f"{r['peak_rss_mb']:>12.0f} {r['rss_per_cell_mb']:>8.1f} {r['max_notice_s']:>9.1f}")


if __name__ == "__main__":
    main()
