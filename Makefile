# Two commands for a newcomer: `make run` (the main job) and `make test` (install all, run tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run serve test system-deps lint clean lock

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

# The image's locks, hashed, at the versions the tested virtualenv has (PyPI is asked):
# requirements.lock (Python 3.12) and requirements-scanners.lock (bandit's, on 3.13).
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable > .lock-constraints.txt
	echo "setuptools>=68" | $(BIN)/uv pip compile pyproject.toml - -c .lock-constraints.txt \
	    --python-version 3.12 --python-platform x86_64-manylinux_2_28 --generate-hashes \
	    --custom-compile-command "make lock" --quiet -o requirements.lock
	echo bandit | $(BIN)/uv pip compile - -c .lock-constraints.txt \
	    --python-version 3.13 --python-platform x86_64-manylinux_2_28 --generate-hashes \
	    --custom-compile-command "make lock" --quiet -o requirements-scanners.lock
	rm .lock-constraints.txt
