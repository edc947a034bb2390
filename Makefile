# Vigil — every set-up step lives here, so a fresh machine with Python 3.11 needs only `make`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The console's browser app (services/console/web): built into dist/ from the committed lock file.
WEB := services/console/web
WEB_STAMP := $(WEB)/dist/index.html
WEB_SOURCES := $(wildcard $(WEB)/package.json $(WEB)/package-lock.json $(WEB)/scripts/* $(WEB)/src/* \
	$(WEB)/src/*/* $(WEB)/*.json $(WEB)/*.yaml $(WEB)/*.html) $(wildcard protos/vigil/v1/*.proto)

.PHONY: install web demo lint test unit integration bench protos servers clean

install: $(STAMP) web

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: these builds install from the machine's disk.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Node.js and npm from Debian when missing (root), then `npm ci` (exactly the lock file) and the build.
web: $(WEB_STAMP)

$(WEB_STAMP): $(WEB_SOURCES)
	@if [ ! -f $(WEB)/package.json ]; then echo "web: no $(WEB)/package.json, nothing to build"; exit 0; fi; \
	if ! command -v npm >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then echo "web: npm is missing; install Node.js and npm (root: apt-get install nodejs npm)" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; \
	fi; \
	cd $(WEB) && npm ci --no-audit --no-fund && npm run build

# The demo: runs the incident end to end and exits. `make demo DEMO_ARGS=--serve` then keeps its
# data served with the console and prints the console's URL (Ctrl+C stops it).
DEMO_ARGS ?=
demo: $(STAMP) web
	$(VENV)/bin/vigil demo $(DEMO_ARGS)

# The checks CI enforces before any test runs: lint, types (strict on storage, indexing, services)
# and the import contracts in pyproject.toml (layers, one module per SDK, the world out of the runtime).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

# The browser tests (tests/browser) need the built app (web) and Debian's chromium (servers).
test: $(STAMP) web lint servers
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

integration: $(STAMP) web
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

bench: $(STAMP)
	mkdir -p benchmarks/results
	for b in $$(ls benchmarks/*.py | grep -v -e __init__ -e /_); do \
		m=$$(basename $$b .py); $(PY) -m benchmarks.$$m --quick --out benchmarks/results/$$m.json || exit 1; \
	done

protos: $(STAMP)
	$(PY) -m services.api.codegen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

# Real servers for the tests, when root: Ceph (mon, osd, radosgw) for the S3 contract tests, and
# Debian's Chromium for the browser tests (tests/browser).
servers:
	sh tests/servers/install_ceph.sh
	sh tests/servers/install_chromium.sh
