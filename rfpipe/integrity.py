"""Damaged files and failed cells, without torch (the Snakefile imports this).

Damaged files. Every ``.pt`` file rfpipe writes is a zip archive (``torch.save``) whose members carry CRC-32
checksums, and every Parquet file is written with page checksums (:func:`rfpipe.io.write_parquet`), so a
truncated or bit-flipped file is found by reading it back: :func:`check_file`. The workflow checks the
outputs of every cell when it starts (``workflow/rules/train.smk``) and removes a damaged one with the rest of
its cell (:func:`remove_damaged`), so Snakemake runs the cell again, and everything after it; readers raise
:class:`CorruptFileError` naming the file.

Failed cells. A cell whose training meets a NaN or inf (:class:`FloatingPointError`, deterministic on the
CPU) leaves a failure record ``failed.json`` beside its resume checkpoint,
``<results>/<experiment>/checkpoints/<cell>/failed.json``, with the error and the cell's settings. While the
record matches the cell's current settings, the workflow leaves that cell out of its experiment's report
(which lists it as failed) instead of training it again; delete the record, or change the settings, to retry.

Shared results folders. Snakemake locks the outputs of a run per working directory, so two checkouts whose
configs name the same (absolute) ``results_dir`` would not see each other. Each run therefore claims the
folder for its working directory (:func:`claim_results`, a shared ``flock`` that the kernel drops when the
process ends, so no stale lock outlives a kill), and a run from another working directory is refused while
the claim is held.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["FAILED", "VERIFIED", "CorruptFileError", "ResultsInUseError", "cell_name", "check_file",
           "checkpoint_path", "claim_results", "damaged_files", "damaged_outputs", "failed_cells", "failure_record",
           "read_failure", "remove_damaged", "remove_failure", "settings_tag", "write_failure"]

FAILED = "failed.json"
"""Name of a cell's failure record, beside its checkpoint ``state.pt``."""

RERUN = "run the workflow again: it removes damaged outputs it finds and makes them again"


class CorruptFileError(OSError):
    """A file that cannot be read back whole (truncated or corrupted); the message names it."""


FULL_CHECK_MAX = 256 * 2**20
"""Files up to this size (bytes) are read back whole when the workflow starts; larger ones (the data of a
paper-scale image experiment) only structurally there, and whole when they are loaded."""


def check_file(path: str | os.PathLike, full: bool = True) -> str | None:
    """Why ``path`` (a ``.pt`` or ``.parquet`` file) is damaged, or None if it reads back whole.

    ``.pt``: a zip archive whose every member matches its CRC-32. ``.parquet``: the footer parses and every
    page reads back (with its CRC-32 when the file has page checksums). With ``full=False``, only the structure
    (which finds truncation): the zip directory and every member's extent, the Parquet footer. Other suffixes
    are not checked.
    """
    path = Path(path)
    try:
        if path.suffix == ".pt":
            with zipfile.ZipFile(path) as archive:
                if full:
                    bad = archive.testzip()
                    if bad is not None:
                        return f"member {bad} fails its CRC-32 check"
                else:
                    size = path.stat().st_size
                    for info in archive.infolist():
                        if info.header_offset + info.compress_size > size:
                            return f"member {info.filename} runs past the end of the file"
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            if full:
                pq.read_table(path, page_checksum_verification=True)
            else:
                pq.read_metadata(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, OSError, pyarrow.ArrowInvalid, ...
        return " ".join(f"{type(exc).__name__}: {exc}".split())
    return None


def damaged_files(paths: list[str | os.PathLike], full_max: int | None = None) -> list[tuple[Path, str]]:
    """``(path, reason)`` for each existing file of ``paths`` that :func:`check_file` finds damaged (read whole
    if at most ``full_max`` bytes, or always if None)."""
    out = []
    for path in map(Path, paths):
        try:
            reason = check_file(path, full=full_max is None or path.stat().st_size <= full_max)
        except FileNotFoundError:
            continue
        if reason is not None:
            out.append((path, reason))
    return out


def cell_name(path: str | os.PathLike) -> str:
    """``<experiment>/<cell path>`` of a file inside ``<results>/<experiment>/cells/<cell path>/`` or
    ``.../checkpoints/<cell path>/``; else the file's folder."""
    parts = Path(path).parent.parts
    for marker in ("cells", "checkpoints"):
        if marker in parts[1:]:
            i = len(parts) - 1 - parts[::-1].index(marker)
            return "/".join((parts[i - 1], *parts[i + 1:]))
    return str(Path(path).parent)


def settings_tag(settings: dict[str, Any]) -> str:
    """The cell's settings as one string (sorted JSON), as training tags its checkpoints."""
    return json.dumps(settings, sort_keys=True)


def failure_record(checkpoint: str | os.PathLike) -> Path:
    """Where the failure record of the cell whose checkpoint is ``checkpoint`` goes."""
    return Path(checkpoint).with_name(FAILED)


def write_failure(checkpoint: str | os.PathLike, cell: str, settings: dict[str, Any], error: BaseException) -> Path:
    """Record that ``cell`` failed with ``error`` (atomically); returns the record's path."""
    path = failure_record(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps({"cell": cell, "error": f"{type(error).__name__}: {error}",
                                    "settings": settings_tag(settings)}, indent=1) + "\n")
    return path


def read_failure(checkpoint: str | os.PathLike, settings: dict[str, Any]) -> dict[str, str] | None:
    """The failure record of a cell, if there is one for these ``settings`` (a record of other settings, or an
    unreadable one, is ignored)."""
    path = failure_record(checkpoint)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("settings") != settings_tag(settings):
        return None
    return {"cell": str(record.get("cell", "")), "error": str(record.get("error", "")), "record": str(path)}


def remove_failure(checkpoint: str | os.PathLike) -> None:
    """Forget a cell's failure (a new attempt starts)."""
    failure_record(checkpoint).unlink(missing_ok=True)


def checkpoint_path(experiment_dir: str | os.PathLike, cell_path: str) -> Path:
    """The resume checkpoint of a cell (the rules' ``checkpoint`` param), beside which its failure record goes."""
    return Path(experiment_dir) / "checkpoints" / cell_path / "state.pt"


def failed_cells(experiment_dir: str | os.PathLike, cells: dict[str, Any],
                 teachers: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Cell path -> failure record, for the ``cells`` (path -> :class:`rfpipe.sweep.Cell`) of the experiment
    in ``experiment_dir`` that have one matching their current settings. A cell whose teacher (``teachers``: cell
    path -> the path of the cell whose flow makes its data, :meth:`rfpipe.sweep.Experiment.teachers`) failed has
    failed too: its record is the teacher's."""
    out = {}
    for path, cell in cells.items():
        record = read_failure(checkpoint_path(experiment_dir, path), cell.settings)
        if record is not None:
            out[path] = record
    for path, teacher in (teachers or {}).items():
        if teacher in out and path not in out:
            out[path] = {**out[teacher], "error": f"its teacher cell {teacher} failed: {out[teacher]['error']}"}
    return out


VERIFIED = ".verified.json"
"""Name of the record, in an experiment's folder, of its files that passed a whole check at a workflow start."""


def damaged_outputs(experiment_dirs: list[str | os.PathLike], remember: bool = False) -> list[tuple[Path, str]]:
    """Damaged ``.pt`` and ``.parquet`` files among the outputs of experiments: every file under ``cells/`` and
    ``data/`` of each folder, and the Parquet files at its top (temporary files, named ``.*``, are skipped).
    Files over :data:`FULL_CHECK_MAX` bytes are checked for truncation only.

    A file read back whole is remembered in the folder's :data:`VERIFIED` record (with ``remember``; a dry run
    writes nothing) by its size, modification time and inode, and is not read again while all three are the
    same: a later truncation, rewrite or replacement changes them, so a workflow start costs a ``stat`` per
    unchanged file. (Damage that keeps all three, a bit flip on the disk, is still found when the file is
    loaded: every reader checks the CRCs.)
    """
    out: list[tuple[Path, str]] = []
    for root in map(Path, experiment_dirs):
        paths = [p for sub in ("cells", "data") for p in (root / sub).rglob("*") if p.suffix in (".pt", ".parquet")]
        paths += list(root.glob("*.parquet"))
        known = _read_verified(root)
        verified: dict[str, list[int]] = {}
        for path in sorted(p for p in paths if not p.name.startswith(".")):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            key, stamp = path.relative_to(root).as_posix(), [st.st_size, st.st_mtime_ns, st.st_ino]
            if known.get(key) == stamp:
                verified[key] = stamp
                continue
            full = st.st_size <= FULL_CHECK_MAX
            try:
                reason = check_file(path, full=full)
            except FileNotFoundError:
                continue
            if reason is not None:
                out.append((path, reason))
            elif full:
                verified[key] = stamp
        if remember and verified != known and root.is_dir():
            _write_atomic(root / VERIFIED, json.dumps(verified, sort_keys=True) + "\n")
    return out


def _read_verified(root: Path) -> dict[str, list[int]]:
    try:
        record = json.loads((root / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def remove_damaged(path: str | os.PathLike) -> list[Path]:
    """Remove a damaged output so that the workflow makes it again; returns the removed files.

    A file of a cell folder (``.../cells/<cell>/``) takes every file of that folder with it, so that the whole
    cell runs again (trained, evaluated) and, their inputs being newer, the reports after it: removing it alone
    would leave a hole Snakemake fills only when a job needs the file. Any other file (a data file, an
    experiment's Parquet) is removed alone; it is made again when a job needs it.
    """
    path = Path(path)
    if "cells" in path.parts[:-1]:
        removed = sorted(p for p in path.parent.iterdir() if p.is_file() and not p.name.startswith("."))
    else:
        removed = [path]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


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
