# One entry point for humans and CI. `make test` installs what the suite needs, then runs it.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup system-deps test lint run bench audit

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY) system-deps
	$(PY) -m pip install --quiet -e '.[dev]'

system-deps:
	bash scripts/install-system-deps.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint
	$(PY) -m pytest

run: setup
	$(VENV)/bin/kcolors up

# Known vulnerabilities in the installed dependencies: fails on one, warns when no service answers.
audit: setup
	$(PY) scripts/audit.py
