"""Domain errors to HTTP, in one place: the status code and headers of each kind, and the body
shapes, Ollama's `{"error": ...}` on /api, OpenAI's error object on /v1 and Anthropic's on
/v1/messages."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse, Response

from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api import openai as oai
from ollama_toolkit.api.errors import (
    InvalidRequest,
    NotFound,
    OllamaError,
    QueueFull,
    ShuttingDown,
)
from ollama_toolkit.translate.anthropic import new_id

# The first matching kind decides; anything else is the server's fault (500).
_STATUS: tuple[tuple[type[OllamaError], int], ...] = (
    (InvalidRequest, 400),
    (NotFound, 404),
    (QueueFull, 503),
    (ShuttingDown, 503),
)

_OPENAI_TYPES = {400: "invalid_request_error", 404: "not_found_error"}

# Anthropic's error types by status, as Ollama's `anthropic.NewError` picks them.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


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


def is_anthropic(path: str) -> bool:
    """Whether a path is Anthropic's Messages API, whose errors have Anthropic's shape."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def anthropic_error_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "api_error")


def anthropic_error_body(
    error: OllamaError, request_id: str | None = None
) -> ant.AnthropicErrorResponse:
    """Anthropic's error object; an answer's carries a request id, a stream's error event none."""
    kind = anthropic_error_type(status_of(error))
    return ant.AnthropicErrorResponse(
        error=ant.ErrorObject(type=kind, message=error.message), request_id=request_id
    )


def anthropic_error(error: OllamaError) -> Response:
    """Anthropic's error object, with the status code Ollama answers (and a `req_…` id)."""
    return Response(
        anthropic_error_body(error, new_id("req")).to_json(),
        status_code=status_of(error),
        media_type="application/json",
        headers=headers_of(error),
    )
