"""Results-folder claims (rfpipe.claims): held while a run lives, refused to other checkouts, never stale."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rfpipe.claims import ResultsInUseError, claim_results


def _claiming_child(results: Path, workdir: Path) -> tuple[int, int]:
    """A forked child that claims ``results`` for ``workdir`` and then blocks; returns (pid, fd of its pipe),
    after it has said the claim is held."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            claim_results(results, workdir)
            os.write(write_end, b"held\n")
            never, _keep = os.pipe()
            os.read(never, 1)  # blocks until the test kills this process
        finally:
            os._exit(0)
    os.close(write_end)
    assert os.read(read_end, 5) == b"held\n"
    return pid, read_end


def test_a_killed_run_leaves_no_stale_claim(tmp_path: Path) -> None:
    """While a run from checkout A holds the folder, a run from B is refused naming A; once A is SIGKILLed (no
    cleanup ran), B's claim succeeds at once: the kernel dropped A's lock with the process."""
    results, a, b = tmp_path / "results", tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    pid, pipe = _claiming_child(results, a)
    try:
        with pytest.raises(ResultsInUseError, match=f"in use by a run in {os.path.realpath(a)}"):
            claim_results(results, b)
        fd = claim_results(results, a)  # the same checkout shares the claim
        os.close(fd)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(pipe)
    assert list((results / ".rfpipe-claims").glob("*.lock"))  # the record is still on disk ...
    fd = claim_results(results, b)  # ... but holds nothing
    os.close(fd)
