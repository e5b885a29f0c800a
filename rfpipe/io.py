"""Atomic file output and tensor files.

Every file rfpipe writes goes to a temporary name in the destination folder first and is renamed into
place only once complete, so a reader (or a downstream Snakemake rule) never sees a partial file.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from rfpipe.integrity import RERUN, CorruptFileError, check_file

__all__ = ["CorruptFileError", "UnsafeFileError", "atomic_path", "write_parquet", "write_text", "save_tensors",
           "load_tensors"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` atomically (one closed Parquet file, with a CRC-32 per page, so that
    :func:`rfpipe.integrity.check_file` finds a corrupted page)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, write_page_checksum=True)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_tensors(tensors: dict[str, object], path: str | os.PathLike) -> None:
    """Save a flat mapping of tensors and plain values with :func:`torch.save`, atomically; the same mapping
    gives the same bytes whatever the file's name."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(tensors, f)  # through a file object: the archive's inner folder is "archive", not the temp name


class UnsafeFileError(pickle.UnpicklingError):
    """A tensor file holding objects other than tensors and plain values (refused unread); names the file."""


def load_tensors(path: str | os.PathLike) -> dict[str, object]:
    """Load a file written by :func:`save_tensors` (``weights_only=True``: no code is unpickled).

    Raises:
        FileNotFoundError: no file at ``path``.
        UnsafeFileError: the file pickles anything but tensors and plain values (nothing of it is run).
        CorruptFileError: the file is truncated or corrupted (every member is checked against its CRC-32).
    """
    reason = check_file(path)  # torch.load does not check the archive's CRCs: a flipped bit would load silently
    if reason is not None:
        raise CorruptFileError(f"{path} is damaged ({reason}); {RERUN}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError):
        raise
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsafeFileError(f"{path}: refused, it holds more than tensors and plain values ({first})") from exc
    except Exception as exc:
        reason = check_file(path) or " ".join(f"{type(exc).__name__}: {exc}".split())
        raise CorruptFileError(f"{path} is damaged ({reason}); {RERUN}") from exc
