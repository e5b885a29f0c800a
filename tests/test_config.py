"""Config validation: defaults, canonical values, and one clear error naming the key for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rfpipe.config import ConfigError, load_config, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_filled_from_schema(base_config: dict[str, Any]) -> None:
    """Every rotation setting left out takes the schema's default; given values are kept."""
    out = validate_config(base_config)
    exp = out["experiments"]["rotation"]
    props = load_schema()["$defs"]["rotation"]["properties"]
    for key, prop in props.items():
        if "default" in prop and key not in base_config["experiments"]["rotation"]:
            assert exp[key] == prop["default"], key
    assert exp["n_pairs"] == 32
    assert out["threads"] == 1
    assert base_config["experiments"]["rotation"].get("width") is None  # the input is not mutated


def test_numbers_are_canonical_floats(base_config: dict[str, Any]) -> None:
    """sigma 0 (an int in YAML) becomes 0.0; 0.05 and 0.050 are one value, so listing both is an error."""
    base_config["experiments"]["rotation"]["grid"]["sigma"] = [0, 0.05]
    out = validate_config(base_config)
    assert out["experiments"]["rotation"]["grid"]["sigma"] == [0.0, 0.05]
    assert all(isinstance(s, float) for s in out["experiments"]["rotation"]["grid"]["sigma"])
    base_config["experiments"]["rotation"]["grid"]["sigma"] = yaml.safe_load("[0.05, 0.050]")
    with pytest.raises(ConfigError, match=r"experiments\.rotation\.grid\.sigma: value 0\.05 is listed twice"):
        validate_config(base_config)


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *head, last = dotted.split(".")
    node = config
    for part in head:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BAD: list[tuple[str, Any, str]] = [
    ("experiments.rotation.grid.sigma", [0.0, -0.1],
     r"experiments\.rotation\.grid\.sigma\[1\]: -0\.1 is less than the minimum of 0"),
    ("experiments.rotation.grid.sigma", [], r"experiments\.rotation\.grid\.sigma: \[\] should be non-empty"),
    ("experiments.rotation.grid.sigma", ["a"], r"experiments\.rotation\.grid\.sigma\[0\]: 'a' is not of type 'number'"),
    ("experiments.rotation.grid.coupling", ["ot_typo"],
     r"experiments\.rotation\.grid\.coupling\[0\]: 'ot_typo' is not one of \['rotated', 'independent'\]"),
    ("experiments.rotation.grid.seed", [0.5], r"experiments\.rotation\.grid\.seed\[0\]: 0\.5 is not of type 'integer'"),
    ("experiments.rotation.grid.seed", _DELETE, r"experiments\.rotation\.grid: 'seed' is a required property"),
    ("experiments.rotation.grid.widht", [1],
     r"experiments\.rotation\.grid\.widht: unknown setting for kind 'rotation'; allowed: sigma"),
    ("experiments.rotation.grid.width", [0],
     r"experiments\.rotation\.grid\.width\[0\]: 0 is less than the minimum of 1"),
    ("experiments.rotation.kind", "gaussian_typo",
     r"experiments\.rotation\.kind: 'gaussian_typo' is not one of \['rotation', 'gaussian_variance', 'mog', 'reflow', "
     r"'images'\]"),
    ("experiments.rotation.kind", _DELETE, r"experiments\.rotation: 'kind' is a required property"),
    ("experiments.rotation.steps", "100", r"experiments\.rotation\.steps: '100' is not of type 'integer'"),
    ("experiments.rotation.steps", 0, r"experiments\.rotation\.steps: 0 is less than the minimum of 1"),
    ("experiments.rotation.lr", 0, r"experiments\.rotation\.lr: 0 is less than or equal to the minimum of 0"),
    ("experiments.rotation.noise", "pink",
     r"experiments\.rotation\.noise: 'pink' is not one of \['constant', 'brownian'\]"),
    ("experiments.rotation.solver", "dopri",
     r"experiments\.rotation\.solver: 'dopri' is not one of \['euler', 'heun', 'rk4'\]"),
    ("experiments.rotation.solver_steps", [5, 10],
     r"experiments\.rotation\.solver_steps: 10 is even; solver euler then evaluates the field at t = 1/2"),
    ("experiments.rotation.batch_size", 6, r"experiments\.rotation\.batch_size: 6 must be at least 2 \* t_bins = 8 "
     r"\(two samples per t-bin in a probe with probe_batch train\)"),
    ("experiments.rotation.learning_rate", 0.1,
     r"experiments\.rotation: Additional properties are not allowed \('learning_rate' was unexpected\)"),
    ("experiments.rotation.sigma", 0.1,
     r"experiments\.rotation\.sigma: must be listed under experiments\.rotation\.grid"),
    ("experiments.rotation.grid", [0.1], r"experiments\.rotation\.grid: \[0\.1\] is not of type 'object'"),
    ("experiments", {}, r"experiments: \{\} should be non-empty"),
    ("threads", 0, r"threads: 0 is less than the minimum of 1"),
    ("executor", "pbs", r"executor: 'pbs' is not one of \['local', 'slurm'\]"),
    ("slurm", {"partiton": "gpu"}, r"slurm: Additional properties are not allowed \('partiton' was unexpected\)"),
    ("slurm", {"gpus": -1}, r"slurm\.gpus: -1 is not valid under any of the given schemas"),
    ("slurm", {"experiments": {"rotatoin": {"gpus": 1}}}, r"slurm\.experiments\.rotatoin: no experiment of that name"),
    ("result_dir", "x", r"\(top level\): Additional properties are not allowed \('result_dir' was unexpected\)"),
]


@pytest.mark.parametrize("key,value,message", BAD, ids=[f"{k}={v!r}"[:60] for k, v, _ in BAD])
def test_bad_config_names_the_key(base_config: dict[str, Any], key: str, value: Any, message: str) -> None:
    """Each bad value raises one ConfigError whose message starts with the dotted key and says what is allowed."""
    _set(base_config, key, value)
    with pytest.raises(ConfigError, match=message):
        validate_config(base_config)


def test_axis_both_fixed_and_swept(base_config: dict[str, Any]) -> None:
    """A setting given both as a fixed value and as a grid axis is ambiguous and refused."""
    base_config["experiments"]["rotation"]["grid"]["n_pairs"] = [16, 32]
    with pytest.raises(ConfigError,
                       match=r"experiments\.rotation\.n_pairs: set both as a fixed setting and as a grid axis"):
        validate_config(base_config)


def test_bad_experiment_name(base_config: dict[str, Any]) -> None:
    """Experiment names become folder names: anything but word characters is refused."""
    base_config["experiments"]["rot/../x"] = base_config["experiments"].pop("rotation")
    with pytest.raises(ConfigError, match=r"experiments: 'rot/\.\./x' does not match"):
        validate_config(base_config)


def test_load_config_missing_and_invalid_yaml(tmp_path) -> None:
    """A missing file and unparsable YAML are ConfigErrors naming the file."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: [\n")
    with pytest.raises(ConfigError, match=f"{bad} is not valid YAML"):
        load_config(bad)


def test_shipped_configs_are_valid() -> None:
    """config/config.yaml and config/test.yaml validate."""
    for name in ("config/config.yaml", "config/test.yaml"):
        assert load_config(name)["experiments"]


def test_cli_reports_config_error_in_one_line(tmp_path, base_config: dict[str, Any]) -> None:
    """`rfpipe validate` on a bad config exits 2 with one line naming the key, no traceback."""
    base_config["experiments"]["rotation"]["grid"]["sigma"] = [-1.0]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(base_config))
    proc = subprocess.run([sys.executable, "-m", "rfpipe", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rfpipe config error: experiments.rotation.grid.sigma[0]: -1.0 is less than the minimum of 0"]


@pytest.mark.parametrize("in_grid", [False, True])
def test_cuda_without_gpu_refused_locally_only(in_grid: bool) -> None:
    """``device: cuda`` (fixed or a grid axis) with the local executor needs a GPU here: without one it is refused
    naming the key; with the Slurm executor (GPUs on the jobs' nodes) or in a dry run (check_data=False) it is not."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    exp = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())["experiments"]["images"]
    if in_grid:
        exp["grid"]["device"] = ["cpu", "cuda"]
    else:
        exp["device"] = "cuda"
    config = {"experiments": {"images": exp}}
    key = "experiments.images.grid.device" if in_grid else "experiments.images.device"
    with pytest.raises(ConfigError, match=rf"^{key}: 'cuda', but torch sees no CUDA GPU .* allowed here: cpu or auto"):
        validate_config(config)
    validate_config(config, check_data=False)
    validate_config({**config, "executor": "slurm"})
    exp["grid"].pop("device", None)
    exp["device"] = "auto"
    validate_config(config)


def test_the_workflow_validates_with_the_package_schema() -> None:
    """workflow/schemas/config.schema.yaml is the package's schema (a link), so that an edit to one is the edit
    to both: a tool that rewrites the link as a file (``sed -i``) would let them drift apart silently."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    link = root / "workflow" / "schemas" / "config.schema.yaml"
    assert link.is_symlink() and link.resolve() == (root / "rfpipe" / "schemas" / "config.schema.yaml").resolve()
