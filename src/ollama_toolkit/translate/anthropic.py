"""Anthropic Messages requests into Ollama's chat requests, and Ollama's chat responses back into
Anthropic messages and stream events, with the defaults and mappings of Ollama's `anthropic`
package and its middleware.

What Ollama does, and so this does:

- `system` (a string, or text blocks joined) is a first `system` message; each request message
  becomes one chat message of its text, images, tool calls and thinking, and each `tool_result`
  block a `tool` message of its own (before the user's text, after anything else);
- `max_tokens` is `num_predict`; `temperature`, `top_p`, `top_k` and `stop_sequences` are
  options only when set (no Anthropic defaults are imposed); `thinking` enabled or disabled is
  `think` true or false, else `output_config.effort` a think level;
- `tool_choice`, `metadata` and a thinking `budget_tokens` are accepted and not used;
- `stop_reason`: `tool_use` when the answer called a tool, else `end_turn` for a stop (a stop
  sequence included: Ollama does not tell which), `max_tokens` for the length limit;
- a stream's `message_start` counts the input tokens by Ollama's estimate (a quarter of the
  request's characters) until the real count comes, in `message_delta`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api.errors import InvalidRequest, model_required
from ollama_toolkit.api.types import (
    ChatRequest,
    ChatResponse,
    Message,
    ThinkValue,
    Tool,
    ToolCall,
    ToolCallFunction,
    ToolFunction,
)

_WEB_SEARCH_TOOL = Tool(
    type="function",
    function=ToolFunction(
        name="web_search",
        description=(
            "Search the web for current information. "
            "Use this to find up-to-date information about any topic."
        ),
        parameters={
            "type": "object",
            "required": ["query"],
            "properties": {
                "query": {"type": "string", "description": "The search query to look up on the web"}
            },
        },
    ),
)
# `output_config.effort` onto Ollama's think levels (without `thinking`); others leave it unset.
_EFFORTS: dict[str, ThinkValue] = {
    "high": "high",
    "xhigh": "high",
    "medium": "medium",
    "low": "low",
    "max": "max",
}


def new_id(prefix: str) -> str:
    """Ollama's ids: the prefix (`msg`, `req`), `_`, then 12 random bytes in hex."""
    return f"{prefix}_{secrets.token_hex(12)}"


# --- requests ---------------------------------------------------------------------------------


def from_messages_request(req: ant.MessagesRequest) -> ChatRequest:
    """The /api/chat request of a Messages request; refused with Ollama's wording."""
    for msg in req.messages or ():
        if msg.content is None:
            # Ollama's decoder fails on a message without content, before anything is checked.
            raise InvalidRequest("unexpected end of JSON input")
    if not req.model:
        raise model_required()
    if req.max_tokens <= 0:
        raise InvalidRequest("max_tokens is required and must be positive")
    if not req.messages:
        raise InvalidRequest("messages is required")

    messages = _system(req.system)
    for msg in req.messages:
        messages.extend(_message(msg))

    options: dict[str, Any] = {"num_predict": req.max_tokens}
    if req.temperature is not None:
        options["temperature"] = req.temperature
    if req.top_p is not None:
        options["top_p"] = req.top_p
    if req.top_k is not None:
        options["top_k"] = req.top_k
    if req.stop_sequences:
        options["stop"] = req.stop_sequences

    return ChatRequest(
        model=req.model,
        messages=messages,
        options=options,
        stream=req.stream,
        tools=_tools(req.tools or []) or None,
        think=_think(req.thinking, req.output_config),
    )


def _system(system: Any) -> list[Message]:
    if isinstance(system, str):
        text = system
    elif isinstance(system, list):
        text = "".join(
            block["text"]
            for block in system
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
    else:
        text = ""
    return [Message(role="system", content=text)] if text else []


def _think(
    thinking: ant.ThinkingConfig | None, output: ant.OutputConfig | None
) -> ThinkValue | None:
    if thinking is not None and thinking.type == "enabled":
        return True
    if thinking is not None and thinking.type == "disabled":
        return False
    if output is not None:
        return _EFFORTS.get(output.effort.strip().lower())
    return None


def _message(msg: ant.MessageParam) -> list[Message]:
    """One request message as chat messages: its own (text, images, tool calls, thinking) and
    one `tool` message per tool result, before it for a user, after it otherwise."""
    role = msg.role.lower()
    text: list[str] = []
    images: list[str] = []
    calls: list[ToolCall] = []
    thinking = ""
    results: list[Message] = []
    for block in msg.content or ():
        kind = block.type
        if kind == "text":
            text.append(block.text or "")
        elif kind == "image":
            if block.source is None:
                raise InvalidRequest("invalid image source")
            images.append(_image(block.source.type, block.source.data))
        elif kind == "tool_use":
            if not block.id:
                raise InvalidRequest("tool_use block missing required 'id' field")
            if not block.name:
                raise InvalidRequest("tool_use block missing required 'name' field")
            calls.append(_call(block))
        elif kind == "tool_result":
            content, result_images = _tool_result(block.content)
            results.append(
                Message(
                    role="tool",
                    content=content,
                    images=result_images or None,
                    tool_call_id=block.tool_use_id or None,
                )
            )
        elif kind == "thinking":
            if block.thinking is not None:
                thinking = block.thinking
        elif kind == "server_tool_use":
            calls.append(_call(block))
        elif kind == "web_search_tool_result":
            results.append(
                Message(
                    role="tool",
                    content=_web_search_result(block.content),
                    tool_call_id=block.tool_use_id or None,
                )
            )
        # Other block types are ignored.

    out: list[Message] = []
    results_first = role == "user" and bool(results)
    if results_first:
        out.extend(results)
    joined = "".join(text)
    if joined or images or calls or thinking:
        out.append(
            Message(
                role=role,
                content=joined,
                images=images or None,
                tool_calls=calls or None,
                thinking=thinking or None,
            )
        )
    if not results_first:
        out.extend(results)
    return out


def _call(block: ant.ContentBlockParam) -> ToolCall:
    return ToolCall(
        id=block.id or None,
        function=ToolCallFunction(name=block.name, arguments=block.input or {}),
    )


def _image(kind: str, data: str) -> str:
    """An image source as the base64 that Ollama's `images` carry."""
    if kind != "base64":
        raise InvalidRequest(
            f"invalid image source type: {kind}. Only base64 images are supported."
        )
    try:
        raw = _b64decode(data)
    except ValueError as e:
        raise InvalidRequest(f"invalid base64 image data: {e}") from None
    return base64.b64encode(raw).decode()


def _b64decode(data: str) -> bytes:
    """Standard base64 as Go's decoder reads it (line breaks skipped, padding required), with
    its error: `illegal base64 data at input byte N`."""
    raw = data.encode()
    at = _corrupt_at(raw)
    if at >= 0:
        raise ValueError(f"illegal base64 data at input byte {at}")
    try:
        return base64.b64decode(raw.replace(b"\r", b"").replace(b"\n", b""))
    except binascii.Error:  # pragma: no cover - the scan above refuses what this would
        raise ValueError("illegal base64 data at input byte 0") from None


_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_BREAKS = frozenset(b"\r\n")


def _corrupt_at(src: bytes) -> int:
    """Where Go's standard decoder finds `src` corrupt, or -1 if it does not."""
    n, i = len(src), 0
    while True:
        got = 0  # significant characters of this group of four
        while got < 4:
            if i == n:
                return -1 if got == 0 else i - got
            c = src[i]
            i += 1
            if c in _ALPHABET:
                got += 1
            elif c in _BREAKS:
                continue
            elif c != ord("=") or got < 2:
                return i - 1
            else:  # padding: one more "=" after two characters, then only line breaks
                if got == 2:
                    while i < n and src[i] in _BREAKS:
                        i += 1
                    if i == n:
                        return n
                    if src[i] != ord("="):
                        return i - 1
                    i += 1
                while i < n and src[i] in _BREAKS:
                    i += 1
                return i if i < n else -1


def _tool_result(content: Any) -> tuple[str, list[str]]:
    """A tool result's text and images: a string, or blocks of text and images."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return "", []
    text: list[str] = []
    images: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            text.append(block["text"])
        elif kind == "image":
            source = block.get("source")
            if not isinstance(source, dict):
                raise InvalidRequest("invalid tool_result image source")
            kind_ = source.get("type")
            data = source.get("data")
            images.append(
                _image(
                    kind_ if isinstance(kind_, str) else "",
                    data if isinstance(data, str) else "",
                )
            )
    return "".join(text), images


def _web_search_result(content: Any) -> str:
    """A web search result (of an earlier turn) as the text of a tool message."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        lines = []
        for item in content:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "web_search_result":
                title, url = item.get("title"), item.get("url")
                title = title if isinstance(title, str) else ""
                url = url if isinstance(url, str) else ""
                lines.append(f"- {title}: {url}\n")
            elif item.get("type") == "web_search_tool_result_error":
                return _search_error(item)
        return "".join(lines)
    if isinstance(content, dict) and content.get("type") == "web_search_tool_result_error":
        return _search_error(content)
    return _go_json(content)


def _search_error(item: dict[str, Any]) -> str:
    code = item.get("error_code")
    if isinstance(code, str) and code:
        return "web_search_tool_result_error: " + code
    return "web_search_tool_result_error"


def _tools(tools: list[ant.ToolParam]) -> list[Tool]:
    builtin = any(t.type.startswith("web_search") for t in tools)
    out = []
    for t in tools:
        if t.type.startswith("web_search"):
            out.append(_WEB_SEARCH_TOOL)
        elif builtin and t.name == "web_search":
            continue  # Anthropic's web search takes the name: the client's own is dropped
        else:
            out.append(_tool(t))
    return out


def _tool(t: ant.ToolParam) -> Tool:
    schema = t.input_schema
    if schema is not None and not isinstance(schema, dict):
        raise InvalidRequest(
            f'invalid input_schema for tool "{t.name}": json: cannot unmarshal '
            f"{_json_kind(schema)} into Go value of type api.ToolFunctionParameters"
        )
    for key, want, ok in (
        ("type", "string", lambda v: isinstance(v, str)),
        ("required", "[]string", lambda v: isinstance(v, list)),
    ):
        value = (schema or {}).get(key)
        if value is not None and not ok(value):
            raise InvalidRequest(
                f'invalid input_schema for tool "{t.name}": json: cannot unmarshal '
                f"{_json_kind(value)} into Go struct field ToolFunctionParameters.{key} "
                f"of type {want}"
            )
    return Tool(
        type="function",
        function=ToolFunction(
            name=t.name, description=t.description or None, parameters=schema or {}
        ),
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_json(value: Any) -> str:
    """JSON as Go's encoder writes it: compact, object keys sorted, <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- the input token estimate -----------------------------------------------------------------


def estimate_input_tokens(req: ant.MessagesRequest) -> int:
    """Ollama's estimate of a request's input tokens, for a stream's `message_start` (the count
    comes at its end): the bytes of the system prompt, roles, texts, thinking, tool blocks and
    tool definitions, divided by four; at least one when there is anything."""
    total = _system_size(req.system)
    for msg in req.messages or ():
        total += len(msg.role.encode())
        total += sum(_block_size(block) for block in msg.content or ())
    for tool in req.tools or ():
        total += len(tool.name.encode()) + len(tool.description.encode())
        if tool.input_schema is not None:
            schema = json.dumps(tool.input_schema, separators=(",", ":"), ensure_ascii=False)
            total += len(schema.encode())
    tokens = total // 4
    if tokens == 0 and (req.messages or req.system is not None):
        return 1
    return tokens


def _system_size(system: Any) -> int:
    if system is None:
        return 0
    if isinstance(system, str):
        return len(system.encode())
    if isinstance(system, list):
        total = 0
        for item in system:
            try:
                block = ant.ContentBlockParam.model_validate(item)
            except ValueError:
                continue
            total += _block_size(block)
        return total
    return len(_go_json(system).encode())


def _block_size(block: ant.ContentBlockParam) -> int:
    size = len((block.text or "").encode()) + len((block.thinking or "").encode())
    if block.type in ("tool_use", "tool_result"):
        size += len(_go_json_block(block).encode())
    return size


def _go_json_block(block: ant.ContentBlockParam) -> str:
    """A request block as Ollama re-encodes it: its fields in order, empty ones left out."""
    fields: list[tuple[str, Any]] = [("type", block.type)]
    if block.text is not None:
        fields.append(("text", block.text))
    if block.source is not None:
        source = block.source.model_dump(exclude_defaults=True)
        fields.append(("source", {"type": block.source.type, **source}))
    fields += [("id", block.id), ("name", block.name)]
    if block.input is not None:
        fields.append(("input", block.input))
    fields.append(("tool_use_id", block.tool_use_id))
    if block.content is not None:
        fields.append(("content", block.content))
    if block.is_error:
        fields.append(("is_error", True))
    if block.thinking is not None:
        fields.append(("thinking", block.thinking))
    fields.append(("signature", block.signature))
    kept = [
        f'"{k}":{_go_json(v)}' for k, v in fields if v != "" or k in ("type", "text", "thinking")
    ]
    return "{" + ",".join(kept) + "}"


# --- responses --------------------------------------------------------------------------------


def stop_reason(done_reason: str | None, tool_calls: bool) -> str | None:
    """Ollama's `done_reason` as Anthropic's `stop_reason`."""
    if tool_calls:
        return "tool_use"
    if done_reason == "stop":
        return "end_turn"
    if done_reason == "length":
        return "max_tokens"
    return "stop_sequence" if done_reason else None


def usage(r: ChatResponse) -> ant.MessageUsage:
    return ant.MessageUsage(input_tokens=r.prompt_eval_count or 0, output_tokens=r.eval_count or 0)


def to_messages_response(id_: str, r: ChatResponse) -> ant.MessagesResponse:
    """A whole chat reply as one Anthropic message: thinking, text, then tool calls."""
    m = r.message
    content: list[ant.ContentBlock] = []
    if m.thinking:
        content.append(ant.ContentBlock(type="thinking", thinking=m.thinking))
    if m.content:
        content.append(ant.ContentBlock(type="text", text=m.content))
    for call in m.tool_calls or ():
        content.append(
            ant.ContentBlock(
                type="tool_use",
                id=call.id or None,
                name=call.function.name or None,
                input=call.function.arguments,
            )
        )
    return ant.MessagesResponse(
        id=id_,
        model=r.model,
        content=content or None,
        stop_reason=stop_reason(r.done_reason, bool(m.tool_calls)),
        usage=usage(r),
    )


class StreamConverter:
    """Chat chunks into Anthropic's stream events, as Ollama's converter makes them.

    `message_start` comes with the first chunk; a thinking block, a text block and one block
    per tool call each open (`content_block_start`), grow (`content_block_delta`) and close
    (`content_block_stop`) in turn, numbered from 0; the last chunk closes the open block and
    adds `message_delta` (the stop reason and the token counts) and `message_stop`.
    """

    def __init__(self, id_: str, model: str, estimated_input_tokens: int) -> None:
        self.id = id_
        self.model = model
        self.estimated_input_tokens = estimated_input_tokens
        self.started = False
        self.index = 0
        self.thinking_started = False
        self.thinking_done = False
        self.text_started = False
        self.calls_sent: set[str] = set()

    def process(self, r: ChatResponse) -> list[ant.Event]:
        events: list[ant.Event] = []
        m = r.message
        if not self.started:
            self.started = True
            input_tokens = r.prompt_eval_count or self.estimated_input_tokens
            message = ant.MessagesResponse(
                id=self.id,
                model=self.model,
                content=[],
                usage=ant.MessageUsage(input_tokens=input_tokens),
            )
            events.append(ant.MessageStartEvent(message=message))

        if m.thinking and not self.thinking_done:
            if self.text_started:
                events.append(self._stop())
                self.text_started = False
            if not self.thinking_started:
                self.thinking_started = True
                events.append(self._start(ant.ContentBlock(type="thinking", thinking="")))
            events.append(self._delta(ant.BlockDelta(type="thinking_delta", thinking=m.thinking)))

        if m.content:
            self._end_thinking(events)
            if not self.text_started:
                self.text_started = True
                events.append(self._start(ant.ContentBlock(type="text", text="")))
            events.append(self._delta(ant.BlockDelta(type="text_delta", text=m.content)))

        for call in m.tool_calls or ():
            key = call.id or ""
            if key in self.calls_sent:
                continue
            self._end_thinking(events)
            if self.text_started:
                events.append(self._stop())
                self.text_started = False
            block = ant.ContentBlock(
                type="tool_use", id=call.id or None, name=call.function.name or None, input={}
            )
            arguments = json.dumps(
                call.function.arguments, separators=(",", ":"), ensure_ascii=False
            )
            events.append(self._start(block))
            events.append(
                self._delta(ant.BlockDelta(type="input_json_delta", partial_json=arguments))
            )
            events.append(ant.ContentBlockStopEvent(index=self.index))
            self.calls_sent.add(key)
            self.index += 1

        if r.done:
            if self.text_started or (self.thinking_started and not self.thinking_done):
                events.append(ant.ContentBlockStopEvent(index=self.index))
            delta = ant.MessageDelta(stop_reason=stop_reason(r.done_reason, bool(self.calls_sent)))
            events.append(ant.MessageDeltaEvent(delta=delta, usage=usage(r)))
            events.append(ant.MessageStopEvent())
        return events

    def _start(self, block: ant.ContentBlock) -> ant.ContentBlockStartEvent:
        return ant.ContentBlockStartEvent(index=self.index, content_block=block)

    def _delta(self, delta: ant.BlockDelta) -> ant.ContentBlockDeltaEvent:
        return ant.ContentBlockDeltaEvent(index=self.index, delta=delta)

    def _stop(self) -> ant.ContentBlockStopEvent:
        """Close the open block; the next one takes the next index."""
        event = ant.ContentBlockStopEvent(index=self.index)
        self.index += 1
        return event

    def _end_thinking(self, events: list[ant.Event]) -> None:
        if self.thinking_started and not self.thinking_done:
            self.thinking_done = True
            events.append(self._stop())
