"""POST /v1/responses: OpenAI's Responses API, as Ollama serves it, over /api/chat.

The request is translated into a chat request (translate/openai_responses.py) and run by the
same `chat` generator as /api/chat. Its chunks come back folded into one Response object, or,
with `stream: true`, as server-sent events with their `event:` line (`response.created` …
`response.completed`), each numbered by `sequence_number`. Refusals before the first chunk are
OpenAI's error object with Ollama's status; an error after the stream began ends it with
`response.failed`.
"""

from __future__ import annotations

import zstandard
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from ollama_toolkit.api import openai_responses as r
from ollama_toolkit.api.errors import InvalidRequest, OllamaError
from ollama_toolkit.api.types import ChatResponse
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.chat import chat, fold_chat
from ollama_toolkit.server.errors import openai_error
from ollama_toolkit.server.responses import get_state, respond
from ollama_toolkit.translate.openai_responses import (
    ResponsesStream,
    from_responses_request,
    new_message_id,
    new_response_id,
    to_response,
)

# Ollama's Responses middleware reads a body sent with `Content-Encoding: zstd` (Codex and other
# clients of this API compress theirs) with a decoder limited to this much memory: a body that
# decompresses to more is refused with the decoder's error.
MAX_DECOMPRESSED_BYTES = 8 << 20


async def responses(request: Request) -> Response:
    try:
        raw = await request.body()
        if request.headers.get("content-encoding") == "zstd":
            raw = _decompressed(raw)
        body = parse_body(raw, r.ResponsesRequest)
        req = from_responses_request(body)
        response_id, message_id = new_response_id(), new_message_id()
        response = await respond(
            chat(get_state(request), req),
            bool(body.stream),
            lambda parts: to_response(fold_chat(parts), body, response_id, message_id),
            request,
            _EventStream(ResponsesStream(body, response_id, message_id)),
        )
    except OllamaError as e:
        return openai_error(e)
    if isinstance(response, StreamingResponse):
        response.headers["Cache-Control"] = "no-cache"  # as Ollama sends its event streams
    return response


def _decompressed(raw: bytes) -> bytes:
    """A zstd body, decompressed a piece at a time and refused past MAX_DECOMPRESSED_BYTES
    (a few bytes of zstd can stand for gigabytes)."""
    out = bytearray()
    try:
        with zstandard.ZstdDecompressor().stream_reader(raw) as reader:
            while piece := reader.read(1 << 20):
                out += piece
                if len(out) > MAX_DECOMPRESSED_BYTES:
                    raise InvalidRequest("decompressed size exceeds configured limit")
    except zstandard.ZstdError:
        raise InvalidRequest("failed to decompress zstd body") from None
    return bytes(out)


def _sse(events: list[r.ResponseStreamEvent]) -> bytes:
    return b"".join(
        b"event: " + e.type.encode() + b"\ndata: " + e.to_json() + b"\n\n" for e in events
    )


class _EventStream:
    """The framing of `respond`: one JSON object whole, or the stream's events as SSE."""

    media_type = "text/event-stream"

    def __init__(self, stream: ResponsesStream) -> None:
        self.stream = stream

    def whole(self, item: BaseModel) -> bytes:
        return item.model_dump_json(by_alias=True).encode()

    def chunk(self, item: ChatResponse) -> bytes:
        return _sse(self.stream.process(item))

    def error(self, error: OllamaError) -> bytes:
        # The status is sent: the failure is the stream's last event.
        return _sse(self.stream.failed(error.message))
