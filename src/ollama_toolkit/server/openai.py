"""Ollama's OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/models.

A request is translated into an /api/chat or /api/generate request and run by the same handler;
its chunks go back as one OpenAI object, or as server-sent events (`data: {...}`, ended by
`data: [DONE]`) when streamed. Every error has OpenAI's shape, with Ollama's status code.
"""

from __future__ import annotations

import random
import time

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from ollama_toolkit.api import openai as oai
from ollama_toolkit.api.errors import InvalidRequest, OllamaError
from ollama_toolkit.api.types import ChatResponse, GenerateResponse
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.chat import chat, fold_chat
from ollama_toolkit.server.errors import openai_error, openai_error_body
from ollama_toolkit.server.generate import fold_generate, generate
from ollama_toolkit.server.models import list_models
from ollama_toolkit.server.prepare import find_model
from ollama_toolkit.server.responses import get_state, respond
from ollama_toolkit.store.names import InvalidNameError, ModelName
from ollama_toolkit.translate.openai import (
    finish_chunk,
    from_chat_request,
    from_completion_request,
    to_chat_completion,
    to_chunks,
    to_completion,
    to_completion_chunk,
    unix,
    usage,
)

_DONE = b"data: [DONE]\n\n"


async def chat_completions(request: Request) -> Response:
    try:
        body = parse_body(await request.body(), oai.ChatCompletionRequest)
        if not body.messages:
            raise InvalidRequest("[] is too short - 'messages'")
        req = from_chat_request(body)
        id_ = f"chatcmpl-{random.randrange(999)}"
        return await respond(
            chat(get_state(request), req),
            bool(body.stream),
            lambda parts: to_chat_completion(id_, fold_chat(parts)),
            request,
            _ChatStream(id_, _include_usage(body.stream_options)),
        )
    except OllamaError as e:
        return openai_error(e)


async def completions(request: Request) -> Response:
    try:
        body = parse_body(await request.body(), oai.CompletionRequest)
        req = from_completion_request(body)
        id_ = f"cmpl-{random.randrange(999)}"
        return await respond(
            generate(get_state(request), req),
            bool(body.stream),
            lambda parts: to_completion(id_, fold_generate(parts)),
            request,
            _CompletionStream(id_, _include_usage(body.stream_options)),
        )
    except OllamaError as e:
        return openai_error(e)


async def models(request: Request) -> Response:
    data = [
        oai.Model(id=m.model or m.name, created=unix(m.modified_at), owned_by=_owner(m.model))
        for m in list_models(get_state(request)).models
    ]
    return _json(oai.ModelList(data=data or None))


async def retrieve_model(model: str, request: Request) -> Response:
    try:
        found = find_model(get_state(request), model)
    except OllamaError as e:
        return openai_error(e)
    created = int(found.manifest.modified.timestamp())
    return _json(oai.Model(id=model, created=created, owned_by=_owner(model)))


def _json(obj: oai.OpenAIObject) -> Response:
    return Response(obj.to_json(), media_type="application/json")


def _owner(name: str) -> str:
    """`owned_by` is the name's namespace: `library` for Ollama's own models."""
    try:
        return ModelName.parse(name).namespace
    except InvalidNameError:
        return ""


def _include_usage(options: oai.StreamOptions | None) -> bool:
    return options is not None and bool(options.include_usage)


def _event(obj: oai.OpenAIObject) -> bytes:
    return b"data: " + obj.to_json() + b"\n\n"


def _usage_event(
    last: oai.ChatCompletionChunk | oai.CompletionChunk, r: ChatResponse | GenerateResponse
) -> bytes:
    """The usage chunk after a stream's last: the last chunk's header, no choices."""
    return _event(last.model_copy(update={"usage": usage(r), "choices": []}))


class _SSE:
    """What the chat and completion streams share: the framing of `respond`, as SSE."""

    media_type = "text/event-stream"

    def __init__(self, id_: str, include_usage: bool) -> None:
        self.id = id_
        self.include_usage = include_usage

    def whole(self, item: BaseModel) -> bytes:
        return item.model_dump_json(by_alias=True).encode()

    def error(self, error: OllamaError) -> bytes:
        # The status is already sent: the error is an event, which OpenAI's clients raise.
        return _event(openai_error_body(error))


class _ChatStream(_SSE):
    """Chat chunks as OpenAI's stream: the role on the first chunk only, one `created` for all,
    then a finish chunk with an empty delta, the usage chunk if asked for, and [DONE]."""

    def __init__(self, id_: str, include_usage: bool) -> None:
        super().__init__(id_, include_usage)
        self.created: int | None = None
        self.started = False
        self.tool_call_sent = False

    def chunk(self, item: ChatResponse) -> bytes:
        if self.created is None:
            self.created = unix(item.created_at)
        m = item.message
        # The final response usually carries only statistics; OpenAI sends no empty content
        # chunk for it (but an empty reply still opens with the role).
        trailer_only = (
            item.done
            and self.started
            and not (m.content or m.thinking or m.tool_calls or item.logprobs)
        )
        events = []
        if not trailer_only:
            for chunk in to_chunks(self.id, item, self.created, include_role=not self.started):
                self.tool_call_sent = self.tool_call_sent or bool(chunk.choices[0].delta.tool_calls)
                events.append(_event(chunk))
            self.started = True
        if item.done:
            finish = finish_chunk(self.id, item, self.created, self.tool_call_sent)
            events.append(_event(finish))
            if self.include_usage:
                events.append(_usage_event(finish, item))
            events.append(_DONE)
        return b"".join(events)


class _CompletionStream(_SSE):
    """Completion chunks as OpenAI's stream; with include_usage every chunk carries a zero
    usage and the real one follows the last, as Ollama sends it."""

    def chunk(self, item: GenerateResponse) -> bytes:
        chunk = to_completion_chunk(self.id, item, int(time.time()))
        if self.include_usage:
            chunk.usage = oai.Usage()
        events = [_event(chunk)]
        if item.done:
            if self.include_usage:
                events.append(_usage_event(chunk, item))
            events.append(_DONE)
        return b"".join(events)
