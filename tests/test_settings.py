"""Typed settings (rfpipe.settings): a flat mapping to a frozen dataclass with nested parts and back, unknown and
missing keys named, tuples in the dataclass and lists on the wire, and the training parts' TrainConfig."""

from __future__ import annotations

import dataclasses

import pytest

from rfpipe.settings import AdamSettings, EMATrainSettings, Settings, TrainSettings
from rfpipe.training import TrainConfig


@dataclasses.dataclass(frozen=True)
class Net(Settings):
    width: int
    mults: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Optim(Settings):
    lr: float
    schedule: str = "constant"


@dataclasses.dataclass(frozen=True)
class Example(Settings):
    """Nested parts read from the same flat mapping as the example's own fields."""

    name: str
    net: Net
    optim: Optim
    seed: int = 0


WIRE = {"lr": 0.01, "mults": [1, 2, 4], "name": "a", "schedule": "cosine", "seed": 3, "width": 16}


def test_keys_are_flat_in_field_order() -> None:
    assert Example.keys() == ("name", "width", "mults", "lr", "schedule", "seed")
    assert Net.keys() == ("width", "mults")


def test_round_trip_with_nested_parts() -> None:
    settings = Example.from_mapping(WIRE)
    assert settings == Example(name="a", net=Net(width=16, mults=(1, 2, 4)), optim=Optim(lr=0.01, schedule="cosine"),
                               seed=3)
    assert settings.net.width == 16 and settings.optim.schedule == "cosine"
    assert settings.to_dict() == WIRE and list(settings.to_dict()) == sorted(WIRE)
    assert Example.from_mapping(settings.to_dict()) == settings
    assert Net.from_mapping({"width": 16, "mults": [1, 2, 4]}) == settings.net


def test_defaults_fill_missing_optional_keys() -> None:
    settings = Example.from_mapping({"name": "b", "width": 8, "mults": [1], "lr": 0.1})
    assert settings.seed == 0 and settings.optim.schedule == "constant"
    assert settings.to_dict() == {"lr": 0.1, "mults": [1], "name": "b", "schedule": "constant", "seed": 0,
                                  "width": 8}


def test_tuples_in_the_dataclass_lists_on_the_wire() -> None:
    """A list on the wire becomes a tuple (so the settings are hashable), and goes back as a list."""
    from_list = Example.from_mapping(WIRE)
    from_tuple = Example.from_mapping({**WIRE, "mults": (1, 2, 4)})
    assert from_list.net.mults == (1, 2, 4) and type(from_list.net.mults) is tuple
    assert from_tuple == from_list and hash(from_tuple) == hash(from_list)
    assert from_tuple.to_dict()["mults"] == [1, 2, 4] and type(from_tuple.to_dict()["mults"]) is list
    assert Example.from_mapping({**WIRE, "mults": []}).to_dict()["mults"] == []


def test_frozen() -> None:
    settings = Example.from_mapping(WIRE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.net.width = 4  # type: ignore[misc]


def test_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^Example: unknown setting\(s\) bogus$"):
        Example.from_mapping({**WIRE, "bogus": 1})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) also_bad, bogus$"):
        Example.from_mapping({**WIRE, "bogus": 1, "also_bad": 2})
    with pytest.raises(ValueError, match="probe_every"):
        AdamSettings.from_mapping({"steps": 1, "batch_size": 2, "lr": 0.1, "lr_schedule": "constant",
                                   "probe_every": 5})


@pytest.mark.parametrize("key,owner", [("name", "Example"), ("width", "Net"), ("mults", "Net"), ("lr", "Optim")])
def test_a_missing_key_is_named(key: str, owner: str) -> None:
    with pytest.raises(KeyError, match=f"{owner}: setting '{key}' is missing"):
        Example.from_mapping({k: v for k, v in WIRE.items() if k != key})


ADAM = {"steps": 7, "batch_size": 5, "lr": 0.02, "lr_schedule": "cosine"}
PROBE = {"probe_every": 3, "probe_size": 17, "probe_batch": "fresh", "t_bins": 4, "checkpoint_every": 11,
         "converge_tol": 0.05, "loss_target": 0.005, "timeline_start": 0, "t_centre_scale": 0.08}


def test_adam_settings_config_has_no_probe() -> None:
    """Adam alone: the optimiser's fields, no probe (probe_every = 0), no EMA, the rest TrainConfig's defaults."""
    config = AdamSettings.from_mapping(ADAM).config()
    assert config == TrainConfig(steps=7, batch_size=5, lr=0.02, lr_schedule="cosine", probe_every=0)
    assert (config.probe_size, config.t_bins, config.probe_batch, config.ema_decay) == (256, 10, "train", 0.0)


def test_train_settings_config_has_the_probe() -> None:
    settings = TrainSettings.from_mapping({**ADAM, **PROBE})
    assert settings.config() == TrainConfig(steps=7, batch_size=5, lr=0.02, lr_schedule="cosine", probe_every=3,
                                            probe_size=17, t_bins=4, probe_batch="fresh", ema_decay=0.0,
                                            t_centre_scale=0.08)
    assert settings.checkpoint_every == 11  # a train() argument, not a TrainConfig field
    assert "checkpoint_every" not in {f.name for f in dataclasses.fields(TrainConfig)}


def test_ema_train_settings_config_has_the_ema() -> None:
    settings = EMATrainSettings.from_mapping({**ADAM, **PROBE, "ema_decay": 0.999, "autocast": "bf16"})
    assert settings.config() == TrainConfig(steps=7, batch_size=5, lr=0.02, lr_schedule="cosine", probe_every=3,
                                            probe_size=17, t_bins=4, probe_batch="fresh", ema_decay=0.999,
                                            autocast="bf16", t_centre_scale=0.08)
    assert settings.to_dict() == dict(sorted({**ADAM, **PROBE, "ema_decay": 0.999, "autocast": "bf16"}.items()))
