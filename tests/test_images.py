"""Image data: the offline datasets, a local CelebA in both layouts (real LFW face pixels as JPEGs), the
pairings built from them, and the C6/C7 verdict rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rfpipe.config import ConfigError, validate_config
from rfpipe.data import PairedData
from rfpipe.images import FASHION_MNIST_DIR, DatasetError, celeba_files, dataset_size, load_images
from rfpipe.io import load_tensors, save_tensors
from rfpipe.ot import assignment_cost, exact_assignment
from rfpipe.images import cache_images
from rfpipe.kinds.images import ImagesData
from rfpipe.kinds.images.jobs import prepare_data
from rfpipe.kinds.images.report import c6_c7_verdicts


def test_mnist5k_is_shuffled_in_range_and_fixed():
    x = load_images("mnist5k", 28)
    assert x.shape == (5000, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0  # background pixels are 0 -> -1, strokes reach 255 -> 1
    # the csv is sorted by label (500 zeros first); shuffled, the first 500 are not all near one digit's mean
    first, rest = x[:500].mean(0), x[2500:3000].mean(0)
    assert (first - rest).abs().max() < 0.3
    assert torch.equal(load_images("mnist5k", 28, limit=10), x[:10])
    assert dataset_size("mnist5k") == 5000


def test_resize_is_an_area_average():
    """Downsampling by 2 with antialiasing keeps the mean intensity (up to the [0, 1] clamp)."""
    full, half = load_images("mnist5k", 28, limit=50), load_images("mnist5k", 14, limit=50)
    assert half.shape == (50, 1, 14, 14)
    assert torch.allclose(half.mean((1, 2, 3)), full.mean((1, 2, 3)), atol=0.02)


def test_lfw_faces():
    pytest.importorskip("skimage")
    x = load_images("lfw_faces", 16)
    assert x.shape == (100, 1, 16, 16) and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert dataset_size("lfw_faces") == 100


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package():
    assert dataset_size("fashion_mnist") == 70_000
    x = load_images("fashion_mnist", 28, limit=100)
    assert x.shape == (100, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


def _faces():
    skimage = pytest.importorskip("skimage")
    return skimage.data.lfw_subset()[:12]


def _write_celeba(root, faces, partition=None):
    from PIL import Image

    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    for i, face in enumerate(faces):
        rgb = np.repeat((face * 255).round().astype(np.uint8)[:, :, None], 3, axis=2)
        # a CelebA-like portrait frame (taller than wide): 25 x 25 face padded to 25 wide x 31 high
        frame = np.pad(rgb, ((3, 3), (0, 0), (0, 0)), constant_values=0)
        Image.fromarray(frame).save(folder / f"{i + 1:06d}.jpg", quality=95)
    if partition is not None:
        (root / "list_eval_partition.txt").write_text(
            "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(partition)))
    return folder


@pytest.mark.parametrize("layout", ["img_align_celeba", "torchvision"])
def test_celeba_from_a_local_folder(tmp_path, layout):
    faces = _faces()
    root = tmp_path / "data"
    base = root if layout == "img_align_celeba" else root / "celeba"
    partition = [0] * 8 + [1, 2, 1, 2]
    _write_celeba(base, faces, partition)
    assert len(celeba_files(str(root))) == 8  # only the training partition
    x = load_images("celeba", 25, str(root))
    assert x.shape == (8, 3, 25, 25)
    # centre crop of the 31 x 25 frame is the face itself: pixels survive JPEG to within a few levels
    expected = torch.from_numpy(faces[:8].astype(np.float32)) * 2 - 1
    assert (x.mean(1) - expected).abs().mean() < 0.05
    assert torch.allclose(x[:, 0], x[:, 1], atol=0.02)  # grey faces stay grey in RGB


def test_celeba_missing_or_empty_folder_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "nowhere")):
        celeba_files(str(tmp_path / "nowhere"))
    (tmp_path / "empty" / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no training images"):
        celeba_files(str(tmp_path / "empty"))


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


def test_cell_device():
    from rfpipe.pipeline import build_model, cell_device, cell_settings
    from rfpipe.sweep import Sweep

    config = _images_config(dataset="celeba", channels=4, channel_mults=[1, 2], emb_dim=8, resolution=8)
    cell = next(iter(Sweep(validate_config(config, check_data=False))))
    rotation = next(iter(Sweep(validate_config({"experiments": {"r": {"kind": "rotation", "grid": {
        "sigma": [0.0], "coupling": ["rotated"], "seed": [0]}}}}))))
    assert cell_device(cell_settings(rotation.settings)) == torch.device("cpu")  # a kind without a device
    auto = cell_settings({**cell.settings, "device": "auto"})
    assert cell_device(auto).type == ("cuda" if torch.cuda.is_available() else "cpu")
    net = build_model(cell_settings(cell.settings))
    assert next(net.parameters()).device.type == "cpu" and net.inp.in_channels == 3
