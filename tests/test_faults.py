"""Faults injected into the pipeline: SIGKILL mid-run, damaged files, NaN and inf, untrusted files.

The kill tests run :func:`rfpipe.pipeline.train_cell` in a child process (forked) that SIGKILLs itself at a
chosen point (a training step, half-way through writing a checkpoint, the Parquet log or the model), then run it
again: the result must equal, byte for byte, that of a run never interrupted.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import traceback
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from workflow_copy import copy_workflow
import torch

from rfpipe.failures import cell_name, read_failure
from rfpipe.integrity import CorruptFileError, check_file, damaged_files
from rfpipe.io import UnsafeFileError, load_tensors, save_tensors, write_parquet
from cells import evaluate_cell, prepare_data, train_cell_from as train_cell

ROOT = Path(__file__).resolve().parents[1]

SETTINGS: dict[str, Any] = {
    "kind": "rotation", "sigma": 0.05, "coupling": "rotated", "seed": 0, "dim": 2, "angle": 180.0, "shift": 5.0,
    "n_pairs": 32, "n_test": 8, "noise": "constant", "width": 16, "depth": 2, "activation": "silu", "steps": 60,
    "batch_size": 16, "lr": 0.003, "lr_schedule": "cosine", "probe_every": 5, "checkpoint_every": 10,
    "probe_batch": "fresh", "probe_size": 16, "t_bins": 2, "solver": "euler", "solver_steps": [5],
    "n_trajectories": 2, "converge_tol": 0.05, "loss_target": 0.005, "timeline_start": 0, "t_centre_scale": 0.0,
    "time_features": 0,
    "time_conditioning": "input",
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

        def counting(sampler, interpolant, batch_size, generator, stratified=False, **kw):  # type: ignore[no-untyped-def]
            if not stratified:
                count[0] += 1
                if count[0] == n:
                    die()
            return draw(sampler, interpolant, batch_size, generator, stratified, **kw)

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
            "convergence": str(root / "rotation" / "cells" / name / "convergence.parquet"),
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
                    train_cell(settings, paths["data"], paths["model"], paths["gradvar"],
                               checkpoint=paths["checkpoint"])
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
    return ({k: Path(paths[k]).read_bytes() for k in ("model", "gradvar", "convergence")}
            | {"data": Path(paths["data"]).read_bytes()})


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
    assert Path(paths["convergence"]).read_bytes() == reference["convergence"]  # every step's loss, resumed too
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
    assert Path(paths["convergence"]).read_bytes() == reference["convergence"]  # every step's loss, resumed too


@pytest.mark.parametrize("change", ["none", "settings", "gradvar"])
def test_requeued_after_training_does_not_train_again(tmp_path: Path, reference: dict[str, bytes],
                                                      monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """A job requeued during its evaluation calls train_cell again with the checkpoint already removed: whole
    outputs of the same settings are kept as they are (no step repeated); other settings, or a damaged output,
    train again."""
    import rfpipe.pipeline

    paths = _cell(tmp_path)
    Path(paths["data"]).write_bytes(reference["data"])
    for key in ("model", "gradvar", "convergence"):
        Path(paths[key]).parent.mkdir(parents=True, exist_ok=True)
        Path(paths[key]).write_bytes(reference[key])
    settings = {**SETTINGS, "lr": SETTINGS["lr"] * 2} if change == "settings" else SETTINGS
    if change == "gradvar":
        Path(paths["gradvar"]).write_bytes(reference["gradvar"][:-50])
    calls = []
    monkeypatch.setattr(rfpipe.pipeline, "train", lambda *a, **k: calls.append(1) or pytest.fail("trained"))
    if change == "none":
        train_cell(settings, paths["data"], paths["model"], paths["gradvar"], checkpoint=paths["checkpoint"])
        assert Path(paths["model"]).read_bytes() == reference["model"]
        assert Path(paths["gradvar"]).read_bytes() == reference["gradvar"]
    else:
        with pytest.raises(pytest.fail.Exception, match="trained"):
            train_cell(settings, paths["data"], paths["model"], paths["gradvar"], checkpoint=paths["checkpoint"])
    assert len(calls) == (change != "none")


# --- NaN and inf ------------------------------------------------------------------------------------------


def _train_with_hook(steps: int, bad_step: int, value: float, probe_every: int = 0) -> None:
    """Train a small MLP whose first-layer weight gradient is replaced by ``value`` at ``bad_step``."""
    from rfpipe.couplings import PairSampler
    from rfpipe.interpolants import Interpolant
    from rfpipe.models import MLP
    from rfpipe.training import TrainConfig, train

    x_0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = MLP(2, 8, 2)
    calls = [0]

    def hook(grad: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return torch.full_like(grad, value) if calls[0] - 1 == bad_step else grad

    model.net[0].weight.register_hook(hook)
    train(model, PairSampler(x_0, 5 - x_0, "paired"), Interpolant(0.0),
          TrainConfig(steps=steps, batch_size=8, probe_every=probe_every, probe_size=8, t_bins=2), seed=0)


@pytest.mark.parametrize("bad_step,value,word", [(3, math.nan, "nan"), (5, math.inf, "inf"), (9, -math.inf, "-inf")])
def test_nonfinite_gradient_names_parameter_and_step(bad_step: int, value: float, word: str) -> None:
    """A NaN or inf gradient stops training with the parameter, the value and the step named (the last step
    included, whose gradient no later loss would show)."""
    with pytest.raises(FloatingPointError, match=rf"^gradient of net\.0\.weight is {word} at step {bad_step}$"):
        _train_with_hook(10, bad_step, value)


def test_nonfinite_loss_names_step() -> None:
    """A target with an inf makes the loss inf at the first step that draws it: named with its step."""
    from rfpipe.couplings import PairSampler
    from rfpipe.interpolants import Interpolant
    from rfpipe.models import MLP
    from rfpipe.training import TrainConfig, train

    x_0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    x_1 = 5 - x_0
    x_1[:, 0] = math.inf
    with pytest.raises(FloatingPointError, match=r"^loss is (inf|nan) at step 0$"):
        train(MLP(2, 8, 1), PairSampler(x_0, x_1, "paired"), Interpolant(0.0), TrainConfig(steps=5, batch_size=8,
              probe_every=0), seed=0)


def test_diverging_cell_is_named_and_recorded(tmp_path: Path) -> None:
    """train_cell on settings that diverge (lr 1e6) raises naming the cell (experiment and hive path), the step
    and the quantity, writes no output, and leaves a failure record for these settings only; a new attempt
    removes the record."""
    paths = _cell(tmp_path)
    prepare_data(SETTINGS, paths["data"])
    bad = {**SETTINGS, "lr": 1e6}
    with pytest.raises(FloatingPointError,
                       match=r"^cell rotation/coupling=rotated/sigma=0\.05/seed=0: loss is inf at step 1$"):
        train_cell(bad, paths["data"], paths["model"], paths["gradvar"], checkpoint=paths["checkpoint"])
    assert not Path(paths["model"]).exists() and not Path(paths["gradvar"]).exists()
    record = read_failure(paths["checkpoint"], bad)
    assert record is not None and record["cell"] == "rotation/coupling=rotated/sigma=0.05/seed=0"
    assert "loss is inf at step 1" in record["error"]
    assert read_failure(paths["checkpoint"], SETTINGS) is None  # other settings: not this failure
    short = {**SETTINGS, "steps": 5}
    train_cell(short, paths["data"], paths["model"], paths["gradvar"], checkpoint=paths["checkpoint"])
    assert read_failure(paths["checkpoint"], bad) is None and Path(paths["model"]).exists()


@pytest.mark.parametrize("coupling", ["ot", "independent"])
def test_diverging_reflow_cell_is_named_and_recorded(tmp_path: Path, coupling: str) -> None:
    """A ``reflow`` cell (C8) that diverges stops naming the cell, the step and the quantity, writes no output and
    leaves a failure record for its settings, as training cells do; a sound attempt removes the record."""
    from rfpipe.config import validate_config
    from rfpipe.kinds.reflow.jobs import reflow_cell
    from rfpipe.layout import ExperimentLayout
    from rfpipe.pipeline import cell_settings
    from rfpipe.sweep import Sweep

    config = {"experiments": {"reflow": {"kind": "reflow", "n_pairs": 32, "rounds": 1, "width": 16, "depth": 2,
              "steps": 5, "batch_size": 16, "solver_steps": 3,
              "grid": {"sigma": [0.0], "coupling": [coupling], "seed": [0], "lr": [1e6, 1e-3]}}}}
    exp = Sweep(validate_config(config)).experiments["reflow"]
    bad, good = (next(c for c in exp.cells.values() if c.settings["lr"] == lr) for lr in (1e6, 1e-3))
    root = tmp_path / "results" / "reflow"
    out, checkpoint = root / "cells" / bad.path / "reflow.parquet", ExperimentLayout(root).checkpoint(bad.path)
    with pytest.raises(FloatingPointError,
                       match=rf"^cell reflow/{re.escape(bad.path)}: loss is (inf|nan) at step \d+$"):
        reflow_cell(cell_settings(bad.settings), out, checkpoint=checkpoint)
    assert not out.exists()
    record = read_failure(checkpoint, bad.settings)
    assert record is not None and record["cell"] == f"reflow/{bad.path}"
    assert read_failure(checkpoint, good.settings) is None  # other settings: not this failure
    # the same folder, sound settings: a new attempt
    reflow_cell(cell_settings(good.settings), out, checkpoint=checkpoint)
    assert out.exists() and read_failure(checkpoint, bad.settings) is None


def test_failed_cells_marked_in_report(tmp_path: Path) -> None:
    """The report finds failed cells by their failure records (for their current settings only), lists them in
    tables/failed_cells.{csv,md} and closes the Markdown tables it just wrote with a "Failed cells" section;
    with no failure left, the list is removed."""
    import time

    from rfpipe.config import validate_config
    from rfpipe.failures import write_failure
    from rfpipe.layout import ExperimentLayout
    from rfpipe.reporting.common import failed_cells, mark_failed_cells
    from rfpipe.sweep import Sweep

    config = {"experiments": {"rotation": {"kind": "rotation", "n_pairs": 32, "probe_size": 40, "t_bins": 4,
              "solver_steps": [5], "grid": {"sigma": [0.0, 0.05], "coupling": ["rotated"], "seed": [0, 1]}}}}
    exp = Sweep(validate_config(config)).experiments["rotation"]
    root = tmp_path / "rotation"
    cells = list(exp.cells.values())
    write_failure(ExperimentLayout(root).checkpoint(cells[1].path), f"rotation/{cells[1].path}", cells[1].settings,
                  FloatingPointError("loss is nan at step 7"))
    write_failure(ExperimentLayout(root).checkpoint(cells[2].path), f"rotation/{cells[2].path}",
                  {**cells[2].settings, "lr": 9.0},
                  FloatingPointError("loss is inf at step 1"))  # a record of other settings: not a failure now
    failed = failed_cells(exp, root)
    assert list(failed["cell"]) == [cells[1].path]
    assert "loss is nan at step 7" in failed["error"].iloc[0]
    tables = root / "tables"
    tables.mkdir(parents=True)
    since = time.time() - 1.0
    (tables / "summary.md").write_text("# Summary\n")
    mark_failed_cells(failed, tables, since)
    assert f"| {cells[1].path} |" in (tables / "failed_cells.md").read_text()
    assert (tables / "summary.md").read_text().endswith(f"`{cells[1].path}`.\n")
    mark_failed_cells(failed_cells(exp, tmp_path / "elsewhere"), tables, time.time())
    assert not (tables / "failed_cells.md").exists() and not (tables / "failed_cells.csv").exists()


IMAGES: dict[str, Any] = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())["experiments"]["images"]


def _failed_teacher(root: Path) -> tuple[Any, Any, list[str], Path]:
    """The ``images`` experiment of config/test.yaml with a failure record (NaN at step 3) for the teacher of its
    first reflow cell, under ``root`` (its folder): (experiment, teacher cell, the teacher's pupils, record)."""
    from rfpipe.config import validate_config
    from rfpipe.failures import write_failure
    from rfpipe.layout import ExperimentLayout
    from rfpipe.sweep import Sweep

    exp = Sweep(validate_config({"experiments": {"images": IMAGES}}, check_data=False)).experiments["images"]
    teachers = exp.teachers()
    teacher = exp.cells[teachers[min(teachers)]]
    record = write_failure(ExperimentLayout(root).checkpoint(teacher.path), f"images/{teacher.path}", teacher.settings,
                           FloatingPointError("loss is nan at step 3"))
    return exp, teacher, sorted(p for p, t in teachers.items() if t == teacher.path), record


def test_cells_of_a_failed_teacher_are_failed(tmp_path: Path) -> None:
    """A cell trained on the reflow pairs of a teacher that failed is failed too (the report lists it, with the
    teacher's record, instead of waiting for pairs that cannot be made); the other cells are not."""
    from rfpipe.reporting.common import failed_cells

    root = tmp_path / "images"
    exp, teacher, pupils, record = _failed_teacher(root)
    teachers = exp.teachers()
    assert set(teachers) == {p for p, c in exp.cells.items() if c.settings["coupling"] == "reflow"} != set()
    assert teacher.settings["coupling"] == "independent"
    failed = failed_cells(exp, root).set_index("cell")
    assert sorted(failed.index) == sorted([teacher.path, *pupils])
    for pupil in pupils:
        assert failed.loc[pupil, "error"] == \
            f"its teacher cell {teacher.path} failed: FloatingPointError: loss is nan at step 3"
        assert failed.loc[pupil, "record"] == str(record)


def test_remove_damaged_takes_the_whole_cell(tmp_path: Path) -> None:
    """A damaged file in a cell folder goes with every file of that folder (so the cell runs again); a data
    file goes alone."""
    from rfpipe.integrity import remove_damaged

    cell = tmp_path / "rotation" / "cells" / "coupling=rotated" / "sigma=0.0" / "seed=0"
    data = tmp_path / "rotation" / "data" / "seed=0" / "data.pt"
    for p in (cell / "model.pt", cell / "metrics.parquet", cell / ".model.pt.x.tmp", data, data.with_name("x.pt")):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    assert remove_damaged(cell / "model.pt") == [cell / "metrics.parquet", cell / "model.pt"]
    assert [p.name for p in cell.iterdir()] == [".model.pt.x.tmp"]
    assert remove_damaged(data) == [data] and data.with_name("x.pt").exists()


def test_cell_name() -> None:
    assert cell_name("results/rotation/cells/n_pairs=16/coupling=rotated/sigma=0.0/seed=2/model.pt") == \
        "rotation/n_pairs=16/coupling=rotated/sigma=0.0/seed=2"
    assert cell_name("/x/results/mog/checkpoints/coupling=paired/sigma=0.0/seed=0/state.pt") == \
        "mog/coupling=paired/sigma=0.0/seed=0"


# --- Damaged files ----------------------------------------------------------------------------------------


def _damage(path: Path, how: str, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) * 2 // 3:]
    else:  # one flipped bit, at ``at`` or in the first third (the data, not the footer)
        data[len(data) // 3 if at is None else at] ^= 0x10
    path.write_bytes(bytes(data))


def test_verified_files_are_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up scan reads a file whole once, then only stats it while its size, time and inode stay the same
    (the record, .verified.json, is written only with remember=True: a dry run writes nothing). A truncated or
    rewritten file is read again and reported; a bit flipped with size and time kept escapes the scan but not
    the reader, which checks the CRCs on load."""
    import rfpipe.integrity as integrity

    root = tmp_path / "rotation"
    cell = root / "cells" / "coupling=rotated" / "sigma=0.0" / "seed=0"
    cell.mkdir(parents=True)
    weights = torch.linspace(0, 1, 500)
    save_tensors({"w": weights, "settings": "s"}, cell / "model.pt")
    write_parquet(pa.table({"step": list(range(200))}), cell / "gradvar.parquet")
    (root / "data" / "seed=0").mkdir(parents=True)
    save_tensors({"x_0": torch.zeros(4, 2)}, root / "data" / "seed=0" / "data.pt")
    read: list[str] = []
    real_check = integrity.check_file
    monkeypatch.setattr(integrity, "check_file", lambda path, full=True: read.append(Path(path).name) or
                        real_check(path, full))

    assert integrity.damaged_outputs([root]) == [] and len(read) == 3
    assert not (root / integrity.VERIFIED).exists()  # not remembered: read again next time
    assert integrity.damaged_outputs([root], remember=True) == [] and len(read) == 6
    assert sorted(json.loads((root / integrity.VERIFIED).read_text())) == [
        "cells/coupling=rotated/sigma=0.0/seed=0/gradvar.parquet", "cells/coupling=rotated/sigma=0.0/seed=0/model.pt",
        "data/seed=0/data.pt"]
    read.clear()
    assert integrity.damaged_outputs([root], remember=True) == [] and read == []

    model = cell / "model.pt"
    _damage(model, "truncated")
    assert [(p.name, bool(r)) for p, r in integrity.damaged_outputs([root], remember=True)] == [("model.pt", True)]
    assert read == ["model.pt"]
    assert "cells/coupling=rotated/sigma=0.0/seed=0/model.pt" not in json.loads((root / integrity.VERIFIED).read_text())

    save_tensors({"w": weights, "settings": "s"}, model)
    integrity.damaged_outputs([root], remember=True)
    stat = model.stat()
    at = model.read_bytes().index(weights.numpy().tobytes()) + 1000
    _damage(model, "bitflip", at)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same size, time and inode
    read.clear()
    assert integrity.damaged_outputs([root], remember=True) == [] and read == []
    with pytest.raises(CorruptFileError, match="model.pt"):
        load_tensors(model)


@pytest.mark.parametrize("how", ["truncated", "bitflip"])
@pytest.mark.parametrize("kind", ["parquet", "pt"])
def test_damaged_file_is_detected(tmp_path: Path, kind: str, how: str) -> None:
    """A truncated file, or one with a single flipped bit, is found damaged (Parquet page CRCs, zip CRCs)."""
    path = tmp_path / f"x.{kind}"
    at = None
    if kind == "parquet":
        write_parquet(pa.table({"step": list(range(200)), "value": [i / 7 for i in range(200)]}), path)
    else:
        weights = torch.linspace(0, 1, 500)
        save_tensors({"w": weights, "settings": "s"}, path)
        at = path.read_bytes().index(weights.numpy().tobytes()) + 1000  # inside the tensor's bytes
    assert check_file(path) is None
    _damage(path, how, at)
    assert check_file(path) is not None
    assert damaged_files([path, tmp_path / "absent.pt"]) == [(path, check_file(path))]
    if kind == "pt":
        with pytest.raises(CorruptFileError,
                           match=rf"^{re.escape(str(path))} is damaged \(.*\); run the workflow again"):
            load_tensors(path)


def test_damaged_model_stops_evaluation_naming_it(tmp_path: Path) -> None:
    """Evaluating a cell whose model.pt is truncated raises CorruptFileError naming that file."""

    paths = _cell(tmp_path)
    prepare_data(SETTINGS, paths["data"])
    train_cell({**SETTINGS, "steps": 3}, paths["data"], paths["model"], paths["gradvar"])
    _damage(Path(paths["model"]), "truncated")
    with pytest.raises(CorruptFileError, match=re.escape(paths["model"])):
        evaluate_cell(SETTINGS, paths["data"], paths["model"], str(tmp_path / "m.parquet"), str(tmp_path / "t.parquet"))


# --- Untrusted files --------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this would create a file: a stand-in for arbitrary code execution."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.target),))


def test_pickle_payload_checkpoint_is_refused_and_never_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A checkpoint or model file carrying a pickle payload is refused unread (weights_only=True): the payload
    never runs; a checkpoint is then ignored (training starts afresh), a model makes the load fail naming it."""
    paths = _cell(tmp_path)
    prepare_data(SETTINGS, paths["data"])
    canary = tmp_path / "pwned"
    for key in ("checkpoint", "model"):
        Path(paths[key]).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"step": 20, "tag": "x", "payload": _Payload(str(canary))}, paths[key])
    with pytest.raises(UnsafeFileError, match=re.escape(paths["model"])):
        load_tensors(paths["model"])
    with caplog.at_level(logging.WARNING, logger="rfpipe"):
        train_cell({**SETTINGS, "steps": 3}, paths["data"], paths["model"], paths["gradvar"],
                   checkpoint=paths["checkpoint"])
    assert f"checkpoint {paths['checkpoint']} is unreadable" in caplog.text
    assert not canary.exists()


def test_every_torch_load_is_weights_only() -> None:
    """Every torch.load call of the package and the workflow scripts passes weights_only=True (checkpoints,
    models, data and user weights alike; rfpipe.io.load_tensors is the usual way)."""
    import ast

    calls = []
    for path in [*(ROOT / "rfpipe").rglob("*.py"), *(ROOT / "workflow" / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("torch.load", "load"):
                kw = {k.arg: k.value for k in node.keywords}
                if ast.unparse(node.func) == "load" and "map_location" not in kw:
                    continue  # some other load()
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", ok))
    assert ("rfpipe/io.py", True) in {(c.split(":")[0], ok) for c, ok in calls}
    assert all(ok for _, ok in calls), calls


def test_no_config_value_reaches_a_shell() -> None:
    """Rules run Python (script:), never a shell: no config value, param or wildcard is pasted into a command
    line. And no Python module of the workflow or package starts a shell."""
    import ast

    directives = re.compile(r"^\s*(shell|run|script|wrapper|notebook|cwl)\s*:", re.M)
    for smk in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        found = set(directives.findall(smk.read_text()))
        assert found <= {"script"}, f"{smk.name}: {found}"
    for path in [*(ROOT / "rfpipe").rglob("*.py"), *(ROOT / "workflow" / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                names = {kw.arg for kw in node.keywords}
                func = ast.unparse(node.func)
                shell = any(kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
                            for kw in node.keywords)
                assert not shell and func not in ("os.system", "os.popen", "subprocess.getoutput"), \
                    f"{path.relative_to(ROOT)}:{node.lineno}: {func}({', '.join(map(str, names))})"


# --- The workflow under faults (Snakemake) ----------------------------------------------------------------

CELL = "coupling=rotated/sigma=0.05/seed=0"
WF_CONFIG: dict[str, Any] = {
    "results_dir": "results",
    "threads": 1,
    "experiments": {"rotation": {
        "kind": "rotation", "grid": {"sigma": [0.05], "coupling": ["rotated"], "seed": [0]},
        "n_pairs": 32, "n_test": 16, "width": 32, "depth": 2, "steps": 2000, "batch_size": 32, "probe_every": 100,
        "probe_size": 16, "t_bins": 2, "checkpoint_every": 100, "solver_steps": [5], "n_trajectories": 2,
    }},
}


def _workflow(dest: Path, config: dict[str, Any] = WF_CONFIG) -> Path:
    import yaml

    copy_workflow(dest, configs=False)
    (dest / "config").mkdir()
    (dest / "config" / "faults.yaml").write_text(yaml.safe_dump(config))
    return dest


TARGET = f"results/rotation/cells/{CELL}/metrics.parquet"  # data, train and evaluate: no report, to be quick


def _snakemake_cmd(*args: str) -> list[str]:
    import sys

    # Targets and flags first: --configfile takes every following word as a file.
    return [sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile", "config/faults.yaml"]


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_snakemake_cmd(*args), cwd=workdir, capture_output=True, text=True, timeout=600)


def _wait_for(predicate: Any, proc: subprocess.Popen[str], what: str, timeout: float = 300) -> None:
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"snakemake ended before {what}: {proc.communicate()}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _outputs(workdir: Path) -> dict[str, bytes]:
    """Every data file and cell output of the run, by relative path."""
    exp = workdir / "results" / "rotation"
    files = [p for p in exp.rglob("*") if p.suffix in (".pt", ".parquet") and "checkpoints" not in p.parts]
    return {str(p.relative_to(workdir)): p.read_bytes() for p in sorted(files)}


HOLD = """
# Test only: after the cell is trained and evaluated, this run (its Snakemake lock and its results-folder claim)
# stays alive at a known point: it writes `held`, then blocks reading the FIFO `release` until the test writes it.
rule hold:
    input:
        "{target}",
    output:
        "held.done",
    run:
        from pathlib import Path

        Path("held").touch()
        with open("release") as fifo:
            fifo.read()
        Path(output[0]).touch()
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, subprocess.CompletedProcess[str]]]:
    """A run of WF_CONFIG during which a second snakemake was started on the same folder, from the same working
    directory and from another checkout whose config names the same results folder; (the first run's working
    directory, {"same": result, "other": result}).

    The first run is held, cell finished, inside a last job (rule ``hold``) until both second runs have ended, so
    the outcome never depends on how fast this machine trains or starts a process."""
    workdir = _workflow(tmp_path_factory.mktemp("first"))
    with open(workdir / "Snakefile", "a") as f:
        f.write(HOLD.format(target=TARGET))
    os.mkfifo(workdir / "release")
    elsewhere = _workflow(tmp_path_factory.mktemp("other"), {**WF_CONFIG, "results_dir": str(workdir / "results")})
    first = subprocess.Popen(_snakemake_cmd("held.done"), cwd=workdir, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_for((workdir / "held").exists, first, "the hold", timeout=600)
        # Both target work still to do (the held job's output), so each has to reach the lock or the claim.
        second = {"same": _snakemake(workdir, "held.done"),
                  "other": _snakemake(elsewhere, str(workdir / "results" / "rotation" / "cells" / CELL
                                                     / "metrics.parquet"))}
        assert first.poll() is None, "the held run ended before it was released"
        with open(workdir / "release", "w") as fifo:
            fifo.write("go")
        out, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, out[-3000:]
    return workdir, second


def test_second_pipeline_on_the_same_folder_is_refused(
        finished: tuple[Path, dict[str, subprocess.CompletedProcess[str]]]) -> None:
    """A second snakemake started while the first runs refuses at once, from the same working directory with
    Snakemake's lock message, from another checkout sharing the results folder with rfpipe's (naming the folder
    and the first run's directory), and changes nothing; the first completes, every output whole."""
    workdir, second = finished
    assert second["same"].returncode != 0
    assert "Directory cannot be locked" in second["same"].stdout + second["same"].stderr
    other = second["other"]
    assert other.returncode != 0
    assert (f"rfpipe: results folder {(workdir / 'results').resolve()} is in use by a run in {workdir.resolve()}; "
            "wait for it to end or give this checkout its own results_dir") in other.stderr, other.stderr[-3000:]
    assert "Traceback" not in other.stderr
    outputs = _outputs(workdir)
    assert {Path(p).name for p in outputs} == {"data.pt", "model.pt", "gradvar.parquet", "convergence.parquet",
                                               "timeline.parquet", "metrics.parquet", "trajectories.parquet"}
    assert damaged_files([workdir / p for p in outputs]) == []


@pytest.mark.slow  # about 35 s; the library-level kill test above runs by default
def test_snakemake_killed_then_rerun_resumes_and_equals(
        finished: tuple[Path, dict[str, subprocess.CompletedProcess[str]]], tmp_path: Path) -> None:
    """snakemake SIGKILLed (with its training job) mid-training, then `snakemake --unlock` and the same command
    again: the cell resumes from its checkpoint and every output and table equals, byte for byte, those of the
    uninterrupted run in another folder (so also: the same config gives the same bytes, run from scratch)."""
    workdir = _workflow(tmp_path / "killed")
    run = subprocess.Popen(_snakemake_cmd(TARGET), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    checkpoint = workdir / "results" / "rotation" / "checkpoints" / CELL / "state.pt"
    _wait_for(checkpoint.exists, run, "the first checkpoint")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (workdir / "results" / "rotation" / "cells" / CELL / "model.pt").exists()
    assert _snakemake(workdir, TARGET).returncode != 0  # Snakemake's lock survives a SIGKILL ...
    assert _snakemake(workdir, "--unlock").returncode == 0  # ... and is removed like this
    again = _snakemake(workdir, TARGET)
    assert again.returncode == 0, again.stderr[-3000:]
    log = (workdir / "results" / "rotation" / "logs" / "train" / f"{CELL}.log").read_text()
    assert _resumed_at(log) is not None and _resumed_at(log) > 0, log
    reference = _outputs(finished[0])
    assert _outputs(workdir) == reference


def test_damaged_output_is_reported_and_remade(
        finished: tuple[Path, dict[str, subprocess.CompletedProcess[str]]]) -> None:
    """A truncated model.pt would look up to date to Snakemake: the workflow reports it with its path when it
    starts (a dry run only reports it), removes it with the rest of its cell, and trains and evaluates the cell
    again: the same bytes as before the damage."""
    workdir = finished[0]
    before = _outputs(workdir)
    model = workdir / "results" / "rotation" / "cells" / CELL / "model.pt"
    _damage(model, "truncated")
    dry = _snakemake(workdir, "-n", TARGET)
    assert dry.returncode == 0
    assert f"rfpipe: results/rotation/cells/{CELL}/model.pt is damaged" in dry.stderr
    assert "a run without -n removes it" in dry.stderr and model.exists()
    run = _snakemake(workdir, TARGET)
    assert run.returncode == 0, run.stderr[-3000:]
    assert ("removed (convergence.parquet, gradvar.parquet, metrics.parquet, model.pt, timeline.parquet, "
            "trajectories.parquet) to be made again") in run.stderr
    assert re.search(r"rule train_rotation:", run.stdout + run.stderr)  # trains and evaluates the cell again
    assert _outputs(workdir) == before


def test_damaged_data_file_is_reported_and_remade(
        finished: tuple[Path, dict[str, subprocess.CompletedProcess[str]]]) -> None:
    """A data file with one flipped bit: the start-up scan names it and removes it with the cells trained on it
    (else Snakemake, finding those outputs present, would never need the data again and leave the hole); rule
    ``data`` makes it again and the cell is retrained: every output the same bytes as before the damage."""
    workdir = finished[0]
    before = _outputs(workdir)
    (data,) = [workdir / p for p in before if p.endswith("data.pt")]
    _damage(data, "bitflip")
    assert damaged_files([data]) != []
    run = _snakemake(workdir, TARGET)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"rfpipe: {data.relative_to(workdir)} is damaged" in run.stderr
    assert f"removed (data.pt; with the cells trained on it: results/rotation/cells/{CELL}) to be made again" \
        in run.stderr
    assert re.search(r"rule data:", run.stdout + run.stderr) and re.search(r"rule train_rotation:",
                                                                            run.stdout + run.stderr)
    assert _outputs(workdir) == before


FAILING_CONFIG: dict[str, Any] = {
    "results_dir": "results",
    "experiments": {"rotation": {
        **{k: v for k, v in WF_CONFIG["experiments"]["rotation"].items() if k != "grid"},
        "grid": {"sigma": [0.0, 0.05], "coupling": ["rotated"], "seed": [0], "lr": [0.003, 1.0e6]},
        "steps": 20, "probe_every": 10, "checkpoint_every": 10,
    }, "reflow": {
        "kind": "reflow", "n_pairs": 32, "rounds": 1, "width": 16, "depth": 2, "steps": 5, "batch_size": 16,
        "solver_steps": 3, "grid": {"sigma": [0.0], "coupling": ["independent"], "seed": [0], "lr": [0.003, 1.0e6]},
    }},
}


@pytest.mark.slow  # about 50 s; test_failed_cells_marked_in_report covers the report side by default
def test_nan_cell_fails_alone_and_the_report_marks_it(tmp_path: Path) -> None:
    """Cells that diverge (lr 1e6), training cells and a ``reflow`` cell (C8), fail with the cell, step and
    quantity in their log while, with --keep-going, every other cell runs; the next run writes the reports
    without them and lists them as failed (failed_cells.md, and a closing section in the other tables) instead of
    running them again."""
    workdir = _workflow(tmp_path / "nan", FAILING_CONFIG)
    reports = ["results/rotation/tables/summary.md", "results/reflow/tables/summary.md"]
    first = _snakemake(workdir, "--keep-going", *reports)
    assert first.returncode != 0
    results = workdir / "results"
    bad = {"rotation": [f"lr=1000000.0/coupling=rotated/sigma={s}/seed=0" for s in (0.0, 0.05)],
           "reflow": ["lr=1000000.0/coupling=independent/sigma=0.0/seed=0"]}
    rules = {"rotation": ("train_rotation", "model.pt", "metrics.parquet"),
             "reflow": ("train_reflow", "reflow.parquet", "reflow.parquet")}
    for name, cells in bad.items():
        rule, output, last = rules[name]
        for cell in cells:
            log = (results / name / "logs" / "train" / f"{cell}.log").read_text()
            assert re.search(rf"FloatingPointError: cell {name}/{re.escape(cell)}: loss is (inf|nan) at step \d+", log)
            assert (results / name / "checkpoints" / cell / "failed.json").exists()
            assert not (results / name / "cells" / cell / output).exists()
        good = [c.replace("1000000.0", "0.003") for c in cells]
        assert all((results / name / "cells" / c / last).exists() for c in good)
    second = _snakemake(workdir, *reports)
    assert second.returncode == 0, second.stderr[-3000:]
    for name, cells in bad.items():
        for cell in cells:
            assert f"rfpipe: cell {name}/{cell} failed (FloatingPointError: cell {name}/{cell}: loss is" \
                in second.stderr
        assert f"rule {rules[name][0]}:" not in second.stdout + second.stderr
        failed = (results / name / "tables" / "failed_cells.md").read_text()
        assert all(f"| {cell} |" in failed for cell in cells)
        summary = (results / name / "tables" / "summary.md").read_text()
        assert "## Failed cells" in summary and all(f"`{cell}`" in summary for cell in cells)
        assert "lr=1000000.0" not in summary.split("## Failed cells")[0]


def test_pupils_of_a_failed_teacher_are_not_planned(tmp_path: Path) -> None:
    """With the failure record of a reflow teacher on disk, Snakemake names the teacher and its pupils as failed
    and plans the images report without them: no job trains either, or makes the pupils' pairs or data."""
    workdir = _workflow(tmp_path / "teacher", {"results_dir": "results", "experiments": {"images": IMAGES}})
    exp, teacher, pupils, _ = _failed_teacher(workdir / "results" / "images")
    plan = _snakemake(workdir, "-n", "results/images/tables/summary.md")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert f"rfpipe: cell images/{teacher.path} failed (FloatingPointError: loss is nan at step 3)" in plan.stderr
    for pupil in pupils:
        assert f"rfpipe: cell images/{pupil} failed (its teacher cell {teacher.path} failed" in plan.stderr
    planned = " ".join(re.findall(r"^\s+output: (.*)$", plan.stdout + plan.stderr, flags=re.M))
    assert "output:" in plan.stdout + plan.stderr and f"cells/{teacher.path}/" not in planned
    assert all(f"cells/{pupil}/" not in planned and f"data/{exp.cells[pupil].data_path}/" not in planned
               for pupil in pupils)
    others = [p for p in exp.cells if p != teacher.path and p not in pupils]
    assert others and all(f"cells/{p}/model.pt" in planned for p in others)


@pytest.mark.parametrize("kind", ["parquet", "pt"])
def test_structural_check_finds_truncation(tmp_path: Path, kind: str) -> None:
    """The quick check used for large files at start-up (full=False) still finds a truncated file."""
    path = tmp_path / f"x.{kind}"
    if kind == "parquet":
        write_parquet(pa.table({"v": [i / 7 for i in range(5000)]}), path)
    else:
        save_tensors({"w": torch.linspace(0, 1, 5000)}, path)
    assert check_file(path, full=False) is None
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        assert check_file(path, full=False) is not None, cut
    assert damaged_files([path], full_max=1) == [(path, check_file(path, full=False))]


def test_startup_scan_reads_the_experiments_own_parquet_and_never_a_temporary(tmp_path: Path) -> None:
    """The start-up scan checks an experiment's own Parquet files (variance.parquet at its top) as well as its
    cells and data, and never reads a temporary (a dot-file left by a killed writer), damaged or not."""
    from rfpipe.integrity import damaged_outputs

    root = tmp_path / "gaussian"
    root.mkdir()
    write_parquet(pa.table({"rep": list(range(1000))}), root / "variance.parquet")
    assert damaged_outputs([root]) == []
    whole = (root / "variance.parquet").read_bytes()
    (root / "variance.parquet").write_bytes(whole[: len(whole) // 2])
    (root / ".variance.parquet.x1.tmp").write_bytes(whole[:100])  # a killed writer's leftover
    cell = root / "cells" / "seed=0"
    cell.mkdir(parents=True)
    (cell / ".model.pt.y2.tmp").write_bytes(b"PK\x03\x04 not a whole zip")
    assert [p.name for p, _ in damaged_outputs([root])] == ["variance.parquet"]
