"""One Slurm status query per interval for every job this submit host waits for, however many there are.

Each process waiting for a Slurm job (:func:`rfpipe.launch.wait`) registers the job in a shared folder
(``waiting/<job id>``, holding the waiting process's pid). When the shared status file (``status.json``) is older
than the interval, the first process to take the folder's lock (``poll.lock``, a non-blocking ``flock``) runs
**one** ``sacct`` for every registered job and replaces the status file atomically; the others read it. So the
controller sees one query per interval from this host, not one per waiting cell (500 cells polling every 30 s
would be 17 queries a second).

A failed query (a busy or restarting controller) keeps the last states and is retried with back-off: after
``k`` failures in a row the next attempt waits ``interval * min(2**k, 8)``. Registrations of processes that no
longer exist (a waiting process killed with SIGKILL) are dropped at the next query.

The folder is per user and per host (``$TMPDIR/rfpipe-slurm-<uid>``) unless ``RFPIPE_SLURM_STATUS_DIR`` names
another; job ids are unique per cluster, so one folder serves every workflow this user runs from this host.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rfpipe.integrity import write_atomic

__all__ = ["INCOMPLETE_STATES", "StatusBoard", "default_folder", "parse_sacct"]

log = logging.getLogger(__name__)

INCOMPLETE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
                               "REQUEUE_FED", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "PREEMPTED",
                               "READY", "UNKNOWN"})
"""Slurm states after which a job may still run (PREEMPTED: a requeued job passes through it); any other state
is final."""

MAX_BACKOFF = 8
"""The longest wait after failed queries, in intervals."""


def default_folder() -> Path:
    """``RFPIPE_SLURM_STATUS_DIR``, else ``$TMPDIR/rfpipe-slurm-<uid>``: shared by this user's processes on this
    host."""
    named = os.environ.get("RFPIPE_SLURM_STATUS_DIR")
    return Path(named) if named else Path(tempfile.gettempdir()) / f"rfpipe-slurm-{os.getuid()}"


def parse_sacct(text: str) -> dict[str, str]:
    """``sacct -n -P -X -o JobID,State`` output -> {job id: first word of its state} (the last line of a job
    wins: a requeued job's latest record)."""
    states = {}
    for line in text.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id and state:
            states[job_id] = state.split()[0].upper()  # "CANCELLED by 0" -> CANCELLED
    return states


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class StatusBoard:
    """The shared status of the module docstring in ``folder``, refreshed every ``interval_s`` seconds by one
    ``command`` (``sacct`` and its options; the job ids are appended as ``-j id1,id2,...``)."""

    folder: Path = field(default_factory=default_folder)
    interval_s: float = 30.0
    command: Sequence[str] = ("sacct", "-n", "-P", "-X", "-o", "JobID,State")
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        (self.folder / "waiting").mkdir(parents=True, exist_ok=True)

    @property
    def status_file(self) -> Path:
        return self.folder / "status.json"

    def register(self, job_id: str) -> None:
        """Count ``job_id`` among the jobs this host waits for."""
        (self.folder / "waiting" / job_id).write_text(str(os.getpid()))

    def unregister(self, job_id: str) -> None:
        (self.folder / "waiting" / job_id).unlink(missing_ok=True)

    def state(self, job_id: str) -> str:
        """The job's Slurm state as of the last query (refreshing it first if it is due and no other process is
        refreshing it); ``UNKNOWN`` before any query has seen the job."""
        status = self._read()
        if self._due(status):
            self._refresh()
            status = self._read()
        return status.get("states", {}).get(job_id, "UNKNOWN")

    # ---- internals ----------------------------------------------------------------------------------------

    def _read(self) -> dict:
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def _due(self, status: dict) -> bool:
        wait = self.interval_s * min(2 ** int(status.get("failures", 0)), MAX_BACKOFF)
        return time.time() - float(status.get("time", float("-inf"))) >= wait

    def _waiting(self) -> list[str]:
        ids = []
        for entry in (self.folder / "waiting").iterdir():
            try:
                pid = int(entry.read_text() or "0")
            except (OSError, ValueError):
                continue
            if pid and not _alive(pid):
                entry.unlink(missing_ok=True)  # its waiting process is gone
                continue
            ids.append(entry.name)
        return sorted(ids)

    def _refresh(self) -> None:
        with open(self.folder / "poll.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another process is querying; its answer will be in the status file
            status = self._read()
            if not self._due(status):
                return  # refreshed while we waited for the lock
            ids = self._waiting()
            states = dict(status.get("states", {}))
            failures = 0
            if ids:
                try:
                    out = subprocess.run([*self.command, "-j", ",".join(ids)], capture_output=True, text=True,
                                         timeout=self.timeout_s)
                    if out.returncode != 0:
                        raise OSError(out.stderr.strip() or f"exit status {out.returncode}")
                except (OSError, subprocess.TimeoutExpired) as err:
                    failures = int(status.get("failures", 0)) + 1
                    log.warning("Slurm status query failed (%d in a row; next in %.0f s): %s", failures,
                                self.interval_s * min(2 ** failures, MAX_BACKOFF), err)
                else:
                    states = {k: v for k, v in states.items() if k in ids}
                    states.update(parse_sacct(out.stdout))
            write_atomic(self.status_file, json.dumps({"time": time.time(), "failures": failures, "states": states,
                                                       "queries": int(status.get("queries", 0)) + bool(ids)}))
