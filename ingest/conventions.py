"""What a span means, under the three conventions agent frameworks' traces follow: the
OpenTelemetry GenAI semantic conventions (`gen_ai.*`), OpenInference (`openinference.span.kind`,
`llm.*`, `tool.*`, `input.value`) and OpenLLMetry / Traceloop (`traceloop.*`). Pure reading of
one span's attributes (already decoded from OTLP): no trace, no events; `ingest.otlp` puts the
spans of a trace together. The README's table "Traces from agent frameworks" says the same.

- A span's role (`role`): the run's agent (`agent`: OpenInference AGENT, GenAI `invoke_agent`
  or `invoke_workflow`, Traceloop `agent`/`workflow`), a step of kind `tool`, `llm` or
  `retrieval`, a `guardrail` (a step with no kind: v1 has none for it), an agent definition
  (`create_agent`: a trace rooted in one is not a run), or nothing (CHAIN and Traceloop
  `task` spans: plumbing).
- Names, models and token counts are read from whichever convention has them, GenAI first.
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

Role = Literal["agent", "tool", "llm", "retrieval", "guardrail", "create_agent"]

#: OpenInference span kinds → role (CHAIN and unknown kinds: none).
OPENINFERENCE = {
    "AGENT": "agent",
    "LLM": "llm",
    "EMBEDDING": "llm",
    "TOOL": "tool",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "GUARDRAIL": "guardrail",
}
#: GenAI `gen_ai.operation.name` → role.
GENAI = {
    "invoke_agent": "agent",
    "create_agent": "create_agent",
    "execute_tool": "tool",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "llm",
    # added to the conventions after the names above
    "retrieval": "retrieval",
    "invoke_workflow": "agent",
    # OpenLLMetry's own name for a retriever's span (its span kind says only `task`)
    "vector_db_retrieve": "retrieval",
}
#: Traceloop `traceloop.span.kind` → role (`task`: none).
TRACELOOP = {"agent": "agent", "workflow": "agent", "tool": "tool"}
#: OpenLLMetry's `llm.request.type` → role: its model spans from before it wrote
#: `gen_ai.operation.name` carry only this.
TRACELOOP_REQUEST = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "llm",
    "rerank": "retrieval",
}
#: The roles that are steps, and the v1 step kind each is (a guardrail has none).
STEP_KINDS: dict[str, str | None] = {
    "tool": "tool",
    "llm": "llm",
    "retrieval": "retrieval",
    "guardrail": None,
}

#: Attributes read here (and so not kept again in a step's `attrs`).
SESSION_KEYS = (
    "quarterdeck.session_id",
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
)
USER_KEYS = (
    "quarterdeck.user_id",
    "user.id",
    "gen_ai.user.id",
    "enduser.id",
    "traceloop.association.properties.user_id",
)
WORKFLOW_KEYS = ("gen_ai.workflow.name", "traceloop.workflow.name")
#: Token counts: GenAI's, its names before semconv 1.27 (`prompt_tokens`, `completion_tokens`:
#: OpenLLMetry packages not yet migrated write them), then OpenInference's.
TOKENS_IN = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
TOKENS_OUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
TOOL_KEYS = ("gen_ai.tool.name", "tool.name")


def role(attrs: dict[str, Any]) -> Role | None:
    """What the span is, by the first convention that says (GenAI, OpenInference, Traceloop's
    span kind, then its request type)."""
    found = (
        GENAI.get(str(attrs.get("gen_ai.operation.name") or ""))
        or OPENINFERENCE.get(str(attrs.get("openinference.span.kind") or "").upper())
        or TRACELOOP.get(str(attrs.get("traceloop.span.kind") or ""))
        or TRACELOOP_REQUEST.get(str(attrs.get("llm.request.type") or ""))
    )
    return cast(Role | None, found)


def first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((attrs[k] for k in keys if attrs.get(k) not in (None, "")), None)


def count(attrs: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """A token count (an int, or int-like text), else None."""
    found = first(attrs, keys)
    try:
        return None if found is None or isinstance(found, bool) else int(found)
    except (TypeError, ValueError):
        return None


def tool_name(attrs: dict[str, Any], span_name: str | None) -> str | None:
    """The tool's name: GenAI, OpenInference, then Traceloop's entity, then the span's name
    without its GenAI operation prefix (`execute_tool charge_card`)."""
    found = first(attrs, TOOL_KEYS)
    if found is None and attrs.get("traceloop.span.kind") == "tool":
        found = attrs.get("traceloop.entity.name")
    if found is None and span_name:
        found = span_name.removeprefix("execute_tool ").strip() or None
    return None if found is None else str(found)


def user(attrs: dict[str, Any]) -> str | None:
    """The user: an attribute of a convention, else `user_id` in OpenInference's LangChain
    `metadata` (the run's config metadata, as JSON text)."""
    found = first(attrs, USER_KEYS)
    if found is None and isinstance(attrs.get("metadata"), str):
        metadata = _json(attrs["metadata"])
        if isinstance(metadata, dict):
            found = metadata.get("user_id")
    return None if found in (None, "") else str(found)


def tool_arguments(attrs: dict[str, Any]) -> Any:
    """A tool call's arguments, wherever the convention puts them: GenAI
    `gen_ai.tool.call.arguments` (Traceloop wraps them as `inputs`), OpenInference
    `input.value`, or `tool.parameters` when it holds values rather than a JSON schema.
    An object, or the one bare value the tool was called with; None when there are none."""
    for key in ("gen_ai.tool.call.arguments", "input.value", "tool.parameters"):
        raw = attrs.get(key)
        if raw in (None, ""):
            continue
        parsed = _json(raw) if isinstance(raw, str) else raw
        if isinstance(parsed, dict):
            if isinstance(parsed.get("inputs"), dict):  # Traceloop's wrapper
                return parsed["inputs"]
            if key == "tool.parameters" and "properties" in parsed:
                continue  # a schema of the parameters, not their values
            if "input_str" in parsed and "inputs" not in parsed:
                continue  # Traceloop's text of a Python repr: nothing to read reliably
        return parsed
    return None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare value (OpenInference gives a one-argument call's value as is)
