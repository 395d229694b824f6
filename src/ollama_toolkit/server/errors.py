"""Domain errors to HTTP, in one place: the status code and headers of each kind, and the body
shapes, Ollama's `{"error": ...}` on /api and OpenAI's error object on /v1."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse, Response

from ollama_toolkit.api import openai as oai
from ollama_toolkit.api.errors import (
    InvalidRequest,
    NotFound,
    OllamaError,
    QueueFull,
    ShuttingDown,
)

# The first matching kind decides; anything else is the server's fault (500).
_STATUS: tuple[tuple[type[OllamaError], int], ...] = (
    (InvalidRequest, 400),
    (NotFound, 404),
    (QueueFull, 503),
    (ShuttingDown, 503),
)

_OPENAI_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def status_of(error: OllamaError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def headers_of(error: OllamaError) -> dict[str, str]:
    # A full queue clears within about a second: tell well-behaved clients when to retry.
    return {"Retry-After": "1"} if isinstance(error, QueueFull) else {}


def error_response(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """Ollama's error body: `{"error": message}`."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def ollama_error(error: OllamaError) -> Response:
    return error_response(error.message, status_of(error), headers_of(error))


def openai_error_body(error: OllamaError) -> oai.ErrorResponse:
    kind = _OPENAI_TYPES.get(status_of(error), "api_error")
    return oai.ErrorResponse(error=oai.Error(message=error.message, type=kind))


def openai_error(error: OllamaError) -> Response:
    """OpenAI's error object, with the status code Ollama answers."""
    return Response(
        openai_error_body(error).to_json(),
        status_code=status_of(error),
        media_type="application/json",
        headers=headers_of(error),
    )
