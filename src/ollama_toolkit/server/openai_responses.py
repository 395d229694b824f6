"""POST /v1/responses: OpenAI's Responses API, as Ollama serves it, over /api/chat.

The request is translated into a chat request (translate/openai_responses.py) and run by the
same `chat` generator as /api/chat. Its chunks come back folded into one Response object, or,
with `stream: true`, as server-sent events with their `event:` line (`response.created` …
`response.completed`), each numbered by `sequence_number`. Refusals before the first chunk are
OpenAI's error object with Ollama's status; an error after the stream began ends it with
`response.failed`.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from ollama_toolkit.api import openai_responses as r
from ollama_toolkit.api.errors import OllamaError
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


async def responses(request: Request) -> Response:
    try:
        body = parse_body(await request.body(), r.ResponsesRequest)
        req = from_responses_request(body)
        response_id, message_id = new_response_id(), new_message_id()
        return await respond(
            chat(get_state(request), req),
            bool(body.stream),
            lambda parts: to_response(fold_chat(parts), body, response_id, message_id),
            request,
            _EventStream(ResponsesStream(body, response_id, message_id)),
        )
    except OllamaError as e:
        return openai_error(e)


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
