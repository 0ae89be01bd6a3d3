# Quarterdeck: the two commands in the README do all the set-up on a fresh machine
# (python3 >= 3.11, pip, git, make).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
QD     := $(VENV)/bin/quarterdeck
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format typecheck bench soak snapshots install clean

## demo: install, then open the console on the sample fleet with a simulated runner writing
## live events (quarterdeck demo; SEED=7 RATE=20 make demo to change them)
SEED ?= 7
RATE ?= 20
demo: $(STAMP)
	$(QD) demo --seed $(SEED) --rate $(RATE)

## test: install and run the test suite (benchmarks excluded), in two processes at once: CI's
## machine has two cores and the suite is mostly CPU (tests/conftest.py says what that asks of
## a test; a plain `pytest` runs it in one process)
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

## lint: what CI checks before the tests: the code formatted as ruff formats it, ruff's lint
## rules, and the headless layers type-checked (`make format` rewrites the formatting)
LINTED := core cli console ingest queries runner server tests benchmarks
lint: typecheck
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/ruff check $(LINTED)

format: $(STAMP)
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/ruff check --fix $(LINTED)

## typecheck: mypy, strict, over the headless layers (core, ingest, queries, runner,
## server); the console and the command line are not checked. mypy cannot follow the editable install's
## import hook, so build/typecheck/ lays the layers out as they install (quarterdeck/ holds
## links to core/*.py, and quarterdeck/ingest links to ingest/, ...) and mypy reads them there;
## an error names the link, which opens the file itself.
TYPECHECK := build/typecheck/quarterdeck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	ln -s $(CURDIR)/core/*.py $(TYPECHECK)/
	ln -s $(CURDIR)/ingest $(CURDIR)/queries $(CURDIR)/runner $(CURDIR)/server $(TYPECHECK)/
	$(VENV)/bin/mypy -p quarterdeck

## bench: ingest against DuckDB's read_json (1M events of the sample fleet, and one file of
## 500k events, 40% touches with before/after); pane queries at 100k and 1M; each read
## command's extra cost, whole command, on the largest store of SIZES against a 20k one;
## a run-history page through `quarterdeck serve` against in-process at 1M, and with 20
## clients polling; follow lag and sustained rate at 2k/5k/10k events/s; 50 triggers on the
## 10M store (SIZES=100000,1000000,10000000 make bench for the 10M figure; it takes a while);
## a load's peak memory at 1M and 5M events in one file (MEMORY_SIZES=1000000,5000000,10000000
## for 10M: the issue's 2.4 GB file)
SIZES ?= 100000,1000000
MEMORY_SIZES ?= 1000000,5000000
bench: $(STAMP)
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_ingest.py --corpus touches --events 500000
	$(PY) benchmarks/bench_memory.py --sizes $(MEMORY_SIZES)
	$(PY) benchmarks/bench_queries.py --sizes $(SIZES)
	$(PY) benchmarks/bench_commands.py --sizes 20000,$(SIZES)
	$(PY) benchmarks/bench_server.py --events 1000000
	$(PY) benchmarks/bench_follow.py --rates 2000,5000,10000
	@test -e bench-data/store-10000000.duckdb && $(PY) benchmarks/bench_triggers.py || \
		echo "bench_triggers: needs the 10M store (SIZES=...,10000000 make bench)"

## soak: the demo's server, runner (100 events/s) and a client polling `runs` every second for
## MINUTES (default 10); memory and WAL sampled every 10 s, the verdict against issue 13's
## bounds (RSS growth after minute 2 < 64 MiB, WAL < 64 MiB); exit 1 when one is not met
MINUTES ?= 10
soak: $(STAMP)
	$(PY) benchmarks/soak.py --minutes $(MINUTES)

## snapshots: re-record the SVG snapshots after an intended layout change
snapshots: $(STAMP)
	$(PY) -m pytest tests/console/test_snapshots.py --snapshot-update

## install: the venv with the project (editable) and its test extras. --no-compile: Python
## writes a module's bytecode when it is first imported, so what is never imported (most of
## mypy, setuptools, pygments' lexers) is not compiled at all (~8 s of CPU less per install)
install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"Quarterdeck needs Python 3.11 or newer; this is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .quarterdeck bench-data build *.egg-info .pytest_cache .hypothesis
