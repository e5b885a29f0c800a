#!/usr/bin/env bash
# Every benchmark of issue 9 in one go; each prints its table (benchmarks/README.md has the latest ones).
#
#   bash benchmarks/run_all.sh
#
# From any folder; uses .venv/bin/python unless PYTHON is set. The throughput table needs the bench extra,
# installed without letting pip choose a torch:
#   .venv/bin/pip install --no-deps torchcfm==1.0.7 pot
# The submit-host memory row needs a running Slurm (bash .ci/start_slurm.sh), else it reads n/a.
# The machines are shared and noisy: every figure that matters is a ratio measured side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}

section() { printf '\n== %s\n' "$*"; }

section "training throughput, rfpipe against torchcfm: $PY benchmarks/train_throughput.py --check"
if "$PY" -c "import torchcfm" 2>/dev/null; then
  "$PY" benchmarks/train_throughput.py --check
else
  echo "skipped: torchcfm is not installed ($PY -m pip install --no-deps torchcfm==1.0.7 pot)"
fi

section "lean Adam step on the default rotation cell: $PY benchmarks/adam_step.py"
"$PY" benchmarks/adam_step.py

section "gradient-variance probe cost: $PY benchmarks/gradvar.py"
"$PY" benchmarks/gradvar.py

section "paper-scale grid, 1,000-cell Parquet read and snakemake -n: $PY benchmarks/aggregate.py"
"$PY" benchmarks/aggregate.py

section "memory, training cell and submit host: $PY benchmarks/memory.py"
"$PY" benchmarks/memory.py
