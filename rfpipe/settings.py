"""Typed settings: frozen dataclasses built from the validated config, the plain dict only its wire format.

A config (YAML) is validated and filled with the schema's defaults by :func:`rfpipe.config.validate_config`;
each cell's settings travel to its jobs as one flat, sorted dict (the Snakemake params, so that a changed
setting reruns the job). Every function that does the work takes the typed view instead:

    settings = RotationSettings.from_mapping(params)   # flat dict -> frozen dataclass (nested parts filled)
    settings.train.steps, settings.model.width          # the shared parts, typed
    settings.to_dict() == params                        # and back, losslessly

:class:`Settings` is the base: a field whose type is itself a :class:`Settings` is filled from the same flat
mapping (its fields are top-level config keys), so shared parts (:class:`TrainSettings`,
:class:`MLPSettings`, :class:`UNetSettings`) appear once in the code and flat in the config.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

__all__ = ["AdamSettings", "CellSettings", "EMATrainSettings", "MLPSettings", "Settings", "TrainSettings",
           "UNetSettings"]

S = TypeVar("S", bound="Settings")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _nested(cls: type, name: str) -> type[Settings] | None:
    hint = _hints(cls)[name]
    return hint if isinstance(hint, type) and issubclass(hint, Settings) else None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings dataclass: built from, and written back to, one flat mapping of config keys."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every flat config key this class reads (those of its nested parts included), in field order."""
        out: list[str] = []
        for f in dataclasses.fields(cls):
            part = _nested(cls, f.name)
            out += part.keys() if part is not None else [f.name]
        return tuple(out)

    @classmethod
    def from_mapping(cls: type[S], values: Mapping[str, Any]) -> S:
        """The settings in ``values`` (flat config keys). Raises KeyError naming a required key that is
        missing and ValueError naming keys this class does not know."""
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")
        return cls._build(values)

    @classmethod
    def _build(cls: type[S], values: Mapping[str, Any]) -> S:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            part = _nested(cls, f.name)
            if part is not None:
                kwargs[f.name] = part._build(values)
            elif f.name in values:
                value = values[f.name]
                kwargs[f.name] = tuple(value) if isinstance(value, list) else value
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise KeyError(f"{cls.__name__}: setting {f.name!r} is missing")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The flat mapping (sorted keys; tuples as lists, as YAML and JSON have them): the wire format."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Settings):
                out.update(value.to_dict())
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return dict(sorted(out.items()))


@dataclasses.dataclass(frozen=True)
class AdamSettings(Settings):
    """Adam on the flow-matching loss: ``steps`` of ``batch_size`` pairs at ``lr`` (``constant`` or ``cosine``)."""

    steps: int
    batch_size: int
    lr: float
    lr_schedule: str

    def config(self) -> Any:
        """The :class:`rfpipe.training.TrainConfig` of these settings (no probe, no EMA unless a subclass has
        them)."""
        from rfpipe.training import TrainConfig

        probe = {k: getattr(self, k) for k in ("probe_every", "probe_size", "t_bins", "probe_batch", "ema_decay",
                                               "autocast", "t_centre_scale") if hasattr(self, k)}
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, lr_schedule=self.lr_schedule,
                           **{"probe_every": 0, **probe})


@dataclasses.dataclass(frozen=True)
class TrainSettings(AdamSettings):
    """:class:`AdamSettings` with the gradient-variance probe (every ``probe_every`` steps, ``t_bins`` bins, on
    the step's own batch or a ``fresh`` one of ``probe_size``), a resume checkpoint every ``checkpoint_every``
    steps (see :class:`rfpipe.training.TrainConfig`), the convergence criterion the run is held to
    (``converge_tol``, ``loss_target``: :mod:`rfpipe.convergence`) and the training times' density (uniform, or
    half of each batch about t = 1/2 with ``t_centre_scale`` > 0: :mod:`rfpipe.times`)."""

    probe_every: int
    probe_size: int
    probe_batch: str
    t_bins: int
    checkpoint_every: int
    converge_tol: float
    loss_target: float
    timeline_start: int
    t_centre_scale: float


@dataclasses.dataclass(frozen=True)
class EMATrainSettings(TrainSettings):
    """:class:`TrainSettings` with an EMA of the weights, w_ema <- d w_ema + (1 - d) w (``ema_decay`` d; 0: off),
    and mixed precision for the training forward pass (``autocast``: ``none`` or ``bf16``)."""

    ema_decay: float
    autocast: str


@dataclasses.dataclass(frozen=True)
class MLPSettings(Settings):
    """The MLP velocity network v_theta([x, t, phi(t)]) (:class:`rfpipe.models.MLP`; ``time_features`` K Fourier
    frequencies in phi, 0: none; ``time_conditioning`` where (t, phi(t)) enters: ``input`` or ``scale``)."""

    width: int
    depth: int
    activation: str
    time_features: int
    time_conditioning: str = "input"  # settings written before the key existed (2026-12-02) read as before


@dataclasses.dataclass(frozen=True)
class UNetSettings(Settings):
    """The UNet velocity network with a sinusoidal time embedding (:class:`rfpipe.unet.UNet`)."""

    channels: int
    channel_mults: tuple[int, ...]
    emb_dim: int


@dataclasses.dataclass(frozen=True)
class CellSettings(Settings):
    """What every cell has: its kind and the three axes every grid has."""

    kind: str
    coupling: str
    sigma: float
    seed: int
