"""The convergence criterion (rfpipe.convergence) against hand-computed windows, and its place in the verdicts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rfpipe.convergence import convergence
from rfpipe.reporting.verdict import NOT_CONVERGED, REPRODUCED, all_converged, decide


@pytest.mark.parametrize("zero_minimum", [True, False])
@pytest.mark.parametrize("steps", [10, 57, 1000])
def test_flat_loss_has_no_change_and_converges_where_low_enough(zero_minimum: bool, steps: int) -> None:
    high = convergence([0.4] * steps, zero_minimum, dim=2, converge_tol=0.05, loss_target=0.005)
    assert high.final_loss == pytest.approx(0.4) and high.loss_change == 0.0
    assert high.converged == (not zero_minimum)  # 0.4 / 2 coordinates is far above the target of a zero minimum
    low = convergence([0.008] * steps, zero_minimum, dim=2, converge_tol=0.05, loss_target=0.005)
    assert low.converged  # 0.004 per coordinate


@pytest.mark.parametrize("steps", [100, 1000, 3000])
@pytest.mark.parametrize("slope", [1e-5, 2e-4])
def test_linear_decay_matches_the_window_means(steps: int, slope: float) -> None:
    """l_s = 1 - slope s: the mean over the w steps before a is 1 - slope (a - (w + 1) / 2), w = T // 10."""
    losses = [1.0 - slope * s for s in range(steps)]
    w = steps // 10
    end = 1.0 - slope * (steps - (w + 1) / 2)
    before = 1.0 - slope * (math.ceil(0.8 * steps) - (w + 1) / 2)
    c = convergence(losses, False, dim=1, converge_tol=0.05, loss_target=1e-9)  # far below: flatness decides
    assert c.final_loss == pytest.approx(end, rel=1e-12)
    assert c.loss_change == pytest.approx((before - end) / end, rel=1e-9)
    assert c.converged == ((before - end) / end <= 0.05)


@pytest.mark.parametrize("zero_minimum", [True, False])
def test_a_loss_within_the_target_of_zero_has_converged_even_while_falling(zero_minimum: bool) -> None:
    """Losses are >= 0: one within loss_target of 0 is within it of the minimum, so still falling (a relative
    change of near-zero numbers: the ReFlow rounds on the straight coupling) does not make it unconverged."""
    losses = [0.01 * 0.999 ** s for s in range(5000)]  # falls by a factor e^-1 every 1,000 steps
    c = convergence(losses, zero_minimum, dim=2, converge_tol=0.05, loss_target=0.005)
    assert c.final_loss / 2 < 0.005 and c.loss_change > 0.5 and c.converged


def test_above_the_target_falling_or_flat() -> None:
    """Above the target: a zero-minimum run has not converged, falling or flat; a positive-minimum run has iff
    flat."""
    falling = [10.0 * 0.999 ** s for s in range(5000)]
    flat = [0.4] * 5000
    assert not convergence(falling, True, 2, 0.05, 0.005).converged
    assert not convergence(falling, False, 2, 0.05, 0.005).converged
    assert not convergence(flat, True, 2, 0.05, 0.005).converged
    assert convergence(flat, False, 2, 0.05, 0.005).converged


def test_no_steps_is_not_converged() -> None:
    c = convergence([], False, dim=2, converge_tol=0.05, loss_target=0.005)
    assert not c.converged and math.isnan(c.final_loss)


def test_an_unconverged_cell_takes_the_verdict_whatever_the_evidence() -> None:
    assert decide([True], [False], 3, converged=False) == NOT_CONVERGED
    assert decide([True], [False], 3, converged=True) == REPRODUCED
    frame = pd.DataFrame({"coupling": ["rotated"] * 4, "sigma": [0.0, 0.0, 0.05, 0.05], "seed": [0, 1, 0, 1],
                          "converged": [True, True, True, False]})
    assert all_converged(frame, {"coupling": "rotated", "sigma": (0.0,), "seed": [0, 1]}) == (True, 2, 2)
    assert all_converged(frame, {"coupling": "rotated", "sigma": (0.0, 0.05), "seed": [0, 1]}) == (False, 3, 4)
    assert all_converged(frame, {"coupling": "independent"}) == (False, 0, 0)  # no cell: nothing converged
    assert all_converged(None, {"coupling": "rotated"}) == (True, 0, 0)


def test_convergence_table_of_a_sweep_over_steps(tmp_path) -> None:
    """A sweep whose grid has ``steps`` (the paper's rotation map does) reads every cell's record beside its grid
    values: the record shares no column name with a setting."""
    import pyarrow as pa

    from rfpipe.config import validate_config
    from rfpipe.convergence import CONVERGENCE_SCHEMA
    from rfpipe.io import write_parquet
    from rfpipe.reporting.common import write_convergence
    from rfpipe.sweep import Sweep

    exp = Sweep(validate_config({"experiments": {"r": {"kind": "rotation", "grid": {
        "steps": [100, 300], "sigma": [0.0], "coupling": ["rotated"], "seed": [0, 1]}}}})).experiments["r"]
    assert not set(CONVERGENCE_SCHEMA.names) & set(exp.cells[next(iter(exp.cells))].settings)
    for cell in exp.cells.values():
        steps = cell.settings["steps"]
        record = convergence([10.0 / (1 + s) for s in range(steps)], True, 2, 0.05, 0.005)  # above the target
        write_parquet(pa.Table.from_pylist([record.row()], schema=CONVERGENCE_SCHEMA),
                      tmp_path / "cells" / cell.path / "convergence.parquet")
    (tmp_path / "tables").mkdir()
    frame = write_convergence(exp, tmp_path / "cells", tmp_path / "tables")
    assert list(frame["steps"]) == [100, 100, 300, 300] and list(frame["updates"]) == [100, 100, 300, 300]
    assert "0 of 4 converged" in (tmp_path / "tables" / "convergence.md").read_text()


@pytest.mark.parametrize("coupling", ["rotated", "independent"])
def test_the_loss_target_applies_only_where_the_minimum_is_zero(tmp_path, coupling: str) -> None:
    """A sigma = 0 cell on the fixed rotated pairing is held to the loss target; one whose pairs are re-drawn every
    batch (minimum: the conditional variance of x_1 - x_0, far above the target) only to the flatness."""
    import pyarrow.parquet as pq

    from cells import prepare_data, train_cell_from
    from rfpipe.config import validate_config
    from rfpipe.sweep import Sweep

    experiment = {"kind": "rotation", "grid": {"sigma": [0.0], "coupling": [coupling], "seed": [0]},
                  "n_pairs": 32, "n_test": 8, "width": 16, "depth": 2, "steps": 300, "batch_size": 32,
                  "probe_every": 0, "checkpoint_every": 0, "solver_steps": [5], "n_trajectories": 0,
                  "loss_target": 0.005, "converge_tol": 10.0}  # any fall counts as flat: only the target decides
    (cell,) = Sweep(validate_config({"results_dir": "unused", "experiments": {"e": experiment}}))
    prepare_data(cell.settings, tmp_path / "data.pt")
    record = train_cell_from(cell.settings, tmp_path / "data.pt", tmp_path / "model.pt", tmp_path / "gradvar.parquet")
    assert record.final_loss / 2 > 0.005  # 300 steps of a tiny net: far above the target either way
    assert record.converged == (coupling == "independent")
    assert pq.read_table(tmp_path / "convergence.parquet").to_pylist()[0]["converged"] == record.converged
