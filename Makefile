# Two commands for a newcomer:  make results  (the default run)   make test  (the test suite)
# Also:  make lint  (ruff, snakefmt --check, snakemake --lint)   make test-slow  (the end-to-end runs left out of make test)
# Each creates .venv/ in the repository and installs the project into it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned so pip never upgrades it; where pip's config points at a CPU wheel (as on these machines: find-links
# /opt/wheels) that keeps a multi-GB CUDA build out. Override with TORCH=... if you like.
TORCH  ?= torch==2.13.0
CORES  ?= 2

.PHONY: results test test-slow lint clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

results: venv
	$(BIN)/snakemake --cores $(CORES) --keep-going

PYTEST_ARGS ?=

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: venv
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check rfpipe tests benchmarks workflow/scripts
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile config/test.yaml

clean:
	rm -rf results .snakemake
