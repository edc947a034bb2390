# Vigil — every set-up step lives here, so a fresh machine with Python 3.11 needs only `make`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo lint test unit integration bench protos servers clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: these builds install from the machine's disk.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vigil demo

# The checks CI enforces before any test runs: lint, types (strict on storage, indexing, services)
# and the import contracts in pyproject.toml (layers, one module per SDK, the world out of the runtime).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

test: $(STAMP) lint servers
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

bench: $(STAMP)
	mkdir -p benchmarks/results
	for b in $$(ls benchmarks/*.py | grep -v -e __init__ -e _harness); do \
		m=$$(basename $$b .py); $(PY) -m benchmarks.$$m --quick --out benchmarks/results/$$m.json || exit 1; \
	done

protos: $(STAMP)
	$(PY) -m services.api.codegen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

# Real S3 servers for the contract tests: installs Ceph (mon, osd, radosgw) when root.
servers:
	sh tests/servers/install_ceph.sh
