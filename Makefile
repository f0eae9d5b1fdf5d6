# lewm-agents: `make test` and `make benchmark ENV=<env> SCALE=<scale>` are all a fresh clone needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= all,dev
# Without a CUDA GPU the CPU wheel goes in first, so nothing pulls GBs of CUDA packages. Elsewhere, point
# TORCH_INDEX at https://download.pytorch.org/whl/cpu if your pip does not already find a CPU wheel.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=

VALID_ENVS   := tworoom pusht reacher cube
VALID_SCALES := smoke small gpu paper
SCALE    ?= smoke
EPISODES ?= 100
PRESET   ?= small
METHODS  ?=

# POSIX shells use ENV for their start-up file, so a value inherited from the environment is not a choice made
# for this Makefile: remember where it came from so the check below can say so.
ifeq ($(origin ENV),environment)
  ENV_ORIGIN := your shell environment (export ENV=...); pass ENV=<name> on the make command line
else
  ENV_ORIGIN := the make command line
endif
ifeq ($(origin ENV),undefined)
  ENV := tworoom
endif

.PHONY: help install test test-all lint format collect train benchmark analyses check-env clean

help:
	@echo "make install                      create .venv and install lewm-agents (EXTRAS=$(EXTRAS))"
	@echo "make test                         the test suite (CPU, a few minutes)"
	@echo "make test-all                     also the tests marked slow"
	@echo "make lint | format                ruff"
	@echo "make collect ENV=<env> EPISODES=N record a dataset into data/<env>.h5"
	@echo "make train ENV=<env> PRESET=small train on data/<env>.h5 into runs/<env>-<preset>"
	@echo "make benchmark ENV=<env> SCALE=<scale>  collect -> train -> eval -> results/<env>/<scale>/"
	@echo "  METHODS=lewm,pldm runs a subset (default: every registered method, tdmpc@native and random)"
	@echo "make analyses ENV=<env> SCALE=<scale>  probes, surprise, straightness, latent maps of a finished cell"
	@echo "  ENV: $(VALID_ENVS)   SCALE: $(VALID_SCALES)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "CUDA GPU found: installing torch with CUDA support"; \
		$(BIN)/python -m pip install -q torch; \
	else \
		echo "no CUDA GPU: installing the CPU wheel $(TORCH_SPEC) first"; \
		$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)); \
	fi
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q --doctest-modules lewm_agents tests

test-all: $(STAMP)
	$(BIN)/python -m pytest -q --doctest-modules -m "" lewm_agents tests

lint: $(STAMP)
	$(BIN)/ruff check lewm_agents envs tests benchmarks
	$(BIN)/ruff format --check lewm_agents envs tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format lewm_agents envs tests benchmarks
	$(BIN)/ruff check --fix lewm_agents envs tests benchmarks

check-env:
	@if [[ ! " $(VALID_ENVS) " =~ " $(ENV) " ]]; then \
		echo "error: unknown ENV='$(ENV)' (from $(ENV_ORIGIN)). Valid: $(VALID_ENVS)." >&2; exit 2; fi
	@if [[ ! " $(VALID_SCALES) " =~ " $(SCALE) " ]]; then \
		echo "error: unknown SCALE='$(SCALE)'. Valid: $(VALID_SCALES)." >&2; exit 2; fi

collect: check-env $(STAMP)
	$(BIN)/lewm collect $(ENV) --episodes $(EPISODES) --out data/$(ENV).h5

train: check-env $(STAMP)
	$(BIN)/lewm train data/$(ENV).h5 --preset $(PRESET) --out runs/$(ENV)-$(PRESET)

benchmark: check-env $(STAMP)
	$(BIN)/lewm benchmark --env $(ENV) --scale $(SCALE) $(if $(METHODS),--methods $(METHODS))

OUT ?= results

analyses: check-env $(STAMP)
	$(BIN)/lewm analyses $(OUT)/$(ENV)/$(SCALE) $(if $(METHODS),--methods $(METHODS))

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
