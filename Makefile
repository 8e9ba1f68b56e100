# One entry point for humans and CI. `make test` installs what the suite needs, then runs it.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup system-deps node-deps test lint run bench audit

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY) system-deps node-deps
	$(PY) -m pip install --quiet -e '.[dev]'

system-deps:
	bash scripts/install-system-deps.sh

# s3rver for the presigned-URL expiry test, at the version its lockfile pins.
node-deps: system-deps
	npm ci --prefix tests/s3rver --no-audit --no-fund --loglevel=error

# Style, the layers of the packages (import-linter: pyproject.toml), and types in the domain.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest

run: setup
	$(VENV)/bin/kcolors up

# Known vulnerabilities in the installed dependencies: fails on one, warns when no service answers.
audit: setup
	$(PY) scripts/audit.py
