# Quarterdeck: the two commands in the README do all the set-up on a fresh machine
# (python3 >= 3.11, pip, git, make).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
QD     := $(VENV)/bin/quarterdeck
STAMP  := $(VENV)/.installed
DEMO_DB := .quarterdeck/demo.duckdb

.PHONY: demo test bench snapshots install clean

## demo: install, load sample_logs/ into a store, open the console
demo: $(STAMP)
	$(QD) ingest sample_logs --db $(DEMO_DB)
	$(QD) console --db $(DEMO_DB)

## test: install and run the test suite (benchmarks excluded)
test: $(STAMP)
	$(PY) -m pytest

## bench: ingest against DuckDB's read_json (1M events); pane queries at 100k and 1M
## (SIZES=100000,1000000,10000000 make bench for the 10M figure; it takes a while)
SIZES ?= 100000,1000000
bench: $(STAMP)
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_queries.py --sizes $(SIZES)

## snapshots: re-record the SVG snapshots after an intended layout change
snapshots: $(STAMP)
	$(PY) -m pytest tests/test_snapshots.py --snapshot-update

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"Quarterdeck needs Python 3.11 or newer; this is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .quarterdeck bench-data *.egg-info .pytest_cache .hypothesis
