# `make test` and `make demo` create .venv on first use and keep it in step with pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Offline machines keep sample data beside the project; elsewhere the demo downloads it (md5-checked).
PATHSEARCH_DATA_DIR ?= $(firstword $(wildcard ../shared/data))
export PATHSEARCH_DATA_DIR

.PHONY: test lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check pathsearch tests benchmarks pipelines

# One pytest worker per core: much of the suite is CLI start-up and I/O, and CI has 30 minutes.
test: $(STAMP) lint
	$(PY) -m pytest -q -n auto

demo: $(STAMP)
	$(PY) pipelines/slide_few_shot.py --out demo_out

bench: $(STAMP)
	$(PY) benchmarks/bench_tile.py
	$(PY) benchmarks/bench_embed.py
	$(PY) benchmarks/bench_sthlm.py
	$(PY) benchmarks/bench_cli.py
	$(PY) benchmarks/bench_cohort.py
	$(PY) benchmarks/bench_bank.py
	$(PY) benchmarks/bench_segment.py

clean:
	rm -rf demo_out .pytest_cache
