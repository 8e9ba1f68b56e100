# One entry point for humans and CI. `make run` installs what the service runs and starts it;
# `make test` installs what the suite needs (test tools included), then runs it.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install setup system-deps node-deps test test-containers lint run bench audit

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

INSTALLED := $(VENV)/.kcolors-installed

# The service alone: the Python package and its runtime dependencies, and what building its
# C kernels needs (a compiler and the Python headers, installed from Debian when missing).
# Done again only when pyproject.toml or the kernels change.
install: $(INSTALLED)

$(INSTALLED): $(PY) pyproject.toml kcolors/engine/_kernels.c
	PYTHON=$(PY) bash scripts/build-deps.sh
	$(PY) -m pip install --quiet -e .
	touch $@

# Everything the tests and benchmarks need: dev dependencies, Debian's tools (pngquant, Chromium,
# nginx, ...) and s3rver.
setup: $(PY) system-deps node-deps
	$(PY) -m pip install --quiet -e '.[dev]'

system-deps:
	PYTHON=$(PY) bash scripts/install-system-deps.sh

# s3rver for the presigned-URL expiry test, at the version its lockfile pins.
node-deps: system-deps
	npm ci --prefix tests/s3rver --no-audit --no-fund --loglevel=error

# Style, the layers of the packages (import-linter: pyproject.toml), and types in the domain.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The whole suite, the container tests included (they skip, saying why, where podman cannot
# start a container; in CI they fail instead).
test: setup lint
	$(PY) -m pytest

# Only the container tests: build deploy/Dockerfile and run docker-compose.yml in podman.
test-containers: setup
	$(PY) -m pytest -m container

# `make run PORT=8001` when 8000 is taken (`PORT=0`: any free port).
run: install
	$(VENV)/bin/kcolors up $(if $(PORT),--port $(PORT))

# Known vulnerabilities in the installed dependencies: fails on one, warns when no service answers.
audit: setup
	$(PY) scripts/audit.py
