"""Turning handler output into HTTP: `{"error": ...}` bodies, NDJSON streams, one-object replies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from ollama_toolkit.api.errors import APIError
from ollama_toolkit.server.inference import ServerState

NDJSON = "application/x-ndjson"
T = TypeVar("T", bound=BaseModel)


def get_state(request: Request) -> ServerState:
    return request.app.state.ollama


def error_response(
    message: str, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _ndjson_line(item: BaseModel) -> bytes:
    return item.model_dump_json(by_alias=True, exclude_none=True).encode() + b"\n"


async def respond(
    chunks: AsyncIterator[T], stream: bool, fold: Callable[[list[T]], BaseModel]
) -> Response:
    """Stream chunks as NDJSON, or `fold` them into one JSON object when stream is false.

    The first chunk is awaited before the response starts, so a request refused before any
    output (bad input, unknown model, busy) is an ordinary HTTP error with its status code.
    """
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        return error_response("no response", 500)
    if not stream:
        parts = [first]
        async for chunk in chunks:
            parts.append(chunk)
        return Response(_ndjson_line(fold(parts))[:-1], media_type="application/json")

    async def body() -> AsyncIterator[bytes]:
        yield _ndjson_line(first)
        try:
            async for chunk in chunks:
                yield _ndjson_line(chunk)
        except APIError as e:
            # After streaming began the status is sent: the error is the stream's last line.
            yield _ndjson_line(_ErrorLine(error=e.message))
        finally:
            await chunks.aclose()

    return StreamingResponse(body(), media_type=NDJSON, headers={"X-Accel-Buffering": "no"})


class _ErrorLine(BaseModel):
    error: str
