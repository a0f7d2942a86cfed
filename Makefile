# Every target bootstraps the local virtual environment itself, so a fresh clone needs only `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint run demo bench load clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

run: $(STAMP)
	$(VENV)/bin/consentry models fetch --configured $(ARGS)
	$(VENV)/bin/consentry run $(ARGS)

demo: $(STAMP)
	$(VENV)/bin/consentry demo $(ARGS)

# The benchmark also measures python-threatexchange, the peer of the blocklist index.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m bench $(ARGS)

# The 10-minute load test: two gateways and two scan workers on the local PostgreSQL (or
# $$CONSENTRY_LOAD_POSTGRES); writes bench/load-results.json.
load: $(STAMP)
	$(PY) -m bench.load --output bench/load-results.json $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
