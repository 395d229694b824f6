"""Model management routes: create, blobs, copy, delete, pull, push.

Handlers parse and check the request, then call into `store/`; long work (create, pull, push)
streams Ollama's `{"status": ...}` progress lines, or answers the last one when `stream` is false.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from fastapi import Request
from fastapi.responses import Response

from ollama_toolkit.api.errors import (
    InternalError,
    InvalidRequest,
    OllamaError,
    blob_not_found,
    invalid_digest,
    invalid_name,
    model_not_found,
    model_not_found_quoted,
    model_required,
)
from ollama_toolkit.api.types import (
    CopyRequest,
    CreateRequest,
    DeleteRequest,
    ProgressResponse,
    PullRequest,
    PushRequest,
)
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.responses import get_state, respond
from ollama_toolkit.store.create import CreatePlan, check_request, create_model
from ollama_toolkit.store.names import InvalidNameError, ModelName
from ollama_toolkit.store.pull import pull_model, push_model
from ollama_toolkit.store.store import BlobWriter, DigestError, Store, parse_digest

Progress = Callable[[ProgressResponse], None]


async def create(request: Request) -> Response:
    req = parse_body(await request.body(), CreateRequest)
    store = get_state(request).store
    plan = check_request(store, req)
    return await respond(_create(store, plan), req.stream is not False, _last, request)


async def head_blob(request: Request, digest: str) -> Response:
    if not _blob_path_exists(get_state(request).store, digest):
        raise blob_not_found(digest)
    return Response(status_code=200)


async def create_blob(request: Request, digest: str) -> Response:
    """Store an upload under its digest: streamed to disk, verified, renamed only when whole."""
    store = get_state(request).store
    if _blob_path_exists(store, digest):
        return Response(status_code=200)
    writer = BlobWriter(store)
    try:
        async for chunk in request.stream():
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    try:
        await asyncio.to_thread(writer.commit, "sha256:" + parse_digest(digest))
    except DigestError as e:
        raise InvalidRequest(str(e)) from None
    return Response(status_code=201)


async def copy(request: Request) -> Response:
    req = parse_body(await request.body(), CopyRequest)
    store = get_state(request).store
    source = _parse_name(req.source, "source")
    destination = _parse_name(req.destination, "destination")
    stored = store.resolve_name(str(source))
    if stored is None:
        raise model_not_found_quoted(req.source)
    destination = store.resolve_name(str(destination)) or destination
    if destination != stored:
        await asyncio.to_thread(store.copy, stored, destination)
    return Response(status_code=200)


async def delete(request: Request) -> Response:
    req = parse_body(await request.body(), DeleteRequest)
    store = get_state(request).store
    text = req.model or req.name
    if not text:
        raise model_required()
    name = store.resolve_name(str(_parse_name(text, "name")))
    if name is None:
        raise model_not_found(text)
    await asyncio.to_thread(store.delete, name)
    return Response(status_code=200)


async def pull(request: Request) -> Response:
    return await _registry_transfer(request, PullRequest, pull_model)


async def push(request: Request) -> Response:
    return await _registry_transfer(request, PushRequest, push_model)


async def _registry_transfer(
    request: Request,
    wire_type: type[PullRequest],
    transfer: Callable[[Store, str, bool], AsyncGenerator[ProgressResponse, None]],
) -> Response:
    """Pull and push alike: a model name, then streamed progress."""
    req = parse_body(await request.body(), wire_type)
    text = req.model or req.name
    if not text:
        raise model_required()
    chunks = transfer(get_state(request).store, text, req.insecure)
    return await respond(chunks, req.stream is not False, _last, request)


async def _create(store: Store, plan: CreatePlan) -> AsyncGenerator[ProgressResponse, None]:
    req = plan.request
    if req.from_:
        plan.base = store.resolve_name(req.from_)
        if plan.base is None:
            # Ollama pulls a base model it does not have.
            async for progress in pull_model(store, req.from_, insecure=False):
                if progress.status != "success":
                    yield progress
            plan.base = store.resolve_name(req.from_)
            if plan.base is None:
                raise model_not_found(req.from_)
    async for progress in _in_thread(lambda report: create_model(store, plan, report)):
        yield progress
    yield ProgressResponse(status="success")


async def _in_thread(work: Callable[[Progress], None]) -> AsyncGenerator[ProgressResponse, None]:
    """Run blocking `work` in a thread, yielding the progress it reports as it reports it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[ProgressResponse | None] = asyncio.Queue()

    def report(progress: ProgressResponse) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, progress)

    future = loop.run_in_executor(None, work, report)
    future.add_done_callback(lambda _f: queue.put_nowait(None))
    while (progress := await queue.get()) is not None:
        yield progress
    try:
        future.result()
    except OllamaError:
        raise
    except (OSError, ValueError) as e:
        raise InternalError(str(e)) from None


def _blob_path_exists(store: Store, digest: str) -> bool:
    try:
        return store.blob_path(digest).is_file()
    except DigestError:
        raise invalid_digest() from None


def _parse_name(text: str, kind: str) -> ModelName:
    try:
        return ModelName.parse(text)
    except InvalidNameError:
        raise invalid_name(kind, text) from None


def _last(parts: list[ProgressResponse]) -> ProgressResponse:
    return parts[-1]
