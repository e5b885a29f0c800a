"""The rotation kind (rfpipe.kinds.rotation): the C4 verdict rule on frames whose answer is known, and the
kind's rows of the paper table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_run import SEEDS, SIGMA_V, read_table

from rfpipe.kinds.rotation.report import c4_verdicts


def _rotation_frame(d0: list[float], dn: list[float]) -> pd.DataFrame:
    rows = []
    for seed, (a, b) in enumerate(zip(d0, dn)):
        for sigma, d in ((0.0, a), (0.05, b)):
            rows += [{"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "l2_to_ot", "value": 2.0 + d},
                     {"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "l2_to_training_partner", "value": 2.0},
                     {"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "pair_recovery", "value": 0.5},
                     {"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "closer_to_partner", "value": 0.5}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("d0,dn,verdict", [
    ([1.0, 0.5, 0.2], [-0.3, -0.1, -0.4], "reproduced"),
    ([-1.0, -0.5, -0.2], [-0.3, -0.1, -0.4], "not reproduced"),
    ([1.0, 0.5, 0.2], [0.3, 0.1, 0.4], "not reproduced"),
    ([1.0, -0.5, 0.2], [-0.3, -0.1, -0.4], "inconclusive"),
    ([1.0], [-1.0], "inconclusive"),
])
def test_c4_rule(d0, dn, verdict):
    """C4: D = l2_to_ot - l2_to_training_partner; reproduced iff D(0) > 0 and D(0.05) < 0 in every seed."""
    out = c4_verdicts(_rotation_frame(d0, dn), [], 0.05)
    assert list(out["verdict"]) == [verdict]


def test_rotation_rows_copy_the_c4_verdicts(paper_run) -> None:
    root, _, frame = paper_run
    verdicts = read_table(root, "rot")
    summary = pd.read_csv(root / "rot" / "tables" / "summary.csv")
    rows = frame[frame["experiment"] == "rot"]
    assert set(verdicts["verdict"]) == {"reproduced", "not reproduced"}  # both outcomes are exercised
    for _, v in verdicts.iterrows():
        setting = f"n_pairs={v['n_pairs']}, solver_steps={v['solver_steps']}"
        part = rows[rows["setting"] == setting]
        assert len(part) == 8
        assert (part["verdict"] == v["verdict"]).all() and np.allclose(part["p_value"], v["p_value"])
        for metric in ("l2_to_training_partner", "pair_recovery"):
            for label, sigma in (("sigma0", 0.0), ("noisy", SIGMA_V)):
                row = part[(part["metric"] == metric) & (part["sigma"] == sigma)].iloc[0]
                assert row["ours_mean"] == pytest.approx(v[f"{metric}_{label}"])
                s = summary[(summary["n_pairs"] == v["n_pairs"]) & (summary["solver_steps"] == v["solver_steps"])
                            & (summary["split"] == "train") & (summary["metric"] == metric)
                            & (summary["sigma"] == sigma)].iloc[0]
                assert (row["ours_ci_low"], row["ours_ci_high"]) == pytest.approx((s["ci_low"], s["ci_high"]))
                assert row["n_seeds"] == len(SEEDS)
    assert rows["paper_value"].isna().all()  # C4: a direction, no reported number


@pytest.mark.parametrize("unconverged", [None, (0.0, 1), (0.05, 0)])
def test_c4_not_converged_whenever_a_cell_it_rests_on_is(unconverged) -> None:
    """The evidence of a reproduced setting stands only when all its cells converged: one unconverged cell at
    either sigma gives 'not converged' (never 'not reproduced'); the counts are in the row."""
    cells = [(sigma, seed) for sigma in (0.0, 0.05) for seed in range(3)]
    convergence = pd.DataFrame({"coupling": "rotated", "sigma": [s for s, _ in cells], "seed": [k for _, k in cells],
                                "converged": [(s, k) != unconverged for s, k in cells]})
    out = c4_verdicts(_rotation_frame([1.0, 0.5, 0.2], [-0.3, -0.1, -0.4]), [], 0.05, convergence).iloc[0]
    assert out["verdict"] == ("reproduced" if unconverged is None else "not converged")
    assert (out["cells_converged"], out["cells"]) == (6 - (unconverged is not None), 6)


# --- End to end with fields whose C4 verdict is known in advance ------------------------------------------

def _rotation_flow_mlp(dim: int, angle: float, shift: float, width: int):
    """The field of the rotation flow x_t = R_{t angle} x_0 + t s (s = shift * 1), written into a ReLU MLP of depth
    2 without time features: v(x, t) = a G (x - t s) + s, with a = angle in radians and G the generator of the
    rotation in the (e_1, e_2) plane (G e_1 = e_2, G e_2 = -e_1). Its flow carries every source x_0 to its rotated
    partner R x_0 + s: it memorises the pairing with certainty. Affine in (x, t), the field is exact in a ReLU net:
    z = W [x, t] + b, hidden units (relu(z), relu(-z)) passed through, v = relu(z) - relu(-z)."""
    import math

    import torch

    from rfpipe.models import MLP

    net = MLP(dim, width, depth=2, activation="relu", time_features=0)
    first, middle, last = (m for m in net.net if isinstance(m, torch.nn.Linear))
    g = torch.zeros(dim, dim)
    g[1, 0], g[0, 1] = 1.0, -1.0
    a, s = math.radians(angle), torch.full((dim,), float(shift))
    w = torch.cat([a * g, -(a * g @ s)[:, None]], dim=1)  # (d, d + 1): x and t
    with torch.no_grad():
        for layer in (first, middle, last):
            layer.weight.zero_()
            layer.bias.zero_()
        first.weight[:dim], first.weight[dim:2 * dim] = w, -w
        first.bias[:dim], first.bias[dim:2 * dim] = s, -s
        middle.weight[:2 * dim, :2 * dim] = torch.eye(2 * dim)
        last.weight[:, :dim], last.weight[:, dim:2 * dim] = torch.eye(dim), -torch.eye(dim)
    return net


def _translation_mlp(dim: int, shift: float, width: int):
    """The OT field v = s of the rotation's marginals (x_0 -> x_0 + s), a ReLU MLP with zero weights."""
    import torch

    from rfpipe.models import MLP

    net = MLP(dim, width, depth=2, activation="relu", time_features=0)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.net[-1].bias.fill_(float(shift))
    return net


@pytest.mark.parametrize("memorising,verdict", [
    ((0.0,), "reproduced"),          # sigma = 0 memorises, sigma = 0.05 follows the OT map: the paper's C4
    ((0.0, 0.05), "not reproduced"),  # both memorise: noise did not restore generalisation
    ((), "not reproduced"),           # neither memorises
])
def test_c4_verdict_of_closed_form_fields_through_the_real_evaluation(tmp_path, memorising, verdict):
    """Every cell of a C4 setting with a known field as its model (the rotation flow, which memorises every pair
    with certainty, or the OT translation): the kind's own data job, model files loaded by ``load_model``, the
    kind's ``evaluate`` (Euler, 11 and 101 steps), the metrics read back as the report reads them
    (``read_cells``), and ``c4_verdicts`` give the verdict known in advance at both step counts."""
    from rfpipe import kinds
    from rfpipe.config import validate_config
    from rfpipe.io import save_tensors
    from rfpipe.kinds.rotation.jobs import evaluate
    from rfpipe.pipeline import data_job, load_model
    from rfpipe.reporting.common import read_cells
    from rfpipe.sweep import Sweep

    exp = {"kind": "rotation", "grid": {"sigma": [0.0, 0.05], "coupling": ["rotated"], "seed": [0, 1, 2]},
           "n_pairs": 64, "n_test": 32, "width": 8, "depth": 2, "activation": "relu", "time_features": 0,
           "steps": 10, "solver_steps": [11, 101]}
    experiment = Sweep(validate_config({"experiments": {"rot": exp}})).experiments["rot"]
    settings = experiment.settings
    for data_path in experiment.data_paths():
        (tmp_path / data_path).parent.mkdir(parents=True, exist_ok=True)
        data_job(experiment.data_settings(data_path), {}, str(tmp_path / data_path))
    for cell in experiment.cells.values():
        folder = tmp_path / "cells" / cell.path
        folder.mkdir(parents=True)
        net = (_rotation_flow_mlp(2, settings["angle"], settings["shift"], 8) if cell.settings["sigma"] in memorising
               else _translation_mlp(2, settings["shift"], 8))
        save_tensors({"state_dict": net.state_dict()}, folder / "model.pt")
        typed = kinds.get("rotation").settings.from_mapping(cell.settings)
        assert isinstance(load_model(typed, folder / "model.pt"), type(net))
        evaluate(typed, tmp_path / cell.data_path, folder / "model.pt", folder / "metrics.parquet",
                 folder / "trajectories.parquet")
    metrics = read_cells(experiment, tmp_path / "cells", "metrics.parquet")
    out = c4_verdicts(metrics, [], 0.05)
    assert list(out["solver_steps"]) == [11, 101]
    assert list(out["verdict"]) == [verdict, verdict], out.T
    partner = metrics[(metrics["metric"] == "l2_to_training_partner") & (metrics["split"] == "train")
                      & (metrics["solver_steps"] == 101)]
    for sigma, value in partner.groupby("sigma")["value"].max().items():
        # 101 Euler steps of the rotation flow land within 5 % of |x_0| of the partner (the OT field: 2|x_0| off)
        assert (value < 0.1) == (sigma in memorising), (sigma, value)
