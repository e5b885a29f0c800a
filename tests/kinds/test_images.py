"""The images kind (rfpipe.kinds.images): its config errors, the pairings prepare_data builds from a dataset
cache, the C6/C7 verdict rules, a cell's device and network, and the kind's rows of the paper table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic_run import SEEDS, SIGMA_V, experiment, write_table

from rfpipe.config import ConfigError, validate_config
from rfpipe.data import PairedData
from rfpipe.images import cache_images
from rfpipe.io import load_tensors, save_tensors
from rfpipe.kinds.images import ImagesData
from rfpipe.kinds.images.jobs import prepare_data
from rfpipe.kinds.images.report import c6_c7_verdicts
from rfpipe.ot import assignment_cost, exact_assignment
from rfpipe.reporting.common import summarise
from rfpipe.reporting.paper import claim_summary, paper_table


def _images_config(**settings):
    exp = {"kind": "images", "grid": {"sigma": [0.0, 0.05], "coupling": ["adversarial"], "seed": [0]},
           "resolution": 8, "n_pairs": 16, "n_test": 4, "channel_mults": [1, 2], **settings}
    return {"experiments": {"img": exp}}


@pytest.mark.parametrize("settings,key,message", [
    ({"dataset": "celeba", "data_dir": "/nonexistent/celeba"}, "experiments.img.data_dir", "/nonexistent/celeba"),
    ({"dataset": "celeba"}, "experiments.img.data_dir", "needs data_dir"),
    ({"n_pairs": 4990, "n_test": 20}, "experiments.img.n_pairs", "exceed the 5000 images"),
    ({"resolution": 10, "channel_mults": [1, 2, 2]}, "experiments.img.resolution", "divisible by"),
])
def test_image_config_errors_name_the_key(settings, key, message):
    with pytest.raises(ConfigError, match=f"^{key}:.*{message}"):
        validate_config(_images_config(**settings))


def test_reflow_needs_its_teacher_in_the_grid():
    config = _images_config()
    config["experiments"]["img"]["grid"]["coupling"] = ["reflow"]
    with pytest.raises(ConfigError, match="grid.coupling: 'reflow' needs 'independent'"):
        validate_config(config)
    config["experiments"]["img"]["grid"]["coupling"] = ["reflow", "independent"]
    config["experiments"]["img"]["teacher_sigma"] = 0.1
    with pytest.raises(ConfigError, match="teacher_sigma: 0.1 is not in grid.sigma"):
        validate_config(config)


def _settings(coupling, seed=0, n=24):
    return ImagesData(kind="images", seed=seed, dataset="mnist5k", data_dir=None, resolution=8, n_pairs=n, n_test=6,
                      ot_exact_max=10_000, ot_block=5_000, coupling=coupling, teacher_sigma=0.0)


@pytest.fixture(scope="module")
def image_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / "images.pt"
    cache_images("mnist5k", 8, None, 30, path)
    return path


@pytest.mark.parametrize("seed", [0, 1])
def test_adversarial_pairs_shuffle_the_ot_pairing(tmp_path, image_cache, seed):
    prepare_data(_settings("adversarial", seed), tmp_path / "adv.pt", image_cache)
    prepare_data(_settings("ot", seed), tmp_path / "ot.pt", image_cache)
    adv, ot = PairedData.load(tmp_path / "adv.pt"), PairedData.load(tmp_path / "ot.pt")
    pool = load_tensors(image_cache)["images"]
    assert torch.equal(adv.train.x_0, ot.train.x_0) and torch.equal(adv.train.x_1_ot, ot.train.x_1_ot)
    assert torch.equal(ot.train.x_1, ot.train.x_1_ot)
    x_0, x_1_ot, x_1 = adv.train.x_0, adv.train.x_1_ot, adv.train.x_1
    # the OT partners are the first N images, matched optimally; the shuffle is a permutation of them
    assert torch.equal(x_1_ot[exact_assignment(pool[:24], x_1_ot)], pool[:24])
    best = assignment_cost(x_0, pool[:24], exact_assignment(x_0, pool[:24]))
    assert assignment_cost(x_0, x_1_ot, torch.arange(24)) == pytest.approx(best, rel=1e-12)
    assert assignment_cost(x_0, x_1, torch.arange(24)) > best
    assert torch.equal(x_1.flatten(1).sum(1).sort().values, x_1_ot.flatten(1).sum(1).sort().values)
    assert (x_1 != x_1_ot).flatten(1).any(1).float().mean() > 0.8
    # held-out test images, matched to fresh noise: partner and OT partner coincide
    assert torch.equal(adv.test.x_1, adv.test.x_1_ot) and adv.test.x_0.shape == (6, 1, 8, 8)


def test_reflow_pairs_come_from_the_teacher(tmp_path, image_cache):
    prepare_data(_settings("independent"), tmp_path / "ind.pt", image_cache)
    ind = PairedData.load(tmp_path / "ind.pt")
    generated = torch.flip(ind.train.x_0, dims=[-1]) * 0.5  # any deterministic map stands in for phi
    save_tensors({"x_0": ind.train.x_0, "x_1": generated}, tmp_path / "teacher.pt")
    prepare_data(_settings("reflow"), tmp_path / "reflow.pt", image_cache, tmp_path / "teacher.pt")
    ref = PairedData.load(tmp_path / "reflow.pt")
    assert torch.equal(ref.train.x_1, generated)
    # the OT partner stays the ground-truth OT partner among the real images (as for the other couplings)
    assert torch.equal(ref.train.x_1_ot, ind.train.x_1_ot) and not torch.equal(ref.train.x_1_ot, generated)
    save_tensors({"x_0": ind.train.x_0 + 1, "x_1": generated}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="foreign.pt: the teacher's sources"):
        prepare_data(_settings("reflow"), tmp_path / "r2.pt", image_cache, tmp_path / "foreign.pt")


def _metrics(values):
    """Long metrics rows from {(coupling, n_pairs, sigma, seed): (l2_partner, l2_ot)}."""
    rows = []
    for (coupling, n, sigma, seed), (partner, ot) in values.items():
        for metric, v in (("l2_to_training_partner", partner), ("l2_to_ot", ot), ("pair_recovery", 0.5)):
            rows.append({"coupling": coupling, "n_pairs": n, "sigma": sigma, "seed": seed, "solver_steps": 31,
                         "split": "train", "metric": metric, "value": v})
    return pd.DataFrame(rows)


def _c6(gap0, gapv, n=64, jitter=(0.0, 0.1, -0.05)):
    return {("adversarial", n, s, seed): (10 + g + j, 10 + j * 0.5)
            for s, g in ((0.0, gap0), (0.05, gapv)) for seed, j in enumerate(jitter)}


@pytest.mark.parametrize("gap0,gapv,verdict", [(-3.0, 2.0, "reproduced"), (2.0, 2.0, "not reproduced"),
                                               (-3.0, -2.0, "not reproduced"), (-3.0, 0.0, "inconclusive")])
def test_c6_rule(gap0, gapv, verdict):
    table = c6_c7_verdicts(_metrics(_c6(gap0, gapv)), ["n_pairs"], 0.05, 0.05)
    row = table[table["claim"] == "C6"].iloc[0]
    assert row["verdict"] == verdict
    assert row["paper_setting"] == "n=5000" and row["l2_to_ot_noisy_paper"] == pytest.approx(34.25)


def test_c6_size_trend_and_paper_settings_by_rank():
    metrics = _metrics({**_c6(-5.0, 2.0, n=64), **_c6(-1.0, 2.0, n=256, jitter=(0.0, 0.2, 0.1))})
    table = c6_c7_verdicts(metrics, ["n_pairs"], 0.05, 0.05)
    assert list(table.loc[table["claim"] == "C6", "paper_setting"]) == ["n=5000", "n=50000"]
    size = table[table["claim"] == "C6 (size)"].iloc[0]
    assert size["verdict"] == "reproduced" and size["gap_sigma0_small_n"] < size["gap_sigma0_large_n"]
    reverse = c6_c7_verdicts(_metrics({**_c6(-1.0, 2.0, n=64), **_c6(-5.0, 2.0, n=256, jitter=(0.0, 0.2, 0.1))}),
                             ["n_pairs"], 0.05, 0.05)
    assert reverse.loc[reverse["claim"] == "C6 (size)", "verdict"].iloc[0] == "not reproduced"


@pytest.mark.parametrize("partner,ot,verdict", [((1.0, 5.0), (9.0, 7.0), "reproduced"),
                                                ((5.0, 1.0), (9.0, 7.0), "not reproduced"),
                                                ((1.0, 1.0), (9.0, 9.0), "inconclusive")])
def test_c7_rule(partner, ot, verdict):
    values = {("reflow", 64, s, seed): (partner[i] + 0.1 * seed ** 2 * (i + 1), ot[i] + 0.1 * seed * (2 - i))
              for i, s in enumerate((0.0, 0.05)) for seed in range(3)}
    row = c6_c7_verdicts(_metrics(values), [], 0.05, 0.05, n_pairs=64).iloc[0]
    assert row["claim"] == "C7" and row["verdict"] == verdict
    assert row["l2_to_training_partner_sigma0_paper"] == pytest.approx(8.63)


def test_cell_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """``device: auto`` takes the GPU exactly when torch sees one (both branches, by patching what torch reports);
    a kind without a device and the images' default run on the CPU."""
    from rfpipe.pipeline import build_model, cell_device, cell_settings
    from rfpipe.sweep import Sweep

    config = _images_config(dataset="celeba", channels=4, channel_mults=[1, 2], emb_dim=8, resolution=8)
    cell = next(iter(Sweep(validate_config(config, check_data=False))))
    rotation = next(iter(Sweep(validate_config({"experiments": {"r": {"kind": "rotation", "grid": {
        "sigma": [0.0], "coupling": ["rotated"], "seed": [0]}}}}))))
    assert cell_device(cell_settings(rotation.settings)) == torch.device("cpu")  # a kind without a device
    auto = cell_settings({**cell.settings, "device": "auto"})
    for available, expected in ((True, torch.device("cuda")), (False, torch.device("cpu"))):
        monkeypatch.setattr(torch.cuda, "is_available", lambda available=available: available)
        assert cell_device(auto) == expected
    assert cell_device(cell_settings({**cell.settings, "device": "cuda"})) == torch.device("cuda")  # as asked
    net = build_model(cell_settings(cell.settings))
    assert next(net.parameters()).device.type == "cpu" and net.inp.in_channels == 3


def test_images_rows(tmp_path: Path) -> None:
    """C6 and C7 rows from the images report's verdict table, beside Table 2 / Table 3 at the row's
    paper_setting; the C6 size trend as one test with two rows."""
    rng = np.random.default_rng(4)
    rows = []
    for coupling, sizes in (("adversarial", (64, 256)), ("reflow", (64,))):
        for n in sizes:
            for sigma in (0.0, SIGMA_V):
                for seed in SEEDS:
                    near = {"l2_to_training_partner": 5.0, "l2_to_ot": 9.0} if sigma == 0 else \
                        {"l2_to_training_partner": 9.0, "l2_to_ot": 5.0}
                    for metric, value in {**near, "pair_recovery": 0.5}.items():
                        rows.append({"n_pairs": n, "coupling": coupling, "sigma": sigma, "seed": seed,
                                     "solver_steps": 20, "split": "train", "metric": metric,
                                     "value": value + rng.random()})
    metrics = pd.DataFrame(rows)
    tables = tmp_path / "imgs" / "tables"
    write_table(summarise(metrics, ["n_pairs", "solver_steps", "split", "metric", "coupling", "sigma"]),
           tables / "summary.csv")
    verdicts = c6_c7_verdicts(metrics, ["n_pairs"], SIGMA_V, 0.05)
    write_table(verdicts, tables / "verdicts.csv")
    exp = experiment("imgs", "images", ("n_pairs", "coupling", "sigma", "seed"), verdict_sigma=SIGMA_V, alpha=0.05)
    frame = paper_table({"imgs": exp}, tmp_path).set_index(["setting", "metric", "sigma"])
    c6 = frame.loc[("coupling=adversarial, n_pairs=256, solver_steps=20", "l2_to_training_partner", 0.0)]
    assert c6["claim"] == "C6" and c6["paper_value"] == pytest.approx(45.98)  # Table 2, n=50000, sigma = 0
    v = verdicts[(verdicts["claim"] == "C6") & (verdicts["n_pairs"].astype(str) == "256")].iloc[0]
    assert c6["p_value"] == pytest.approx(v["p_sigma0"]) and c6["verdict"] == v["verdict"] == "reproduced"
    assert c6["ours_mean"] == pytest.approx(v["l2_to_training_partner_sigma0"])
    c7 = frame.loc[("coupling=reflow, n_pairs=64, solver_steps=20", "l2_to_ot", SIGMA_V)]
    assert c7["claim"] == "C7" and c7["paper_value"] == pytest.approx(31.35)  # Table 3, n=5000
    assert c7["p_value"] == pytest.approx(verdicts[verdicts["claim"] == "C7"]["p_noisy"].item())
    size = frame[frame.index.get_level_values("setting").str.endswith("(size trend)")]
    assert len(size) == 2 and size["paper_value"].isna().all()
    summary = claim_summary(frame.reset_index())
    assert next(s for s in summary if s.startswith("- **C6**")).startswith(
        "- **C6** (Table 2): reproduced in 2 of 3 tests")
    assert next(s for s in summary if s.startswith("- **C7**")) == \
        "- **C7** (Table 3): reproduced in 1 of 1 test; experiments: imgs."
