# One entry point for humans and CI. `make run` installs what the service runs and starts it;
# `make test` installs what the suite needs (test tools included), then runs it.
#
# Every install takes exactly the versions uv.lock pins, with their hashes (`uv sync --locked`
# also fails when pyproject.toml was changed without `make lock`). docs/OPERATIONS.md,
# "Dependencies", says how to upgrade.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# uv itself lives apart from the venv it fills (a sync removes what the lock does not name), at
# the version and hashes uv.lock gives it.
UV_DIR := build/uv
UV := $(UV_DIR)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
SYNC := $(UV) sync --locked --quiet

.PHONY: install setup system-deps node-deps test test-containers lint run bench audit lock upgrade

$(UV): uv.lock
	rm -rf $(UV_DIR) && mkdir -p build
	$(PYTHON) scripts/locked.py uv > build/uv.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --require-hashes --no-deps \
		--target $(UV_DIR) -r build/uv.txt
	touch $@

# The service alone: the Python package and its runtime dependencies, and what building its
# C kernels needs (a compiler and the Python headers, installed from Debian when missing).
# Inexact: a venv that `make setup` filled keeps its test tools.
# Silent (@): `make run` shows kcolors' own lines, not the commands that got it there.
install: $(UV)
	@PYTHON=$(PYTHON) bash scripts/build-deps.sh
	@$(SYNC) --inexact

# Everything the tests and benchmarks need: dev dependencies, Debian's tools (pngquant, Chromium,
# nginx, ...) and s3rver.
setup: $(UV) system-deps node-deps
	$(SYNC) --extra dev

system-deps:
	PYTHON=$(PYTHON) bash scripts/install-system-deps.sh

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
	@$(VENV)/bin/kcolors up $(if $(PORT),--port $(PORT))

# Known vulnerabilities in the locked set (what ships and what CI runs, not what happens to be
# installed): fails on one, warns when no service answers.
audit: setup
	$(UV) export --frozen --all-extras --no-emit-project --quiet -o build/audit-requirements.txt
	$(PY) scripts/audit.py build/audit-requirements.txt

# The lock: `make lock` after editing pyproject.toml's dependencies (keeps every other pin);
# `make upgrade` takes the newest versions the ranges allow. Both rewrite uv.lock only.
lock: $(UV)
	$(UV) lock

upgrade: $(UV)
	$(UV) lock --upgrade
