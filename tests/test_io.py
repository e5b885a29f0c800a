"""Atomic file output, Parquet and tensor files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from rfpipe.io import atomic_path, load_tensors, save_tensors, write_parquet, write_text


class _Boom(Exception):
    pass


def test_atomic_path_failure_leaves_destination_untouched(tmp_path):
    """If the block raises, the old file keeps its content and no temporary file is left behind."""
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(_Boom):
        with atomic_path(dest) as tmp:
            tmp.write_text("partial new content")
            raise _Boom
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_failure_creates_nothing(tmp_path):
    """If the block raises and the destination did not exist, it still does not exist (nor any temp file)."""
    dest = tmp_path / "new" / "out.bin"
    with pytest.raises(_Boom):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"x")
            raise _Boom
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_atomic_path_success_replaces(tmp_path):
    """On success the content lands at the destination, written in a temp file beside it, and nothing else."""
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp != dest
        tmp.write_text("new")
        assert dest.read_text() == "old"  # not visible before the block ends
    assert dest.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_respects_umask(tmp_path):
    """A file written through atomic_path gets the same permissions as a plain write (umask applied)."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    write_text("x", atomic)
    assert (atomic.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)


def test_write_text_round_trip(tmp_path):
    """write_text creates parent folders and writes the text exactly."""
    path = tmp_path / "a" / "b" / "note.txt"
    write_text("héllo\nworld", path)
    assert path.read_text() == "héllo\nworld"


def test_write_parquet_round_trip(tmp_path):
    """A table with float, int, string and null values reads back equal, schema included."""
    table = pa.table({
        "step": pa.array([0, 10, 20], pa.int64()),
        "t_bin": pa.array([None, 0, 1], pa.int32()),
        "value": pa.array([0.5, float("inf"), -1e-300], pa.float64()),
        "name": pa.array(["a", "b", "é"], pa.string()),
    })
    path = tmp_path / "x" / "t.parquet"
    write_parquet(table, path)
    back = pq.read_table(path)
    assert back.schema.equals(table.schema)
    assert back.equals(table)
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.parquet"]


def test_save_load_tensors_round_trip(tmp_path):
    """Tensors of several dtypes and plain values come back identical."""
    obj = {"a": torch.randn(3, 2, dtype=torch.float64), "b": torch.arange(5), "c": torch.zeros(0, 4),
           "n": 7, "s": "text", "f": 0.25}
    path = tmp_path / "t.pt"
    save_tensors(obj, path)
    back = load_tensors(path)
    assert back.keys() == obj.keys()
    for k in ("a", "b", "c"):
        assert back[k].dtype == obj[k].dtype and torch.equal(back[k], obj[k])
    assert (back["n"], back["s"], back["f"]) == (7, "text", 0.25)


class _Custom:
    """An arbitrary user class (not allowed by weights_only unpickling)."""

    def __init__(self):
        self.payload = [1, 2, 3]


class _SideEffect:
    """Unpickling this would create a file (stand-in for arbitrary code execution)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_load_tensors_refuses_custom_class(tmp_path):
    """A pickled instance of a custom class is refused (weights_only=True)."""
    path = tmp_path / "evil.pt"
    torch.save({"x": _Custom()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_tensors(path)


def test_load_tensors_runs_no_code(tmp_path):
    """A pickle whose __reduce__ would call a function is refused, and the function never runs."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"x": _SideEffect(str(marker))}, path)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        load_tensors(path)
    assert not marker.exists()



def _writer(pt: Path, parquet: Path, ready: int) -> None:
    """The child: write versions k = 1, 2, ... of a 16 MB tensor file and a ~10 MB Parquet file, for ever; say
    so on ``ready`` once version 1 of both is whole."""
    base = torch.arange(4 * 2**20, dtype=torch.float32)
    k = 0
    while True:
        k += 1
        save_tensors({"x": base + k, "k": k}, pt)
        write_parquet(pa.table({"k": pa.array([k] * 2**20, pa.int64()), "v": pa.array(range(2**20), pa.int64())}),
                      parquet)
        if k == 1:
            os.write(ready, b"go\n")


def test_sigkilled_writer_leaves_the_destination_whole(tmp_path):
    """A real writer (rfpipe.io, files of tens of MB, in a forked child) SIGKILLed at 15 seeded moments: after each
    kill each destination is whole and readable (one complete version, never a mix or a truncation),
    leftover temporary files are only dot-files the readers never see, and a rerun completes."""
    import random
    import signal

    from rfpipe.integrity import check_file, damaged_outputs

    pt, parquet = tmp_path / "cells" / "c" / "big.pt", tmp_path / "cells" / "c" / "big.parquet"
    rng = random.Random(20261202)
    for _ in range(15):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child never returns
            try:
                os.close(read_end)
                _writer(pt, parquet, write_end)
            finally:
                os._exit(1)
        os.close(write_end)
        assert os.read(read_end, 3) == b"go\n"  # version 1 is whole: the kill lands during later writes
        os.close(read_end)
        time_left = rng.uniform(0.0, 0.6)
        deadline = os.times().elapsed + time_left
        while os.times().elapsed < deadline:  # a seeded moment of the writer's loop, not a race to win
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for path in (pt, parquet):
            assert check_file(path) is None, path  # present (version 1 at least) and whole
        data = load_tensors(pt)
        k = int(data["k"])
        assert torch.equal(data["x"], torch.arange(4 * 2**20, dtype=torch.float32) + k)
        column = pq.read_table(parquet).column("k").to_pylist()
        assert len(column) == 2**20 and len(set(column)) == 1
        leftovers = [p.name for p in pt.parent.iterdir() if p.name not in (pt.name, parquet.name)]
        assert all(name.startswith(".") and name.endswith(".tmp") for name in leftovers), leftovers
        assert damaged_outputs([tmp_path]) == []  # the start-up scan skips the dot-files
    save_tensors({"x": torch.zeros(3), "k": 0}, pt)  # a rerun writes the file whole
    assert int(load_tensors(pt)["k"]) == 0
