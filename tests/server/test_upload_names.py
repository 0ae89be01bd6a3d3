"""A runner cannot make its log pass for an operator's upload: a file read from disk is never
named `upload:…` (a followed log a runner named `upload:<who>:<name>` is `./upload:…`, its path
relative to the followed folder), and an evidence bundle says which of its sources a client
sent the server (`kind`: `upload` or `log`). A real server following a real folder."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from quarterdeck import client
from quarterdeck.ingest.load import discover
from support.events import started, write_jsonl
from support.serving import Served, qd, until

ME = pwd.getpwuid(os.getuid()).pw_name


def test_no_file_read_from_disk_is_named_as_an_upload(tmp_path: Path, monkeypatch) -> None:
    forged = write_jsonl(tmp_path / "logs" / f"upload:{ME}:x.jsonl", [started()])
    write_jsonl(tmp_path / "logs" / "upload:" / "y.jsonl", [started("r-2")])
    (found,) = discover([forged])
    assert found.name == f"{forged}"  # named by its absolute path, as given
    monkeypatch.chdir(tmp_path / "logs")
    assert [s.name for s in discover([forged.name])] == [f"./upload:{ME}:x.jsonl"]
    names = sorted(s.name for s in discover([tmp_path / "logs"]))
    assert names == ["./upload:/y.jsonl", f"./upload:{ME}:x.jsonl"]


def test_a_followed_log_named_like_an_upload_stays_a_log_in_evidence(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    logs = tmp_path / "logs"
    write_jsonl(logs / f"upload:{ME}:ops.jsonl", [started("r-forged", now), "not json"])
    sent = write_jsonl(tmp_path / "sent" / "ops.jsonl", [started("r-sent", now)])
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text("")
    db = tmp_path / "store" / "qd.duckdb"
    serving(db, cfg, "--follow", str(logs), cwd=tmp_path)
    common = ("--db", str(db), "--config", str(cfg))
    uploaded = qd("ingest", str(tmp_path / "sent"), *common, cwd=tmp_path)
    assert uploaded.returncode == 0, uploaded.stderr

    def quarantined() -> list[dict]:  # asked in-process: a poll starts no process
        server = client.find(db)
        assert server is not None
        rows: list[dict] = server.query("quarantine", {}).to_pylist()
        return rows

    (bad,) = until(quarantined, "the followed log's bad line")
    assert bad["source"] == f"./upload:{ME}:ops.jsonl"

    out = tmp_path / "evidence"  # both runs in one bundle
    written = qd("evidence", "--workflow", "invoice-posting", "--since", "1d", "--out", str(out),
                 *common, cwd=tmp_path)  # fmt: skip
    assert written.returncode == 0, written.stderr
    runs = {r["run"]["run_id"]: r for r in json.loads((out / "evidence.json").read_text())["runs"]}
    assert runs["r-forged"]["sources"] == [
        {"source": f"./upload:{ME}:ops.jsonl", "kind": "log", "root": str(logs.resolve())}
    ]
    assert runs["r-sent"]["sources"] == [
        {"source": f"upload:{ME}:{sent.name}", "kind": "upload", "root": str(sent.parent.resolve())}
    ]
    report = (out / "report.md").read_text()
    uploaded = "sent to the server by a client (`quarterdeck ingest`), not read from a log: "
    assert report.count(uploaded) == 1  # the upload's run only
    assert f"{uploaded}`upload:{ME}:{sent.name}`" in report
