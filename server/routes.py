"""The HTTP surface of `quarterdeck serve`, over its Unix socket.

    POST /v1/query/{name}   a named query (queries.named) with its parameters as JSON;
                            the table as Arrow IPC stream bytes
    POST /v1/decisions      a `DecisionRequest`; the journal record, or 403 with the refusal
    POST /v1/ingest         files' bytes, as the client read them (intake.py); the load's
                            summary, 403 for a peer without the role `ingest`, 413 for an
                            upload over the limit, 400 for a body that breaks the format
    GET  /v1/status         the server's own state (JSON)
    GET  /v1/whoami         who this peer is to the server: its name, roles, what it may do
    POST /v1/decisions/plan a `DecisionRequest` previewed: what it would do, authority
                            checked, nothing recorded (403 with the refusal)
    GET  /v1/changes?after=N&wait=S
                            long-poll on the change counter (changes.py): answers when it is
                            past N, or after S seconds (at most 60); JSON with the counter,
                            what changed, the server's instance and the follower's stats

Live updates are a long-poll rather than server-sent events: each answer is one short JSON
request on the same one-connection-per-request client the rest uses, a console's loop needs
no streaming parser, and a server restart is simply a failed request and the next one.

Every request is identified first, from the socket (peer.py), never from what it sends. The
work itself — a query, a decision — runs in a worker thread with a cursor of its own, so the
event loop keeps answering while DuckDB works. Errors answer as JSON `{"error": ...}`: 400 for
parameters the model refuses, 403 for a refusal, 404 for an unknown query, 500 for the rest
(logged with its traceback: that one is a bug).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from quarterdeck.client import ARROW_STREAM, INGEST_BODY
from quarterdeck.ingest.load import LoadError
from quarterdeck.queries import named
from quarterdeck.queries.decisions import Refused
from quarterdeck.server import intake
from quarterdeck.server.peer import Peer, peer_of
from quarterdeck.server.recorder import DecisionRequest

if TYPE_CHECKING:
    from quarterdeck.server.serve import Server

log = logging.getLogger("quarterdeck.serve")

SERVER: web.AppKey[Server] = web.AppKey("server")
PEER = "peer"
T = TypeVar("T")


def build(server: Server) -> web.Application:
    app = web.Application(middlewares=[_identify], client_max_size=1024**2)
    app[SERVER] = server
    app.add_routes(
        [
            web.post("/v1/query/{name}", query),
            web.post("/v1/decisions", decide),
            web.post("/v1/ingest", ingest),
            web.get("/v1/status", status),
        ]
    )
    app.add_routes(
        [
            web.get("/v1/whoami", whoami),
            web.post("/v1/decisions/plan", plan),
            web.get("/v1/changes", changes),
        ]
    )
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _identify(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Who asks (from the socket), counted as a client while the request runs; the errors a
    client can act on answered as such."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return _error(400, "no socket to identify the client by")
    peer = peer_of(sock)
    request[PEER] = peer
    server = request.app[SERVER]
    server.clients.enter(peer)
    try:
        return await handler(request)
    except Refused as exc:  # a bad reason (decisions.BadReason, exit 2) is bad input
        return _error(400 if exc.exit_code == 2 else 403, str(exc))
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, _first_problem(exc))
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("%s %s from %s failed", request.method, request.path, peer.name)
        return _error(500, f"{type(exc).__name__}: {exc}")
    finally:
        server.clients.leave(peer)


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        return f"{where}: {first['msg']}"
    return f"not JSON: {exc}"


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


async def _body(request: web.Request) -> dict[str, Any]:
    data = await request.read()
    value = json.loads(data) if data else {}
    if not isinstance(value, dict):
        raise json.JSONDecodeError("expected an object", data.decode(errors="replace"), 0)
    return value


async def query(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in named.QUERIES:
        return _error(404, f"no query named {name!r}; the queries: {', '.join(named.QUERIES)}")
    params = named.params_for(name, await _body(request))
    server = request.app[SERVER]
    body = await _in_thread(server.query, name, params)
    return web.Response(body=body, content_type=ARROW_STREAM)


async def decide(request: web.Request) -> web.StreamResponse:
    decision = DecisionRequest.model_validate(await _body(request))
    peer: Peer = request[PEER]
    answer = await _in_thread(request.app[SERVER].decide, peer, decision)
    return web.json_response(answer)


async def ingest(request: web.Request) -> web.StreamResponse:
    """Spool what the client sends, then load it; a client gone before the end loads nothing.
    Once loading has begun it runs to its end in its worker thread, client or no client."""
    if request.content_type != INGEST_BODY:
        return _error(400, f"an ingest is sent as {INGEST_BODY}")
    server = request.app[SERVER]
    peer: Peer = request[PEER]
    refusal = server.ingest_refusal(peer)
    if refusal is not None:  # before a byte is spooled
        log.warning("ingest by %s refused: %s", peer.name, refusal)
        raise Refused(refusal)
    folder = intake.spool_folder(server.path)
    try:
        try:
            sources = await intake.receive(
                request.content, folder, who=peer.name, limit=server.ingest_limit
            )
        except intake.TooLarge as exc:
            log.warning("ingest by %s: %s", peer.name, exc)
            return _error(413, str(exc))
        except intake.BadUpload as exc:
            return _error(400, f"not an ingest body: {exc}")
        except intake.Incomplete as exc:
            log.warning("ingest by %s: %s; nothing was loaded", peer.name, exc)
            return _error(400, str(exc))
        except OSError as exc:  # the spool's disk is full, say: the server's to fix
            log.warning(
                "ingest by %s: cannot spool the upload: %s; nothing was loaded", peer.name, exc
            )
            return _error(507, f"the server cannot spool the upload: {exc.strerror or exc}")
        try:
            answer = await _in_thread(server.ingest, peer, sources)
        except LoadError as exc:  # the loader's own words, as an embedded load says them
            return _error(422, str(exc))
        return web.json_response(answer)
    finally:
        await _in_thread(shutil.rmtree, folder, True)


async def status(request: web.Request) -> web.StreamResponse:
    return web.json_response(await _in_thread(request.app[SERVER].status))


# --- the console's: who am I, a decision's preview, live changes ------------------------------


async def whoami(request: web.Request) -> web.StreamResponse:
    read_only = request.query.get("read_only", "0") not in ("", "0", "false")
    return web.json_response(request.app[SERVER].whoami(request[PEER], read_only=read_only))


async def plan(request: web.Request) -> web.StreamResponse:
    decision = DecisionRequest.model_validate(await _body(request))
    answer = await _in_thread(request.app[SERVER].plan, request[PEER], decision)
    return web.json_response(answer)


#: The longest a client may hold a long-poll open.
MAX_WAIT = 60.0


async def changes(request: web.Request) -> web.StreamResponse:
    try:
        after = int(request.query.get("after", "0"))
        wait = min(max(float(request.query.get("wait", "25")), 0.0), MAX_WAIT)
    except ValueError:
        return _error(400, "after is the counter last seen (an integer), wait seconds")
    server = request.app[SERVER]
    counter, changed = await server.changes.wait(after, wait)
    return web.json_response(server.changed(counter, changed))
