"""Bad configurations fail before any job starts, with one message naming the key and what is allowed.

Each file in ``tests/bad_configs/`` is a small config with one defect; its second line,
``# expect: <text>``, is (part of) the one message it must produce. Every file goes through the command
line (``rfpipe validate``); a few also through ``snakemake -n --configfile``, which validates with the same
function (``workflow/rules/common.smk``) before it builds the job graph.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "bad_configs"
FILES = sorted(BAD.glob("*.yaml"))
PREFIX = "rfpipe config error: "


def _expected(path: Path) -> str:
    for line in path.read_text().splitlines()[:3]:
        if line.startswith("# expect: "):
            return line.removeprefix("# expect: ")
    raise AssertionError(f"{path} has no '# expect:' line")


def test_suite_is_large_and_distinct() -> None:
    """At least 25 bad configs, each with its own expected message."""
    assert len(FILES) >= 25
    messages = [_expected(p) for p in FILES]
    assert len(set(messages)) == len(messages)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_cli_validate_refuses(path: Path, tmp_path: Path) -> None:
    """`rfpipe validate BAD.yaml`: exit status 2, exactly one line on stderr naming the key, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "rfpipe", "validate", str(path)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(PREFIX) and _expected(path) in lines[0], lines[0]
    assert proc.stdout == ""
    assert not any(tmp_path.iterdir()), "validation creates nothing"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the workflow, so that no .snakemake folder appears in the checkout."""
    return copy_workflow(tmp_path_factory.mktemp("badwf"))


DATA_CASES = {"images_missing_celeba_folder"}
SNAKEMAKE_CASES = ["negative_sigma", "unknown_setting", "even_solver_steps", "duplicate_grid_value", "slurm_cpus_zero",
                   "images_missing_celeba_folder", "slurm_partition_with_line_break"]


@pytest.mark.parametrize("name", SNAKEMAKE_CASES)
def test_snakemake_refuses_before_any_job(workdir: Path, name: str) -> None:
    """`snakemake -n --configfile BAD.yaml` (without -n for a data check) exits non-zero with the same one
    message and no traceback, and neither the results folder nor any job exists."""
    path = BAD / f"{name}.yaml"
    # A dry run reads no data (it may plan a grid whose CelebA folder is elsewhere): the data checks apply to a
    # real run, which they stop before any job. Flags before --configfile: it takes every following word.
    dry = [] if name in DATA_CASES else ["-n"]
    proc = subprocess.run([sys.executable, "-m", "snakemake", *dry, "--cores", "1", "--configfile", str(path)],
                          cwd=workdir, capture_output=True, text=True)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith(PREFIX)]
    assert len(errors) == 1 and _expected(path) in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "rule " not in proc.stdout  # no job was planned
    assert not (workdir / "results").exists()
