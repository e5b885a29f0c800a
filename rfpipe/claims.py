"""Claims of a results folder by one working directory, without torch (the Snakefile imports this).

Snakemake locks the outputs of a run per working directory, so two checkouts whose configs name the same
(absolute) ``results_dir`` would not see each other. Each run therefore claims the folder for its working
directory (:func:`claim_results`, a shared ``flock`` that the kernel drops when the process ends, so no stale
lock outlives a kill), and a run from another working directory is refused while the claim is held.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

__all__ = ["CLAIMS", "ResultsInUseError", "claim_results"]

CLAIMS = ".rfpipe-claims"
"""Folder, inside a results folder, of the claims of the working directories whose runs use it."""


class ResultsInUseError(RuntimeError):
    """The results folder is in use by a run from another working directory; the message names both."""


def claim_results(results_dir: str | os.PathLike, workdir: str | os.PathLike) -> int:
    """Claim ``results_dir`` for the runs of ``workdir`` (Snakemake's working directory) for the life of this
    process; returns the claim's file descriptor (keep it open).

    Runs from the same ``workdir`` share the claim (Snakemake's own lock keeps them apart); while a run from
    another working directory holds one, :class:`ResultsInUseError` is raised. Two runs that start together may
    both be refused; neither writes anything.
    """
    claims = Path(results_dir) / CLAIMS
    claims.mkdir(parents=True, exist_ok=True)
    where = os.path.realpath(workdir)
    mine = claims / f"{hashlib.sha256(where.encode()).hexdigest()[:16]}.lock"
    fd = os.open(mine, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    if os.fstat(fd).st_size == 0:
        os.write(fd, f"{where}\n".encode())
    for other in sorted(claims.glob("*.lock")):
        if other.name == mine.name:
            continue
        with open(other, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: nobody holds that claim now
            except BlockingIOError:
                os.close(fd)
                holder = f.read().decode(errors="replace").strip() or other.name
                raise ResultsInUseError(
                    f"results folder {Path(results_dir).resolve()} is in use by a run in {holder}; wait for it to end "
                    f"or give this checkout its own results_dir") from None
    return fd
