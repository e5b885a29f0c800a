"""rfpipe.launch against a real Slurm cluster (start one with `.ci/start_slurm.sh`, stop it with
`.ci/stop_slurm.sh`).

Without a working cluster (`sinfo` and `sacct` fail) the module is skipped, unless RFPIPE_REQUIRE_SLURM=1
(as in CI): then it fails, so that a broken cluster never passes as "skipped".

The requeue tests cost over 2 minutes each (Slurm holds a requeued job about 121 s before it runs again) and the
`--profile slurm` end-to-end run about 2 minutes: they are marked `slow` and run with `make test-slow`
(`pytest -m slow`), as in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rfpipe import launch
from rfpipe.launch import LaunchError, SlurmResources, run

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("RFPIPE_REQUIRE_SLURM") == "1"
RSS_LIMIT_MB = 100


def _slurm_problem() -> str | None:
    """None if `sinfo` and `sacct` answer, else what is wrong (`scontrol ping` first: it answers at once when
    no controller runs, where `sinfo` waits about 9 s)."""
    for cmd in (["scontrol", "ping"], ["sinfo", "-h", "-o", "%P %a %T"], ["sacct", "-n", "-X", "-S", "now-1minutes"]):
        if shutil.which(cmd[0]) is None:
            return f"{cmd[0]} not found"
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} timed out"
        if proc.returncode != 0:
            text = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[0]
            return f"{' '.join(cmd)} failed: {text[:300]}"
    return None


_PROBLEM = _slurm_problem()
if _PROBLEM is not None:
    if REQUIRED:
        pytest.fail(f"RFPIPE_REQUIRE_SLURM=1 but there is no working Slurm cluster: {_PROBLEM}", pytrace=False)
    pytest.skip(f"no working Slurm cluster ({_PROBLEM}); start one with .ci/start_slurm.sh",
                allow_module_level=True)


@pytest.fixture(autouse=True)
def _not_in_an_allocation(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)  # else run() would not submit


def _sacct_state(job_id: str, timeout: float = 30) -> str:
    """The job's final state in sacct (the result file can appear while the job is still ending)."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"], capture_output=True, text=True)
        state = out.stdout.strip()
        if state not in ("", "PENDING", "RUNNING", "COMPLETING", "REQUEUED") or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def test_trivial_target_runs_as_a_slurm_job(tmp_path):
    out = tmp_path / "out.json"
    start = time.monotonic()
    run("rfpipe.launch:_selftest", {"path": str(out), "text": "from slurm"}, executor="slurm",
        resources=SlurmResources(cpus=1, mem_mb=500, time_min=5), log_dir=tmp_path / "logs",
        job_name="rfpipe-test")
    elapsed = time.monotonic() - start
    info = json.loads(out.read_text())
    assert info["text"] == "from slurm"
    assert info["slurm_job_id"]  # it ran in a Slurm job ...
    assert info["pid"] != os.getpid()  # ... not here
    assert _sacct_state(info["slurm_job_id"]) == "COMPLETED"
    assert list((tmp_path / "logs").glob(f"{info['slurm_job_id']}_0_log.out"))
    print(f"trivial Slurm job {info['slurm_job_id']}: {elapsed:.1f} s from submission to result")


def test_bad_partition_fails_fast_with_sbatchs_message(tmp_path, monkeypatch):
    """A refusal is not retried: sbatch runs once, and its message names the partition."""
    sbatch = _wrapper(tmp_path / "bin", "sbatch")
    monkeypatch.setenv("PATH", f"{sbatch.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(LaunchError) as info:
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "never")}, executor="slurm",
            resources=SlurmResources(partition="no_such_partition"), log_dir=tmp_path / "logs")
    message = str(info.value)
    assert "no_such_partition" in message
    assert "invalid partition" in message.lower()
    assert len((tmp_path / "bin" / "sbatch.calls").read_text().splitlines()) == 1
    assert not (tmp_path / "never").exists()


def test_over_limit_resources_fail_fast(tmp_path, monkeypatch):
    """More CPUs or memory than the node has: refused by sbatch at once (one call each), with its message."""
    sbatch = _wrapper(tmp_path / "bin", "sbatch")
    monkeypatch.setenv("PATH", f"{sbatch.parent}{os.pathsep}{os.environ['PATH']}")
    cpus = os.cpu_count() or 1
    with pytest.raises(LaunchError, match="More processors requested than permitted"):
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "never")}, executor="slurm",
            resources=SlurmResources(cpus=cpus * 64), log_dir=tmp_path / "logs")
    with pytest.raises(LaunchError, match="Memory specification can not be satisfied"):
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "never")}, executor="slurm",
            resources=SlurmResources(mem_mb=100_000_000), log_dir=tmp_path / "logs")
    assert len((tmp_path / "bin" / "sbatch.calls").read_text().splitlines()) == 2


def test_failing_target_raises_launch_error_with_the_jobs_traceback(tmp_path):
    with pytest.raises(LaunchError) as info:
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "x"), "fail": "deliberate failure 42"},
            executor="slurm", resources=SlurmResources(mem_mb=500, time_min=5), log_dir=tmp_path / "logs")
    message = str(info.value)
    assert "RuntimeError: deliberate failure 42" in message
    assert "Traceback" in message


def test_missing_function_is_reported_from_the_job(tmp_path):
    with pytest.raises(LaunchError, match="module 'rfpipe.launch' has no attribute 'no_such_function'"):
        run("rfpipe.launch:no_such_function", {}, executor="slurm", resources=SlurmResources(mem_mb=500),
            log_dir=tmp_path / "logs")


def test_cancelled_job_is_reported_not_waited_for_forever(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "SACCT_EVERY_S", 2.0)
    job = launch.submit("rfpipe.launch:_selftest_resumable",
                        {"progress": str(tmp_path / "p"), "calls": str(tmp_path / "c"), "steps": 600, "step_s": 1},
                        resources=SlurmResources(mem_mb=500, time_min=15), log_dir=tmp_path / "logs")
    _wait_for_lines(tmp_path / "p", 1, job)
    subprocess.run(["scancel", job.job_id], check=True)
    start = time.monotonic()
    with pytest.raises(LaunchError, match="CANCELLED"):
        launch.wait(job, "the cancelled job")
    assert time.monotonic() - start < 30


RSS_SCRIPT = r"""
import json, sys, time
from rfpipe import launch
launch.SACCT_EVERY_S = 1.0   # exercise the sacct polling too
progress, calls, log_dir = sys.argv[1:4]
start = time.monotonic()
launch.run("rfpipe.launch:_selftest_resumable", {"progress": progress, "calls": calls, "steps": 8, "step_s": 0.5},
           executor="slurm", resources=launch.SlurmResources(mem_mb=500, time_min=5), log_dir=log_dir)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print(json.dumps({
    "vmhwm_mb": int(status["VmHWM"].split()[0]) / 1024,
    "torch_imported": "torch" in sys.modules,
    "wait_s": time.monotonic() - start,
}))
"""


def test_submitting_process_stays_small_while_waiting(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SLURM_JOB_ID", None)
    proc = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(tmp_path / "p"), str(tmp_path / "c"),
                           str(tmp_path / "logs")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # VmHWM is this process's own peak. (ru_maxrss is not used: Linux carries it over execve, so a child
    # of this pytest process, which holds torch, inherits pytest's peak.)
    print(f"submit-side peak RSS while waiting: VmHWM {result['vmhwm_mb']:.1f} MB over {result['wait_s']:.1f} s "
          f"(limit {RSS_LIMIT_MB} MB)")
    assert (tmp_path / "p").read_text().split() == [str(i) for i in range(8)]
    assert result["torch_imported"] is False
    assert result["vmhwm_mb"] <= RSS_LIMIT_MB


def _wait_for_lines(path: Path, n: int, job, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        if job.done(force_check=True):
            pytest.fail(f"job {job.job_id} ended before writing {n} lines to {path}: {job.state}")
        time.sleep(0.2)
    pytest.fail(f"job {job.job_id} wrote fewer than {n} lines to {path} in {timeout} s")


@pytest.mark.slow  # > 2 min: Slurm holds a requeued job ~121 s
def test_preempted_job_is_requeued_and_resumes(tmp_path):
    """Interrupt a running job as a preemption would; submitit requeues it; the target resumes.

    Slurm holds a requeued job ~121 s (Reason=BeginTime) before it runs again: this test takes > 2 min.
    """
    progress, calls = tmp_path / "progress", tmp_path / "calls"
    steps = 20
    start = time.monotonic()
    job = launch.submit("rfpipe.launch:_selftest_resumable",
                        {"progress": str(progress), "calls": str(calls), "steps": steps, "step_s": 0.5},
                        resources=SlurmResources(mem_mb=500, time_min=10), log_dir=tmp_path / "logs")
    _wait_for_lines(progress, 3, job)
    job._interrupt()  # SIGTERM then USR2, as Slurm does on preemption
    interrupted_at = len(progress.read_text().splitlines())
    launch.wait(job, "the requeued job")
    elapsed = time.monotonic() - start

    assert progress.read_text().split() == [str(i) for i in range(steps)]  # none missing, none twice
    records = [json.loads(line) for line in calls.read_text().splitlines()]
    assert len(records) == 2, records  # called once, then once more after the requeue
    assert [r["restart"] for r in records] == ["0", "1"]
    assert {r["slurm_job_id"] for r in records} == {job.job_id}  # the same job, requeued
    assert interrupted_at < steps
    assert _sacct_state(job.job_id) == "COMPLETED"
    log_out = "".join(p.read_text() for p in (tmp_path / "logs").glob(f"{job.job_id}_0_log.*"))
    assert "requeued (#1)" in log_out
    print(f"requeue: interrupted after {interrupted_at}/{steps} steps; finished in {elapsed:.0f} s")


@pytest.mark.slow  # about 2 min: two Snakemake runs of config/test.yaml
def test_profile_slurm_end_to_end_equals_local(tmp_path: Path) -> None:
    """`snakemake --profile slurm` on a tiny grid runs every job that trains, pairs or computes as a Slurm job
    (each training cell, the Gaussian-variance experiment's chunk, the ReFlow pairs of an image cell, the image
    data with its OT pairing) and its Parquet, pair and data files are byte-identical to those of the local
    profile."""
    import shutil

    import yaml

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config/test.yaml").read_text())
    rotation, gaussian, images = (config["experiments"][k] for k in ("rotation", "gaussian", "images"))
    rotation["grid"]["seed"] = [0]
    images["grid"] = {"sigma": [0.0], "coupling": ["independent", "reflow"], "seed": [0]}
    config["experiments"] = {"rotation": rotation, "gaussian": gaussian, "images": images}
    jobs = {"rotation": 4, "gaussian": 1, "images": 5}  # cells; the chunk; 2 cells, 1 reflow_pairs, 2 data
    outputs = {}
    for name, extra in (("local", []), ("slurm", ["--profile", "slurm"])):
        work = tmp_path / name
        work.mkdir()
        shutil.copy(root / "Snakefile", work / "Snakefile")
        for folder in ("workflow", "slurm"):
            shutil.copytree(root / folder, work / folder, symlinks=True)
        (work / "config").mkdir()
        (work / "config/tiny.yaml").write_text(yaml.safe_dump(config))
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/tiny.yaml",
                               *extra], cwd=work, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        results = work / config["results_dir"]
        outputs[name] = {p.relative_to(results): p.read_bytes() for p in sorted(results.rglob("*"))
                         if p.suffix == ".parquet" or p.name in ("reflow_pairs.pt", "data.pt")}
        for experiment, count in jobs.items():
            submissions = list((results / experiment / "logs" / "slurm").rglob("*_submission.sh"))
            assert len(submissions) == (count if name == "slurm" else 0), (name, experiment)
    assert outputs["local"].keys() == outputs["slurm"].keys()
    assert any(p.name == "reflow_pairs.pt" for p in outputs["local"]) and any(p.name == "variance.parquet"
                                                                              for p in outputs["local"])
    for rel, data in outputs["local"].items():
        assert outputs["slurm"][rel] == data, rel


def _requeue_cell(tmp_path: Path, steps: int) -> tuple[dict, dict[str, dict]]:
    """A small rotation cell's settings, its data in ``tmp_path``, and the job files of two runs of it:
    ``plain`` (trained here, uninterrupted) and ``requeued`` (for a Slurm job that is stopped and requeued)."""
    from rfpipe import kinds
    from rfpipe.config import validate_config
    from rfpipe.pipeline import cell_job, data_job
    from rfpipe.sweep import Sweep

    exp = {"kind": "rotation", "grid": {"sigma": [0.05], "coupling": ["rotated"], "seed": [0]}, "n_pairs": 64,
           "n_test": 16, "width": 64, "depth": 2, "steps": steps, "batch_size": 64, "probe_every": 100,
           "t_bins": 4, "checkpoint_every": 500, "solver_steps": [3]}
    experiment = Sweep(validate_config({"experiments": {"r": exp}})).experiments["r"]
    cell = next(iter(experiment.cells.values()))
    data = tmp_path / "data.pt"
    data_job(experiment.data_settings(cell.data_path), {}, str(data))
    outputs = kinds.get("rotation").cell_outputs  # every file of the cell's job
    files = {name: {"settings": dict(cell.settings), "inputs": {"data": str(data)},
                    "outputs": {k: str(tmp_path / name / f) for k, f in outputs.items()},
                    "checkpoint": str(tmp_path / name / "state.pt"), "log": str(tmp_path / name / "train.log")}
             for name in ("plain", "requeued")}
    for name in files:
        (tmp_path / name).mkdir()
    cell_job(**files["plain"])
    return files["plain"], files["requeued"]


def _assert_requeued_cell_equals_plain(plain: dict, requeued: dict, steps: int, log_out: str) -> None:
    """The requeued job ran twice, the second time resumed from the checkpoint, and ended with the same weights,
    gradient-variance log and loss record as the uninterrupted run (no step missing, none twice)."""
    import pyarrow.parquet as pq
    import torch

    assert "requeues so far: 1" in log_out  # the same job ran a second time
    assert "resumed from" in Path(requeued["log"]).read_text().splitlines()[0]
    a, b = (pq.read_table(f["outputs"]["gradvar"]) for f in (plain, requeued))
    assert b.equals(a)
    convergence = [pq.read_table(f["outputs"]["convergence"]) for f in (plain, requeued)]
    assert convergence[0].equals(convergence[1])  # every step's loss came through the requeue
    whole = [s for s, t_bin in zip(b.column("step").to_pylist(), b.column("t_bin").to_pylist()) if t_bin is None]
    assert whole == list(range(0, steps, 100))  # the training batch before each probed step's update
    wa, wb = (torch.load(f["outputs"]["model"], weights_only=True)["state_dict"] for f in (plain, requeued))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not Path(requeued["checkpoint"]).exists()


def _job_log(log_dir: Path, job) -> str:
    return "".join(p.read_text() for p in log_dir.glob(f"{job.job_id}_0_log.*"))


@pytest.mark.slow  # > 2 min: Slurm holds a requeued job ~121 s
def test_training_cell_requeued_equals_uninterrupted(tmp_path):
    """A training cell interrupted after its first checkpoint is requeued by submitit, resumes, and ends with
    the same weights and the same gradient-variance log (no duplicated, no missing steps) as a cell trained
    without interruption. Slurm holds a requeued job ~121 s: this test takes > 2 min."""
    steps = 6000
    plain, requeued = _requeue_cell(tmp_path, steps)
    job = launch.submit("rfpipe.pipeline:cell_job", requeued, resources=SlurmResources(mem_mb=1500, time_min=10),
                        log_dir=tmp_path / "logs")
    deadline = time.monotonic() + 180
    while not Path(requeued["checkpoint"]).exists():
        assert not job.done(force_check=True), f"job ended before its first checkpoint: {job.state}"
        assert time.monotonic() < deadline, "no checkpoint written in 180 s"
        time.sleep(0.1)
    job._interrupt()
    launch.wait(job, "the requeued training cell")
    _assert_requeued_cell_equals_plain(plain, requeued, steps, _job_log(tmp_path / "logs", job))


@pytest.mark.slow  # > 2 min: Slurm holds a requeued job ~121 s
def test_training_cell_stopped_by_its_time_limit_is_requeued_and_equals_uninterrupted(tmp_path,
                                                                                     monkeypatch):
    """A training cell's job with a 1-minute ``--time`` is held after its first checkpoint until the time limit's
    signal comes; submitit counts it as a time-out and requeues the job, which resumes and ends equal to an
    uninterrupted run. Nothing but Slurm stops it (no private submitit call, no scancel).

    Slurm signals a job when its periodic check (every 30 s) finds it within ``signal_delay_s`` + 30 s of its
    limit: at 10 s, between 20 and 50 s after each start. A resumed attempt signalled before it ends is requeued
    again and resumes from a later checkpoint (each attempt gets at least 20 s: more than 500 steps), so the
    outcome does not depend on the machine's speed; only the number of requeues (1, up to 3) does. Takes about
    3 min per requeue (~121 s of it Slurm's hold)."""
    steps = 3000  # the resumed attempt's 2,500 steps take ~6 s at 2.5 ms a step, inside its 20 s or more
    plain, requeued = _requeue_cell(tmp_path, steps)
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    hold = tmp_path / "held"
    job = launch.submit("held_targets:cell_job_held_after_first_checkpoint", {"hold": str(hold), **requeued},
                        resources=SlurmResources(mem_mb=1500, time_min=1, signal_delay_s=10),
                        log_dir=tmp_path / "logs")
    launch.wait(job, "the training cell stopped by its time limit")
    log_out = _job_log(tmp_path / "logs", job)
    assert hold.read_text().splitlines() == ["0"]  # the first attempt held; the requeued one resumed, unheld
    assert "Caught signal SIGUSR2" in log_out and "this job is timed-out" in log_out
    script = (tmp_path / "logs" / f"{job.job_id}_submission.sh").read_text()
    assert "#SBATCH --time=1\n" in script and "#SBATCH --signal=USR2@10\n" in script
    _assert_requeued_cell_equals_plain(plain, requeued, steps, log_out)
    assert _sacct_state(job.job_id) == "COMPLETED"


BUSY = "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"


def _wrapper(folder: Path, name: str, fail_first: int = 0, message: str = BUSY) -> Path:
    """``folder/name``: logs each call to ``folder/name.calls``; its first ``fail_first`` calls print ``message``
    and exit 1 (a busy controller), the later ones run the real command."""
    real = shutil.which(name)
    assert real, name
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> "{folder}/{name}.calls"\n'
                      f'n=$(wc -l < "{folder}/{name}.calls")\n'
                      f'if [ "$n" -le {fail_first} ]; then echo "{message}" >&2; exit 1; fi\n'
                      f'exec "{real}" "$@"\n')
    script.chmod(0o755)
    return script


def test_two_jobs_in_flight_share_one_poller_one_cancelled_one_finished(tmp_path):
    """Two cells waited for at once through one status board: the finished one returns its result, the cancelled
    one is reported with Slurm's state within 30 s; every status query asked for both jobs while both waited,
    and there was at most one query per interval (not one per job)."""
    from threading import Thread

    from rfpipe.poller import StatusBoard

    sacct = _wrapper(tmp_path / "bin", "sacct")
    board = StatusBoard(tmp_path / "board", interval_s=2.0, command=[str(sacct), "-n", "-P", "-X", "-o",
                                                                      "JobID,State"])
    long = launch.submit("rfpipe.launch:_selftest_resumable",
                         {"progress": str(tmp_path / "p"), "calls": str(tmp_path / "c"), "steps": 600, "step_s": 1},
                         resources=SlurmResources(mem_mb=500, time_min=15), log_dir=tmp_path / "logs")
    short = launch.submit("rfpipe.launch:_selftest_resumable",
                          {"progress": str(tmp_path / "q"), "calls": str(tmp_path / "d"), "steps": 3, "step_s": 1},
                          resources=SlurmResources(mem_mb=500, time_min=15), log_dir=tmp_path / "logs")
    outcome: dict[str, object] = {}

    def wait(name, job):
        try:
            outcome[name] = launch.wait(job, name, board=board)
        except LaunchError as err:
            outcome[name] = err

    start = time.monotonic()
    threads = [Thread(target=wait, args=(name, job)) for name, job in (("long", long), ("short", short))]
    for t in threads:
        t.start()
    _wait_for_lines(tmp_path / "p", 1, long)
    subprocess.run(["scancel", long.job_id], check=True)
    cancelled_at = time.monotonic()
    threads[0].join(120)
    reported = time.monotonic() - cancelled_at
    threads[1].join(120)
    elapsed = time.monotonic() - start
    assert isinstance(outcome["long"], LaunchError) and "CANCELLED" in str(outcome["long"]), outcome
    assert reported < 30, reported
    assert outcome["short"] is None and (tmp_path / "q").read_text().splitlines() == ["0", "1", "2"]
    calls = (tmp_path / "bin" / "sacct.calls").read_text().splitlines()
    assert calls and len(calls) <= elapsed / 2.0 + 2, (len(calls), elapsed)
    both = f"-j {','.join(sorted([long.job_id, short.job_id]))}"
    # once both waited (the short one for its 3 s of steps, more than one interval), one query asked for both
    assert any(c.endswith(both) for c in calls), calls
    assert all(c.endswith(both) or c.endswith(f"-j {short.job_id}") or c.endswith(f"-j {long.job_id}")
               for c in calls)


def test_sbatch_failing_twice_then_succeeding_submits_once(tmp_path, monkeypatch):
    """sbatch answering a busy controller's error twice, then accepting: the job is submitted on the third try
    and runs; a refusal (an invalid partition) is not retried (test_bad_partition_fails_fast_with_sbatchs_message)."""
    sbatch = _wrapper(tmp_path / "bin", "sbatch", fail_first=2)
    monkeypatch.setenv("PATH", f"{sbatch.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(launch, "SBATCH_RETRY_S", 0.1)
    out = tmp_path / "out.json"
    run("rfpipe.launch:_selftest", {"path": str(out), "text": "third time"}, executor="slurm",
        resources=SlurmResources(cpus=1, mem_mb=500, time_min=5), log_dir=tmp_path / "logs")
    assert json.loads(out.read_text())["text"] == "third time"
    assert len((tmp_path / "bin" / "sbatch.calls").read_text().splitlines()) == 3


def test_sbatch_failing_every_time_gives_up_with_its_message(tmp_path, monkeypatch):
    sbatch = _wrapper(tmp_path / "bin", "sbatch", fail_first=100)
    monkeypatch.setenv("PATH", f"{sbatch.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(launch, "SBATCH_RETRY_S", 0.01)
    with pytest.raises(LaunchError, match="Socket timed out"):
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "never")}, executor="slurm",
            resources=SlurmResources(cpus=1, mem_mb=500, time_min=5), log_dir=tmp_path / "logs")
    assert len((tmp_path / "bin" / "sbatch.calls").read_text().splitlines()) == launch.SBATCH_TRIES
