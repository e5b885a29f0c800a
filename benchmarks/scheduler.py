"""Benchmark: Snakemake's own CPU time under its two schedulers (``--scheduler ilp``, the default, and ``greedy``).

Runs the whole workflow on a config (default ``config/test.yaml``) once per scheduler, each in a fresh copy of the
workflow, and prints per scheduler: the wall time, the CPU seconds of the Snakemake process itself (its own
``getrusage(RUSAGE_SELF)``: planning, scheduling, polling; the jobs run in child processes and are not counted),
those of its jobs (``RUSAGE_CHILDREN``), and whether every output file is byte-identical between the two runs (the
scheduler orders jobs; it must change no number). The machine's one-training-step time
(benchmarks/gradvar.py's MLP) is printed beside them for scale.

    .venv/bin/python benchmarks/scheduler.py [--configfile config/test.yaml] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from time_features import reference_step_ms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from workflow_copy import copy_workflow  # noqa: E402  (the tests' copy of a workflow checkout)

RUN = r"""
import atexit, json, resource, sys
def report():
    own, jobs = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write("RUSAGE " + json.dumps({"own_cpu_s": own.ru_utime + own.ru_stime,
                                            "jobs_cpu_s": jobs.ru_utime + jobs.ru_stime}) + "\n")
atexit.register(report)
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def run(scheduler: str, config: Path, cores: int, work: Path) -> tuple[dict[str, float], dict[str, bytes]]:
    copy_workflow(work, configs=False)
    (work / "config").mkdir(exist_ok=True)
    (work / "config" / "run.yaml").write_text(config.read_text())
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN, "--cores", str(cores), "--scheduler", scheduler,
                           "--configfile", "config/run.yaml"], cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"snakemake --scheduler {scheduler} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stderr.splitlines() if x.startswith("RUSAGE "))
    figures = {"wall_s": wall, **json.loads(line.removeprefix("RUSAGE "))}
    results = work / "results"
    outputs = {str(p.relative_to(results)): p.read_bytes() for p in sorted(results.rglob("*"))
               if p.suffix in (".csv", ".parquet", ".pt", ".md", ".tex")}
    return figures, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", type=Path, default=ROOT / "config" / "test.yaml")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    rows, outputs = {}, {}
    with tempfile.TemporaryDirectory(prefix="rfpipe-scheduler-") as tmp:
        for scheduler in ("ilp", "greedy"):
            rows[scheduler], outputs[scheduler] = run(scheduler, args.configfile.resolve(), args.cores,
                                                      Path(tmp) / scheduler)
    same = outputs["ilp"] == outputs["greedy"]
    print(f"config {args.configfile}, --cores {args.cores}: {len(outputs['ilp'])} output files, "
          f"byte-identical between the schedulers: {same}")
    print(f"{'scheduler':>9}  {'wall s':>7}  {'snakemake cpu s':>15}  {'jobs cpu s':>10}  {'snakemake share':>15}")
    for name, r in rows.items():
        share = r["own_cpu_s"] / (r["own_cpu_s"] + r["jobs_cpu_s"])
        print(f"{name:>9}  {r['wall_s']:7.1f}  {r['own_cpu_s']:15.1f}  {r['jobs_cpu_s']:10.1f}  {share:15.1%}")
    print(f"one training step of benchmarks/gradvar.py's MLP on this machine: {reference_step_ms():.2f} ms")


if __name__ == "__main__":
    main()
