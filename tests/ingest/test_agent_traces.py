"""Real agents' traces in: a LangGraph agent under OpenInference and under OpenLLMetry, and an
openai-agents app under OpenInference and openai-v2 together (tests/support/agents.py), as the
Collector's file exporter writes them, load into runs as an operator expects them (issue 16)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.xdist_group("agents")


def spans_of(path: Path) -> list[dict[str, Any]]:
    return [
        span
        for line in path.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def test_the_apps_traces_are_as_the_collector_writes_them(agent_traces: dict[str, Path]) -> None:
    assert set(agent_traces) == {
        "langgraph-openinference",
        "langgraph-openllmetry",
        "openai-agents",
    }
    for path in agent_traces.values():
        spans = spans_of(path)
        assert spans
        for span in spans:
            assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
            assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
            assert isinstance(span["kind"], int)  # integer enums
            assert isinstance(span["startTimeUnixNano"], str)  # 64-bit ints as strings
            assert isinstance(span.get("status", {}).get("code", 0), int)
        # one of each app's runs fails in charge_card
        failed = [s for s in spans if s.get("status", {}).get("code") == 2]
        assert any("charge_card" in s["name"] for s in failed)
