"""rfpipe.launch without a Slurm cluster: local runs, targets, resources, the in-allocation shortcut, no torch.

The tests against a real Slurm are in tests/test_slurm.py.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import submitit
import submitit.helpers
from submitit.slurm.slurm import _make_sbatch_string

from rfpipe import launch
from rfpipe.launch import Call, LaunchError, SlurmResources, TargetError, call, resolve, run

ROOT = Path(__file__).resolve().parents[1]


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


# ---- executor="local" ------------------------------------------------------------------------------------

def test_local_runs_the_target_in_process(tmp_path):
    out = tmp_path / "out.json"
    assert run("rfpipe.launch:_selftest", {"path": str(out), "text": "hello"}, log_dir=tmp_path / "logs") is None
    info = _read(out)
    assert info["text"] == "hello"
    assert info["pid"] == os.getpid()
    assert not (tmp_path / "logs").exists()  # nothing submitted, no submitit folder


def test_local_propagates_the_targets_exception_as_is(tmp_path):
    with pytest.raises(RuntimeError, match="^boom$") as info:
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "x"), "fail": "boom"}, executor="local",
            log_dir=tmp_path)
    assert type(info.value) is RuntimeError  # not wrapped in LaunchError


def test_local_calls_any_importable_function(tmp_path):
    """Any module:function runs with its keyword arguments, and its result comes back."""
    assert run("json:dumps", {"obj": [1, 2]}, log_dir=tmp_path) == "[1, 2]"
    assert run("os.path:normpath", {"path": "a//b"}, log_dir=tmp_path) == "a/b"  # a dotted module


def test_unknown_executor(tmp_path):
    with pytest.raises(ValueError, match="executor must be one of"):
        run("json:dumps", {"obj": 1}, executor="kubernetes", log_dir=tmp_path)


def test_kwargs_must_be_plain_json(tmp_path):
    with pytest.raises(TypeError, match=r"kwargs\['path'\].*not a plain JSON value"):
        run("rfpipe.launch:_selftest", {"path": tmp_path / "x"}, log_dir=tmp_path)  # a Path, not a str
    with pytest.raises(TypeError, match="must be a mapping"):
        run("rfpipe.launch:_selftest", [("path", "x")], log_dir=tmp_path)


# ---- bad targets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["rfpipe.launch", "rfpipe.launch:", ":_selftest", "rfpipe..launch:f",
                                    "rfpipe.launch:_selftest()", "1bad:f", "a b:f", ""])
def test_malformed_target(target, tmp_path):
    with pytest.raises(TargetError, match="is not of the form 'package.module:function'"):
        run(target, {}, log_dir=tmp_path)


def test_target_not_a_string():
    with pytest.raises(TargetError, match="must be a string"):
        resolve(print)  # type: ignore[arg-type]


@pytest.mark.parametrize(("target", "message"), [
    ("rfpipe.no_such_module:f", "no module named 'rfpipe.no_such_module'"),
    ("no_such_package_xyz.mod:f", "no module named 'no_such_package_xyz'"),
    ("rfpipe.launch:no_such_function", "module 'rfpipe.launch' has no attribute 'no_such_function'"),
    ("rfpipe.launch:EXECUTORS", "is not callable"),
])
def test_unresolvable_target(target, message, tmp_path):
    with pytest.raises(TargetError, match=message):
        run(target, {}, log_dir=tmp_path)
    assert issubclass(TargetError, ValueError)


def test_missing_dependency_inside_a_module_is_not_a_bad_target(tmp_path, monkeypatch):
    (tmp_path / "needs_missing_dep.py").write_text("import no_such_dependency_xyz\n\ndef f():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz") as info:
        resolve("needs_missing_dep:f")
    assert not isinstance(info.value, TargetError)


def test_slurm_rejects_an_unknown_module_before_submitting(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)

    def no_submit(*args, **kwargs):
        raise AssertionError("submitit must not be reached")

    monkeypatch.setattr(submitit, "AutoExecutor", no_submit)
    with pytest.raises(TargetError, match="no module named 'rfpipe.no_such_module'"):
        run("rfpipe.no_such_module:f", {}, executor="slurm", log_dir=tmp_path / "logs")
    with pytest.raises(TargetError, match="is not of the form"):
        run("rfpipe.launch", {}, executor="slurm", log_dir=tmp_path / "logs")


def test_slurm_without_slurm_installed_is_a_launch_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    with pytest.raises(LaunchError, match="srun"):
        run("rfpipe.launch:_selftest", {"path": str(tmp_path / "x")}, executor="slurm", log_dir=tmp_path / "l")


# ---- SlurmResources --------------------------------------------------------------------------------------

def test_resources_defaults_map_to_submitit():
    assert SlurmResources().submitit_parameters() == {
        "slurm_nodes": 1, "slurm_ntasks_per_node": 1, "slurm_cpus_per_task": 1, "slurm_mem": "2000M",
        "slurm_time": 60, "slurm_signal_delay_s": 90,
    }


def test_resources_map_to_submitit_and_sbatch(tmp_path):
    res = SlurmResources(partition="gpu", account="proj42", gpus=2, cpus=8, mem_mb=16000, time_min=90,
                         signal_delay_s=120, constraint="a100", extra={"qos": "high", "--mail-type": "END"})
    params = res.submitit_parameters()
    assert params == {
        "slurm_nodes": 1, "slurm_ntasks_per_node": 1, "slurm_cpus_per_task": 8, "slurm_mem": "16000M",
        "slurm_time": 90, "slurm_signal_delay_s": 120, "slurm_partition": "gpu", "slurm_account": "proj42",
        "slurm_gpus_per_node": 2, "slurm_constraint": "a100",
        "slurm_additional_parameters": {"qos": "high", "mail-type": "END"},
    }
    # every key is a parameter submitit's Slurm executor knows, and they give these sbatch lines
    script = _make_sbatch_string(command="true", folder=tmp_path, **{k[len("slurm_"):]: v for k, v in params.items()})
    for line in ["--partition=gpu", "--account=proj42", "--gpus-per-node=2", "--cpus-per-task=8", "--mem=16000M",
                 "--time=90", "--signal=USR2@120", "--constraint=a100", "--qos=high", "--mail-type=END", "--nodes=1",
                 "--ntasks-per-node=1"]:
        assert f"#SBATCH {line}\n" in script, line
    # and AutoExecutor accepts them (validated without a cluster)
    submitit.AutoExecutor(folder=tmp_path, cluster="local").update_parameters(**params)


def test_resources_without_gpus_ask_for_none(tmp_path):
    assert not any("gpu" in k for k in SlurmResources(gpus=0).submitit_parameters())


@pytest.mark.parametrize("bad", [{"cpus": 0}, {"gpus": -1}, {"mem_mb": "2G"}, {"time_min": 1.5}, {"cpus": True},
                                 {"partition": ""}, {"account": 3}, {"extra": ["qos=high"]}, {"signal_delay_s": 0},
                                 {"time_min": 1}, {"time_min": 2}, {"time_min": 1, "signal_delay_s": 30}])
def test_resources_validate(bad):
    with pytest.raises(ValueError, match="SlurmResources"):
        SlurmResources(**bad)


def test_resources_from_mapping():
    res = SlurmResources.from_mapping({"partition": "gpu", "gpus": "1", "mem_mb": 4000, "account": None,
                                       "constraint": "None", "extra": {"qos": "low"}})
    assert res == SlurmResources(partition="gpu", gpus=1, mem_mb=4000, extra={"qos": "low"})
    assert SlurmResources.from_mapping(None) == SlurmResources()
    with pytest.raises(ValueError, match=r"unknown Slurm resource\(s\) \['gpu'\]"):
        SlurmResources.from_mapping({"gpu": 1})


def test_resources_of_a_job_most_specific_last():
    """common < jobs.<job> < experiments.<name> < experiments.<name>.jobs.<job>, key by key."""
    slurm = {"cpus": 2, "mem_mb": 1000, "time_min": 30, "jobs": {"data": {"mem_mb": 9000, "time_min": 90}},
             "experiments": {"images": {"gpus": 1, "cpus": 8, "jobs": {"data": {"gpus": 0}}}}}
    got = {(e, j): SlurmResources.for_job(slurm, e, j) for e in ("images", "rotation") for j in ("train", "data")}
    assert got["rotation", "train"] == SlurmResources(cpus=2, mem_mb=1000, time_min=30)
    assert got["rotation", "data"] == SlurmResources(cpus=2, mem_mb=9000, time_min=90)
    assert got["images", "train"] == SlurmResources(gpus=1, cpus=8, mem_mb=1000, time_min=30)
    assert got["images", "data"] == SlurmResources(gpus=0, cpus=8, mem_mb=9000, time_min=90)
    assert SlurmResources.for_job(None, "x", "compute") == SlurmResources()
    with pytest.raises(ValueError, match="unknown job 'evaluate'"):
        SlurmResources.for_job(slurm, "images", "evaluate")


# ---- inside an allocation --------------------------------------------------------------------------------

def test_slurm_inside_an_allocation_runs_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "12345")

    def no_submit(*args, **kwargs):
        raise AssertionError("must not submit from inside an allocation")

    monkeypatch.setattr(launch, "submit", no_submit)
    monkeypatch.setattr(submitit, "AutoExecutor", no_submit)
    out = tmp_path / "out.json"
    run("rfpipe.launch:_selftest", {"path": str(out)}, executor="slurm",
        resources=SlurmResources(partition="gpu", gpus=1), log_dir=tmp_path / "logs")
    info = _read(out)
    assert info["pid"] == os.getpid()
    assert info["slurm_job_id"] == "12345"
    # and the target's own exception propagates unchanged, as locally
    with pytest.raises(RuntimeError, match="^inner$"):
        run("rfpipe.launch:_selftest", {"path": str(out), "fail": "inner"}, executor="slurm", log_dir=tmp_path)


# ---- the submitted callable ------------------------------------------------------------------------------

def test_call_imports_and_calls():
    assert call("json:dumps", {"obj": {"a": 1}}) == '{"a": 1}'


def test_call_object_is_checkpointable_and_resubmits_itself(tmp_path):
    c = Call("rfpipe.launch:_selftest", {"path": str(tmp_path / "o.json")})
    assert isinstance(c, submitit.helpers.Checkpointable)
    delayed = c.checkpoint()
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    assert delayed.function is c and delayed.args == () and delayed.kwargs == {}
    assert c.requeues == 1
    clone = pickle.loads(pickle.dumps(delayed.function))
    clone()
    assert _read(tmp_path / "o.json")["text"] == "ok"
    assert clone.requeues == 1


def test_resumable_selftest_resumes_from_its_progress(tmp_path):
    progress, calls = tmp_path / "progress", tmp_path / "calls"
    progress.write_text("0\n1\n2")  # a torn last line: step 2 was not recorded completely
    launch._selftest_resumable(str(progress), str(calls), steps=5, step_s=0)
    assert progress.read_text().split() == ["0", "1", "2", "3", "4"]
    launch._selftest_resumable(str(progress), str(calls), steps=5, step_s=0)  # done: nothing more
    assert progress.read_text().split() == ["0", "1", "2", "3", "4"]
    assert len(calls.read_text().splitlines()) == 2


# ---- the submitting side does not import torch -----------------------------------------------------------

def test_submit_side_does_not_import_torch():
    code = (
        "import sys, pickle, rfpipe.launch as L\n"
        "c = L.Call('rfpipe.pipeline:train_cell', {'settings': {}, 'data': 'd', 'model': 'm', 'gradvar': 'g'})\n"
        "pickle.loads(pickle.dumps(c.checkpoint()))\n"
        "L.SlurmResources(partition='gpu', gpus=1).submitit_parameters()\n"
        "print('torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "False"


def test_plain_import_does_not_import_torch():
    proc = subprocess.run([sys.executable, "-c", "import rfpipe.launch, sys; print('torch' in sys.modules)"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


@pytest.mark.parametrize("exit_code", [0, 1])
def test_requeue_completes_although_scontrol_is_sigtermed(tmp_path: Path, exit_code: int) -> None:
    """A job run by submitit's own entry point (``python -m submitit.core._submit``, as its sbatch script does)
    gets SIGTERM and USR2, as a preempted job does: submitit checkpoints the Call and runs `scontrol requeue`,
    which here SIGTERMs itself (as Slurm signals every process of a job it requeues). scontrol still finishes its
    request and the job exits requeued, its resubmission saved; scontrol's own failure still fails the job.
    Before the fix, scontrol died of the SIGTERM and the job ended FAILED (seen in CI): no record, no requeue."""
    record = tmp_path / "scontrol.args"
    fake = tmp_path / "bin" / "scontrol"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nkill -TERM $$\necho "$@" > {record}\nexit {exit_code}\n')
    fake.chmod(0o755)
    folder = tmp_path / "job"
    folder.mkdir()
    calls = tmp_path / "calls"
    target = Call("rfpipe.launch:_selftest_resumable", {"progress": str(tmp_path / "progress"), "calls": str(calls),
                                                        "steps": 600, "step_s": 0.1})
    delayed = submitit.helpers.DelayedSubmission(target)
    delayed.set_timeout(60, 3)  # a signal within the first 48 min of a 60-min job is a preemption: requeue
    delayed.dump(folder / "7_submitted.pkl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SUBMITIT_"))}
    env.update(PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}", SLURM_JOB_ID="7", SUBMITIT_EXECUTOR="slurm",
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen([sys.executable, "-u", "-m", "submitit.core._submit", str(folder)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):  # the target has started (submitit's signal handlers are in place)
            if calls.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert calls.exists(), proc.communicate(timeout=10)[0]
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGUSR2)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert record.exists() and record.read_text().split() == ["requeue", "7"], out  # scontrol lived past SIGTERM
    result = folder / "7_0_result.pkl"
    if exit_code == 0:
        assert "Requeued job 7" in out, out
        assert not result.exists(), out  # requeued: no result yet, the job runs again
        assert submitit.helpers.DelayedSubmission.load(folder / "7_submitted.pkl").function.requeues == 1
    else:
        assert proc.returncode == 1, out
        status, message = pickle.loads(result.read_bytes())
        assert status == "error" and "CalledProcessError" in message, message


def test_checkpoint_outside_a_job_keeps_the_sigterm_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only inside a submitit Slurm job does the checkpoint ignore SIGTERM: a process that calls it otherwise
    (e.g. the submitting side, whose SIGTERM handler cancels the job it waits for) keeps its handler."""
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)

    def handler(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        Call("json:dumps", {"obj": 1}).checkpoint()
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("submitted,expected", [(True, 3), (False, 2)])
def test_training_job_threads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, submitted: bool,
                              expected: int) -> None:
    """A training cell submitted to Slurm uses its allocation's CPUs; run in-process inside an allocation (where
    Snakemake shares the CPUs among its jobs), the threads it is given."""
    import torch

    import rfpipe.pipeline

    seen = []

    class AnyKind:  # whose cell job records the thread count it runs with
        def function(self, module: str, name: str):
            return lambda *a, **k: seen.append(torch.get_num_threads())

    monkeypatch.setattr(rfpipe.pipeline, "cell_settings", lambda settings: types.SimpleNamespace(kind="any"))
    monkeypatch.setattr(rfpipe.pipeline.kinds, "get", lambda name: AnyKind())
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    if submitted:
        monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    else:
        monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    before = torch.get_num_threads()
    try:
        rfpipe.pipeline.cell_job({}, {"data": "data.pt"}, {"model": "model.pt"}, log=str(tmp_path / "log"), threads=2)
    finally:
        torch.set_num_threads(before)
    assert seen == [expected]
