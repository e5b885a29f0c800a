"""rfpipe.poller: one Slurm status query for every waiting job of a host, whatever their number; back-off on
failure; stale registrations dropped. A fake ``sacct`` (a script that logs each call and prints designed
states) stands in for Slurm; tests/test_slurm.py runs the board against the real one."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rfpipe import poller
from rfpipe.poller import INCOMPLETE_STATES, StatusBoard, parse_sacct


def _fake_sacct(tmp_path: Path, states: dict[str, str], fail: bool = False,
                name: str = "sacct") -> tuple[list[str], Path]:
    """A ``sacct`` that appends its arguments to ``calls.log`` and prints ``id|state`` for each known id asked for
    (or fails, exit 1, with a controller error)."""
    script = tmp_path / name
    lines = "\n".join(f"{k}|{v}" for k, v in states.items())
    body = ('echo "Socket timed out on send/recv operation" >&2; exit 1' if fail else
            f'cat <<"EOF" | grep -E "^($(printf "%s" "$*" | sed "s/.*-j //; s/,/|/g"))\\|"\n{lines}\nEOF')
    script.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> "{tmp_path}/calls.log"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return [str(script), "-n", "-P", "-X", "-o", "JobID,State"], tmp_path / "calls.log"


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_parse_sacct_takes_the_first_word_and_the_latest_record() -> None:
    text = "11|CANCELLED by 0\n12|PENDING\n12|RUNNING\n13|\n\n14|completed\n"
    assert parse_sacct(text) == {"11": "CANCELLED", "12": "RUNNING", "14": "COMPLETED"}
    assert "RUNNING" in INCOMPLETE_STATES and "COMPLETED" not in INCOMPLETE_STATES


def test_one_query_answers_every_waiting_job(tmp_path: Path) -> None:
    """Three jobs registered, each asked for: one sacct call with all three ids; the states as sacct gave them;
    an id sacct does not know yet is UNKNOWN (still waiting)."""
    command, log = _fake_sacct(tmp_path, {"101": "RUNNING", "102": "COMPLETED", "103": "CANCELLED by 0"})
    board = StatusBoard(tmp_path / "board", interval_s=1e9, command=command)
    for job in ("101", "102", "103", "104"):
        board.register(job)
    assert [board.state(j) for j in ("101", "102", "103", "104")] == ["RUNNING", "COMPLETED", "CANCELLED",
                                                                          "UNKNOWN"]
    assert _calls(log) == ["-n -P -X -o JobID,State -j 101,102,103,104"]


def _poll_many(folder: str, command: list[str], job: str, times: int) -> None:
    board = StatusBoard(Path(folder), interval_s=1e9, command=command)
    board.register(job)
    for _ in range(times):
        board.state(job)


@pytest.mark.parametrize("processes", [2, 12])
def test_queries_do_not_grow_with_the_number_of_waiting_processes(tmp_path: Path, processes: int) -> None:
    """N processes (forked), each asking 20 times for its own job within one interval: exactly one sacct call in
    all, for N = 2 and N = 12 alike (the lock elects one querier; the rest read its answer)."""
    command, log = _fake_sacct(tmp_path, {str(200 + i): "RUNNING" for i in range(processes)})
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_poll_many, args=(str(tmp_path / "board"), command, str(200 + i), 20))
             for i in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(_calls(log)) == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def test_failed_queries_back_off_and_keep_the_last_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing sacct is retried after 2, 4, 8, 8 intervals, the states of the last good answer kept; once it
    answers again, the interval is back to one."""
    clock = _Clock()
    monkeypatch.setattr(poller.time, "time", clock.time)
    good, log = _fake_sacct(tmp_path, {"301": "RUNNING"})
    board = StatusBoard(tmp_path / "board", interval_s=10.0, command=good)
    board.register("301")
    assert board.state("301") == "RUNNING" and len(_calls(log)) == 1
    bad, _ = _fake_sacct(tmp_path, {}, fail=True, name="sacct-failing")  # logs to the same calls.log
    board.command = bad
    attempts = []
    for _ in range(600):  # 600 s in steps of 1 s
        clock.now += 1.0
        before = len(_calls(log))
        assert board.state("301") == "RUNNING"  # the last good answer
        if len(_calls(log)) > before:
            attempts.append(clock.now)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert attempts[0] - 1000.0 == 10.0 and gaps[:4] == [20.0, 40.0, 80.0, 80.0]
    board.command = good
    clock.now = attempts[-1] + 80.0  # due at the longest back-off
    before = len(_calls(log))
    board.state("301")
    clock.now += 10.0
    board.state("301")
    assert len(_calls(log)) == before + 2  # it answered, so one interval again


def test_registrations_of_dead_processes_are_dropped(tmp_path: Path) -> None:
    """A job whose waiting process is gone (SIGKILLed) is no longer asked for."""
    command, log = _fake_sacct(tmp_path, {"401": "RUNNING", "402": "RUNNING"})
    board = StatusBoard(tmp_path / "board", interval_s=1e9, command=command)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (board.folder / "waiting" / "402").write_text(str(dead.pid))
    board.register("401")
    assert board.state("401") == "RUNNING"
    assert _calls(log) == ["-n -P -X -o JobID,State -j 401"]
    assert not (board.folder / "waiting" / "402").exists()


def test_the_status_file_is_replaced_whole(tmp_path: Path) -> None:
    """Readers never see a partial status file: it is written beside and renamed; no temporary file stays."""
    command, _ = _fake_sacct(tmp_path, {"501": "PENDING"})
    board = StatusBoard(tmp_path / "board", interval_s=1e9, command=command)
    board.register("501")
    board.state("501")
    names = sorted(p.name for p in board.folder.iterdir())
    assert names == ["poll.lock", "status.json", "waiting"]
    assert os.stat(board.status_file).st_size > 0
