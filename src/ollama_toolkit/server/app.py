"""The ASGI app: lifespan (store, scheduler), middleware, error handlers, the route table."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_toolkit import config
from ollama_toolkit.api.errors import OllamaError
from ollama_toolkit.engine.scheduler import Scheduler
from ollama_toolkit.server.auth import ApiKeyAuth, ApiKeys, reload_on_sighup
from ollama_toolkit.server.errors import error_response, is_anthropic, ollama_error
from ollama_toolkit.server.guard import LocalGuard
from ollama_toolkit.server.limits import BodyLimits, anthropic_refusal
from ollama_toolkit.server.metrics import Metrics, RequestMetrics
from ollama_toolkit.server.prepare import ServerState
from ollama_toolkit.server.request_log import RequestLog
from ollama_toolkit.server.responses import Drain
from ollama_toolkit.server.routes import add_routes
from ollama_toolkit.store.bundled import ensure_bundled
from ollama_toolkit.store.model import ModelCache
from ollama_toolkit.store.store import Store
from ollama_toolkit.version import __version__

log = logging.getLogger(__name__)

_GIL_SWITCH_INTERVAL_S = 0.0005

# gin's answers for an unknown path and a known path's other methods.
_GIN_TEXT = {404: "404 page not found", 405: "405 method not allowed"}


def create_app(models_dir: Path | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(models_dir or config.models_dir())
        if not config.no_bundled_model():
            ensure_bundled(store)
        if not config.no_prune():
            store.prune_orphan_blobs()
        scheduler = Scheduler(observer=metrics)  # made below
        metrics.scheduler = scheduler  # its gauges are read from the scheduler when scraped
        app.state.ollama = ServerState(store=store, scheduler=scheduler, models=ModelCache(store))
        stop_reloading_keys = reload_on_sighup(api_keys)  # made below
        yield
        stop_reloading_keys()
        await app.state.ollama.scheduler.shutdown()

    app = FastAPI(title="ollama-toolkit", version=__version__, lifespan=lifespan)
    app.state.drain = Drain()  # stopped by serving.GracefulServer: open responses end
    # Innermost: bodies are counted and timed as routes read them; a refusal (413, 408) passes
    # every middleware above, so it is counted, logged and carries CORS headers.
    app.add_middleware(
        BodyLimits, max_bytes=config.max_body_bytes(), read_timeout_s=config.body_timeout()
    )
    # Inside CORS: cross-site OPTIONS (preflights) are answered before it, and a 401 gets the
    # CORS headers a page needs to read it.
    api_keys = ApiKeys.from_config()
    app.add_middleware(ApiKeyAuth, keys=api_keys)
    app.add_middleware(CORS)
    # Outside CORS and auth: a foreign Host or Origin never reaches CORS or a route.
    app.add_middleware(LocalGuard, bind_host=config.host().host, origins=config.origins())
    # Added last, so outermost: every request is counted (and logged), refused ones too.
    metrics = app.state.metrics = Metrics()
    app.add_middleware(RequestMetrics, metrics=metrics, request_log=RequestLog.from_config())

    @app.exception_handler(OllamaError)
    async def _api_error(_request: Request, exc: OllamaError) -> Response:
        return ollama_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = exc.headers  # a 405 carries `Allow`
        if exc.status_code in (404, 405) and is_anthropic(request.url.path):
            # Anthropic's clients read its error object there: gin's words, in Anthropic's shape.
            body = anthropic_refusal(exc.status_code, _GIN_TEXT[exc.status_code])
            return Response(body, exc.status_code, headers, media_type="application/json")
        if exc.status_code in _GIN_TEXT:  # gin's plain text, as Ollama answers
            return PlainTextResponse(_GIN_TEXT[exc.status_code], exc.status_code, headers)
        return error_response(str(exc.detail), exc.status_code, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return error_response(str(exc), 400)

    add_routes(app)
    return app


# Ollama's CORS configuration (server/routes.go, on gin-contrib/cors' DefaultConfig): the
# methods and headers a preflight allows, as gin writes them (names canonicalized, joined by
# commas), and how long a browser may cache the answer (12 hours).
CORS_ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
CORS_ALLOW_HEADERS = ",".join(
    (
        "Authorization",
        "Content-Type",
        "User-Agent",
        "Accept",
        "X-Requested-With",
        # OpenAI's clients send these.
        "Openai-Beta",
        "X-Stainless-Arch",
        "X-Stainless-Async",
        "X-Stainless-Custom-Poll-Interval",
        "X-Stainless-Helper-Method",
        "X-Stainless-Lang",
        "X-Stainless-Os",
        "X-Stainless-Package-Version",
        "X-Stainless-Poll-Helper",
        "X-Stainless-Retry-Count",
        "X-Stainless-Runtime",
        "X-Stainless-Runtime-Version",
        "X-Stainless-Timeout",
    )
)
CORS_MAX_AGE = "43200"
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", CORS_ALLOW_METHODS.encode()),
    (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
    (b"access-control-max-age", CORS_MAX_AGE.encode()),
    (b"vary", b"Origin"),
    (b"vary", b"Access-Control-Request-Method"),
    (b"vary", b"Access-Control-Request-Headers"),
]


class CORS:
    """Ollama's CORS layer (gin-contrib/cors as server/routes.go configures it), as a pure ASGI
    middleware inside `LocalGuard`, which has already refused (403) every `Origin` that is not
    allowed.

    - No `Origin`, or the server's own (`http://` or `https://` + `Host`): not cross-site,
      passed on untouched.
    - Any other `Origin` on an `OPTIONS` request, whatever its path and whether or not it
      carries `Access-Control-Request-Method`: answered here, 204 with no body, the allowed
      methods and headers, `Access-Control-Max-Age` and the origin itself; the requested
      method and headers are not checked (the browser compares them with the lists).
    - Any other method: passed on; its answer (refusals from inside, such as a 401, included)
      gets `Access-Control-Allow-Origin` and `Vary: Origin`, so the page can read it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        host = headers.get("host")
        if not origin or (host is not None and origin in (f"http://{host}", f"https://{host}")):
            await self.app(scope, receive, send)
            return
        allow_origin = (b"access-control-allow-origin", origin.encode("latin-1"))
        if scope["method"] == "OPTIONS":
            start = {
                "type": "http.response.start",
                "status": 204,
                "headers": [*_PREFLIGHT_HEADERS, allow_origin],
            }
            await send(start)
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", ()))
                response_headers = MutableHeaders(scope=message)
                varies = ",".join(response_headers.getlist("vary")).lower()
                if "origin" not in (v.strip() for v in varies.split(",")):
                    response_headers.append("Vary", "Origin")
                response_headers["Access-Control-Allow-Origin"] = origin
            await send(message)

        await self.app(scope, receive, send_with_cors)


def serve(host: config.HostURL | None = None) -> None:
    """Run the server in the foreground on `host` (default OLLAMA_HOST)."""
    # Too late if llama.cpp is loaded already (the CLI sets it before importing this module),
    # but in time for whatever loads it lazily.
    config.set_openmp_defaults()
    from ollama_toolkit.server.serving import STARTUP_FAILURE, make_server

    bind = host or config.host()
    # The event loop and the runner threads share the GIL. After each llama_decode (which runs
    # without it) a runner must get it back at once; Python's default 5 ms switch interval
    # would let a busy event loop delay every decoding step by up to that much.
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_S)
    logging.basicConfig(
        level=logging.DEBUG if config.debug() else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = config.effective_settings()
    log.info("settings: %s", " ".join(f"{name}={value}" for name, value in settings.items()))
    app = create_app()
    server = make_server(
        app,
        app.state.drain,
        host=bind.host,
        port=bind.port,
        log_level="debug" if config.debug() else "warning",
    )
    server.run()  # returns once shut down (serving.py: SIGTERM's grace, then open streams end)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
