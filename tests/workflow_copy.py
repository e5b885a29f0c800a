"""A scratch copy of the workflow for tests that run Snakemake, so no .snakemake folder appears in the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(dest: Path, configs: bool = True) -> Path:
    """Copy the Snakefile and workflow/ (and config/ if ``configs``) of this checkout into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    shutil.copytree(ROOT / "workflow", dest / "workflow", symlinks=True)
    if configs:
        shutil.copytree(ROOT / "config", dest / "config")
    return dest
