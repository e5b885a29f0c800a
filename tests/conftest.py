"""Shared test settings and fixtures: one torch thread (two cores, a fast suite), small valid configs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

torch.set_num_threads(1)

BASE: dict[str, Any] = {
    "results_dir": "results/x",
    "experiments": {
        "rotation": {
            "kind": "rotation",
            "grid": {"sigma": [0.0, 0.05], "coupling": ["rotated", "independent"], "seed": [0, 1]},
            "n_pairs": 32,
            "steps": 10,
            "probe_size": 40,
            "t_bins": 4,
            "solver_steps": [5, 11],
        }
    },
}


@pytest.fixture
def base_config() -> dict[str, Any]:
    """A valid config dict with one small rotation experiment (a fresh copy per test)."""
    return copy.deepcopy(BASE)


@pytest.fixture(scope="session")
def paper_run(tmp_path_factory: pytest.TempPathFactory):
    """``(root, experiments, paper table)`` of a synthetic results folder of four experiments' report tables
    (tests/synthetic_run.py), built once for the paper-table tests and the kinds' paper-row tests."""
    import synthetic_run

    return synthetic_run.build(tmp_path_factory.mktemp("results"))
