"""Every route the server answers, in one table, and the handlers too small for a module.

A handler parses the request into an `api` type, calls the module that does the work, and
turns its result into a response; errors are raised as domain errors (server/errors.py maps
them). HEAD is answered wherever Ollama answers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ollama_toolkit.api.types import GenerateRequest, ShowRequest, VersionResponse
from ollama_toolkit.server import chat, embed, manage, openai
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.generate import fold_generate, generate
from ollama_toolkit.server.models import list_models, running_models, show_model
from ollama_toolkit.server.responses import get_state, respond

API_VERSION = "0.12.0"
"""The Ollama release whose REST API this server speaks; clients gate features on it."""


async def root() -> Response:
    return PlainTextResponse("Ollama is running")


async def version() -> Response:
    return JSONResponse(VersionResponse(version=API_VERSION).to_wire())


async def tags(request: Request) -> Response:
    return JSONResponse(list_models(get_state(request)).to_wire())


async def ps(request: Request) -> Response:
    return JSONResponse(running_models(get_state(request)).to_wire())


async def show(request: Request) -> Response:
    req = parse_body(await request.body(), ShowRequest)
    return JSONResponse(show_model(get_state(request), req).to_wire())


async def generate_route(request: Request) -> Response:
    req = parse_body(await request.body(), GenerateRequest)
    chunks = generate(get_state(request), req)
    return await respond(chunks, req.stream is not False, fold_generate, request)


GET = ["GET", "HEAD"]

ROUTES: list[tuple[str, list[str], Callable[..., Awaitable[Response]]]] = [
    ("/", GET, root),
    ("/api/version", GET, version),
    # inference
    ("/api/generate", ["POST"], generate_route),
    ("/api/chat", ["POST"], chat.chat_route),
    ("/api/embed", ["POST"], embed.embed_route),
    ("/api/embeddings", ["POST"], embed.embeddings_route),
    # models
    ("/api/tags", GET, tags),
    ("/api/ps", ["GET"], ps),
    ("/api/show", ["POST"], show),
    ("/api/create", ["POST"], manage.create),
    ("/api/blobs/{digest}", ["HEAD"], manage.head_blob),
    ("/api/blobs/{digest}", ["POST"], manage.create_blob),
    ("/api/copy", ["POST"], manage.copy),
    ("/api/delete", ["DELETE"], manage.delete),
    ("/api/pull", ["POST"], manage.pull),
    ("/api/push", ["POST"], manage.push),
    # OpenAI-compatible
    ("/v1/chat/completions", ["POST"], openai.chat_completions),
    ("/v1/completions", ["POST"], openai.completions),
    ("/v1/embeddings", ["POST"], embed.openai_embeddings_route),
    ("/v1/models", ["GET"], openai.models),
    ("/v1/models/{model}", ["GET"], openai.retrieve_model),
]


def add_routes(app: FastAPI) -> None:
    for path, methods, handler in ROUTES:
        app.add_api_route(path, handler, methods=methods)
