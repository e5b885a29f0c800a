"""The reflow kind (rfpipe.kinds.reflow): the C8 rule, and the kind's rows of the paper table."""

from __future__ import annotations

import pandas as pd
from synthetic_run import read_table

from rfpipe.kinds.reflow.report import c8_verdicts
from rfpipe.reporting.paper import claim_summary


def _frame(shifts: dict[tuple[str, float], list[list[float]]],
           unconverged: set[tuple[str, float, int, int]] = frozenset()) -> pd.DataFrame:
    """relative_shift per (coupling, sigma), seed and round; every round converged but those in ``unconverged``
    (coupling, sigma, seed, round)."""
    rows = []
    for (coupling, sigma), per_seed in shifts.items():
        for seed, values in enumerate(per_seed):
            for r, v in enumerate(values):
                base = {"coupling": coupling, "sigma": sigma, "seed": seed, "round": r}
                rows += [{**base, "metric": "relative_shift", "value": v},
                         {**base, "metric": "converged", "value": float((coupling, sigma, seed, r) not in unconverged)}]
    return pd.DataFrame(rows)


def test_c8_rule() -> None:
    """C8 is decided on the OT start at sigma = 0 only: all later rounds below stall_tol -> reproduced."""
    ok = _frame({("ot", 0.0): [[0.1, 0.001, 0.002], [0.1, 0.003, 0.001]], ("independent", 0.0): [[0.5, 0.2, 0.1]] * 2})
    out = c8_verdicts(ok, [], 0.01).set_index(["coupling", "sigma"])
    assert out.loc[("ot", 0.0), "verdict"] == "reproduced"
    assert out.loc[("independent", 0.0), "stalls"] == "no"
    bad = _frame({("ot", 0.0): [[0.1, 0.05, 0.002], [0.1, 0.04, 0.001]]})
    assert c8_verdicts(bad, [], 0.01)["verdict"].tolist() == ["not reproduced"]
    mixed = _frame({("ot", 0.0): [[0.1, 0.05, 0.002], [0.1, 0.001, 0.001]]})
    assert c8_verdicts(mixed, [], 0.01)["verdict"].tolist() == ["inconclusive"]


def test_c8_needs_two_seeds_and_says_when_nothing_tested_it() -> None:
    """One seed is no evidence (inconclusive, as in every rule); a setting without OT cells at sigma = 0 has a C8
    row, inconclusive, instead of none."""
    one = _frame({("ot", 0.0): [[0.1, 0.001, 0.002]]})
    assert c8_verdicts(one, [], 0.01)["verdict"].tolist() == ["inconclusive"]
    untested = _frame({("independent", 0.0): [[0.5, 0.2, 0.1]] * 2, ("ot", 0.05): [[0.1, 0.001, 0.002]] * 2})
    out = c8_verdicts(untested, [], 0.01)
    claim = out[out["claim"] == "C8"]
    assert len(claim) == 1 and claim["verdict"].iloc[0] == "inconclusive" and claim["stalls"].iloc[0] == "untested"


def test_reflow_rows(paper_run) -> None:
    """The C8 verdict on the ot start at sigma = 0; the other starts and sigmas are context without a verdict."""
    root, _, frame = paper_run
    v = read_table(root, "rf")
    rows = frame[frame["experiment"] == "rf"]
    claim = rows[rows["setting"] == "start=ot"]
    assert list(claim["metric"]) == ["relative_shift (round 1)", "relative_shift (round 2)"]
    assert set(claim["verdict"]) == {v[v["claim"] == "C8"]["verdict"].item()} == {"reproduced"}
    context = rows[rows["setting"].str.endswith("(context)")]
    assert len(context) == 6 and (context["verdict"] == "").all()
    line = next(s for s in claim_summary(frame) if s.startswith("- **C8**"))
    assert "reproduced in 1 of 1 test;" in line


def test_c8_not_converged_when_any_round_of_a_cell_is_not() -> None:
    """One unconverged round (round 0 or a ReFlow round) of one seed of the claim's cells: not converged, whatever
    the shifts say; an unconverged context cell does not touch the claim row."""
    shifts = {("ot", 0.0): [[0.1, 0.001, 0.002], [0.1, 0.003, 0.001]], ("independent", 0.0): [[0.5, 0.2, 0.1]] * 2}
    for where in ((("ot", 0.0, 1, 2)), (("ot", 0.0, 0, 0))):
        out = c8_verdicts(_frame(shifts, {where}), [], 0.01).set_index(["coupling", "sigma"])
        assert out.loc[("ot", 0.0), "verdict"] == "not converged"
        assert (out.loc[("ot", 0.0), "cells_converged"], out.loc[("ot", 0.0), "cells"]) == (1, 2)
    out = c8_verdicts(_frame(shifts, {("independent", 0.0, 0, 1)}), [], 0.01).set_index(["coupling", "sigma"])
    assert out.loc[("ot", 0.0), "verdict"] == "reproduced"
