# Two entry points for a fresh clone (see README "Quick start"):
#   make run   create .venv, install, run the whole graph on the bundled samples
#   make test  create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-normalize bench-history ui install clean-data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/listings run

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python tests/benchmarks/pipeline_bench.py

bench-normalize: $(STAMP)
	$(VENV)/bin/python tests/benchmarks/normalize_bench.py

# One day of incremental history over 1M and then 5M active listings (5% new, 5% gone).
bench-history: $(STAMP)
	$(VENV)/bin/python tests/benchmarks/history_bench.py $(ARGS)

# Entity resolution vs Splink 5 (labeled data, both kinds), then throughput and memory at 1M, 2M and 4M rows.
bench-er: $(STAMP)
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -e ".[dev,bench]"
	$(VENV)/bin/python tests/benchmarks/er_bench.py $(ARGS)

ui: $(STAMP)
	$(VENV)/bin/listings dev

clean-data:
	rm -rf data/lake data/tmp data/dagster
