"""Turning handler output into HTTP: `{"error": ...}` bodies, NDJSON streams, one-object replies,
and the end of those still open when the server stops (`Drain`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from ollama_toolkit.api.errors import OllamaError, server_shutting_down
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


class Drain:
    """The responses in flight, as shutdown (server/serving.py) sees them.

    Once `stop()` is called (SIGTERM's grace is over, or a second signal came), every stream
    still open ends with its framing's error line, `{"error": "server shutting down"}` (an error
    event on /v1), and every request still waiting for its first chunk, or folding a whole reply,
    is answered 503 with that error. A stream waiting for its next chunk is interrupted
    (cancelled inside the chunk generator, as a client that leaves cancels it: the generation
    stops and its slot is freed); one busy writing ends right after that write.
    """

    def __init__(self) -> None:
        self.stopping = False
        self._open: set[_Watch] = set()

    def stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            for watch in list(self._open):
                watch.stop()

    def _watch(self) -> _Watch:
        watch = _Watch(self.stopping)
        self._open.add(watch)
        return watch

    def _close(self, watch: _Watch) -> None:
        self._open.discard(watch)


class _Watch:
    """One open stream: the task writing it, and whether it waits for its next chunk now."""

    def __init__(self, stopped: bool) -> None:
        self.task = asyncio.current_task()
        self.waiting = False
        self.stopped = stopped

    def stop(self) -> None:
        self.stopped = True
        if self.waiting and self.task is not None:
            self.task.cancel()


_NO_DRAIN = Drain()  # for responses made without a request: never stopped


def get_drain(request: Request | None) -> Drain:
    if request is None:
        return _NO_DRAIN
    drain: Drain | None = getattr(request.app.state, "drain", None)
    return drain or _NO_DRAIN


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
    (its slot freed) instead of running to the end for nobody. When the server stops, what is
    still running is ended as `Drain` says.
    """
    drain = get_drain(request)
    try:
        if not stream:
            parts = await _unless_disconnected(request, _collect(chunks), drain)
            return Response(framing.whole(fold(parts)), media_type="application/json")
        first = await _unless_disconnected(request, anext(chunks), drain)
    except StopAsyncIteration:
        return error_response("no response", 500)
    except _ClientGone:
        await chunks.aclose()
        return Response(status_code=499)
    except _Stopped:
        await chunks.aclose()
        raise server_shutting_down() from None

    async def body() -> AsyncIterator[bytes]:
        watch = drain._watch()
        try:
            yield framing.chunk(first)
            while not watch.stopped:
                watch.waiting = True
                try:
                    chunk = await anext(chunks)
                finally:
                    watch.waiting = False
                yield framing.chunk(chunk)
            yield framing.error(server_shutting_down())
        except StopAsyncIteration:
            pass
        except OllamaError as e:
            # After streaming began the status is sent: the error is the stream's last piece.
            yield framing.error(e)
        except asyncio.CancelledError:
            if not watch.stopped:
                raise  # the client left
            _uncancel()
            yield framing.error(server_shutting_down())
        finally:
            drain._close(watch)
            await chunks.aclose()

    return StreamingResponse(
        body(), media_type=framing.media_type, headers={"X-Accel-Buffering": "no"}
    )


async def _collect(chunks: AsyncIterator[T]) -> list[T]:
    return [chunk async for chunk in chunks]


class _ClientGone(Exception):
    pass


class _Stopped(Exception):
    """The server stopped (`Drain.stop`) before the response could start."""


async def _unless_disconnected(request: Request | None, work: Awaitable[R], drain: Drain) -> R:
    if request is None:
        return await work
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
        if done:
            return task.result()
        gone = await request.is_disconnected()
        if gone or drain.stopping:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise _ClientGone if gone else _Stopped


def _uncancel() -> None:
    """Forget a cancellation that was handled (Python 3.11+ counts them; structured code, such
    as `asyncio.timeout`, in the rest of the task would take it for its own)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


class _ErrorLine(BaseModel):
    error: str
