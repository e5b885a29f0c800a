"""The sweep: canonical value text, hive cell paths, data paths, partition schema, stability under growth."""

from __future__ import annotations

import copy
import itertools

import pyarrow as pa
import pytest
import yaml

from rfpipe.config import validate_config
from rfpipe.sweep import Sweep, format_value

GRID = {"sigma": [0, 0.05], "coupling": ["rotated", "independent"], "seed": [0, 1, 2], "n_pairs": [16, 64]}


def _sweep(grid=None, **fixed):
    raw = {"experiments": {"rot": {"kind": "rotation", "grid": copy.deepcopy(grid or GRID), **fixed}}}
    return Sweep(validate_config(raw))


@pytest.mark.parametrize("value,text", [(0.05, "0.05"), (0.050, "0.05"), (0.0, "0.0"), (1.0, "1.0"),
                                        (180.0, "180.0"), (1e-05, "1e-05"), (0.1 + 0.2, "0.30000000000000004"),
                                        (0, "0"), (16, "16"), (True, "true"), (False, "false"),
                                        ("rotated", "rotated")])
def test_format_value(value, text):
    """Floats by shortest round-trip repr, 0.0 stays '0.0', ints plain, booleans lower-case, strings as is."""
    assert format_value(value) == text


def test_format_value_yaml_spellings_agree():
    """0.05 and 0.050 (and 5e-2) written in YAML are the same float and the same folder name."""
    texts = {format_value(yaml.safe_load(s)) for s in ("0.05", "0.050", "5.0e-2")}
    assert texts == {"0.05"}


def test_format_value_round_trips_floats():
    """The text parses back to the very same float (one value <-> one folder)."""
    for v in (0.05, 1 / 3, 2.5e-8, 123456.789, 0.1 + 0.2):
        assert float(format_value(v)) == v


def test_format_value_signed_zero():
    """Equal floats get one text form: -0.0 and 0.0 name the same folder."""
    assert format_value(-0.0) == format_value(0.0)


def test_cell_count_is_grid_product():
    """The sweep has one cell per combination of grid values: 2 * 2 * 3 * 2 = 24, all paths distinct."""
    sweep = _sweep()
    cells = list(sweep)
    assert len(cells) == 24 == len({c.path for c in cells})
    assert len(sweep.experiments["rot"].cells) == 24


def test_cell_path_order_and_canonical_sigma():
    """Extra axes first, then coupling, sigma, seed; sigma 0 given as an int appears as '0.0'."""
    exp = _sweep().experiments["rot"]
    assert exp.axes == ("n_pairs", "coupling", "sigma", "seed")
    assert "n_pairs=16/coupling=rotated/sigma=0.0/seed=0" in exp.cells
    expected = {f"n_pairs={n}/coupling={c}/sigma={s}/seed={k}"
                for n, c, s, k in itertools.product([16, 64], ["rotated", "independent"], ["0.0", "0.05"], [0, 1, 2])}
    assert set(exp.cells) == expected


def test_cell_settings_and_params():
    """A cell's settings hold its grid values (sigma as float) on top of the filled defaults."""
    cell = _sweep().cell("rot", "n_pairs=64/coupling=independent/sigma=0.05/seed=2")
    assert cell.params == (("n_pairs", 64), ("coupling", "independent"), ("sigma", 0.05), ("seed", 2))
    s = cell.settings
    assert (s["n_pairs"], s["coupling"], s["sigma"], s["seed"]) == (64, "independent", 0.05, 2)
    assert isinstance(s["sigma"], float) and s["kind"] == "rotation"
    assert (cell.experiment, cell.kind) == ("rot", "rotation")


def test_data_path_only_data_axes_and_seed():
    """The data path lists only data-determining axes and the seed: cells that differ in sigma/coupling share it."""
    exp = _sweep().experiments["rot"]
    cell = exp.cells["n_pairs=16/coupling=rotated/sigma=0.0/seed=0"]
    assert cell.data_path == "n_pairs=16/seed=0"
    assert exp.data_paths() == sorted(f"n_pairs={n}/seed={k}" for n in (16, 64) for k in (0, 1, 2))
    by_data = {}
    for c in exp.cells.values():
        by_data.setdefault(c.data_path, []).append(c)
    assert all(len(v) == 4 for v in by_data.values())  # 2 couplings x 2 sigmas share each data set


def test_data_path_seed_only_without_data_axes():
    """With no data axis in the grid, the data path is just the seed."""
    exp = _sweep({"sigma": [0.0], "coupling": ["rotated"], "seed": [3], "lr": [0.01, 0.001]}).experiments["rot"]
    assert {c.data_path for c in exp.cells.values()} == {"seed=3"}
    assert set(exp.cells) == {"lr=0.01/coupling=rotated/sigma=0.0/seed=3", "lr=0.001/coupling=rotated/sigma=0.0/seed=3"}


def test_data_settings():
    """data_settings gives the data keys of that data path (grid values and filled defaults); unknown -> KeyError."""
    exp = _sweep(n_test=10).experiments["rot"]
    assert exp.data_settings("n_pairs=64/seed=1") == {"dim": 2, "angle": 180.0, "shift": 5.0, "n_pairs": 64,
                                                      "n_test": 10, "seed": 1, "kind": "rotation"}
    with pytest.raises(KeyError):
        exp.data_settings("n_pairs=32/seed=1")


def test_partition_schema_types():
    """Partition keys have Arrow types from the schema: n_pairs int64, coupling string, sigma float64, seed int64."""
    schema = _sweep().experiments["rot"].partition_schema()
    assert schema == pa.schema([("n_pairs", pa.int64()), ("coupling", pa.string()), ("sigma", pa.float64()),
                                ("seed", pa.int64())])


def test_partition_schema_parses_paths():
    """Every cell path, read as a hive partition with that schema, gives back the cell's own values."""
    exp = _sweep().experiments["rot"]
    schema = exp.partition_schema()
    for path, cell in exp.cells.items():
        values = {}
        for part in path.split("/"):
            k, v = part.split("=", 1)
            values[k] = pa.scalar(v).cast(schema.field(k).type).as_py()
        assert values == dict(cell.params)


def test_adding_values_keeps_existing_paths():
    """Adding a sigma (or a seed) only adds cells: every old path is still there with the same params."""
    old = _sweep().experiments["rot"].cells
    grid = copy.deepcopy(GRID)
    grid["sigma"].append(0.1)
    grid["seed"].append(3)
    new = _sweep(grid).experiments["rot"].cells
    assert set(old) < set(new)
    assert len(new) == 2 * 2 * 3 * 4
    assert all(new[p].params == old[p].params for p in old)


def test_grid_order_does_not_change_paths():
    """Listing the grid axes in another order gives the same cell paths (the path order is fixed)."""
    reordered = {k: GRID[k] for k in ("seed", "n_pairs", "sigma", "coupling")}
    assert set(_sweep(reordered).experiments["rot"].cells) == set(_sweep().experiments["rot"].cells)


def test_cell_lookup_and_missing_raises():
    """Sweep.cell finds a grid cell; a path not in the grid (or an unknown experiment) raises KeyError."""
    sweep = _sweep()
    assert sweep.cell("rot", "n_pairs=64/coupling=rotated/sigma=0.05/seed=1").settings["n_pairs"] == 64
    for path in ("n_pairs=16/coupling=rotated/sigma=0.1/seed=0",   # sigma not in grid
                 "n_pairs=16/coupling=rotated/sigma=0/seed=0",     # non-canonical text for 0.0
                 "coupling=rotated/sigma=0.0/seed=0/n_pairs=16"):  # wrong order
        with pytest.raises(KeyError):
            sweep.cell("rot", path)
    with pytest.raises(KeyError):
        sweep.cell("other", "n_pairs=16/coupling=rotated/sigma=0.0/seed=0")


def test_results_dir_default():
    """The sweep exposes results_dir (default 'results' filled by validation)."""
    assert _sweep().results_dir == "results"


def test_integer_axis_written_as_float_is_canonical():
    """n_pairs given as 16.0 names the same folder as 16, and [16, 16.0] is one value, not two cells."""
    grid = copy.deepcopy(GRID)
    grid["n_pairs"] = [16.0, 64]
    exp = _sweep(grid).experiments["rot"]
    assert "n_pairs=16/coupling=rotated/sigma=0.0/seed=0" in exp.cells


def test_verdict_settings_change_no_cell():
    """A verdict setting (``verdict_sigma``) stays in the experiment's settings but in no cell's, so changing it
    leaves every cell (its settings are the train rule's params) as it was; a training setting changes them all."""
    base = _sweep()
    exp = base.experiments["rot"]
    assert exp.settings["verdict_sigma"] == 0.05
    assert all("verdict_sigma" not in c.settings for c in exp.cells.values())
    other_verdict = _sweep(verdict_sigma=0.1, grid={**GRID, "sigma": [0, 0.05, 0.1]}).experiments["rot"]
    for path, cell in exp.cells.items():
        assert other_verdict.cells[path].settings == cell.settings
    other_lr = _sweep(lr=0.01).experiments["rot"]
    assert all(other_lr.cells[p].settings != c.settings for p, c in exp.cells.items())


def test_job_settings_carry_the_grid_and_no_verdict_setting():
    """An experiment's job settings: fixed settings less the verdict ones, and the grid in grid order."""
    exp = _sweep().experiments["rot"]
    job = exp.job_settings()
    assert "verdict_sigma" not in job and job["lr"] == exp.settings["lr"]
    assert job["grid"] == {"n_pairs": [16, 64], "coupling": ["rotated", "independent"], "sigma": [0.0, 0.05],
                           "seed": [0, 1, 2]}
