"""OpenAI requests into Ollama's chat/generate requests, and Ollama's responses back into OpenAI
objects, with the defaults and mappings of Ollama's `openai` package."""

from __future__ import annotations

import base64
import binascii
import json
import struct
from datetime import datetime
from typing import Any

from ollama_toolkit.api import openai as oai
from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.api.types import (
    ChatRequest,
    ChatResponse,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    Logprob,
    Message,
    ThinkValue,
    ToolCall,
    ToolCallFunction,
)

_IMAGE_PREFIXES = tuple(f"data:image/{t};base64," for t in ("jpeg", "jpg", "png", "webp"))

# OpenAI's reasoning efforts onto Ollama's think levels; the tiers past either end of Ollama's
# scale are clamped to the nearest one rather than refused.
_EFFORTS: dict[str, ThinkValue] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


# --- requests ---------------------------------------------------------------------------------


def from_chat_request(req: oai.ChatCompletionRequest) -> ChatRequest:
    options: dict[str, Any] = {}
    stop = _stop(req.stop, strict=False)
    if stop is not None:
        options["stop"] = stop
    max_tokens = req.max_tokens if req.max_tokens is not None else req.max_completion_tokens
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    # OpenAI's defaults, not the model's: an OpenAI client expects temperature 1 and top_p 1.
    options["temperature"] = 1.0 if req.temperature is None else req.temperature
    if req.seed is not None:
        options["seed"] = req.seed
    if req.frequency_penalty is not None:
        options["frequency_penalty"] = req.frequency_penalty
    if req.presence_penalty is not None:
        options["presence_penalty"] = req.presence_penalty
    options["top_p"] = 1.0 if req.top_p is None else req.top_p

    effort = req.reasoning.effort if req.reasoning is not None else req.reasoning_effort
    return ChatRequest(
        model=req.model or "",
        messages=_messages(req.messages or []),
        format=_format(req.response_format),
        options=options,
        stream=bool(req.stream),
        tools=req.tools,
        think=think(effort or ""),
        logprobs=bool(req.logprobs),
        top_logprobs=req.top_logprobs or 0,
        _debug_render_only=bool(req.debug_render_only),
    )


def from_completion_request(req: oai.CompletionRequest) -> GenerateRequest:
    options: dict[str, Any] = {}
    stop = _stop(req.stop, strict=True)
    if stop is not None:
        options["stop"] = stop
    if req.max_tokens is not None:
        options["num_predict"] = req.max_tokens
    options["temperature"] = 1.0 if req.temperature is None else req.temperature
    if req.seed is not None:
        options["seed"] = req.seed
    options["frequency_penalty"] = req.frequency_penalty or 0.0
    options["presence_penalty"] = req.presence_penalty or 0.0
    options["top_p"] = req.top_p or 1.0  # 0 means unset here, as in Ollama
    logprobs = req.logprobs is not None and req.logprobs > 0
    return GenerateRequest(
        model=req.model or "",
        prompt=req.prompt or "",
        options=options,
        stream=bool(req.stream),
        suffix=req.suffix or "",
        logprobs=logprobs,
        top_logprobs=req.logprobs if logprobs else 0,
        _debug_render_only=bool(req.debug_render_only),
    )


def _stop(value: Any, strict: bool) -> list[str] | None:
    """`stop` as a list. Chat drops entries that are not strings; completions refuse them."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return None
    for item in value:
        if strict and not isinstance(item, str):
            raise InvalidRequest(f"invalid type for 'stop' field: {_go_type(item)}")
    return [item for item in value if isinstance(item, str)]


def _format(response_format: oai.ResponseFormat | None) -> str | dict[str, Any] | None:
    if response_format is None:
        return None
    kind = (response_format.type or "").strip().lower()
    if kind == "json_object":
        return "json"
    if kind == "json_schema" and response_format.json_schema is not None:
        return response_format.json_schema.schema_
    return None


def think(effort: str) -> ThinkValue | None:
    """An OpenAI reasoning effort as Ollama's `think` (none for ""; Ollama's wording if unknown)."""
    if not effort:
        return None  # the model's default
    if effort not in _EFFORTS:
        raise InvalidRequest(
            f'invalid reasoning value: "{effort}" (must be "minimal", "low", "medium", "high", '
            '"xhigh", "ultra", "max", or "none")'
        )
    return _EFFORTS[effort]


def _messages(messages: list[oai.ChatMessage]) -> list[Message]:
    out: list[Message] = []
    for msg in messages:
        role = msg.role or ""
        tool_name = ""
        if role.lower() == "tool":
            tool_name = msg.name or _tool_name(messages, msg.tool_call_id)
        content = msg.content
        if isinstance(content, str):
            out.append(
                Message(
                    role=role,
                    content=content,
                    thinking=msg.reasoning or None,
                    tool_calls=_tool_calls(msg.tool_calls),
                    tool_name=tool_name or None,
                    tool_call_id=msg.tool_call_id or None,
                )
            )
        elif isinstance(content, list):
            # Each content part becomes a message of its own, as Ollama does.
            out.extend(_content_part(role, part) for part in content)
            if out and msg.tool_calls:
                out[-1] = out[-1].model_copy(
                    update={
                        "tool_calls": _tool_calls(msg.tool_calls),
                        "tool_name": tool_name or None,
                        "tool_call_id": msg.tool_call_id or None,
                        "thinking": msg.reasoning or None,
                    }
                )
        elif msg.tool_calls is None:
            # Content may only be missing beside tool calls.
            raise InvalidRequest(f"invalid message content type: {_go_type(content)}")
        else:
            out.append(
                Message(
                    role=role,
                    thinking=msg.reasoning or None,
                    tool_calls=_tool_calls(msg.tool_calls),
                    tool_call_id=msg.tool_call_id or None,
                )
            )
    return out


def _content_part(role: str, part: Any) -> Message:
    if not isinstance(part, dict):
        raise InvalidRequest("invalid message format")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("invalid message format")
        return Message(role=role, content=text)
    if kind == "image_url":
        url = part.get("image_url")
        if isinstance(url, dict):
            url = url.get("url")
        if not isinstance(url, str):
            raise InvalidRequest("invalid message format")
        return Message(role=role, images=[image_from_url(url)])
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise InvalidRequest("invalid input_audio format")
        data = audio.get("data")
        if not isinstance(data, str):
            raise InvalidRequest("invalid input_audio format: missing data")
        try:
            raw = _b64decode(data)
        except ValueError as e:
            raise InvalidRequest(f"invalid input_audio base64 data: {e}") from None
        return Message(role=role, images=[base64.b64encode(raw).decode()])
    raise InvalidRequest("invalid message format")


def image_from_url(url: str) -> str:
    """The image of a data URL, as the base64 that Ollama's `images` carry."""
    if url.startswith(("http://", "https://")):
        raise InvalidRequest(
            "image URLs are not currently supported, please use base64 encoded data instead"
        )
    if url.startswith("data:;base64,"):
        data = url.removeprefix("data:;base64,")
    else:
        prefix = next((p for p in _IMAGE_PREFIXES if url.startswith(p)), None)
        if prefix is None:
            raise InvalidRequest("invalid image input")
        data = url.removeprefix(prefix)
    try:
        raw = _b64decode(data)
    except ValueError:
        raise InvalidRequest("invalid image input") from None
    return base64.b64encode(raw).decode()


def _b64decode(data: str) -> bytes:
    # Go's standard decoder skips line breaks but is otherwise strict (padding included).
    try:
        return base64.b64decode(data.replace("\r", "").replace("\n", ""), validate=True)
    except binascii.Error as e:
        raise ValueError(str(e)) from None


def _tool_calls(calls: list[oai.ToolCallIn] | None) -> list[ToolCall] | None:
    if calls is None:
        return None
    out = []
    for call in calls:
        function = call.function or oai.FunctionCallIn()
        try:
            arguments = json.loads(function.arguments or "")
        except json.JSONDecodeError:
            raise InvalidRequest("invalid tool call arguments") from None
        if arguments is not None and not isinstance(arguments, dict):
            raise InvalidRequest("invalid tool call arguments")
        out.append(
            ToolCall(
                id=call.id or None,
                function=ToolCallFunction(name=function.name or "", arguments=arguments or {}),
            )
        )
    return out


def _tool_name(messages: list[oai.ChatMessage], call_id: str | None) -> str:
    """The function a tool result answers, found by its call id (the latest call wins)."""
    if not call_id:
        return ""
    for msg in reversed(messages):
        for call in msg.tool_calls or ():
            if call.id == call_id:
                return (call.function.name or "") if call.function else ""
    return ""


def _go_type(value: Any) -> str:
    """Go's `%T` of a value decoded from JSON into `any`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


# --- responses --------------------------------------------------------------------------------


def unix(timestamp: str) -> int:
    """Seconds since the epoch of an RFC 3339 `created_at`."""
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())


def usage(r: ChatResponse | GenerateResponse) -> oai.Usage:
    prompt = r.prompt_eval_count or 0
    completion = r.eval_count or 0
    return oai.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def to_tool_calls(calls: list[ToolCall] | None) -> list[oai.ToolCall] | None:
    if not calls:
        return None
    return [
        oai.ToolCall(
            id=call.id or "",
            index=call.function.index or 0,
            function=oai.FunctionCall(
                name=call.function.name,
                arguments=json.dumps(
                    call.function.arguments, separators=(",", ":"), ensure_ascii=False
                ),
            ),
        )
        for call in calls
    ]


def _logprobs(logprobs: list[Logprob] | None) -> oai.ChoiceLogprobs | None:
    if not logprobs:
        return None
    return oai.ChoiceLogprobs(content=[lp.to_wire() for lp in logprobs])


def to_chat_completion(id_: str, r: ChatResponse) -> oai.ChatCompletion:
    calls = to_tool_calls(r.message.tool_calls)
    reason = r.done_reason or None
    if reason == "stop" and calls:
        reason = "tool_calls"
    message = oai.Message(
        role=r.message.role,
        content=r.message.content,
        reasoning=r.message.thinking or None,
        tool_calls=calls,
    )
    return oai.ChatCompletion(
        id=id_,
        created=unix(r.created_at),
        model=r.model,
        choices=[oai.Choice(message=message, finish_reason=reason, logprobs=_logprobs(r.logprobs))],
        usage=usage(r),
        _debug_info=r.debug_info.to_wire() if r.debug_info is not None else None,
    )


def to_chunks(
    id_: str, r: ChatResponse, created: int, include_role: bool
) -> list[oai.ChatCompletionChunk]:
    """The stream chunks of one chat response: thinking and the answer that follows it in the
    same response go out as two chunks, reasoning first."""
    m = r.message
    calls = to_tool_calls(m.tool_calls)
    role = "assistant" if include_role else None

    def chunk(delta: oai.Delta, logprobs: list[Logprob] | None) -> oai.ChatCompletionChunk:
        choice = oai.ChunkChoice(delta=delta, logprobs=_logprobs(logprobs))
        return oai.ChatCompletionChunk(id=id_, created=created, model=r.model, choices=[choice])

    thinking = m.thinking or None
    if not (thinking and (m.content or calls)):
        delta = oai.Delta(role=role, content=m.content, reasoning=thinking, tool_calls=calls)
        return [chunk(delta, r.logprobs)]
    return [
        chunk(oai.Delta(role=role, reasoning=thinking), r.logprobs),
        chunk(oai.Delta(content=m.content, tool_calls=calls), None),
    ]


def finish_chunk(
    id_: str, r: ChatResponse, created: int, tool_call_sent: bool
) -> oai.ChatCompletionChunk:
    """The stream's last choice chunk: an empty delta and the finish reason."""
    reason = r.done_reason or "stop"
    if reason == "stop" and tool_call_sent:
        reason = "tool_calls"
    choice = oai.ChunkChoice(delta=oai.Delta(), finish_reason=reason)
    return oai.ChatCompletionChunk(id=id_, created=created, model=r.model, choices=[choice])


def to_completion(id_: str, r: GenerateResponse) -> oai.Completion:
    choice = oai.CompletionChoice(text=r.response, finish_reason=r.done_reason or None)
    return oai.Completion(
        id=id_, created=unix(r.created_at), model=r.model, choices=[choice], usage=usage(r)
    )


def to_completion_chunk(id_: str, r: GenerateResponse, created: int) -> oai.CompletionChunk:
    choice = oai.CompletionChoice(text=r.response, finish_reason=r.done_reason or None)
    return oai.CompletionChunk(id=id_, created=created, model=r.model, choices=[choice])


# --- embeddings -------------------------------------------------------------------------------

_ENCODING_FORMATS = ("float", "base64")


def check_encoding_format(value: str) -> None:
    if value and value.lower() not in _ENCODING_FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'encoding_format' = {value}. Supported values: ['float', 'base64']."
        )


def embed_input(value: Any) -> Any:
    """The `/api/embed` input for an OpenAI one: "" embeds one empty string (not nothing),
    and a missing or empty input is refused, as Ollama's middleware does."""
    if isinstance(value, str) and value == "":
        return [""]
    if value is None or (isinstance(value, list) and not value):
        raise InvalidRequest("invalid input")
    return value


def to_embedding_list(model: str, resp: EmbedResponse, encoding_format: str) -> oai.EmbeddingList:
    as_base64 = encoding_format.lower() == "base64"
    data = [
        oai.Embedding(embedding=_base64(vec) if as_base64 else vec, index=i)
        for i, vec in enumerate(resp.embeddings)
    ]
    tokens = resp.prompt_eval_count or 0
    return oai.EmbeddingList(
        data=data,
        model=model,
        usage=oai.EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


def _base64(vec: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
