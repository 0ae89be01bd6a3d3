"""Traces as real agent frameworks and their instrumentations make them, offline.

Two small apps, each run twice (an order looked up, then a card charged, which raises):

- a LangGraph ReAct agent (`travel_assistant`) whose chat model is scripted (it asks for the
  tool once, then answers), instrumented by OpenInference, and again by OpenLLMetry
  (Traceloop's opentelemetry-instrumentation-langchain);
- an openai-agents app (workflow `Customer support`, agent `Support agent`) whose OpenAI
  client talks to an `httpx.MockTransport` returning canned chat completions (a tool call
  with usage, then an answer), instrumented by OpenInference and by the official
  opentelemetry-instrumentation-openai-v2 at once, as a team that uses both would.

Spans are kept by an in-memory exporter and encoded as the Collector's file exporter writes
them (`collector_json`): one `TracesData` object per line, hex ids, integer enums, 64-bit
integers as strings. `agent_traces()` makes them all (~5 s, most of it imports); the tests
take them from a session fixture, so the suite pays once per worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

#: The two calls each app makes: (tool, its arguments). The second tool raises.
CALLS = (("lookup_order", {"order_id": "O-7"}), ("charge_card", {"customer_id": "C-9"}))
#: What the scripted models report per call.
LANGGRAPH_USAGE = {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}
OPENAI_USAGE = {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}
#: The openai-agents app's grants (its resource's `quarterdeck.scope`); the LangGraph app has
#: none.
SUPPORT_SCOPE = ("payments:write:Charge",)


def collector_json(spans: Any) -> str:
    """One TracesData line as the Collector's file exporter writes it (hex ids)."""
    data = MessageToDict(encode_spans(spans), use_integers_for_enums=True)

    def hexify(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("traceId", "spanId", "parentSpanId"):
                if node.get(key):
                    node[key] = base64.b64decode(node[key]).hex()
            for child in node.values():
                hexify(child)
        elif isinstance(node, list):
            for child in node:
                hexify(child)

    hexify(data)
    return json.dumps(data)


def by_trace(spans: list[ReadableSpan]) -> list[str]:
    """One line per trace (an export batch each), in the order the traces began."""
    traces: dict[int, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        traces.setdefault(span.context.trace_id, []).append(span)
    return [collector_json(group) for group in traces.values()]


@contextmanager
def recording(resource: dict[str, Any], *instrumentors: Any) -> Iterator[InMemorySpanExporter]:
    """Spans of what runs inside, by these instrumentors (undone afterwards)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        provider.shutdown()


def _tools() -> dict[str, Any]:
    from langchain_core.tools import tool

    @tool
    def lookup_order(order_id: str) -> str:
        """Look up an order."""
        return f"order {order_id} shipped"

    @tool
    def charge_card(customer_id: str) -> str:
        """Charge a customer's card."""
        raise RuntimeError("card declined")

    return {"lookup_order": lookup_order, "charge_card": charge_card}


def _scripted_chat(tool_name: str, args: dict[str, Any]) -> Any:
    """A chat model that asks for `tool_name` once, then answers (as a tool-calling model)."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class ScriptedChat(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "scripted"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

        def _generate(self, messages: Any, stop: Any = None, **kwargs: Any) -> ChatResult:
            if any(isinstance(m, ToolMessage) for m in messages):
                message = AIMessage(content="Done.", usage_metadata=LANGGRAPH_USAGE)
            else:
                call = {"name": tool_name, "args": args, "id": "call-1"}
                message = AIMessage(content="", tool_calls=[call], usage_metadata=LANGGRAPH_USAGE)
            return ChatResult(
                generations=[ChatGeneration(message=message)],
                llm_output={"model_name": "scripted-1"},
            )

    return ScriptedChat()


def langgraph_traces(instrumentor: Any) -> list[str]:
    """The LangGraph agent's two runs (the second raises in charge_card), as OTLP lines."""
    import langgraph.prebuilt

    with recording({"service.name": "travel-app"}, instrumentor) as exporter:
        tools = _tools()
        for name, args in CALLS:
            # looked up now: OpenLLMetry wraps the factory when it instruments. Deprecated
            # for langchain's create_agent, which OpenLLMetry wraps alike; langchain itself
            # is not needed for it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                agent = langgraph.prebuilt.create_react_agent(
                    _scripted_chat(name, args), [tools[name]], name="travel_assistant"
                )
            config = {"metadata": {"session_id": "sess-42", "user_id": "u-ada"}}
            try:
                agent.invoke({"messages": [("user", "where is my order?")]}, config=config)
            except RuntimeError:
                pass  # charge_card raised: the run failed
        return by_trace(list(exporter.get_finished_spans()))


def _completion(tool: str | None, args: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if tool else "All done."}
    if tool:
        call = {"name": tool, "arguments": json.dumps(args)}
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": call}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764662400,
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
        ],
        "usage": OPENAI_USAGE,
    }


def _model_transport(tool: str, args: dict[str, Any]) -> Any:
    """Canned chat completions: the tool call first, the answer once a tool has replied."""
    import httpx

    def handle(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        answered = any(m.get("role") == "tool" for m in messages)
        return httpx.Response(200, json=_completion(None if answered else tool, args))

    return httpx.MockTransport(handle)


def openai_agents_traces() -> list[str]:
    """The openai-agents app's two runs (the second raises in charge_card), as OTLP lines."""
    import httpx
    from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    def lookup_order(order_id: str) -> str:
        """Look up an order."""
        return f"order {order_id} shipped"

    def charge_card(customer_id: str) -> str:
        """Charge a customer's card."""
        raise RuntimeError("card declined")

    functions: dict[str, Callable[..., str]] = {
        "lookup_order": lookup_order,
        "charge_card": charge_card,
    }

    async def run_all() -> None:
        for name, args in CALLS:
            http = httpx.AsyncClient(transport=_model_transport(name, args))
            client = AsyncOpenAI(
                api_key="offline", base_url="http://model.test/v1", http_client=http
            )
            agent = Agent(
                name="Support agent",
                instructions="Help the customer.",
                tools=[function_tool(functions[name], failure_error_function=None)],
                model=OpenAIChatCompletionsModel(model="gpt-4.1-mini", openai_client=client),
            )
            try:
                await Runner.run(
                    agent, "charge me", run_config=RunConfig(workflow_name="Customer support")
                )
            except Exception:  # noqa: BLE001 - the SDK wraps the tool's error as UserError
                pass
            await http.aclose()

    resource = {"service.name": "support-app", "quarterdeck.scope": SUPPORT_SCOPE}
    with recording(resource, OpenAIAgentsInstrumentor(), OpenAIInstrumentor()) as exporter:
        asyncio.run(run_all())
        return by_trace(list(exporter.get_finished_spans()))


def agent_traces() -> dict[str, list[str]]:
    """Every app under every instrumentation: name → its OTLP lines (one per trace)."""
    from openinference.instrumentation.langchain import LangChainInstrumentor
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor

    return {
        "langgraph-openinference": langgraph_traces(LangChainInstrumentor()),
        "langgraph-openllmetry": langgraph_traces(LangchainInstrumentor()),
        "openai-agents": openai_agents_traces(),
    }
