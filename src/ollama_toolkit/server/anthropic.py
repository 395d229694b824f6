"""Ollama's Anthropic-compatible route: POST /v1/messages (Anthropic's Messages API).

A request is translated into an /api/chat request and run by the same handler; its chunks go
back as one Anthropic message, or as server-sent events (`event: <type>` then `data: {...}`:
message_start, content blocks, message_delta, message_stop) when streamed. Every error has
Anthropic's shape (`{"type": "error", "error": {"type", "message"}}`), with Ollama's status
code; one after the stream began is its last event, `error`.

As Ollama's middleware does, `thinking` asked of a model that cannot think is dropped rather
than refused (clients such as Claude Code ask it of every model).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api.errors import InvalidRequest, OllamaError
from ollama_toolkit.api.types import ChatRequest, ChatResponse
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.chat import chat, fold_chat
from ollama_toolkit.server.errors import anthropic_error, anthropic_error_body
from ollama_toolkit.server.prepare import ServerState, find_model
from ollama_toolkit.server.prompt import ChatTemplate
from ollama_toolkit.server.responses import get_state, respond
from ollama_toolkit.translate.anthropic import (
    StreamConverter,
    estimate_input_tokens,
    from_messages_request,
    new_id,
    to_messages_response,
)


async def messages(request: Request) -> Response:
    try:
        body = _parse(await request.body())
        req = from_messages_request(body)
        state = get_state(request)
        _relax_thinking(state, req)
        id_ = new_id("msg")
        framing = _MessageStream(StreamConverter(id_, body.model, estimate_input_tokens(body)))
        response = await respond(
            chat(state, req),
            body.stream,
            lambda parts: to_messages_response(id_, fold_chat(parts)),
            request,
            framing,
        )
    except OllamaError as e:
        return anthropic_error(e)
    if isinstance(response, StreamingResponse):
        response.headers["Cache-Control"] = "no-cache"
    return response


def _parse(raw: bytes) -> ant.MessagesRequest:
    try:
        return parse_body(raw, ant.MessagesRequest)
    except InvalidRequest as e:
        # The request type is Ollama's anthropic.MessagesRequest, not one of its api package.
        message = e.message.replace("type api.MessagesRequest", "type anthropic.MessagesRequest")
        raise InvalidRequest(message) from None


def _relax_thinking(state: ServerState, req: ChatRequest) -> None:
    """Thinking asked of a model without the capability is dropped (Ollama's `relax_thinking`
    for Anthropic clients), where /api/chat refuses it."""
    if req.think:
        model = find_model(state, req.model)
        if "thinking" not in ChatTemplate(model).capabilities():
            req.think = None


class _MessageStream:
    """The framing of `respond` for Anthropic: one message object, or the stream's events."""

    media_type = "text/event-stream"

    def __init__(self, converter: StreamConverter) -> None:
        self.converter = converter

    def whole(self, item: BaseModel) -> bytes:
        assert isinstance(item, ant.MessagesResponse)
        return item.to_json()

    def chunk(self, item: ChatResponse) -> bytes:
        return b"".join(_event(e.type, e) for e in self.converter.process(item))

    def error(self, error: OllamaError) -> bytes:
        # The status is already sent: the error is an event, which Anthropic's clients raise.
        return _event("error", anthropic_error_body(error))


def _event(name: str, data: ant.AnthropicObject) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data.to_json() + b"\n\n"
