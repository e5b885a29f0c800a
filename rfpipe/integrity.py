"""Damaged files, without torch (the Snakefile imports this).

Every ``.pt`` file rfpipe writes is a zip archive (``torch.save``) whose members carry CRC-32 checksums, and
every Parquet file is written with page checksums (:func:`rfpipe.io.write_parquet`), so a truncated or
bit-flipped file is found by reading it back: :func:`check_file`. The workflow checks the outputs of every cell
when it starts (``workflow/rules/train.smk``) and removes a damaged one with the rest of its cell
(:func:`remove_damaged`), so Snakemake runs the cell again, and everything after it; readers raise
:class:`CorruptFileError` naming the file.

Failure records of cells stopped by a NaN or inf are :mod:`rfpipe.failures`; the claim of a results folder
by one working directory is :mod:`rfpipe.claims`.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from rfpipe.layout import CELLS, DATA

__all__ = ["VERIFIED", "CorruptFileError", "check_file", "damaged_files", "damaged_outputs", "remove_cell",
           "remove_damaged", "write_atomic"]

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
        paths = [p for sub in (CELLS, DATA) for p in (root / sub).rglob("*") if p.suffix in (".pt", ".parquet")]
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
            write_atomic(root / VERIFIED, json.dumps(verified, sort_keys=True) + "\n")
    return out


def _read_verified(root: Path) -> dict[str, list[int]]:
    try:
        record = json.loads((root / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it (never a partial file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def remove_damaged(path: str | os.PathLike) -> list[Path]:
    """Remove a damaged output so that the workflow makes it again; returns the removed files.

    A file of a cell folder (``.../cells/<cell>/``) takes every file of that folder with it, so that the whole
    cell runs again (trained, evaluated) and, their inputs being newer, the reports after it: removing it alone
    would leave a hole Snakemake fills only when a job needs the file. Any other file (a data file, an
    experiment's Parquet) is removed alone; the workflow also removes the cells trained on a damaged data file
    (:func:`remove_cell`), so that it is needed, and made, again.
    """
    path = Path(path)
    if CELLS in path.parts[:-1]:
        return remove_cell(path.parent)
    path.unlink(missing_ok=True)
    return [path]


def remove_cell(folder: str | os.PathLike) -> list[Path]:
    """Remove every file but hidden ones of a cell folder, so that the cell runs again; returns the removed files
    (none if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
