"""The Table 1 target: an isotropic Gaussian mixture in d dimensions, and its fixed set of training pairs.

    p(x) = sum_k w_k N(x; mu_k, s_k^2 I_d),
    E[X] = sum_k w_k mu_k =: m,      Cov[X] = sum_k w_k (s_k^2 I_d + mu_k mu_k^T) - m m^T.

The paper does not give the mixture's parameters. Our default (:meth:`GaussianMixture.default`): K = 8
equally weighted components of standard deviation s = 0.5 whose means lie on the sphere of radius 5
(except in d = 1),

- d = 1: evenly spaced on [-5, 5] (not a Table 1 setting);
- d = 2: on the circle at angles 2 pi k / K (the classic "8 Gaussians");
- d >= 3: spread over the sphere: K directions drawn from a seeded generator and relaxed by a fixed
  number of steps of Coulomb repulsion on the unit sphere (a deterministic approximation to the Thomson
  problem), so no two components nearly coincide (in d = 3 the smallest gap between means is about
  1.16 radius, i.e. 11.6 s; for K <= d + 1 the configuration tends to a regular simplex).

The source is N(0, I_d). Training pairs (x_0, x_1) are independent draws of each, paired by index: the
pairing is an arbitrary fixed assignment, which the deterministic interpolant can memorise (Proposition 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DEFAULT_COMPONENTS", "DEFAULT_RADIUS", "DEFAULT_SCALE", "GaussianMixture", "paired_training_set"]

DEFAULT_COMPONENTS = 8
DEFAULT_RADIUS = 5.0
DEFAULT_SCALE = 0.5
_REPULSION_STEPS = 1000
_REPULSION_RATE = 0.1


def _spread_directions(k: int, dim: int, generator: torch.Generator) -> Tensor:
    """K unit vectors in R^dim, float64: seeded Gaussian directions relaxed by Coulomb repulsion.

    Each step moves u_i along the tangential part of F_i = sum_{j != i} (u_i - u_j) / ||u_i - u_j||^3 and
    projects back onto the sphere.
    """
    u = torch.randn(k, dim, generator=generator, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    eye = torch.eye(k, dtype=torch.float64)
    for _ in range(_REPULSION_STEPS):
        diff = u[:, None, :] - u[None, :, :]
        r2 = (diff * diff).sum(-1) + eye  # the diagonal's diff is 0, so any positive r2 there works
        force = (diff / r2[..., None] ** 1.5).sum(1)
        force = force - (force * u).sum(1, keepdim=True) * u
        u = u + (_REPULSION_RATE / k) * force
        u = u / u.norm(dim=1, keepdim=True)
    return u


@dataclass
class GaussianMixture:
    """p(x) = sum_k w_k N(x; mu_k, s_k^2 I_d), stored in float64.

    Attributes:
        means: component means mu_k, shape (K, d).
        scales: isotropic standard deviations s_k > 0, shape (K,).
        weights: mixture weights w_k >= 0 summing to 1, shape (K,).
    """

    means: Tensor
    scales: Tensor
    weights: Tensor

    def __post_init__(self) -> None:
        self.means = torch.as_tensor(self.means, dtype=torch.float64)
        self.scales = torch.as_tensor(self.scales, dtype=torch.float64)
        self.weights = torch.as_tensor(self.weights, dtype=torch.float64)
        if self.means.dim() != 2 or self.means.shape[0] < 1:
            raise ValueError(f"means must have shape (K, d) with K >= 1, got {tuple(self.means.shape)}")
        k = self.means.shape[0]
        if self.scales.shape != (k,) or self.weights.shape != (k,):
            raise ValueError(f"scales and weights must have shape ({k},), got {tuple(self.scales.shape)} "
                             f"and {tuple(self.weights.shape)}")
        if not bool((self.scales > 0).all()):
            raise ValueError("scales must be positive")
        if not bool((self.weights >= 0).all()) or abs(float(self.weights.sum()) - 1.0) > 1e-9:
            raise ValueError(f"weights must be non-negative and sum to 1, got sum {float(self.weights.sum())}")

    @classmethod
    def default(cls, dim: int, n_components: int = DEFAULT_COMPONENTS, radius: float = DEFAULT_RADIUS,
                scale: float = DEFAULT_SCALE, seed: int = 0) -> GaussianMixture:
        """K equally weighted components N(mu_k, scale^2 I) with ||mu_k|| = radius for d >= 2 (module docstring).

        Means: d = 1 evenly spaced on [-radius, radius]; d = 2 at angles 2 pi k / K on the circle; d >= 3
        seeded directions spread by repulsion. ``seed`` only matters for d >= 3.
        """
        if dim < 1 or n_components < 1:
            raise ValueError(f"need dim >= 1 and n_components >= 1, got {dim} and {n_components}")
        k = n_components
        if dim == 1:
            means = torch.linspace(-radius, radius, k, dtype=torch.float64)[:, None] if k > 1 else \
                torch.zeros(1, 1, dtype=torch.float64)
        elif dim == 2:
            angle = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
            means = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
        else:
            means = radius * _spread_directions(k, dim, torch.Generator().manual_seed(seed))
        return cls(means=means, scales=torch.full((k,), float(scale), dtype=torch.float64),
                   weights=torch.full((k,), 1.0 / k, dtype=torch.float64))

    @property
    def dim(self) -> int:
        """Dimension d."""
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return self.means.shape[0]

    def _sq_dists(self, x: Tensor) -> Tensor:
        """||x_i - mu_k||^2 for x of shape (n, d), computed from differences in float64, shape (n, K)."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        x = x.to(torch.float64)
        return torch.cdist(x, self.means, compute_mode="donot_use_mm_for_euclid_dist").square()

    def mean(self) -> Tensor:
        """E[X] = sum_k w_k mu_k, shape (d,)."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Cov[X] = sum_k w_k (s_k^2 I + mu_k mu_k^T) - E[X] E[X]^T, shape (d, d)."""
        m = self.mean()
        second = (self.weights * self.scales**2).sum() * torch.eye(self.dim, dtype=torch.float64)
        second = second + (self.means * self.weights[:, None]).T @ self.means
        return second - torch.outer(m, m)

    def sample_with_labels(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n draws and their components: labels ~ Categorical(w) i.i.d. (so the component counts are
        Multinomial(n, w)), then x = mu_label + s_label z with z ~ N(0, I_d).

        Returns:
            x of shape (n, d), float64, and labels of shape (n,), int64.
        """
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[labels] + self.scales[labels, None] * z, labels

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n i.i.d. draws from the mixture, shape (n, d), float64 (see :meth:`sample_with_labels`)."""
        return self.sample_with_labels(n, generator)[0]

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log w_k + log N(x_i; mu_k, s_k^2 I) = log w_k - d/2 log(2 pi s_k^2) - ||x_i - mu_k||^2 / (2 s_k^2),
        shape (n, K), float64."""
        d2 = self._sq_dists(x)
        var = self.scales**2
        return self.weights.log() - 0.5 * self.dim * torch.log(2 * math.pi * var) - d2 / (2 * var)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x_i) = logsumexp_k [log w_k + log N(x_i; mu_k, s_k^2 I)] for x of shape (n, d); float64, (n,)."""
        return torch.logsumexp(self.component_log_prob(x), dim=1)

    def component(self, x: Tensor) -> Tensor:
        """Nearest-mean assignment argmin_k ||x_i - mu_k||, shape (n,), int64.

        With equal weights and scales (the default) this is also the most probable component.
        """
        return self._sq_dists(x).argmin(dim=1)


def paired_training_set(mixture: GaussianMixture, n_pairs: int, seed: int) -> tuple[Tensor, Tensor]:
    """A fixed training set: x_0 ~ N(0, I_d) and x_1 ~ mixture, independent, paired by index.

    One generator seeded with ``seed`` draws x_0 first, then x_1 (in float64); both are returned as
    float32 tensors of shape (n_pairs, d).
    """
    gen = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(n_pairs, mixture.dim, generator=gen, dtype=torch.float64)
    x_1 = mixture.sample(n_pairs, gen)
    return x_0.float(), x_1.float()
