"""Image data (rfpipe.images): the offline datasets and a local CelebA in both layouts (real LFW face pixels as
JPEGs); the images kind (its pairings and the C6/C7 rules) is tested in tests/kinds/test_images.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rfpipe.images import FASHION_MNIST_DIR, DatasetError, celeba_files, dataset_size, load_images


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
