"""Data: training pairs and evaluation sources, with their reference partners.

A :class:`PairedData` holds, for the training split and for fresh test sources, the sources x_0, the
partners x_1 that the training coupling assigns to them, and their OT partners x_1_ot. Evaluation
compares a model's endpoints with both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

from rfpipe.couplings import AffineCoupling
from rfpipe.io import load_tensors, save_tensors
from rfpipe.ot import exact_assignment

__all__ = ["Pairs", "PairedData", "mixture_data", "ot_partners", "rotation_data"]


@dataclass
class Pairs:
    """Sources x_0 (N, *D), their coupling partners x_1 and their OT partners x_1_ot."""

    x_0: Tensor
    x_1: Tensor
    x_1_ot: Tensor


@dataclass
class PairedData:
    """Training pairs and fresh test sources, each with both reference partners."""

    train: Pairs
    test: Pairs

    def save(self, path: str | os.PathLike) -> None:
        """Write all tensors to one file, atomically."""
        save_tensors({f"{split}.{name}": getattr(getattr(self, split), name)
                      for split in ("train", "test") for name in ("x_0", "x_1", "x_1_ot")}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PairedData:
        """Read a file written by :meth:`save`."""
        t = load_tensors(path)
        return cls(*(Pairs(t[f"{s}.x_0"], t[f"{s}.x_1"], t[f"{s}.x_1_ot"]) for s in ("train", "test")))


def rotation_data(dim: int, angle: float, shift: float, n_pairs: int, n_test: int, seed: int) -> PairedData:
    """Counter Example 1: x_0 ~ N(0, I_dim), x_1 = R_angle x_0 + shift, OT partner x_0 + shift.

    For X_0 ~ N(0, I) and X_1 ~ N(shift, I) the OT map is the translation x -> x + shift; the rotated
    map has the same marginals. Sources are drawn in float64 and stored as float32.
    """
    gen = torch.Generator().manual_seed(seed)
    coupling = AffineCoupling.rotation(dim, angle, shift)

    def split(n: int) -> Pairs:
        x_0 = torch.randn(n, dim, generator=gen, dtype=torch.float64)
        return Pairs(x_0.float(), coupling.transport(x_0).float(), (x_0 + shift).float())

    return PairedData(train=split(n_pairs), test=split(n_test))


def ot_partners(x_0: Tensor, x_1: Tensor) -> Tensor:
    """x_1 reordered by the exact discrete OT assignment of x_0 to x_1 on squared Euclidean cost
    (:func:`rfpipe.ot.exact_assignment`)."""
    return x_1[exact_assignment(x_0, x_1)]


def mixture_data(dim: int, n_components: int, radius: float, component_scale: float, n_pairs: int, n_test: int,
                 seed: int) -> PairedData:
    """Table 1: N training pairs (x_0 ~ N(0, I), x_1 ~ mixture, paired arbitrarily by index) and, for the
    test split, fresh sources and fresh target samples (unpaired). ``x_1_ot`` is the exact OT assignment
    within each split. The mixture itself is fixed (``rfpipe.mixture.GaussianMixture.default``); ``seed``
    draws the samples.
    """
    from rfpipe.mixture import GaussianMixture, paired_training_set

    mixture = GaussianMixture.default(dim, n_components, radius, component_scale)
    x_0, x_1 = paired_training_set(mixture, n_pairs, seed)
    gen = torch.Generator().manual_seed(seed + 7_919)
    t_0 = torch.randn(n_test, dim, generator=gen, dtype=torch.float64).float()
    t_1 = mixture.sample(n_test, gen).float()
    return PairedData(train=Pairs(x_0, x_1, ot_partners(x_0, x_1)), test=Pairs(t_0, t_1, ot_partners(t_0, t_1)))
