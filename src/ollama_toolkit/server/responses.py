"""Turning handler output into HTTP: `{"error": ...}` bodies, NDJSON streams, one-object replies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from ollama_toolkit.api.errors import OllamaError
from ollama_toolkit.server.errors import error_response
from ollama_toolkit.server.prepare import ServerState

NDJSON = "application/x-ndjson"
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
T_contra = TypeVar("T_contra", bound=BaseModel, contravariant=True)

# How often a client that is waiting for its first byte is checked for having gone away.
_DISCONNECT_POLL_S = 0.25


def get_state(request: Request) -> ServerState:
    return request.app.state.ollama


def _ndjson_line(item: BaseModel) -> bytes:
    return item.model_dump_json(by_alias=True, exclude_none=True).encode() + b"\n"


class Framing(Protocol[T_contra]):
    """How a reply goes on the wire: the body of a one-object reply, and a stream's pieces."""

    media_type: str

    def whole(self, item: BaseModel) -> bytes: ...

    def chunk(self, item: T_contra) -> bytes: ...

    def error(self, error: OllamaError) -> bytes: ...


class _NDJSONFraming:
    """Ollama's own: one JSON object per line; an error after the start is the last line."""

    media_type = NDJSON

    def whole(self, item: BaseModel) -> bytes:
        return _ndjson_line(item)[:-1]

    def chunk(self, item: BaseModel) -> bytes:
        return _ndjson_line(item)

    def error(self, error: OllamaError) -> bytes:
        return _ndjson_line(_ErrorLine(error=error.message))


NDJSON_FRAMING: Framing[BaseModel] = _NDJSONFraming()


async def respond(
    chunks: AsyncGenerator[T, None],
    stream: bool,
    fold: Callable[[list[T]], BaseModel],
    request: Request | None = None,
    framing: Framing[T] = NDJSON_FRAMING,
) -> Response:
    """Stream chunks (as NDJSON unless `framing` says otherwise), or `fold` them into one JSON
    object when stream is false.

    The first chunk is awaited before the response starts, so a request refused before any
    output (bad input, unknown model, busy) is an ordinary HTTP error with its status code.
    While nothing has been sent, the client is watched: if it goes away, the work is cancelled
    (its slot freed) instead of running to the end for nobody.
    """
    try:
        if not stream:
            parts = await _unless_disconnected(request, _collect(chunks))
            return Response(framing.whole(fold(parts)), media_type="application/json")
        first = await _unless_disconnected(request, anext(chunks))
    except StopAsyncIteration:
        return error_response("no response", 500)
    except _ClientGone:
        await chunks.aclose()
        return Response(status_code=499)

    async def body() -> AsyncIterator[bytes]:
        yield framing.chunk(first)
        try:
            async for chunk in chunks:
                yield framing.chunk(chunk)
        except OllamaError as e:
            # After streaming began the status is sent: the error is the stream's last piece.
            yield framing.error(e)
        finally:
            await chunks.aclose()

    return StreamingResponse(
        body(), media_type=framing.media_type, headers={"X-Accel-Buffering": "no"}
    )


async def _collect(chunks: AsyncIterator[T]) -> list[T]:
    return [chunk async for chunk in chunks]


class _ClientGone(Exception):
    pass


async def _unless_disconnected(request: Request | None, work: Awaitable[R]) -> R:
    if request is None:
        return await work
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
        if done:
            return task.result()
        if await request.is_disconnected():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise _ClientGone


class _ErrorLine(BaseModel):
    error: str
