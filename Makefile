# Every target builds its own virtual environment on first use.
# TORCH selects the torch build: the default is the CPU build of 2.13.0;
# e.g. `make test TORCH="torch"` installs the newest (CUDA) build instead.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
EXTRAS ?= tests,docs,plots,cosmo,masks
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test docs benchmark quick-benchmark clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m skdeepsphere.demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests

docs: $(STAMP)
	$(BIN)/python -m sphinx -n -W --keep-going -b html docs docs/_build/html

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py --json benchmarks/results.json

quick-benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf docs/_build docs/auto_examples docs/gen_modules build *.egg-info
