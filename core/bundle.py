"""Evidence bundles: a folder an auditor, a reviewer or a ticket can take, and its check.

    evidence.json     every run collected by `queries.evidence`, as data: each event and
                      touch with the file, line and byte offset it was read from
    touched.csv       one row per touch (also touched.parquet)
    touched.parquet
    report.md         a readable account of each run
    MANIFEST          sha256 and size of each file, then a digest over those lines

`verify` recomputes the manifest and names every file that changed, went missing or appeared,
and recomputes the chain of the decisions inside evidence.json: each decision's journal record
must hash to its `hash`, carry the `prev_hash` and `hash` the bundle shows, and where two
decisions of consecutive `seq` are both in the bundle, the later one must point at the earlier.
A bundle made whole again after an edit (a new MANIFEST over a changed decision) still fails.

The values come from logs and will be read in a terminal (`cat report.md`) as often as in a
viewer: report.md shows every value through `printable` (control characters visible, one line
each), and evidence.json writes what JSON leaves raw as `\\uXXXX` escapes (`printable_json`), so
it parses back to the exact value; touched.csv and touched.parquet are data and keep it.

A bundle holds what the server keeps to its own user (touched records' before/after values,
decision reasons), so it is written private: the folder 0700, each file 0600, whatever the
umask (the files are created so before anything is written into them). It appears whole or
not at all: it is written into a hidden folder beside `out` and renamed to `out` at the end, so
nobody (a reviewer, `verify`, a crash) ever meets a bundle half written.

Times are UTC and say so wherever they are written: ISO 8601 with `Z` in evidence.json and in
the CSV (`2026-11-26T08:00:03.000000Z`), `timestamp[us, tz=UTC]` in the Parquet file, `…Z` in
the report. Data keeps full precision; the report rounds for a person (`formats.number`, `_seconds`:
a ratio to two decimals, a duration in ms or s, tokens and counts as integers).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from quarterdeck.formats import duration, number
from quarterdeck.printable import printable, printable_json
from quarterdeck.queries.decisions import journal
from quarterdeck.queries.evidence import touches_table

FILES = ("evidence.json", "touched.csv", "touched.parquet", "report.md")
MANIFEST = "MANIFEST"
_DIGEST = "manifest-sha256: "


class BundleError(Exception):
    """The bundle could not be written; the message is one line for a person."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write(
    out: Path,
    collected: Sequence[dict[str, Any]],
    *,
    generated_at: datetime,
    store: Path,
    scope: str,
) -> Path:
    """Write the bundle for `collected` runs into `out` (created; must be empty), whole:
    written in a hidden folder beside it, then renamed to `out`."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} is not empty; give a new folder for the bundle")
    work: Path | None = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        work.chmod(0o700)
        _write_files(work, collected, generated_at=generated_at, store=store, scope=scope)
        os.rename(work, out)  # (over an empty folder too)
    except BaseException as exc:  # whatever stopped it, no half-written bundle is left
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BundleError(f"cannot write the bundle in {out}: {exc.strerror or exc}") from exc
        raise
    return out


def _write_files(
    out: Path,
    collected: Sequence[dict[str, Any]],
    *,
    generated_at: datetime,
    store: Path,
    scope: str,
) -> None:
    for name in (*FILES, MANIFEST):  # private before a byte of it is written
        os.close(os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    document = {
        "bundle": {
            "generated_at": generated_at,
            "store": str(store),
            "scope": scope,
            "runs": len(collected),
            "format": "quarterdeck-evidence/1",
        },
        "runs": list(collected),
    }
    (out / "evidence.json").write_text(
        printable_json(json.dumps(document, indent=2, ensure_ascii=False, default=_json_default))
        + "\n",
        encoding="utf-8",
    )
    table = touches_table(list(collected))
    pa_csv.write_csv(_iso_times(table), out / "touched.csv")
    pq.write_table(table, out / "touched.parquet")
    (out / "report.md").write_text(
        report(collected, generated_at=generated_at, scope=scope), encoding="utf-8"
    )
    (out / MANIFEST).write_text(manifest(out), encoding="utf-8")


def _iso_times(table: pa.Table) -> pa.Table:
    """`table` with each UTC timestamp column as ISO 8601 text ending in `Z` (Arrow's CSV
    writer would put a space between the date and the time)."""
    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            text = pc.strftime(table.column(i), format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(i, column.name, text)
    return table


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(folder: Path) -> str:
    lines = ["# Quarterdeck evidence bundle: sha256, size in bytes, file"]
    for name in FILES:
        path = folder / name
        lines.append(f"{_sha256(path)}  {path.stat().st_size}  {name}")
    body = "\n".join(lines) + "\n"
    return body + _DIGEST + hashlib.sha256(body.encode()).hexdigest() + "\n"


def verify(folder: Path) -> list[str]:
    """What is wrong with the bundle in `folder` (nothing: it is as written)."""
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return [f"{path} is missing: this is not an evidence bundle, or its manifest is gone"]
    body, _, tail = text.rpartition(_DIGEST)
    problems = []
    if hashlib.sha256(body.encode()).hexdigest() != tail.strip():
        problems.append("MANIFEST itself was changed (its digest does not match its lines)")
    listed = {}
    for line in body.splitlines()[1:]:
        parts = line.split("  ")
        if len(parts) == 3:
            listed[parts[2]] = (parts[0], parts[1])
    for name, (sha, _size) in listed.items():
        file = folder / name
        if not file.exists():
            problems.append(f"{name} is missing")
        elif _sha256(file) != sha:
            problems.append(f"{name} changed (its sha256 is not the one in MANIFEST)")
    for extra in sorted(p.name for p in folder.iterdir() if p.is_file()):
        if extra not in listed and extra != MANIFEST:
            problems.append(f"{extra} is not in MANIFEST (added after the bundle was made)")
    return problems + chain_problems(folder / "evidence.json")


def chain_problems(path: Path) -> list[str]:
    """What is wrong with the hash chain of the decisions in an evidence.json."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        shown = [d for run in document["runs"] for d in run.get("decisions") or []]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # a missing or changed file is named above
    problems = []
    records: dict[int, dict[str, Any]] = {}
    for decision in shown:
        record = decision.get("journal_record")
        seq = decision.get("seq")
        if not isinstance(record, dict):
            problems.append(f"decision seq {seq} has no journal record in evidence.json")
            continue
        if journal.digest(record) != record.get("hash"):
            problems.append(
                f"decision seq {seq}: its journal record does not hash to its "
                "hash (the record was changed)"
            )
        for field in ("seq", "prev_hash", "hash"):
            if decision.get(field) != record.get(field):
                problems.append(
                    f"decision seq {seq}: {field} differs between the decision "
                    "and its journal record"
                )
        records[record.get("seq", seq)] = record
    for seq, record in sorted(records.items()):
        before = records.get(seq - 1)
        if before is not None and record.get("prev_hash") != before.get("hash"):
            problems.append(
                f"decision seq {seq} does not follow seq {seq - 1} (its prev_hash "
                "is not that decision's hash)"
            )
    return problems


# --- the readable account ---------------------------------------------------------------------


def _md(value: Any) -> str:
    """A value as report text: on one line, control characters shown, `|` escaped (tables)."""
    text = "" if value is None else str(value)
    return printable(text.replace("\n", " ")).replace("|", "\\|")


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if isinstance(value, datetime) else _md(value)


def _number(value: Any) -> str:
    return _md(number(value))


def _seconds(value: Any) -> str:
    """A duration for a person: `340 ms`, `4.2 s`, then `3m05s`, `2h14m`."""
    if not isinstance(value, int | float):
        return _md(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 60 else duration(value)


def _where(t: dict[str, Any]) -> str:
    """Where in the logs an event or touch was read: `folder/file.jsonl:329`."""
    return f"`{_md(t['source'])}:{t['line']}`"


def report(collected: Sequence[dict[str, Any]], *, generated_at: datetime, scope: str) -> str:
    out = [
        f"# Evidence: {printable(scope)}",
        "",
        f"Generated {_when(generated_at)} by Quarterdeck from its store. {len(collected)} "
        "run(s). Every file of this bundle is listed with its sha256 in MANIFEST; "
        "`quarterdeck evidence --verify DIR` checks them.",
        "",
    ]
    for item in collected:
        out.extend(_run_report(item))
    return "\n".join(out) + "\n"


def _section(title: str, items: list[dict[str, Any]], line: Any, empty: str) -> list[str]:
    """A `###` section: one line per item, or what to say when there is none."""
    return ["", f"### {title}", "", *([line(i) for i in items] or [empty])]


def _record(t: dict[str, Any]) -> str:
    return f"{t['system']}/{t['object']}/{t['record_id'] or '[bulk]'}"


def _approval_line(a: dict[str, Any]) -> str:
    asked = (
        f"requested {_when(a['requested_at']) if a.get('requested_at') else 'at an unknown time'}"
        f", expires {_when(a['expires_at']) if a.get('expires_at') else 'never (no expiry given)'}"
    )
    if a.get("decided_by") or a.get("decided_at"):
        decided = (
            f"**{_md(a['status'])}** by {_md(a.get('decided_by') or 'an unknown decider')} at "
            f"{_when(a['decided_at']) if a.get('decided_at') else 'an unknown time'}"
            + (f": {_md(a['reason'])}" if a.get("reason") else "")
        )
    else:
        decided = f"**{_md(a['status'])}**"
    return (
        f"- `{_md(a['approval_id'])}` — {_md(a['action'])} (risk {_md(a['risk'])}, role "
        f"{_md(a['required_role'])}, asked by {_md(a['requested_by'])}); {asked}; {decided}"
    )


def _decision_line(d: dict[str, Any]) -> str:
    return (
        f"- #{d['seq']} {_when(d['decided_at'])} **{_md(d['action'])}** "
        f'{_md(d["target"])} by {_md(d["operator"])}: "{_md(d["reason"])}" — '
        f"{_md(d['state'])} (hash `{d['hash'][:16]}…`)"
    )


def _trigger_line(t: dict[str, Any]) -> str:
    return (
        f"- {_md(t['name'])}: {_md(t['phase'])} (value {_number(t['value'])}, threshold "
        f"{_number(t['threshold'])}, at {_when(t['evaluated_at'])})"
    )


def _finding_line(f: dict[str, Any]) -> str:
    return f"- **{_md(f['kind'])}**: {_md(f['detail'])} (event `{_md(f['event_id'])}`)"


def _version_lines(item: dict[str, Any]) -> list[str]:
    run, version = item["run"], item.get("version")
    out = ["", "### Version", ""]
    if version is None:
        out.append(
            f"{_md(run.get('workflow_version') or 'No version given')}: no "
            "`workflow.published` record of it."
        )
    else:
        approved = ", ".join(_md(a) for a in version.get("approved_by") or []) or "nobody"
        out += [
            f"- **Published**: {_md(version['version'])} by {_md(version['publisher'])} at "
            f"{_when(version['published_at'])}, approved by {approved}; source "
            f"{_md(version.get('source_ref') or 'not given')}",
            f"- **Runs as**: {_md(version.get('identity') or 'not given')}",
            "- **Published scope**: "
            + (", ".join(f"`{printable(g)}`" for g in version.get("scope") or []) or "none"),
        ]
    return out + _section("Findings", item.get("findings") or [], _finding_line, "None.")


def _sources_line(sources: list[dict[str, Any]]) -> str:
    """Where the logs are: the folder the files named here are relative to (the source root),
    or each file's, when they came from more than one; and which files a client uploaded."""
    roots = {s["root"] for s in sources}
    uploads = [s["source"] for s in sources if s.get("kind") == "upload"]
    sent = (
        "; sent to the server by a client (`quarterdeck ingest`), not read from a log: "
        + ", ".join(f"`{_md(name)}`" for name in uploads)
        if uploads
        else ""
    )
    if len(roots) == 1:
        (root,) = roots
        where = f"`{_md(root)}`" if root else "not recorded (loaded before roots were kept)"
        return f"- **Source root**: {where} (each file named here is relative to it){sent}"
    listed = "; ".join(
        f"`{_md(s['source'])}` in `{_md(s['root'])}`" if s["root"] else f"`{_md(s['source'])}`"
        for s in sources
    )
    return f"- **Source roots** (the folder each file's name is relative to): {listed}{sent}"


def _started(run: dict[str, Any]) -> bool:
    """Whether the run was seen starting (a bundle written before this was kept: yes)."""
    return bool(run.get("has_start", True))


def _run_report(item: dict[str, Any]) -> list[str]:
    run, touches = item["run"], item["touches"]
    out = [f"## Run {printable(run['run_id'])}", ""]
    trigger = printable(
        f"{run.get('trigger_kind') or 'unknown'}"
        + (f" by {run['trigger_by']}" if run.get("trigger_by") else "")
    )
    out += [
        f"- **What ran**: {_md(run['workflow'])} {_md(run.get('workflow_version') or '')} in "
        f"{_md(run.get('environment') or 'an unknown environment')}, triggered by {trigger}",
        f"- **As whom**: {_md(run.get('identity') or 'unknown identity')}",
        f"- **Status**: {_md(run['status'])}, "
        + (
            f"started {_when(run['started_at'])}"
            if _started(run)
            else f"never seen starting (no run.started), first event {_when(run['started_at'])}"
        )
        + (f", finished {_when(run['finished_at'])}" if run.get("finished_at") else "")
        + (f", took {_seconds(run['duration_s'])}" if run.get("duration_s") is not None else "")
        + (f"; error: {_md(run['error'])}" if run.get("error") else ""),
        f"- **Events**: {_number(len(item['events']))} (each listed with its file, line and "
        "byte offset in evidence.json)",
        _sources_line(item.get("sources") or []),
        f"- **Tokens**: {_number(run.get('tokens_in'))} in, {_number(run.get('tokens_out'))} "
        f"out; cost ${_number(run.get('cost_usd') or 0)}",
        "- **Scope** (grants): "
        + (
            ", ".join(f"`{printable(g)}`" for g in run["scope"])
            if run.get("scope")
            else "none recorded"
            if _started(run)
            else "unknown: no run.started of this run was seen, so none of its touches is checked"
        )
        + (
            " (its version's published scope: the run gave none)"
            if run.get("scope_published")
            else ""
        ),
        "",
    ]
    out += [
        "### Steps",
        "",
        "| step | name | kind | tool / model | status | took | tokens in/out |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in item["steps"]:
        tokens = (
            f"{_number(s['tokens_in'])}/{_number(s['tokens_out'])}"
            if s.get("tokens_in") is not None or s.get("tokens_out") is not None
            else ""
        )
        out.append(
            f"| {_md(s['step_id'])} | {_md(s['name'])} | {_md(s['kind'])} | "
            f"{_md(s.get('tool') or s.get('model'))} | {_md(s.get('status'))} | "
            f"{_seconds(s.get('duration_s'))} | {tokens} |"
        )
    counts: dict[str, int] = {}
    for t in touches:
        counts[t["action"]] = counts.get(t["action"], 0) + 1
    out += [
        "",
        "### What it touched",
        "",
        f"{_number(len(touches))} touches: "
        + (", ".join(f"{_number(n)} {a}" for a, n in sorted(counts.items())) or "none")
        + ".",
        "",
    ]
    outside = [t for t in touches if t["in_scope"] is False]
    out += ["### Out of scope", ""]
    if outside:
        out += [
            f"{_number(len(outside))} touch(es) no grant of the run covered:",
            "",
            "| time | step | record | action | grant needed | logged at | before → after |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in outside:
            out.append(
                f"| {_when(t['ts'])} | {_md(t['step_id'])} | `{_md(_record(t))}` | "
                f"**{_md(t['action'])}** | `{_md(t['needed_grant'])}` | {_where(t)} | "
                f"{_md(json.dumps(t['before']))} → {_md(json.dumps(t['after']))} |"
            )
    elif unknown := sum(t["in_scope"] is None for t in touches):
        out.append(
            f"Unknown: the run's scope is not known (no run.started of it was seen), so "
            f"{_number(unknown)} of its {_number(len(touches))} touch(es) could not be checked"
            + ("." if unknown == len(touches) else "; the others were covered.")
        )
    else:
        out.append("None: every touch was covered by a grant of the run's scope.")
    writes = [t for t in touches if t["action"] != "read"]
    if writes:
        out += [
            "",
            "### Changes",
            "",
            "| time | record | action | in scope | logged at | before → after |",
            "|---|---|---|---|---|---|",
        ]
        for t in writes:
            out.append(
                f"| {_when(t['ts'])} | `{_md(_record(t))}` | {_md(t['action'])} | "
                f"{'yes' if t['in_scope'] else 'NO' if t['in_scope'] is False else '?'}"
                f" | {_where(t)} | {_md(json.dumps(t['before']))} → "
                f"{_md(json.dumps(t['after']))} |"
            )
    out += _version_lines(item)
    out += _section("Approvals", item["approvals"], _approval_line, "None requested.")
    out += _section("Operators' decisions", item["decisions"], _decision_line, "None.")
    out += _section(
        "Trigger phases at the time",
        item["triggers"],
        _trigger_line,
        "No trigger had been evaluated.",
    )
    return [*out, ""]
