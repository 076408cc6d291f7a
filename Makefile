# Two commands for a newcomer: `make run` (the main job) and `make test` (install all, run tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run serve test system-deps lint clean

run: system-deps $(STAMP)
	@$(BIN)/gatekeeper demo

serve: $(STAMP)
	@$(BIN)/python scripts/dev_env.py .dev
	@set -a && . ./.dev/env && set +a && exec $(BIN)/gatekeeper serve

test: system-deps $(STAMP)
	$(BIN)/python -m pytest

system-deps:
	@bash scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check gatekeeper tests scripts app.py

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (PYTHON=python3.11 make ...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m gatekeeper.scanners.toolenv $(VENV)/scanners
	@touch $@

clean:
	rm -rf $(VENV) .dev .pytest_cache
