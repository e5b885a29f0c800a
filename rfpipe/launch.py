"""Run one Python call in this process or as a Slurm job (through submitit), from a process without torch.

A *target* is a string ``"package.module:function"`` and its keyword arguments are plain JSON values, so
the process that submits a job and waits for it never imports the target's module (for the training
cells that module imports torch; the waiting process stays small: see ``tests/test_slurm.py``)::

    from rfpipe.launch import SlurmResources, run

    run("rfpipe.pipeline:cell_job", {"settings": settings, "inputs": {"data": "…/data.pt"}, "outputs": {...}, ...},
        executor="slurm", resources=SlurmResources(partition="gpu", gpus=1, time_min=120),
        log_dir="results/rotation/logs/slurm/<cell>")

``executor="local"`` imports the target and calls it here; its exceptions propagate unchanged.
``executor="slurm"`` submits :class:`Call` (a tiny picklable object holding the target string and the
kwargs) with ``submitit.AutoExecutor(folder=log_dir, cluster="slurm")``, waits, and raises
:class:`LaunchError` with Slurm's or the job's message on failure (``sbatch`` refusing the job, e.g. an
unknown partition or more CPUs/memory than a node has, fails at once with sbatch's message). When
``SLURM_JOB_ID`` is set, we already run inside an allocation and the call runs in-process instead.

Preemption and time limits: :class:`Call` is a ``submitit.helpers.Checkpointable``; when Slurm signals the
job (preemption, or the time limit approaching), submitit calls :meth:`Call.checkpoint`, which returns a
submission of the same call, and requeues the job. When the job runs again, **the target is called again
from the start with the same kwargs**. The contract for targets is therefore: *a target must be
idempotent and resumable* — it saves its own progress (e.g. a checkpoint file written atomically, outside
the rule's outputs, which Snakemake deletes when a job fails) and, when called again, resumes from it
instead of starting over, and it writes its final outputs only once it is complete.
``_selftest_resumable`` below is a minimal example. A time-limit requeue is allowed ``max_num_timeout``
(submitit's default, 3) times; preemptions have no limit. Slurm sends the signal ``signal_delay_s`` (90) s
before the time limit, or up to 30 s earlier: it checks every 30 s and signals a job at the first check within
``signal_delay_s`` + 30 s of its limit (so ``signal_delay_s`` + 30 must be below the limit, or every run is
signalled as it starts). submitit counts a signal as a time-out when the job has run at least
min(0.8 × limit, limit − 10 min), else as a preemption (so with ``time_min`` <= 10 every signal counts as a
time-out).

Files of a Slurm job go to ``log_dir``: ``<jobid>_0_log.out`` / ``.err`` (the job's stdout/stderr),
``<jobid>_submission.sh`` (the sbatch script) and the pickles submitit exchanges with the job.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import shlex
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit
import submitit.helpers
from submitit.core.utils import FailedJobError, FailedSubmissionError, UncompletedJobError

from rfpipe.poller import INCOMPLETE_STATES, StatusBoard

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm")
SLURM_CHECK_S = 30
"""Slurm's period of time-limit checks (slurmctld's PERIODIC_TIMEOUT): a job's signal can come this much early."""
JOBS = ("train", "data", "reflow_pairs", "compute")
"""The workflow's jobs that can run on Slurm, each with its own resources (``slurm.jobs.<job>``): training cells,
heavy data preparation (images), the ReFlow teacher's pairs, and the chunks of an experiment computed in jobs."""
#: seconds between checks for the job's result file (cheap: a stat)
POLL_S = float(os.environ.get("RFPIPE_SLURM_POLL_S", "1"))
#: seconds between forced `sacct` queries (submitit alone backs off to one per 10 min for long jobs, so a
#: job cancelled or killed by Slurm would be noticed late)
SACCT_EVERY_S = float(os.environ.get("RFPIPE_SLURM_SACCT_S", "30"))
#: sbatch attempts in all when its error is transient, and the first wait between them (doubling)
SBATCH_TRIES = int(os.environ.get("RFPIPE_SLURM_SBATCH_TRIES", "4"))
SBATCH_RETRY_S = float(os.environ.get("RFPIPE_SLURM_SBATCH_RETRY_S", "5"))
#: pieces of sbatch's message that mean "try again" (a busy, restarting or unreachable controller), not a refusal
TRANSIENT_SBATCH_ERRORS = ("timed out", "unable to contact", "temporarily", "connection refused", "connect failure",
                           "zero bytes were transmitted", "try again", "slurm_persist_conn")
# the folder holding the rfpipe package: put first on the job's PYTHONPATH, so the job imports the same
# rfpipe as the process that submits it (as workflow/scripts/_checkout.py does for rule jobs)
_CHECKOUT = str(Path(__file__).resolve().parents[1])


# Slurm states of a job that ended without running to its end (so without a result file)
_NO_RESULT_STATES = frozenset({"CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
                               "PREEMPTED", "REVOKED"})


class LaunchError(RuntimeError):
    """A Slurm job could not be submitted, failed, or ended without a result (the message says which)."""


class TargetError(ValueError):
    """A target string that is malformed or names no importable module / function."""


@dataclass
class SlurmResources:
    """What one Slurm job asks for. ``None`` leaves a setting to the cluster's defaults.

    ``extra`` holds further sbatch options, without the leading dashes: ``{"qos": "high",
    "mail-type": "END"}`` becomes ``#SBATCH --qos=high`` and ``#SBATCH --mail-type=END``.
    """

    partition: str | None = None
    account: str | None = None
    gpus: int = 0
    cpus: int = 1
    mem_mb: int = 2000
    time_min: int = 60
    signal_delay_s: int = 90
    constraint: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in (("gpus", 0), ("cpus", 1), ("mem_mb", 1), ("time_min", 1), ("signal_delay_s", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"SlurmResources.{name} must be an integer >= {low}, got {value!r}")
        if self.signal_delay_s + SLURM_CHECK_S >= 60 * self.time_min:
            # Slurm would signal the job as soon as it starts: each run would be requeued at once, until
            # submitit's time-out count runs out
            raise ValueError(f"SlurmResources.signal_delay_s ({self.signal_delay_s} s) + {SLURM_CHECK_S} s must be "
                             f"below time_min ({self.time_min} min = {60 * self.time_min} s): Slurm signals the job "
                             f"up to that long before its time limit to save its state and be requeued")
        for name in ("partition", "account", "constraint"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"SlurmResources.{name} must be a non-empty string or None, got {value!r}")
        if not isinstance(self.extra, Mapping):
            raise ValueError(f"SlurmResources.extra must be a mapping of sbatch options, got {self.extra!r}")
        self.extra = {str(k).lstrip("-"): str(v) for k, v in self.extra.items()}

    @classmethod
    def for_job(cls, slurm: Mapping[str, Any] | None, experiment: str, job: str) -> SlurmResources:
        """The resources of ``experiment``'s ``job`` jobs (one of :data:`JOBS`) from a config's ``slurm`` block:
        its common keys, overridden by ``jobs.<job>``, then by ``experiments.<experiment>``, then by that
        experiment's own ``jobs.<job>`` (the most specific last)."""
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}; known: {', '.join(JOBS)}")
        values = dict(slurm or {})
        per_experiment = dict((values.pop("experiments", None) or {}).get(experiment) or {})
        values.update((values.pop("jobs", None) or {}).get(job) or {})
        values.update({k: v for k, v in per_experiment.items() if k != "jobs"})
        values.update((per_experiment.get("jobs") or {}).get(job) or {})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SlurmResources:
        """Build from a config mapping (unknown keys are an error; ``None`` values mean the default).

        Integers given as strings (``"4"``, as Snakemake's ``--config`` passes nested values) are accepted.
        """
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown Slurm resource(s) {unknown}; known: {sorted(names)}")
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if value is None or value == "None":
                continue
            integer = key in ("gpus", "cpus", "mem_mb", "time_min", "signal_delay_s")
            if integer and isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            kwargs[key] = value
        return cls(**kwargs)

    def submitit_parameters(self) -> dict[str, Any]:
        """The ``AutoExecutor.update_parameters`` keywords for these resources (one task on one node)."""
        params: dict[str, Any] = {
            "slurm_nodes": 1,
            "slurm_ntasks_per_node": 1,
            "slurm_cpus_per_task": self.cpus,
            "slurm_mem": f"{self.mem_mb}M",
            "slurm_time": self.time_min,
            "slurm_signal_delay_s": self.signal_delay_s,
        }
        if self.partition is not None:
            params["slurm_partition"] = self.partition
        if self.account is not None:
            params["slurm_account"] = self.account
        if self.gpus:
            params["slurm_gpus_per_node"] = self.gpus
        if self.constraint is not None:
            params["slurm_constraint"] = self.constraint
        if self.extra:
            params["slurm_additional_parameters"] = dict(self.extra)
        return params


# ---- the call itself ---------------------------------------------------------------------------------

def _split_target(target: str) -> tuple[str, str]:
    if not isinstance(target, str):
        raise TargetError(f"target must be a string 'package.module:function', got {target!r}")
    module, sep, name = target.partition(":")
    if (not sep or not module or not name or not all(p.isidentifier() for p in module.split("."))
            or not all(p.isidentifier() for p in name.split("."))):
        raise TargetError(f"target {target!r} is not of the form 'package.module:function'")
    return module, name


def resolve(target: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the function (a :class:`TargetError` if it can't)."""
    module_name, name = _split_target(target)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # only the target's own module (or a parent package) missing is a bad target; a missing
        # dependency inside an existing module propagates as it is
        if err.name is not None and (module_name == err.name or module_name.startswith(err.name + ".")):
            raise TargetError(f"target {target!r}: no module named {err.name!r}") from err
        raise
    obj: Any = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"target {target!r}: module {module_name!r} has no attribute {name!r}") from None
    if not callable(obj):
        raise TargetError(f"target {target!r} is not callable ({type(obj).__name__})")
    return obj


def _check_kwargs(target: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"kwargs of {target!r} must be a mapping, got {type(kwargs).__name__}")
    for key, value in kwargs.items():
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as err:
            raise TypeError(f"kwargs[{key!r}] of {target!r} is not a plain JSON value: {err}") from None
    return dict(kwargs)


def call(target: str, kwargs: dict[str, Any]) -> Any:
    """Import ``target`` ("package.module:function") and call it with ``kwargs``. Runs inside the job."""
    return resolve(target)(**kwargs)


def _ignore_sigterm_before_requeue() -> None:
    """Inside a Slurm job, from submitit's checkpoint on: ignore SIGTERM, so that ``scontrol requeue`` inherits it.

    A preempted job receives SIGTERM besides submitit's USR2, and requeueing makes Slurm SIGTERM every process
    of the job; both can reach ``scontrol``, the child of the job that submitit spawns to requeue it. Killed
    before its request reaches the controller, scontrol leaves the job not requeued, and the job ends as
    FAILED (seen in CI). On USR2, submitit's handler calls :meth:`Call.checkpoint`, the public hook of a
    ``Checkpointable``, dumps the returned submission, runs ``scontrol requeue <job>`` and exits; ignoring
    SIGTERM in the checkpoint makes scontrol start with SIGTERM ignored (an ignored signal stays ignored
    across fork and exec, and ``subprocess`` restores only SIGPIPE, SIGXFZ and SIGXFSZ), so its request
    completes; a real error of scontrol still fails the job. The job process loses nothing: submitit's own
    SIGTERM handler only logs the signal, and the process exits right after the requeue.

    This replaces a patch of submitit's private ``SlurmJobEnvironment._requeue``; the order it relies on
    (checkpoint, then requeue by a child process, in the job process) is checked against the installed submitit
    by ``tests/test_launch.py::test_requeue_completes_although_scontrol_is_sigtermed``, which runs submitit's
    own job entry point. Outside a submitit Slurm job (e.g. the submitting process, whose SIGTERM handler
    cancels the job) or off the main thread, nothing changes.
    """
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Call(submitit.helpers.Checkpointable):
    """What is submitted to Slurm: ``call(target, kwargs)``, requeued on preemption or time-out.

    It holds only strings and JSON values, so pickling it imports nothing of the target. On a Slurm signal,
    submitit calls :meth:`checkpoint`, pickles the returned submission (this same call) and requeues the job;
    the target is then called again from the start and must resume from its own checkpoint.
    """

    def __init__(self, target: str, kwargs: dict[str, Any]) -> None:
        self.target = target
        self.kwargs = dict(kwargs)
        self.requeues = 0

    def __call__(self) -> Any:
        print(f"rfpipe.launch: calling {self.target} (requeues so far: {self.requeues}, "
              f"SLURM_RESTART_COUNT={os.environ.get('SLURM_RESTART_COUNT', '0')})", flush=True)
        return call(self.target, self.kwargs)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        _ignore_sigterm_before_requeue()  # submitit runs `scontrol requeue` next: it must survive a SIGTERM
        self.requeues += 1
        print(f"rfpipe.launch: {self.target} interrupted; requeued (#{self.requeues}), the target will be "
              "called again and resume from its own checkpoint", flush=True)
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)

    def __repr__(self) -> str:
        return f"Call({self.target!r}, <{len(self.kwargs)} kwargs>)"


# ---- submission ----------------------------------------------------------------------------------------

def in_allocation() -> bool:
    """Whether this process already runs inside a Slurm allocation (a job or an `salloc` shell)."""
    return bool(os.environ.get("SLURM_JOB_ID"))


def submit(target: str, kwargs: dict[str, Any], *, resources: SlurmResources | None = None,
           log_dir: str | os.PathLike, job_name: str | None = None) -> submitit.Job:
    """Submit ``call(target, kwargs)`` as a Slurm job and return the submitit job (without waiting).

    The target's module is looked up (``importlib.util.find_spec``) but not imported. sbatch refusing the
    job raises :class:`LaunchError` with sbatch's message at once; an error that says the controller is busy or
    unreachable (:data:`TRANSIENT_SBATCH_ERRORS`) is retried ``SBATCH_TRIES`` times in all, waiting
    ``SBATCH_RETRY_S``, twice that, ... in between.
    """
    module_name, name = _split_target(target)
    try:
        spec = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise TargetError(f"target {target!r}: no module named {module_name!r}")
    kwargs = _check_kwargs(target, kwargs)
    resources = resources or SlurmResources()
    try:
        executor = submitit.AutoExecutor(folder=log_dir, cluster="slurm")
    except RuntimeError as err:  # no srun on PATH
        raise LaunchError(f"cannot submit {target} to Slurm: {err}") from err
    setup = [f"export PYTHONPATH={shlex.quote(_CHECKOUT)}${{PYTHONPATH:+:$PYTHONPATH}}"]
    executor.update_parameters(slurm_job_name=job_name or f"rfpipe:{name}", slurm_setup=setup,
                               **resources.submitit_parameters())
    for attempt in range(SBATCH_TRIES):
        try:
            job = executor.submit(Call(target, kwargs))
            break
        except (FailedJobError, FailedSubmissionError, OSError) as err:
            message = _clean(err)
            if attempt + 1 == SBATCH_TRIES or not _transient(message):
                raise LaunchError(f"sbatch refused {target} ({_describe(resources)}): {message}") from err
            delay = SBATCH_RETRY_S * 2 ** attempt
            log.warning("sbatch failed (%s); trying again in %.0f s (%d of %d)", message, delay, attempt + 2,
                        SBATCH_TRIES)
            time.sleep(delay)
    log.info("submitted %s as Slurm job %s (logs in %s)", target, job.job_id, log_dir)
    return job


def wait(job: submitit.Job, target: str = "the job", board: StatusBoard | None = None) -> Any:
    """Wait for ``job``; return its result or raise :class:`LaunchError` with the job's error.

    Checks the result file every ``POLL_S`` s (a stat) and the job's state on the host's shared status board
    (:class:`rfpipe.poller.StatusBoard`: one ``sacct`` every ``SACCT_EVERY_S`` s for all the jobs this host waits
    for, whatever their number), so a job that Slurm cancelled, timed out or lost is reported within that
    time. Requeued jobs (pending again after a preemption) are waited for. If the waiting process is
    interrupted (Ctrl-C, SIGTERM), the job is cancelled.
    """
    board = board or StatusBoard(interval_s=SACCT_EVERY_S)
    board.register(job.job_id)
    restore = _raise_on_sigterm()
    state = "UNKNOWN"
    try:
        while not job.paths.result_pickle.exists():
            state = board.state(job.job_id)
            if state not in INCOMPLETE_STATES:
                break
            time.sleep(POLL_S)
    except BaseException:
        log.warning("interrupted while waiting: cancelling Slurm job %s", job.job_id)
        job.cancel(check=False)
        raise
    finally:
        restore()
        board.unregister(job.job_id)
    if not job.paths.result_pickle.exists():
        if state in _NO_RESULT_STATES:
            job._results_timeout_s = 2  # else submitit waits 15 s for a result file (slow NFS) that never comes
    try:
        return job.result()
    except FailedJobError as err:
        raise LaunchError(f"Slurm job {job.job_id} ({target}) failed:\n{err}") from None
    except UncompletedJobError as err:
        state = job.get_info(mode="force").get("State", "UNKNOWN")
        raise LaunchError(f"Slurm job {job.job_id} ({target}) ended without a result, state {state}:\n{err}") from None


def run(target: str, kwargs: dict[str, Any], *, executor: str = "local", resources: SlurmResources | None = None,
        log_dir: str | os.PathLike, job_name: str | None = None) -> Any:
    """Run ``target(**kwargs)`` here (``executor="local"``) or as a Slurm job (``"slurm"``), wait for it and
    return its result.

    Local: the target's exceptions propagate as they are. Slurm: failures raise :class:`LaunchError`
    carrying Slurm's or the job's message; inside an allocation (``SLURM_JOB_ID`` set) the call runs
    in-process. A malformed target or unknown module raises :class:`TargetError` before anything runs.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if executor == "slurm" and not in_allocation():
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        job = submit(target, kwargs, resources=resources, log_dir=log_dir, job_name=job_name)
        return wait(job, target)
    if executor == "slurm":
        log.info("inside Slurm job %s: running %s in-process", os.environ["SLURM_JOB_ID"], target)
    fn = resolve(target)
    return fn(**_check_kwargs(target, kwargs))


# ---- helpers -------------------------------------------------------------------------------------------

def _describe(resources: SlurmResources) -> str:
    parts = [f"{k}={v}" for k, v in dataclasses.asdict(resources).items() if v not in (None, {}, 0)]
    return ", ".join(parts)


def _transient(message: str) -> bool:
    """Whether sbatch's ``message`` says the controller is busy or unreachable (retry) rather than refusing."""
    text = message.lower()
    return any(piece in text for piece in TRANSIENT_SBATCH_ERRORS)


def _clean(err: BaseException) -> str:
    """sbatch's own message out of submitit's wrapper (which quotes the command and its outputs)."""
    text = str(err)
    lines = [ln.strip() for ln in text.splitlines() if "sbatch:" in ln]
    return "; ".join(dict.fromkeys(lines)) if lines else text.strip()


def _raise_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into SystemExit while waiting (so the job gets cancelled); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


# ---- targets used by the tests (cheap: no torch) ----------------------------------------------------------

def _selftest(path: str, text: str = "ok", fail: str | None = None) -> None:
    """Write ``text``, the host, the process and the Slurm job id as JSON to ``path``; raise if ``fail``."""
    if fail:
        raise RuntimeError(fail)
    info = {"text": text, "host": socket.gethostname(), "pid": os.getpid(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
    Path(path).write_text(json.dumps(info))


def _selftest_resumable(progress: str, calls: str, steps: int, step_s: float = 1.0) -> None:
    """A resumable target: does ``steps`` steps of ``step_s`` s, one line per finished step in ``progress``.

    Every call appends one line to ``calls``. A call reads ``progress`` and continues after the last finished
    step (a torn last line is dropped), so a requeued job ends with each step recorded exactly once.
    """
    with open(calls, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
                            "restart": os.environ.get("SLURM_RESTART_COUNT", "0")}) + "\n")
    done: list[str] = []
    p = Path(progress)
    if p.exists():
        text = p.read_text()
        done = text.splitlines(keepends=True)
        if done and not done[-1].endswith("\n"):
            done.pop()
            p.write_text("".join(done))
    for step in range(len(done), steps):
        time.sleep(step_s)  # the "work" of this step
        with open(progress, "a") as f:
            f.write(f"{step}\n")
            f.flush()
            os.fsync(f.fileno())
