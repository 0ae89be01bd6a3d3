"""The back end never loads Textual: ingest and queries run headless."""

import subprocess
import sys


def test_ingest_and_queries_load_no_textual() -> None:
    code = (
        "import sys, quarterdeck.ingest.load, quarterdeck.ingest.models, "
        "quarterdeck.ingest.reader, quarterdeck.ingest.validate, quarterdeck.queries.store, "
        "quarterdeck.queries.runs, quarterdeck.queries.loading, quarterdeck.queries.derived, "
        "quarterdeck.runner.fleet\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"textual modules loaded: {result.stdout}{result.stderr}"


def test_console_writes_no_sql() -> None:
    """Every query lives in queries/ under a name; the console has none inline."""
    import re
    from pathlib import Path

    pattern = re.compile(r"""["'](SELECT|INSERT INTO|UPDATE|DELETE FROM|WITH) """)
    root = Path(__file__).parent.parent / "console"
    offenders = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
