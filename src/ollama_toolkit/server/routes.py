"""Every route the server answers, in one table, and the handlers too small for a module.

A handler parses the request into an `api` type, calls the module that does the work, and
turns its result into a response; errors are raised as domain errors (server/errors.py maps
them). HEAD is answered wherever Ollama answers it. An entry's `Api` names the wire types the
route reads and answers: the OpenAPI document (server/openapi.py) is made from them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api import openai as oai
from ollama_toolkit.api import openai_responses as oair
from ollama_toolkit.api.types import (
    ChatRequest,
    ChatResponse,
    CopyRequest,
    CreateRequest,
    DeleteRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    PullRequest,
    PushRequest,
    ShowRequest,
    ShowResponse,
    VersionResponse,
)
from ollama_toolkit.engine.scheduler import Scheduler
from ollama_toolkit.server import anthropic, chat, embed, manage, openai, openai_responses
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.generate import fold_generate, generate
from ollama_toolkit.server.metrics import metrics_route
from ollama_toolkit.server.models import list_models, running_models, show_model
from ollama_toolkit.server.openapi import NDJSON, SSE, Api, Schemas, install
from ollama_toolkit.server.responses import get_state, respond
from ollama_toolkit.server.ui import ui_asset, ui_page

API_VERSION = "0.33.0-rc2"
"""The Ollama release whose REST API this server follows (its commit fb30760, tagged v0.33.0-rc2),
as `/api/version` reports it: clients gate features on it."""


async def root() -> Response:
    return PlainTextResponse("Ollama is running")


async def version() -> Response:
    return JSONResponse(VersionResponse(version=API_VERSION).to_wire())


def health_of(scheduler: Scheduler) -> tuple[int, dict[str, str]]:
    """llama.cpp's `/health`: `200 {"status": "ok"}`, or `503 {"status": "error", "error": ...}`
    when a loaded model's runner has died (its decoding thread ended): load balancers then take
    this server out of rotation.

    No "loading" status, by choice. llama.cpp answers 503 "Loading model" only before its one
    model is loaded, while it can serve nothing; this server is listening only once ready, and
    loads models on demand while it serves others (and its other routes), so a load in progress
    leaves it healthy: 200 "ok", as llama.cpp answers once ready.
    """
    dead = [x.spec.name for x in scheduler.loaded if not x.runner.healthy()]
    if dead:
        return 503, {"status": "error", "error": f"runner stopped: {', '.join(dead)}"}
    return 200, {"status": "ok"}


async def health(request: Request) -> Response:
    status, body = health_of(get_state(request).scheduler)
    return JSONResponse(body, status_code=status)


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

Handler = Callable[..., Awaitable[Response]]
Route = tuple[str, list[str], Handler] | tuple[str, list[str], Handler, Api]

ROUTES: list[Route] = [
    ("/", GET, root, Api(text=True)),
    ("/api/version", GET, version, Api(answer=VersionResponse)),
    ("/health", GET, health),
    # inference
    ("/api/generate", ["POST"], generate_route, Api(GenerateRequest, GenerateResponse, NDJSON)),
    ("/api/chat", ["POST"], chat.chat_route, Api(ChatRequest, ChatResponse, NDJSON)),
    ("/api/embed", ["POST"], embed.embed_route, Api(EmbedRequest, EmbedResponse)),
    (
        "/api/embeddings",
        ["POST"],
        embed.embeddings_route,
        Api(EmbeddingsRequest, EmbeddingsResponse),
    ),
    # models
    ("/api/tags", GET, tags, Api(answer=ListResponse)),
    ("/api/ps", ["GET"], ps, Api(answer=ProcessResponse)),
    ("/api/show", ["POST"], show, Api(ShowRequest, ShowResponse)),
    ("/api/create", ["POST"], manage.create, Api(CreateRequest, ProgressResponse, NDJSON)),
    ("/api/blobs/{digest}", ["HEAD"], manage.head_blob, Api()),
    ("/api/blobs/{digest}", ["POST"], manage.create_blob, Api(upload=True, created=True)),
    ("/api/copy", ["POST"], manage.copy, Api(CopyRequest)),
    ("/api/delete", ["DELETE"], manage.delete, Api(DeleteRequest)),
    ("/api/pull", ["POST"], manage.pull, Api(PullRequest, ProgressResponse, NDJSON)),
    ("/api/push", ["POST"], manage.push, Api(PushRequest, ProgressResponse, NDJSON)),
    # OpenAI-compatible
    (
        "/v1/chat/completions",
        ["POST"],
        openai.chat_completions,
        Api(oai.ChatCompletionRequest, oai.ChatCompletion, SSE, oai.ChatCompletionChunk),
    ),
    (
        "/v1/completions",
        ["POST"],
        openai.completions,
        Api(oai.CompletionRequest, oai.Completion, SSE, oai.CompletionChunk),
    ),
    (
        "/v1/embeddings",
        ["POST"],
        embed.openai_embeddings_route,
        Api(oai.OpenAIEmbedRequest, oai.EmbeddingList),
    ),
    (
        "/v1/responses",
        ["POST"],
        openai_responses.responses,
        Api(
            oair.ResponsesRequest,
            oair.Response,
            SSE,
            oair.ResponseStreamEvent,
            events=("response.completed", "response.incomplete", "response.failed"),
        ),
    ),
    ("/v1/models", ["GET"], openai.models, Api(answer=oai.ModelList)),
    ("/v1/models/{model}", ["GET"], openai.retrieve_model, Api(answer=oai.Model)),
    # Anthropic-compatible
    (
        "/v1/messages",
        ["POST"],
        anthropic.messages,
        Api(
            ant.MessagesRequest,
            ant.MessagesResponse,
            SSE,
            ant.StreamEvent,
            events=("message_stop", "error"),
        ),
    ),
    # operations
    ("/metrics", ["GET"], metrics_route),
    # the web UI (server/ui.py): the page and its files, public like `/` (server/auth.py)
    ("/ui", GET, ui_page),
    ("/ui/{path}", GET, ui_asset),
]


def add_routes(app: FastAPI) -> None:
    """Every route of ROUTES, documented by its `Api` (routes without one as FastAPI sees them)."""
    schemas = Schemas((path, api) for path, _, _, *apis in ROUTES for api in apis)
    for path, methods, handler, *apis in ROUTES:
        options = schemas.route_options(path, apis[0] if apis else None)
        app.add_api_route(path, handler, methods=methods, **options)
    install(app, schemas)
