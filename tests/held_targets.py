"""Job targets for tests/test_slurm.py that hold a real job at a known point (no sleeps to win a race).

Run from a Slurm job as ``held_targets:<function>`` with this folder on PYTHONPATH.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def cell_job_held_after_first_checkpoint(hold: str, **kwargs: Any) -> None:
    """:func:`rfpipe.pipeline.cell_job`, except that an attempt which finds no checkpoint to resume from stops
    right after writing its first one and waits there, appending its ``SLURM_RESTART_COUNT`` to ``hold``, until
    a signal ends it (the time limit's: submitit saves the call, requeues the job and exits). An attempt that
    resumes is not held, so the requeued job runs to the end whatever the machine's speed."""
    import rfpipe.training
    from rfpipe.pipeline import cell_job

    if not Path(kwargs["checkpoint"]).exists():
        save = rfpipe.training.save_tensors

        def save_and_hold(obj: Any, path: Any) -> None:
            save(obj, path)
            with open(hold, "a") as f:
                f.write(os.environ.get("SLURM_RESTART_COUNT", "0") + "\n")
            while True:  # held at a known point: only a signal ends this attempt
                time.sleep(0.1)

        rfpipe.training.save_tensors = save_and_hold
    cell_job(**kwargs)
