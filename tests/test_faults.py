"""Faults injected into the pipeline: SIGKILL mid-run, damaged files, NaN and inf, untrusted files.

The kill tests run :func:`rfpipe.pipeline.train_cell` in a child process (forked) that SIGKILLs itself at a
chosen point (a training step, half-way through writing a checkpoint, the Parquet log or the model), then run it
again: the result must equal, byte for byte, that of a run never interrupted.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import traceback
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from rfpipe.integrity import CorruptFileError, cell_name, check_file, damaged_files, read_failure
from rfpipe.io import UnsafeFileError, load_tensors, save_tensors, write_parquet
from rfpipe.pipeline import prepare_data, train_cell

ROOT = Path(__file__).resolve().parents[1]

SETTINGS: dict[str, Any] = {
    "kind": "rotation", "sigma": 0.05, "coupling": "rotated", "seed": 0, "dim": 2, "angle": 180.0, "shift": 5.0,
    "n_pairs": 32, "n_test": 8, "noise": "constant", "width": 16, "depth": 2, "activation": "silu", "steps": 60,
    "batch_size": 16, "lr": 0.003, "lr_schedule": "cosine", "probe_every": 5, "checkpoint_every": 10,
    "probe_batch": "fresh", "probe_size": 16, "t_bins": 2, "solver": "euler", "solver_steps": [5],
    "n_trajectories": 2, "verdict_sigma": 0.05,
}

# The child (a fork of this process, so torch is already imported): installs a kill switch, trains one cell.
# Kill points (argument ``kill``):
#   step N        SIGKILL as the N-th training batch of the child is drawn
#   checkpoint N  during the N-th checkpoint write of the child: half its bytes written, then SIGKILL
#   parquet       during the gradient-variance log write, half written
#   model         during the model write, half written


def _install_kill_switch(kill: str | None, n: int, report: Any) -> None:
    import io

    import rfpipe.training as training

    count = [0]

    def die() -> None:
        report.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def half(data: bytes, where: Any) -> None:
        with open(where, "wb") as f:  # a partial file at the name the writer was given
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
        report.write(f"KILLED-WRITING {where}\n")
        die()

    if kill == "step":
        draw = training.draw_batch

        def counting(sampler, interpolant, batch_size, generator, stratified=False):  # type: ignore[no-untyped-def]
            if not stratified:
                count[0] += 1
                if count[0] == n:
                    die()
            return draw(sampler, interpolant, batch_size, generator, stratified)

        training.draw_batch = counting
    elif kill in ("checkpoint", "model"):
        save = torch.save

        def killing(obj, f, *a, **k):  # type: ignore[no-untyped-def]
            if ("opt" in obj) == (kill == "checkpoint"):
                count[0] += 1
                if count[0] == n:
                    buf = io.BytesIO()
                    save(obj, buf, *a, **k)
                    half(buf.getvalue(), getattr(f, "name", f))
            return save(obj, f, *a, **k)

        torch.save = killing
    elif kill == "parquet":
        write = pq.write_table

        def killing_pq(table, where, **k):  # type: ignore[no-untyped-def]
            sink = pa.BufferOutputStream()
            write(table, sink, **k)
            half(sink.getvalue().to_pybytes(), where)

        pq.write_table = killing_pq


def _cell(root: Path, name: str = "coupling=rotated/sigma=0.05/seed=0") -> dict[str, str]:
    return {"data": str(root / "data.pt"), "model": str(root / "rotation" / "cells" / name / "model.pt"),
            "gradvar": str(root / "rotation" / "cells" / name / "gradvar.parquet"),
            "checkpoint": str(root / "rotation" / "checkpoints" / name / "state.pt")}


def _child(paths: dict[str, str], settings: dict[str, Any] = SETTINGS, kill: str | None = None,
           n: int = 1) -> tuple[int, str]:
    """Run train_cell in a forked child with a kill switch; (its exit code, -9 for SIGKILL; its log)."""
    log_path = Path(paths["data"]).with_name(f"child{os.getpid()}.log")
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            with open(log_path, "w", buffering=1) as report:
                handler = logging.StreamHandler(report)
                logger = logging.getLogger("rfpipe")
                logger.handlers[:] = [handler]
                logger.setLevel(logging.INFO)
                try:
                    _install_kill_switch(kill, n, report)
                    train_cell(settings, paths["data"], paths["model"], paths["gradvar"], checkpoint=paths["checkpoint"])
                    code = 0
                except BaseException:
                    report.write(traceback.format_exc())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    text = log_path.read_text()
    log_path.unlink()
    return os.waitstatus_to_exitcode(status), text


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The bytes of model.pt and gradvar.parquet of an uninterrupted run (in a child, like the others)."""
    root = tmp_path_factory.mktemp("ref")
    paths = _cell(root)
    prepare_data(SETTINGS, paths["data"])
    code, text = _child(paths)
    assert code == 0, text
    assert not Path(paths["checkpoint"]).exists()  # removed once the outputs are written
    return {k: Path(paths[k]).read_bytes() for k in ("model", "gradvar")} | {"data": Path(paths["data"]).read_bytes()}


def _outputs_whole_or_absent(paths: dict[str, str]) -> None:
    """No partial file at an output or checkpoint path: each is absent or reads back whole."""
    for key in ("model", "gradvar", "checkpoint"):
        path = Path(paths[key])
        assert not path.exists() or check_file(path) is None, f"partial file visible at {path}"


def _resumed_at(stderr: str) -> int | None:
    found = re.search(r"resumed from .* at step (\d+)", stderr)
    return int(found.group(1)) if found else None


# The kills in order, each with the step its run resumes from (checkpoint_every 10, 60 steps, probe_every 5).
KILLS: list[tuple[dict[str, Any], int | None]] = [
    ({"kill": "step", "n": 7}, None),         # step 6, before the first checkpoint
    ({"kill": "step", "n": 25}, None),        # step 24: checkpoints at 10 and 20 written
    ({"kill": "checkpoint", "n": 1}, 20),     # half-way through writing the checkpoint of step 30
    ({"kill": "parquet"}, 20),                # training done (checkpoint 50), half-way through gradvar.parquet
    ({"kill": "model"}, 50),                  # gradvar.parquet written, half-way through model.pt
]


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path, reference: dict[str, bytes]) -> None:
    """A cell SIGKILLed at training steps, then half-way through writing its checkpoint, its Parquet log and its
    model, and run again after each kill, resumes from its last good checkpoint every time and ends with the
    same bytes in model.pt and gradvar.parquet as an uninterrupted run: no step lost or repeated. After every
    kill, no partial file is at an output or checkpoint path (the half-written one has a temporary name)."""
    paths = _cell(tmp_path)
    Path(paths["data"]).write_bytes(reference["data"])
    for kill, resume_from in KILLS:
        code, text = _child(paths, **kill)
        assert code == -signal.SIGKILL, (kill, text[-2000:])
        assert _resumed_at(text) == resume_from, (kill, text[-2000:])
        _outputs_whole_or_absent(paths)
        if "KILLED-WRITING" in text:
            partial = Path(text.split("KILLED-WRITING ")[1].split()[0])
            assert partial.exists() and partial.name.startswith(".") and partial.name.endswith(".tmp"), partial
            probe = tmp_path / f"partial{Path(partial.name[1:].rsplit('.', 2)[0]).suffix}"
            probe.write_bytes(partial.read_bytes())
            assert check_file(probe) is not None  # it is indeed partial
    assert Path(paths["gradvar"]).exists() and not Path(paths["model"]).exists()
    code, text = _child(paths)
    assert code == 0, text[-2000:]
    assert _resumed_at(text) == 50
    assert Path(paths["model"]).read_bytes() == reference["model"]
    assert Path(paths["gradvar"]).read_bytes() == reference["gradvar"]
    whole = pq.read_table(paths["gradvar"]).to_pandas()
    steps = whole[whole["t_bin"].isna()]["step"].tolist()
    assert steps == list(range(0, SETTINGS["steps"] + 1, SETTINGS["probe_every"]))  # no duplicated or missing step
    assert not Path(paths["checkpoint"]).exists()


def test_checkpoint_of_other_settings_or_damaged_is_not_reused(tmp_path: Path, reference: dict[str, bytes],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A truncated checkpoint is reported with its path and the cell retrains from scratch (same bytes)."""
    paths = _cell(tmp_path)
    Path(paths["data"]).write_bytes(reference["data"])
    code, _ = _child(paths, kill="step", n=25)  # leaves a checkpoint at step 20
    assert code == -signal.SIGKILL
    ckpt = Path(paths["checkpoint"])
    ckpt.write_bytes(ckpt.read_bytes()[:-100])
    assert check_file(ckpt) is not None
    torch.set_num_threads(1)
    with caplog.at_level(logging.WARNING, logger="rfpipe"):
        train_cell(SETTINGS, paths["data"], paths["model"], paths["gradvar"], checkpoint=paths["checkpoint"])
    assert f"checkpoint {ckpt} is unreadable" in caplog.text
    assert Path(paths["model"]).read_bytes() == reference["model"]
    assert Path(paths["gradvar"]).read_bytes() == reference["gradvar"]
