"""The kind registry: every kind's particulars in its package, agreeing with the schema; none named elsewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from rfpipe import kinds
from rfpipe.config import load_schema, validate_config
from rfpipe.settings import CellSettings
from rfpipe.sweep import Sweep

ROOT = Path(__file__).resolve().parents[1]
KINDS = kinds.kinds()


def test_the_schema_lists_exactly_the_registered_kinds() -> None:
    schema = load_schema()
    assert set(schema["properties"]["experiments"]["additionalProperties"]["properties"]["kind"]["enum"]) == set(KINDS)
    assert set(KINDS) <= set(schema["$defs"])


@pytest.mark.parametrize("name", sorted(KINDS))
def test_typed_settings_cover_the_kind_schema(name: str) -> None:
    """A kind's settings dataclass reads every property of its schema entry but the report's and the workflow's,
    and nothing else."""
    kind = KINDS[name]
    props = set(load_schema()["$defs"][name]["properties"]) - {"grid"}
    assert set(kind.settings.keys()) == props - kind.not_cell_keys
    assert kind.report_keys <= props and kind.workflow_keys <= props
    assert issubclass(kind.settings, CellSettings)
    if kind.data_settings is not None:
        assert set(kind.data_keys) <= set(kind.settings.keys())
    assert set(kind.couplings) <= set(load_schema()["$defs"][name]["properties"]["coupling"]["enum"])


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_module_has_the_functions_its_registration_promises(name: str) -> None:
    kind = KINDS[name]
    wanted = [("report", "report"), ("report", "paper_rows")]
    wanted += [("jobs", "run_cell")] if kind.cell_outputs else [("jobs", "run_experiment")]
    wanted += [("jobs", "prepare_data")] if kind.data_settings is not None else []
    wanted += [("jobs", "network")] if kind.has_model else []
    for module, function in wanted:
        assert callable(kind.function(module, function)), f"{kind.package}.{module}.{function}"
    assert bool(kind.cell_outputs) != bool(kind.experiment_outputs)
    assert set(kind.report_inputs) <= set(kind.cell_outputs) | set(kind.experiment_outputs)


@pytest.mark.parametrize("config", ["config/config.yaml", "config/test.yaml", "config/paper.yaml"])
def test_typed_settings_round_trip_every_cell(config: str) -> None:
    """The typed settings of every cell of the shipped configs give back its wire form exactly (so the settings
    tag of its checkpoints and model is unchanged), and unknown keys are refused by name."""
    sweep = Sweep(validate_config(yaml.safe_load((ROOT / config).read_text()), check_data=False))
    for cell in sweep:
        settings = KINDS[cell.kind].settings.from_mapping(cell.settings)
        assert settings.to_dict() == cell.settings
    cell = next(iter(sweep))
    with pytest.raises(ValueError, match="unknown setting.*bogus"):
        KINDS[cell.kind].settings.from_mapping({**cell.settings, "bogus": 1})
    with pytest.raises(KeyError, match="'seed' is missing"):
        KINDS[cell.kind].settings.from_mapping({k: v for k, v in cell.settings.items() if k != "seed"})


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a Python file that are not docstrings or comments."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
                  and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


SAME_WORD = {("rfpipe/images.py", "images"): "the tensor's key inside a dataset cache, images.pt",
             ("rfpipe/reflow.py", "reflow"): "the function rfpipe.reflow.reflow, in __all__"}
"""Strings that are a kind's name by coincidence, not a reference to the kind."""


def test_no_module_outside_rfpipe_kinds_names_a_kind() -> None:
    """Outside rfpipe/kinds/ no code (Python, the Snakefile, the rules) names an experiment kind: the workflow and
    the shared modules ask the registry."""
    found = []
    for path in sorted((ROOT / "rfpipe").rglob("*.py")) + sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        rel = path.relative_to(ROOT)
        if "kinds" in rel.parts:
            continue
        found += [f"{rel}:{line}: {text!r}" for line, text in _code_strings(path)
                  if text in KINDS and (rel.as_posix(), text) not in SAME_WORD]
    quoted = re.compile("[\"'](" + "|".join(map(re.escape, KINDS)) + ")[\"']")
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for line, text in enumerate(path.read_text().splitlines(), 1):
            code = text.split("#", 1)[0]
            if quoted.search(code):
                found.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()}")
    assert found == []


def test_the_grep_finds_a_kind_name(tmp_path: Path) -> None:
    """The check above is real: a module that switches on a kind's name is found, a docstring naming it is not."""
    module = tmp_path / "m.py"
    name = sorted(KINDS)[0]
    module.write_text(f'"""About {name!r}."""\n\ndef f(kind):\n    return kind == {name!r}\n')
    assert [text for _, text in _code_strings(module)] == [name]
