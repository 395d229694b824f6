"""The ASGI app: Ollama's routes, errors as `{"error": ...}`, NDJSON streaming, CORS."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ollama_toolkit import __version__, config
from ollama_toolkit.api.errors import APIError
from ollama_toolkit.api.types import GenerateRequest, ShowRequest, VersionResponse
from ollama_toolkit.engine.scheduler import Scheduler
from ollama_toolkit.server import chat, embed, manage, openai
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.generate import fold_generate, generate
from ollama_toolkit.server.inference import ServerState
from ollama_toolkit.server.models import list_models, running_models, show_model
from ollama_toolkit.server.responses import error_response, get_state, respond
from ollama_toolkit.store.bundled import ensure_bundled
from ollama_toolkit.store.model import ModelCache
from ollama_toolkit.store.store import Store

log = logging.getLogger(__name__)

_GIL_SWITCH_INTERVAL_S = 0.0005


def create_app(models_dir: Path | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(models_dir or config.models_dir())
        if not config.no_bundled_model():
            ensure_bundled(store)
        app.state.ollama = ServerState(store=store, scheduler=Scheduler(), models=ModelCache(store))
        yield
        await app.state.ollama.scheduler.shutdown()

    app = FastAPI(title="ollama-toolkit", version=__version__, lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=_origins_regex(config.origins()),
        allow_methods=["*"],
        allow_headers=["*"],
    )

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.message, exc.status_code, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return PlainTextResponse("404 page not found", status_code=404)
        if exc.status_code == 405:
            return PlainTextResponse("405 method not allowed", status_code=405)
        return error_response(str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(str(exc), 400)

    app.include_router(chat.router)
    app.include_router(manage.router)
    app.include_router(embed.router)
    app.include_router(openai.router)

    @app.api_route("/", methods=["GET", "HEAD"])
    async def root() -> Response:
        return PlainTextResponse("Ollama is running")

    @app.api_route("/api/version", methods=["GET", "HEAD"])
    async def version() -> Response:
        return JSONResponse(VersionResponse(version=API_VERSION).to_wire())

    @app.api_route("/api/tags", methods=["GET", "HEAD"])
    async def tags(request: Request) -> Response:
        return JSONResponse(list_models(get_state(request)).to_wire())

    @app.get("/api/ps")
    async def ps(request: Request) -> Response:
        return JSONResponse(running_models(get_state(request)).to_wire())

    @app.post("/api/show")
    async def show(request: Request) -> Response:
        req = parse_body(await request.body(), ShowRequest)
        return JSONResponse(show_model(get_state(request), req).to_wire())

    @app.post("/api/generate")
    async def generate_route(request: Request) -> Response:
        req = parse_body(await request.body(), GenerateRequest)
        chunks = generate(get_state(request), req)
        return await respond(chunks, req.stream is not False, fold_generate, request)

    return app


API_VERSION = "0.12.0"
"""The Ollama release whose REST API this server speaks; clients gate features on it."""


def _origins_regex(origins: list[str]) -> str:
    import re

    parts = [re.escape(o).replace(r"\*", ".*") for o in origins]
    return "^(" + "|".join(parts) + ")$"


def serve(host: config.HostURL | None = None) -> None:
    """Run the server in the foreground on `host` (default OLLAMA_HOST)."""
    import uvicorn

    bind = host or config.host()
    # The event loop and the runner threads share the GIL. After each llama_decode (which runs
    # without it) a runner must get it back at once; Python's default 5 ms switch interval
    # would let a busy event loop delay every decoding step by up to that much.
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_S)
    logging.basicConfig(
        level=logging.DEBUG if config.debug() else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(
        create_app(),
        host=bind.host,
        port=bind.port,
        log_level="debug" if config.debug() else "warning",
        timeout_graceful_shutdown=5,
    )
