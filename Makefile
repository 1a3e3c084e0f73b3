# flexspace set-up: everything the project needs installs from here (idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYOMO_CONFIG_DIR ?= $(HOME)/.pyomo
export PYOMO_CONFIG_DIR
STAMP := $(VENV)/.flexspace-setup-stamp

.PHONY: setup demo test docs bench solvers clean-venv

setup: $(STAMP) asl

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	@# CPU torch first (local wheel): a plain 'torch' would pull CUDA packages.
	$(PIP) install -q "torch==2.13.0" || echo "flexspace setup: torch==2.13.0 unavailable; GAN/VAE generators will be skipped"
	@# The plain xgboost wheel (CUDA/NCCL stack) makes way for xgboost-cpu ([ml]): both are `import xgboost`.
	@if $(PIP) show -q nvidia-nccl-cu12 >/dev/null 2>&1; then $(PIP) uninstall -q -y xgboost nvidia-nccl-cu12; fi
	$(PIP) install -q -e ".[solvers,ml,crystallization,dask,test,docs]"
	$(PIP) install -q -e ".[gurobi]" || echo "flexspace setup: gurobipy unavailable; the optional solver 'gurobi' will be skipped"
	@touch $(STAMP)

# Ipopt's ASL bridge (PyNumero). Needs apt (root) and a C++ compiler; says why when it cannot.
asl: $(STAMP)
	@bash scripts/build_pynumero_asl.sh $(PY)

demo: setup
	$(VENV)/bin/flexspace demo --out demo_out

test: setup
	$(PY) -m pytest -q

# The documentation site (docs/): API reference, user guide and the executed gallery; warnings are errors.
docs: setup
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

bench: setup
	$(VENV)/bin/flexspace bench

solvers: setup
	$(VENV)/bin/flexspace solvers

clean-venv:
	rm -rf $(VENV)
