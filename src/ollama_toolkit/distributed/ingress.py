"""The ingress: the plain server's app (`create_app`: middleware, auth, guards, metrics, every
route) with its inference routes forwarded to engine replicas and `/api/ps` gathered from all of
them. The model store's writers (pull, create, copy, delete, blobs) run here only.

A forwarded route reads the body once, takes its routing keys (`keys.route_keys`), and calls
the replicas' deployment handle as a stream, under the request's model id: the router
(`router.PrefixAffinityRouter`) picks the replica. The status is sent only once the replica's
first piece came back, so a refusal is still a plain HTTP error; a replica that dies before it
is a 503, one that dies after it ends the stream with its framing's error line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ollama_toolkit.api.errors import InternalError
from ollama_toolkit.distributed.keys import INFERENCE_PATHS, route_keys
from ollama_toolkit.distributed.replica import Forwarded, Reply
from ollama_toolkit.server.errors import anthropic_error_body, error_response, openai_error_body

log = logging.getLogger(__name__)

REPLICA_GONE = "the model's replica stopped while answering; retry the request"


def _error_piece(path: str, content_type: str, message: str) -> bytes:
    """The stream's last piece after a replica died mid-answer, in the answer's framing."""
    error = InternalError(message)
    if "text/event-stream" in content_type:
        if path == "/v1/messages":
            return b"event: error\ndata: " + anthropic_error_body(error).to_json() + b"\n\n"
        return b"data: " + openai_error_body(error).to_json() + b"\n\n"
    return json.dumps({"error": message}).encode() + b"\n"


class Forward:
    """An inference route, answered by an engine replica."""

    def __init__(self, engine: DeploymentHandle) -> None:
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        keys = route_keys(scope["path"], body)
        req = Forwarded(
            scope["method"], scope["path"], scope.get("query_string", b""), scope["headers"], body
        )
        if keys.everywhere:
            await (await self._everywhere(req, keys.model, keys.load))(scope, receive, send)
            return
        handle = self.engine.options(stream=True, multiplexed_model_id=keys.model)
        stream = cast(DeploymentResponseGenerator, handle.handle.remote(req, prefix=keys.prefix))
        try:
            first: Reply = await stream.__anext__()
        except RayActorError as e:
            log.warning("replica gone before answering %s: %s", scope["path"], e)
            await error_response(REPLICA_GONE, 503, {"Retry-After": "1"})(scope, receive, send)
            return
        except StopAsyncIteration:
            await error_response("no response", 500)(scope, receive, send)
            return
        content_type = next(
            (v.decode("latin-1") for k, v in first.headers if k.lower() == b"content-type"), ""
        )

        async def pieces() -> AsyncIterator[bytes]:
            try:
                yield first.body
                if first.end:
                    return
                async for piece in stream:
                    yield piece.body
                    if piece.end:
                        return
            except RayActorError as e:
                log.warning("replica gone while answering %s: %s", scope["path"], e)
                yield _error_piece(scope["path"], content_type, REPLICA_GONE)
            finally:
                stream.cancel()  # the client left, or the answer ended: nothing more to run

        response = StreamingResponse(pieces(), status_code=first.status or 500)
        response.raw_headers = first.headers
        await response(scope, receive, send)

    async def _everywhere(self, req: Forwarded, model: str, load: bool) -> Response:
        """A load or unload request, run by every replica: the first one's answer, or the
        first refusal."""
        broadcast = self.engine.broadcast("answer_whole", req, model, load)
        results = await broadcast.results_async(return_exceptions=True)
        replies = [r for r in results if isinstance(r, Reply)]
        if not replies:
            return error_response(REPLICA_GONE, 503, {"Retry-After": "1"})
        reply = next((r for r in replies if r.status != 200), replies[0])
        response = Response(reply.body, status_code=reply.status or 500)
        response.raw_headers = reply.headers
        return response


class GatherPs:
    """/api/ps: every replica's loaded models, the longest time left first, as Ollama sorts."""

    def __init__(self, engine: DeploymentHandle) -> None:
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        results = await self.engine.broadcast("ps").results_async(return_exceptions=True)
        models: list[dict[str, Any]] = [m for r in results if isinstance(r, list) for m in r]
        models.sort(key=lambda m: str(m.get("expires_at", "")), reverse=True)
        await JSONResponse({"models": models})(scope, receive, send)


class GatherMetrics:
    """/metrics: the ingress's own metrics (label `replica="ingress"`) and every replica's
    (`replica="<id> pid=<pid>"`), each family once."""

    def __init__(self, engine: DeploymentHandle) -> None:
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        own: bytes = request.app.state.metrics.exposition()
        texts = [("ingress", own.decode())]
        results = await self.engine.broadcast("metrics").results_async(return_exceptions=True)
        texts += [r for r in results if isinstance(r, tuple)]
        await Response(merge_metrics(texts), media_type=CONTENT_TYPE_LATEST)(scope, receive, send)


def merge_metrics(texts: list[tuple[str, str]]) -> bytes:
    """Prometheus texts of several processes as one, each sample labelled with its source."""
    families: dict[str, Metric] = {}
    for source, text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            for sample in family.samples:
                labels = {**sample.labels, "replica": source}
                merged.samples.append(sample._replace(labels=labels))

    class _Collector:
        def collect(self) -> list[Metric]:
            return list(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())  # type: ignore[arg-type]
    return generate_latest(registry)


def ingress_app(engine: DeploymentHandle) -> FastAPI:
    """The plain server's app with its inference routes on the replicas behind `engine`."""
    from ollama_toolkit.server.app import create_app

    app = create_app()
    for route in app.router.routes:
        if not isinstance(route, Route):
            continue
        if route.path in INFERENCE_PATHS:
            route.app = Forward(engine)
        elif route.path == "/api/ps":
            route.app = GatherPs(engine)
        elif route.path == "/metrics":
            route.app = GatherMetrics(engine)
    return app


class Ingress:
    """The ingress deployment's class (`serve.ingress` builds its app on the replica)."""

    def __init__(self, engine: DeploymentHandle, env: dict[str, str]) -> None:
        os.environ.update(env)
        self.engine = engine

    def __serve_build_asgi_app__(self) -> FastAPI:
        return ingress_app(self.engine)
