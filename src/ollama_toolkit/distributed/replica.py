"""The engine replica: the whole server (`server.app.create_app`, its scheduler and runners) in a
Ray Serve replica, answering the inference requests the ingress forwards to it.

A forwarded request is the HTTP request itself (method, path, headers, body): the replica runs
it through its own app, so request preparation, templates, parsers, framing and errors are the
plain server's, byte for byte. The answer goes back as a stream of `Reply` pieces, one per turn
of the replica's event loop: every body piece the app sent meanwhile (all the chunks a decoding
step produced, for every request it advanced) crosses the Ray hop as one message.

Models are multiplexed by name (`keys.model_id`): a replica reports the models it serves to
Serve's controller, and the router sends a model's requests to the replicas that hold it. The
replica's scheduler keeps owning loads and unloads (keep-alive, OLLAMA_MAX_LOADED_MODELS, waits
for in-flight requests); Serve's multiplexing is capped at the same number of models and its
eviction of an id unloads nothing by itself (see docs/scaling-out.md, the limits).

The model store is read only: replicas read a shared OLLAMA_MODELS, the ingress alone writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ray import serve
from starlette.types import ASGIApp, Message

REPLICA_HEADER = "x-ollama-replica"
"""Answers from a replica name it (`<replica id> pid=<process id>`): for logs and tests."""


@dataclass
class Forwarded:
    """An HTTP request, as the ingress received it."""

    method: str
    path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class Reply:
    """A piece of an answer: the status and headers first (with the first body bytes), then
    body bytes. `end` marks the last piece."""

    body: bytes = b""
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    end: bool = False


async def run_asgi(app: ASGIApp, req: Forwarded) -> AsyncIterator[Reply]:
    """Run `req` through `app`; its answer as `Reply` pieces, everything sent since the last
    piece joined into one. Closing the iterator early is the client leaving: the app sees a
    disconnect and its task is cancelled (the generation stops, its slot is freed)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http",
        "path": req.path,
        "raw_path": req.path.encode(),
        "root_path": "",
        "query_string": req.query_string,
        "headers": req.headers,
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []
    wake = asyncio.Event()
    gone = asyncio.Event()
    body_given = False

    async def receive() -> Message:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": req.body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        wake.set()

    task = asyncio.ensure_future(app(scope, receive, send))
    task.add_done_callback(lambda _: wake.set())
    started = False
    try:
        while True:
            await wake.wait()
            wake.clear()
            piece = Reply()
            done = task.done()
            for message in sent:
                if message["type"] == "http.response.start":
                    piece.status = message["status"]
                    piece.headers = list(message.get("headers", []))
                elif message["type"] == "http.response.body":
                    piece.body += message.get("body", b"")
                    if not message.get("more_body", False):
                        piece.end = True
            sent.clear()
            if done and not piece.end:
                task.result()  # the app failed: raise its error here
                piece.end = True
            if piece.status is not None or piece.body or piece.end:
                if piece.status is None and not started:
                    raise RuntimeError("the app sent a body before its status")
                started = True
                yield piece
            if piece.end:
                return
    finally:
        gone.set()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class _Held:
    """What Serve's multiplexing keeps per model id: nothing but the id. Its eviction unloads
    nothing; the replica's scheduler decides when the model leaves memory."""

    def __init__(self, model: str) -> None:
        self.model = model


REPLICA_ENV = {
    # The ingress alone writes the shared store.
    "OLLAMA_TOOLKIT_NO_BUNDLED_MODEL": "1",
    "OLLAMA_NOPRUNE": "1",
}


def replica_class(max_models: int) -> type:
    """The replica deployment's class, multiplexing up to `max_models` model ids (the
    replica's OLLAMA_MAX_LOADED_MODELS)."""

    class EngineReplica:
        """One engine: the plain server's app, its scheduler, its runners."""

        def __init__(self, env: dict[str, str], threads: int) -> None:
            os.environ.update(env)
            os.environ.update(REPLICA_ENV)
            if threads > 0:
                os.environ["OLLAMA_NUM_THREAD"] = str(threads)
            from ollama_toolkit import config

            config.set_openmp_defaults()  # before llama.cpp loads, as `serve` does
            from ollama_toolkit.server.app import create_app

            self._app = create_app()
            self._lifespan: contextlib.AsyncExitStack | None = None
            self._starting = asyncio.Lock()
            context = serve.get_replica_context()
            self.name = f"{context.replica_id.unique_id} pid={os.getpid()}"

        async def _ready(self) -> ASGIApp:
            async with self._starting:
                if self._lifespan is None:
                    stack = contextlib.AsyncExitStack()
                    await stack.enter_async_context(self._app.router.lifespan_context(self._app))
                    self._lifespan = stack
            return self._app

        @serve.multiplexed(max_num_models_per_replica=max_models)
        async def _hold(self, model: str) -> _Held:
            return _Held(model)

        async def handle(self, req: Forwarded, prefix: list[int]) -> AsyncGenerator[Reply, None]:
            """Answer a forwarded request. `prefix` is the prompt's hash chain: the router reads
            it (routing happens before the call); the replica has no use for it."""
            del prefix
            app = await self._ready()
            model = serve.get_multiplexed_model_id()
            if model:
                await self._hold(model)
            first = True
            async for piece in run_asgi(app, req):
                if first:
                    piece.headers.append((REPLICA_HEADER.encode(), self.name.encode()))
                    first = False
                yield piece

        async def answer_whole(self, req: Forwarded, model: str, hold: bool) -> Reply:
            """Answer a request in one piece: the ingress broadcasts load and unload requests
            (an empty prompt, `keep_alive`) to every replica this way. `hold`: report `model`
            as served here (a load), for the router."""
            app = await self._ready()
            if model and hold:
                await self._hold(model)
            whole = Reply(end=True)
            async for piece in run_asgi(app, req):
                if piece.status is not None:
                    whole.status = piece.status
                    whole.headers = piece.headers
                whole.body += piece.body
            whole.headers.append((REPLICA_HEADER.encode(), self.name.encode()))
            return whole

        async def ps(self) -> list[dict[str, Any]]:
            """This replica's /api/ps entries, for the ingress to gather."""
            app = await self._ready()
            body = b""
            async for piece in run_asgi(app, Forwarded("GET", "/api/ps", b"", [], b"")):
                body += piece.body
            models: list[dict[str, Any]] = json.loads(body).get("models", [])
            for entry in models:
                entry["replica"] = self.name
            return models

        async def metrics(self) -> tuple[str, str]:
            """This replica's name and /metrics (Prometheus' text), for the ingress to gather."""
            app = await self._ready()
            body = b""
            async for piece in run_asgi(app, Forwarded("GET", "/metrics", b"", [], b"")):
                body += piece.body
            return self.name, body.decode()

        def check_health(self) -> None:
            """Serve's health check: every loaded model's decoding thread is alive (a dead one
            makes Serve replace the replica)."""
            state = getattr(self._app.state, "ollama", None)
            if state is None:
                return
            dead = [x.spec.name for x in state.scheduler.loaded if not x.runner.healthy()]
            if dead:
                raise RuntimeError(f"runner stopped: {', '.join(dead)}")

        async def __del__(self) -> None:  # Serve awaits it when the replica stops
            if self._lifespan is not None:
                await self._lifespan.aclose()

    return EngineReplica
