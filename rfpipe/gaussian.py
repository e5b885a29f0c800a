"""Gaussian-to-Gaussian transport, where every field is known in closed form.

X_0 ~ N(0, I_d) and X_1 ~ N(mu, M). Deterministic couplings T(x) = mu + A x with the same marginals:

- ``ot``: A = M^{1/2} (the optimal transport map);
- ``rotated``: A = M^{1/2} R_angle for a rotation R_angle in the (e_1, e_2) plane (angle 0 is ``ot``);

and the ``independent`` coupling (x_0, x_1) ~ N(0, I) x N(mu, M). The field consistent with T under the
deterministic interpolant is, with Theta = A - I (see :class:`rfpipe.couplings.AffineCoupling`),

    v(x, t) = mu + Theta [I + t Theta]^{-1} (x - t mu).

:class:`AffineField` is that field as a module with parameters (mu, Theta), so that its loss gradient has
a parameter space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rfpipe.couplings import AffineCoupling, rotation_matrix
from rfpipe.gradvar import grad_variance, output_grad_variance
from rfpipe.interpolants import Interpolant

__all__ = ["COVARIANCES", "DATA_COUPLINGS", "FIELDS", "AffineField", "GaussianPair", "variance_at_field"]

FIELDS: tuple[str, ...] = ("ot", "rotated")
DATA_COUPLINGS: tuple[str, ...] = ("ot", "rotated", "independent")
COVARIANCES: tuple[str, ...] = ("identity", "anisotropic")


def _sqrtm_psd(m: Tensor) -> Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    evals, evecs = torch.linalg.eigh(m)
    return (evecs * evals.clamp(min=0).sqrt()) @ evecs.T


@dataclass
class GaussianPair:
    """Source N(0, I_d) and target N(mu, M).

    Attributes:
        mu: target mean, shape (d,).
        cov: target covariance M, shape (d, d), symmetric positive definite.
    """

    mu: Tensor
    cov: Tensor

    @classmethod
    def from_settings(cls, dim: int, mean: float, cov: str, dtype: torch.dtype = torch.float64) -> GaussianPair:
        """mu = mean * 1; M = I (``identity``) or diag of variances geometrically spaced from 0.25 to 4
        (``anisotropic``)."""
        mu = torch.full((dim,), float(mean), dtype=dtype)
        if cov == "identity":
            m = torch.eye(dim, dtype=dtype)
        elif cov == "anisotropic":
            m = torch.diag(torch.logspace(-1, 1, dim, base=2.0, dtype=dtype) ** 2)
        else:
            raise ValueError(f"cov must be one of {COVARIANCES}, got {cov!r}")
        return cls(mu, m)

    @property
    def dim(self) -> int:
        return self.mu.shape[0]

    def coupling(self, field: str, angle: float) -> AffineCoupling:
        """The deterministic coupling T(x) = mu + M^{1/2} R x: R = I for ``ot``, R_angle for ``rotated``."""
        root = _sqrtm_psd(self.cov)
        if field == "ot":
            return AffineCoupling(self.mu, root)
        if field == "rotated":
            return AffineCoupling(self.mu, root @ rotation_matrix(self.dim, angle, self.mu.dtype))
        raise ValueError(f"field must be one of {FIELDS}, got {field!r}")

    def targets(self, coupling: str, angle: float, x_0: Tensor, generator: torch.Generator) -> Tensor:
        """Partners of sources x_0 (n, d) under ``ot``, ``rotated`` (by ``angle``) or ``independent``.

        Only ``independent`` draws from ``generator`` (fresh targets mu + M^{1/2} z'), after whatever the
        caller drew, so couplings evaluated from equal generator states share sources, times and noise.
        """
        if coupling == "independent":
            z = torch.randn(x_0.shape, generator=generator, dtype=x_0.dtype)
            return self.mu + z @ _sqrtm_psd(self.cov).T
        if coupling not in DATA_COUPLINGS:
            raise ValueError(f"coupling must be one of {DATA_COUPLINGS}, got {coupling!r}")
        return self.coupling(coupling, angle).transport(x_0)


class AffineField(nn.Module):
    """v_theta(x, t) = mu + Theta [I + t Theta]^{-1} (x - t mu), with parameters theta = (mu, Theta).

    Initialised at the consistent field of ``coupling`` (Theta = A - I).
    """

    def __init__(self, coupling: AffineCoupling) -> None:
        super().__init__()
        d = coupling.shift.shape[0]
        self.mu = nn.Parameter(coupling.shift.clone())
        self.theta = nn.Parameter(coupling.matrix.clone() - torch.eye(d, dtype=coupling.matrix.dtype))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Velocity at x (B, d) and t (B,)."""
        t = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[0])
        eye = torch.eye(self.mu.shape[0], dtype=x.dtype, device=x.device)
        lhs = eye + t[:, None, None] * self.theta
        y = torch.linalg.solve(lhs, (x - t[:, None] * self.mu)[..., None])[..., 0]
        return self.mu + y @ self.theta.T


def variance_at_field(pair: GaussianPair, field: str, coupling: str, angle: float, interpolant: Interpolant,
                      n_samples: int, repetitions: int, t_bins: int, seed: int) -> list[dict[str, object]]:
    """Gradient-variance statistics of the loss at the consistent field of ``field``, on data from ``coupling``.

    Each repetition r draws n_samples sources x_0, stratified times t and noise z from a generator seeded
    by (seed, r), then the partners of ``coupling``; so cells that differ only in ``field`` or ``coupling``
    see the same x_0, t and z in each repetition (paired comparisons). Returns one row per repetition,
    space (``output``: gradient w.r.t. the field's output; ``parameter``: w.r.t. (mu, Theta) of
    :class:`AffineField`) and t-bin (``t_bin`` None for all t), with the :class:`GradVarStats` fields.
    """
    model = AffineField(pair.coupling(field, angle))
    rows: list[dict[str, object]] = []
    for rep in range(repetitions):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + rep)
        x_0 = torch.randn(n_samples, pair.dim, generator=gen, dtype=pair.mu.dtype)
        u = torch.rand(n_samples, generator=gen, dtype=pair.mu.dtype)
        t = (torch.arange(n_samples, dtype=pair.mu.dtype) + u) / n_samples
        z = torch.randn(n_samples, pair.dim, generator=gen, dtype=pair.mu.dtype)
        x_1 = pair.targets(coupling, angle, x_0, gen)
        batch = interpolant.sample(x_0, x_1, t, z)
        for space, stats in (("output", output_grad_variance(model, batch, t_bins)),
                             ("parameter", grad_variance(model, batch, t_bins, method="vmap"))):
            rows += [{"rep": rep, "space": space, **asdict(s)} for s in stats]
    return rows
