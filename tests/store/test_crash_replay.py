"""A store survives a kill -9 right after a refresh that rewrote a whole row group of runs.

DuckDB 1.5.5 writes a large insert ahead as row groups and, replaying its WAL, put none of them
in a PRIMARY KEY that the same transaction had deleted the keys from (duckdb/duckdb#24744).
The refresh used to delete and re-insert run_summary rows, so after a kill -9 before a
checkpoint the next refresh of those runs raised a FatalException, on every restart. It takes
a row group (122,880 rows) of runs rewritten in one transaction, hence the size here.

Real store files, real processes killed with SIGKILL once their commit is done, real reopen.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from quarterdeck.queries.derived import refresh_derived
from quarterdeck.queries.migrations import MIGRATIONS, current_version, migrate
from quarterdeck.queries.store import Store

RUNS = 123_000  # just past one row group


def _events(round_: int) -> str:
    """One more event for every run."""
    return f"""
    INSERT INTO events (event_id, type, ts, run_id, source, line_no, byte_offset)
    SELECT 'e{round_}-' || i, 'metric', TIMESTAMP '2026-01-01' + INTERVAL (i + {round_}) SECOND,
           'r-' || i, 'x.jsonl', i, i
    FROM range({RUNS}) r(i)
    """


@pytest.fixture(scope="module")
def store_v7(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpointed store at schema 7 (before the fix) with RUNS runs, summarised."""
    path = tmp_path_factory.mktemp("v7") / "q.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    migrate(con, MIGRATIONS[:7])
    con.execute(_events(0))
    con.execute(
        """
        INSERT INTO run_summary (run_id, has_start, started_at, first_event_at, last_event_at,
            paused, events, steps, step_errors, touched, reads, creates, updates, deletes,
            exports, out_of_scope, tokens_in, tokens_out, cost_usd)
        SELECT run_id, false, ts, ts, ts, false, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        FROM events
        """
    )
    con.execute("UPDATE derived_marks SET events_rowid = (SELECT max(rowid) FROM events)")
    con.execute("CHECKPOINT")
    con.close()
    return path


def _killed_after(path: Path, script: str, *args: str) -> None:
    """Run `script` in a process of its own on the store, and kill -9 it once it says so."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    line = child.stdout.readline().strip()
    child.kill()
    child.wait()
    assert line == "committed", (child.returncode, child.stderr.read())


def _refresh_again(path: Path, events_per_run: int) -> None:
    """Reopen the store (its WAL replayed), add an event to every run, refresh them all."""
    with Store.open(path) as store:
        assert current_version(store.con) == MIGRATIONS[-1].version
        store.con.execute(_events(2))
        assert refresh_derived(store.con) == RUNS
        total, runs, events = store.con.execute(
            "SELECT count(*), count(DISTINCT run_id), sum(events) FROM run_summary"
        ).fetchone() or (0, 0, 0)
    assert (total, runs, events) == (RUNS, RUNS, events_per_run * RUNS)


def test_a_refresh_of_a_row_group_of_runs_survives_a_kill_and_the_next_refresh(
    store_v7: Path, tmp_path: Path
) -> None:
    path = tmp_path / "q.duckdb"
    shutil.copy(store_v7, path)
    _killed_after(
        path,
        "import sys, time\n"
        "from quarterdeck.queries.store import Store\n"
        "from quarterdeck.queries.derived import refresh_derived\n"
        "s = Store.open(sys.argv[1])\n"
        "s.con.execute(sys.argv[2])\n"
        "refresh_derived(s.con)\n"
        "print('committed', flush=True)\n"
        "time.sleep(120)\n",
        _events(1),
    )
    _refresh_again(path, 3)


def test_a_store_a_kill_left_with_a_broken_key_index_is_mended_by_the_upgrade(
    store_v7: Path, tmp_path: Path
) -> None:
    """What the old refresh left behind: its delete + insert, killed before a checkpoint."""
    path = tmp_path / "q.duckdb"
    shutil.copy(store_v7, path)
    _killed_after(
        path,
        "import sys, time, duckdb\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('SET enable_progress_bar = false')\n"  # it would write on stdout
        "con.execute('BEGIN')\n"
        "con.execute('CREATE TEMP TABLE keep AS SELECT * FROM run_summary')\n"
        "con.execute('DELETE FROM run_summary')\n"
        "con.execute('INSERT INTO run_summary SELECT * FROM keep')\n"
        "con.execute('COMMIT')\n"
        "print('committed', flush=True)\n"
        "time.sleep(120)\n",
    )
    _refresh_again(path, 2)
