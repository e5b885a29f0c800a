"""The gaussian_variance kind (rfpipe.kinds.gaussian_variance): the paired verdict and the C1-C3 verdicts on
measured rows, and the kind's rows of the paper table."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_run import SIGMA_V, read_table

from rfpipe.gaussian import GaussianPair, variance_at_field
from rfpipe.interpolants import Interpolant
from rfpipe.kinds.gaussian_variance.report import gaussian_verdicts, paired_verdict
from rfpipe.reporting.paper import claim_summary


def test_paired_verdict_directions() -> None:
    """a < b significantly: reproduced; a > b: not reproduced; no difference: inconclusive."""
    lo = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert paired_verdict(lo, lo + 1, 0.01)[0] == "reproduced"
    assert paired_verdict(lo + 1, lo, 0.01)[0] == "not reproduced"
    assert paired_verdict(lo, lo, 0.01)[0] == "inconclusive"
    assert paired_verdict(lo, lo[::-1].reset_index(drop=True), 0.01)[0] == "inconclusive"


def test_gaussian_verdicts_on_measured_rows() -> None:
    """C1 to C3 rows from real measurements at d = 2: the rotated field on rotated pairs has the larger
    variance at sigma = 0.05 (C2, own reading), C1 holds for the rotated field, and at the OT field independent
    pairs give a lower variance than 120-degree rotated pairs (C3, the paper's setting) in both spaces."""
    pair = GaussianPair.from_settings(2, 5.0, "anisotropic")
    rows = []
    for sigma in (0.0, 0.05):
        for field in ("ot", "rotated"):
            for coupling in ("ot", "rotated", "independent"):
                for r in variance_at_field(pair, field, coupling, 120.0, Interpolant(sigma), 64, 12, 2, seed=0):
                    rows.append({"sigma": sigma, "field": field, "coupling": coupling, "seed": 0, **r})
    frame = pd.DataFrame(rows)
    verdicts = gaussian_verdicts(frame[frame["t_bin"].isna()], [], 1e-12, 0.01)
    c1 = verdicts[(verdicts["claim"] == "C1") & (verdicts["field"] == "rotated")]
    assert set(c1["verdict"]) == {"reproduced"}
    c2 = verdicts[(verdicts["claim"] == "C2") & (verdicts["data"] == "own")]
    assert len(c2) == 2 and set(c2["verdict"]) == {"reproduced"}
    assert (c2["mean_a"] < c2["mean_b"]).all()
    assert set(verdicts["claim"]) == {"C1", "C2", "C3"}
    c3 = verdicts[verdicts["claim"] == "C3"]
    assert len(c3) == 4 and set(c3["verdict"]) == {"reproduced"}
    assert (c3["mean_a"] < c3["mean_b"]).all()


def test_gaussian_rows(paper_run) -> None:
    """C1 rows per field and sigma on its own pairs; C2/C3 rows carry A and B with the Wilcoxon p of A < B."""
    root, _, frame = paper_run
    verdicts = read_table(root, "gauss", "variance_verdicts.csv")
    rows = frame[frame["experiment"] == "gauss"]
    c1 = rows[(rows["claim"] == "C1") & (rows["setting"] == "dim=2, space=output, field=rotated, pairs=own")]
    assert list(c1["sigma"]) == [0.0, SIGMA_V]
    assert c1["ours_mean"].iloc[0] == 0.0 and c1["ours_mean"].iloc[1] > 1 and (c1["n_seeds"] == 8).all()
    v = verdicts[(verdicts["claim"] == "C2") & (verdicts["data"] == "own") & (verdicts["dim"] == 10)
                 & (verdicts["space"] == "parameter")].iloc[0]
    c2 = rows[(rows["claim"] == "C2") & (rows["setting"] == "dim=10, space=parameter, pairs=own")]
    assert list(c2["metric"]) == [f"grad_var_trace ({v['a']})", f"grad_var_trace ({v['b']})"]
    assert list(c2["ours_mean"]) == pytest.approx([v["mean_a"], v["mean_b"]])
    assert (c2["p_value"] == v["p_value"]).all() and (c2["verdict"] == v["verdict"]).all()
    c3 = rows[rows["claim"] == "C3"]
    assert len(c3) == 2 * int((verdicts["claim"] == "C3").sum())
    for claim in ("C1", "C2", "C3"):
        want = verdicts[verdicts["claim"] == claim]["verdict"].value_counts().to_dict()
        line = next(s for s in claim_summary(frame) if s.startswith(f"- **{claim}**"))
        assert f"reproduced in {want.get('reproduced', 0)} of {sum(want.values())} tests" in line


def _c1_rows(zero: list[float], noisy: list[float]) -> pd.DataFrame:
    """Whole-t output-space rows of one field on its own pairs: traces per repetition at sigma 0 and 0.05."""
    rows = [{"field": "ot", "coupling": "ot", "sigma": sigma, "seed": 0, "rep": rep, "space": "output",
             "t_bin": None, "grad_var_trace": trace}
            for sigma, traces in ((0.0, zero), (0.05, noisy)) for rep, trace in enumerate(traces)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("zero,noisy,verdict", [
    ([0.0, 1e-14, 0.0], [0.3, 0.2, 0.4], "reproduced"),
    ([0.0, 1e-3, 0.0], [0.3, 0.2, 0.4], "not reproduced"),  # a repetition at sigma = 0 above zero_tol
    ([0.0, 0.0, 0.0], [0.3, 0.0, 0.4], "not reproduced"),  # a repetition at sigma > 0 at zero
    ([0.0, 0.0, 0.0], [], "inconclusive"),  # no sigma > 0 in the grid
])
def test_c1_rule_each_outcome(zero: list[float], noisy: list[float], verdict: str) -> None:
    """C1's threshold rule on designed traces (zero_tol 1e-12): each of its three outcomes."""
    frame = _c1_rows(zero, noisy)
    out = gaussian_verdicts(frame, [], 1e-12, 0.01)
    assert list(out[out["claim"] == "C1"]["verdict"]) == [verdict]


# --- Chunks: the experiment's one job split into several, merged --------------------------------------------

def _small_experiment(chunks: int = 1) -> dict:
    return {"kind": "gaussian_variance", "grid": {"sigma": [0.0, 0.05], "coupling": ["ot", "independent"],
                                                  "field": ["ot"], "seed": [0], "dim": [2, 3]},
            "n_samples": 16, "repetitions": 2, "t_bins": 2, "chunks": chunks}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_chunks_partition_the_cells_in_order(n: int) -> None:
    """The chunks of n jobs are contiguous, in cell order, cover every cell once and differ in size by at most
    one; ``chunks`` is not a cell setting (it changes no number), so the cells' settings are those of chunks 1."""
    from rfpipe.config import validate_config
    from rfpipe.sweep import Sweep

    experiment = Sweep(validate_config({"experiments": {"g": _small_experiment(n)}})).experiments["g"]
    one = Sweep(validate_config({"experiments": {"g": _small_experiment(1)}})).experiments["g"]
    names = experiment.chunk_names()
    assert names == [f"{i}-of-{n}" for i in range(1, n + 1)]
    parts = [list(experiment.chunk(c).cells) for c in names]
    assert [p for part in parts for p in part] == list(experiment.cells)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert {p: c.settings for p, c in experiment.cells.items()} == {p: c.settings for p, c in one.cells.items()}
    assert experiment.job_settings() == one.job_settings()
    with pytest.raises(ValueError, match="chunk '0-of-2'"):
        experiment.chunk("0-of-2")


def test_merged_chunks_equal_one_job_byte_for_byte(tmp_path) -> None:
    """Three chunk jobs merged give the very bytes of one job over every cell (the Parquet file the report reads)."""
    from rfpipe.config import validate_config
    from rfpipe.pipeline import experiment_job, merge_chunks
    from rfpipe.sweep import Sweep

    experiment = Sweep(validate_config({"experiments": {"g": _small_experiment(3)}})).experiments["g"]
    settings = experiment.job_settings()
    experiment_job("g", settings, str(tmp_path / "whole.parquet"))
    parts = [str(tmp_path / f"variance.{c}.parquet") for c in experiment.chunk_names()]
    for chunk, part in zip(experiment.chunk_names(), parts):
        experiment_job("g", settings, part, chunk=chunk)
    merge_chunks(parts, str(tmp_path / "merged.parquet"))
    assert (tmp_path / "merged.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    import pyarrow.parquet as pq

    assert pq.read_table(parts[0]).num_rows < pq.read_table(tmp_path / "whole.parquet").num_rows


def test_more_chunks_than_cells_is_refused() -> None:
    from rfpipe.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match=r"experiments\.g\.chunks: 9 jobs for 8 cells"):
        validate_config({"experiments": {"g": _small_experiment(9)}})
    bad = _small_experiment(1)
    bad["grid"]["chunks"] = [1, 2]
    del bad["chunks"]
    with pytest.raises(ConfigError, match=r"experiments\.g\.grid\.chunks: a workflow setting"):
        validate_config({"experiments": {"g": bad}})
