"""A small UNet velocity field v_theta(x, t) for images (B, C, H, W).

    v_theta(x, t) = Out(Up_1(... Mid(Down_L(... Down_1(In(x), e(t)) ...)) ...))

with a residual block per level, skip connections between matching resolutions and a sinusoidal time
embedding e(t) (t in [0, 1], 64 frequencies from 1 to 1000 radians) added inside every residual block.
Resolution H and W must be divisible by 2^(levels - 1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["UNet", "time_embedding"]


def time_embedding(t: Tensor, dim: int) -> Tensor:
    """[sin(w_k t), cos(w_k t)] for dim / 2 frequencies w_k log-spaced in [1, 1000], shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, dtype=t.dtype, device=t.device))
    angles = t[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (the largest divisor of ``channels`` that is at most 8)."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class _ResBlock(nn.Module):
    """x + Conv(SiLU(Norm(Conv(SiLU(Norm(x))) + W e(t)))), with a 1x1 projection if channels change."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """UNet with ``len(channel_mults)`` resolutions of ``channels * mult`` channels each.

    Args:
        in_channels: image channels C (1 for MNIST, 3 for CelebA); output has the same shape as the input.
        channels: base channel count.
        channel_mults: channel multiplier per resolution, e.g. (1, 2, 2): 28 -> 14 -> 7.
        emb_dim: width of the time embedding.
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, channel_mults: tuple[int, ...] = (1, 2, 2),
                 emb_dim: int = 128) -> None:
        super().__init__()
        self.levels = len(channel_mults)
        self.emb_dim = emb_dim
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        widths = [channels * m for m in channel_mults]
        self.inp = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        c = widths[0]
        for i, w in enumerate(widths):
            self.down.append(_ResBlock(c, w, emb_dim))
            c = w
            if i < self.levels - 1:
                self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = _ResBlock(c, c, emb_dim)
        self.up = nn.ModuleList()
        self.unpool = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(_ResBlock(c + w, w, emb_dim))
            c = w
            if i > 0:
                self.unpool.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                 nn.Conv2d(c, c, 3, padding=1)))
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, in_channels, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Velocity at (x, t): x of shape (B, C, H, W), t of shape (B,) or a scalar."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        emb = self.time(time_embedding(t, self.emb_dim))
        h = self.inp(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.pool[i](h)
        h = self.mid(h, emb)
        for j, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if j < self.levels - 1:
                h = self.unpool[j](h)
        return self.out(h)
