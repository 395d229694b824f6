"""OpenAI's Responses API onto Ollama's chat, as Ollama's `openai/responses.go` maps it: a
request into a `ChatRequest`, the chat's answer into a Response object, and its chunks into the
stream of server-sent events (`ResponsesStream`).

Where Ollama's own mapping has gaps, this one follows OpenAI's API instead: a reply cut short
by `max_output_tokens` is `"incomplete"` (its stream ends in `response.incomplete`), a text
message streamed before a tool call is closed before the call's item opens, `text.format`
`json_object` asks for JSON, and an error after the stream began ends it with
`response.failed`.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ollama_toolkit.api import openai_responses as r
from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.api.types import ChatRequest, ChatResponse, Message, Tool, ToolFunction
from ollama_toolkit.api.types import ToolCall as ChatToolCall
from ollama_toolkit.api.types import ToolCallFunction as ChatToolCallFunction
from ollama_toolkit.translate.openai import image_from_url, think, to_tool_calls, unix

M = TypeVar("M", bound=BaseModel)

# --- requests ---------------------------------------------------------------------------------


def from_responses_request(req: r.ResponsesRequest) -> ChatRequest:
    """The /api/chat request that answers a Responses request (Ollama's FromResponsesRequest)."""
    messages: list[Message] = []
    if req.instructions:
        messages.append(Message(role="system", content=req.instructions))
    items = parse_input(req.input)
    if isinstance(items, str):
        if items:
            messages.append(Message(role="user", content=items))
    else:
        messages.extend(_messages(items))

    options: dict[str, Any] = {"temperature": 1.0 if req.temperature is None else req.temperature}
    if req.top_p is not None:  # unlike chat completions, no default: the model's stands
        options["top_p"] = req.top_p
    if req.max_output_tokens is not None:
        options["num_predict"] = req.max_output_tokens

    effort = req.reasoning.effort if req.reasoning is not None else None
    return ChatRequest(
        model=req.model or "",
        messages=messages,
        options=options,
        stream=bool(req.stream),
        tools=_tools(req.tools) or None,
        format=_format(req.text),
        think=think(effort or ""),
    )


def _format(text: r.ResponsesText | None) -> str | dict[str, Any] | None:
    if text is None or text.format is None:
        return None
    if text.format.type == "json_schema":
        return text.format.schema_
    if text.format.type == "json_object":
        return "json"
    return None


def _tools(tools: list[r.ResponsesTool] | None) -> list[Tool]:
    out: list[Tool] = []
    for tool in tools or ():
        if tool.type == "web_search":
            # Ollama runs this built-in tool itself, through its hosted search service, which
            # this server cannot reach: the model is not offered it (the request still echoes it).
            continue
        out.extend(_expand(tool))
    return out


def _expand(tool: r.ResponsesTool) -> list[Tool]:
    """A function tool as Ollama's; a `namespace` as its members, their names prefixed with
    the namespace's (`ns.fn`), since a chat tool has a flat name."""
    if tool.type != "namespace":
        function = ToolFunction(
            name=tool.name or "",
            description=tool.description or None,
            parameters=tool.parameters or {},
        )
        return [Tool(type=tool.type or "", function=function)]
    out: list[Tool] = []
    prefix = f"{tool.name}." if tool.name else ""
    for member in tool.tools or ():
        for expanded in _expand(member):
            if prefix and not expanded.function.name.startswith(prefix):
                expanded.function.name = prefix + expanded.function.name
            out.append(expanded)
    return out


def _messages(items: list[r.InputItem]) -> list[Message]:
    """Input items as chat messages: function calls joined to the assistant message before
    them, a reasoning item's text given to the next assistant message."""
    messages: list[Message] = []
    pending_thinking = ""
    for i, item in enumerate(items):
        if isinstance(item, r.ReasoningItem):
            pending_thinking = item.encrypted_content or ""
        elif isinstance(item, r.InputMessage):
            content, images = _content(item.content)
            msg = Message(role=item.role or "", content=content, images=images or None)
            if msg.role == "assistant" and pending_thinking:
                msg.thinking = pending_thinking
                pending_thinking = ""
            # An assistant message replayed between a function call and its output stays in
            # the call's message, so that the tool's result follows the call it answers.
            following = items[i + 1] if i + 1 < len(items) else None
            answered = following.call_id if isinstance(following, r.FunctionCallOutputItem) else ""
            if msg.role == "assistant" and answered and messages:
                last = messages[-1]
                calls = last.tool_calls or ()
                if last.role == "assistant" and any(call.id == answered for call in calls):
                    if last.content and msg.content:
                        last.content += "\n"
                    last.content += msg.content
                    if msg.images:
                        last.images = [*(last.images or ()), *msg.images]
                    if msg.thinking:
                        last.thinking = msg.thinking
                    continue
            messages.append(msg)
        elif isinstance(item, r.FunctionCallItem):
            call = ChatToolCall(
                id=item.call_id or None,
                function=ChatToolCallFunction(
                    name=item.name or "", arguments=_arguments(item.arguments or "")
                ),
            )
            if messages and messages[-1].role == "assistant":
                last = messages[-1]
                last.tool_calls = [*(last.tool_calls or ()), call]
                if pending_thinking:
                    last.thinking = pending_thinking
                    pending_thinking = ""
            else:
                messages.append(
                    Message(role="assistant", tool_calls=[call], thinking=pending_thinking or None)
                )
                pending_thinking = ""
        elif isinstance(item, r.FunctionCallOutputItem):
            content, images = item.output, []
            if item.output_parts:
                content, images = _content(item.output_parts)
            messages.append(
                Message(
                    role="tool",
                    content=content,
                    images=images or None,
                    tool_call_id=item.call_id or None,
                )
            )
        # A web_search_call is history only: the assistant message after it holds the result.
    if pending_thinking:
        messages.append(Message(role="assistant", thinking=pending_thinking))
    return messages


def _content(parts: list[r.ContentPart]) -> tuple[str, list[str]]:
    """Content parts as one text and the images (base64) beside it."""
    text = ""
    images: list[str] = []
    for part in parts:
        if isinstance(part, r.InputText):
            text += part.text or ""
        elif isinstance(part, r.InputImage):
            if part.image_url:  # a file_id alone cannot be served
                images.append(image_from_url(part.image_url))
        else:
            raise InvalidRequest("file inputs are not currently supported")
    return text, images


def _arguments(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidRequest(
            f"failed to parse function call arguments: {_go_syntax_error(text, e)}"
        ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(
            "failed to parse function call arguments: json: cannot unmarshal "
            f"{_kind(value)} into Go value of type api.ToolCallFunctionArguments"
        )
    return value


def _go_syntax_error(text: str, error: json.JSONDecodeError) -> str:
    if error.pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    return f"invalid character '{text[error.pos]}' {_SYNTAX_CONTEXT.get(error.msg, 'in JSON')}"


_SYNTAX_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": (
        "looking for beginning of object key string"
    ),
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Extra data": "after top-level value",
}


# --- input decoding ---------------------------------------------------------------------------
# Ollama decodes `input` with hand-written unmarshalers: an item's kind comes from its `type`,
# and every error names where it is (`input[2]: content[0]: unknown content type: x`).

_ITEM_PEEK = 'struct { Type string "json:\\"type\\""; Role string "json:\\"role\\"" }'
_CONTENT_PEEK = 'struct { Type string "json:\\"type\\"" }'
_RAW_LIST = "[]json.RawMessage"

_ITEMS: dict[str, tuple[type[BaseModel], str]] = {
    "function_call": (r.FunctionCallItem, "ResponsesFunctionCall"),
    "reasoning": (r.ReasoningItem, "ResponsesReasoningInput"),
    "web_search_call": (r.WebSearchCallItem, "ResponsesWebSearchCall"),
}
_PARTS: dict[str, tuple[type[BaseModel], str]] = {
    "input_text": (r.InputText, "ResponsesTextContent"),
    "output_text": (r.InputText, "ResponsesOutputTextContent"),
    "input_image": (r.InputImage, "ResponsesImageContent"),
    "input_file": (r.InputFile, "ResponsesFileContent"),
}


def parse_input(value: Any) -> str | list[r.InputItem]:
    """`input` as its text, or as its items; Ollama's wording for what cannot be read."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise InvalidRequest(f"input must be a string or array: {_cannot(value, _RAW_LIST)}")
    return [_item(raw, f"input[{i}]: ") for i, raw in enumerate(value)]


def _item(raw: Any, where: str) -> r.InputItem:
    kind = _peek(raw, where, _ITEM_PEEK)
    if raw is None:  # Go reads `null` as an item with neither type nor role
        raise InvalidRequest(f"{where}input item missing required 'type' field")
    role = raw.get("role")
    if role is not None and not isinstance(role, str):
        raise InvalidRequest(f"{where}{_cannot_field(role, '', 'role', 'string')}")
    if not kind and role:
        kind = "message"
    if kind == "message":
        return _message(raw, where)
    if kind == "function_call_output":
        return _function_call_output(raw, where)
    if kind in _ITEMS:
        model, go_name = _ITEMS[kind]
        return _decode(model, raw, where, go_name)  # type: ignore[return-value]
    if not kind:
        raise InvalidRequest(f"{where}input item missing required 'type' field")
    raise InvalidRequest(f"{where}unknown input item type: {json.dumps(kind)}")


def _message(raw: dict[str, Any], where: str) -> r.InputMessage:
    header = {k: v for k, v in raw.items() if k in ("type", "role")}
    message = _decode(r.InputMessage, header, where, "")
    content = raw.get("content")
    if content is None:
        return message
    if isinstance(content, str):
        message.content = [r.InputText(type="input_text", text=content)]
        return message
    message.content = _parts(content, where, "content")
    return message


def _function_call_output(raw: dict[str, Any], where: str) -> r.FunctionCallOutputItem:
    header = {k: v for k, v in raw.items() if k in ("type", "call_id")}
    item = _decode(r.FunctionCallOutputItem, header, where, "")
    output = raw.get("output")
    if output is None or isinstance(output, str):
        item.output = output or ""
        return item
    parts = _parts(output, where, "output")
    item.output_parts = parts
    item.output = "".join(p.text or "" for p in parts if isinstance(p, r.InputText))
    return item


def _parts(value: Any, where: str, field: str) -> list[r.ContentPart]:
    if not isinstance(value, list):
        raise InvalidRequest(
            f"{where}{field} must be a string or array: {_cannot(value, _RAW_LIST)}"
        )
    parts: list[r.ContentPart] = []
    for i, raw in enumerate(value):
        at = f"{where}{field}[{i}]: "
        kind = _peek(raw, at, _CONTENT_PEEK)
        if kind not in _PARTS:
            raise InvalidRequest(f"{at}unknown content type: {kind}")
        model, go_name = _PARTS[kind]
        parts.append(_decode(model, raw, at, go_name))  # type: ignore[arg-type]
    return parts


def _peek(raw: Any, where: str, go_type: str) -> str:
    """An item's `type`, as Ollama reads it before anything else."""
    if not isinstance(raw, dict):
        if raw is None:
            return ""
        raise InvalidRequest(f"{where}{_cannot(raw, go_type)}")
    kind = raw.get("type")
    if kind is None:
        return ""
    if not isinstance(kind, str):
        raise InvalidRequest(f"{where}{_cannot_field(kind, '', 'type', 'string')}")
    return kind


def _decode(model: type[M], raw: dict[str, Any], where: str, go_name: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        expected = _EXPECTED.get(first["type"], "value")
        raise InvalidRequest(
            f"{where}{_cannot_field(first.get('input'), go_name, field, expected)}"
        ) from None


_EXPECTED = {
    "string_type": "string",
    "bool_type": "bool",
    "int_type": "int",
    "int_from_float": "int",
    "float_type": "float64",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}


def _kind(value: Any) -> str:
    """The JSON kind Go's decoder names in its errors."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _cannot(value: Any, go_type: str) -> str:
    return f"json: cannot unmarshal {_kind(value)} into Go value of type {go_type}"


def _cannot_field(value: Any, struct: str, field: str, go_type: str) -> str:
    return (
        f"json: cannot unmarshal {_kind(value)} into Go struct field {struct}.{field} "
        f"of type {go_type}"
    )


# --- responses --------------------------------------------------------------------------------


def new_response_id() -> str:
    return f"resp_{random.randrange(999999)}"


def new_message_id() -> str:
    return f"msg_{random.randrange(999999)}"


def to_response(
    chat: ChatResponse, req: r.ResponsesRequest, response_id: str, message_id: str
) -> r.Response:
    """The Response object of a whole (non-streamed) reply (Ollama's ToResponse): its
    reasoning, then its function calls or else its message."""
    output: list[r.OutputItem] = []
    thinking = chat.message.thinking or ""
    if thinking:
        output.append(_reasoning_item(f"rs_{response_id}", thinking))
    calls = to_tool_calls(chat.message.tool_calls)
    if calls:
        for i, call in enumerate(calls):
            output.append(
                _function_call_item(
                    f"fc_{response_id}_{i}",
                    call.id,
                    call.function.name,
                    call.function.arguments,
                    "completed",
                )
            )
    else:
        output.append(_message_item(message_id, chat.message.content, "completed"))
    response = _response(req, response_id, unix(chat.created_at), "completed", output)
    _finish(response, chat)
    return response


def _finish(response: r.Response, chat: ChatResponse) -> None:
    """A finished response's status (`incomplete` when cut short), usage and completion time."""
    if chat.done_reason == "length":
        response.status = "incomplete"
        response.incomplete_details = r.IncompleteDetails(reason="max_output_tokens")
    else:
        response.status = "completed"
    prompt, completion = chat.prompt_eval_count or 0, chat.eval_count or 0
    response.usage = r.ResponsesUsage(
        input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
    )
    response.completed_at = int(time.time())


def _response(
    req: r.ResponsesRequest,
    response_id: str,
    created_at: int,
    status: str,
    output: list[r.OutputItem],
) -> r.Response:
    """A Response object echoing the request's settings, as Ollama fills it."""
    reasoning = None
    if req.reasoning is not None and (req.reasoning.effort or req.reasoning.summary):
        reasoning = r.ReasoningConfig(
            effort=req.reasoning.effort or None, summary=req.reasoning.summary or None
        )
    text = r.TextConfig()
    if req.text is not None and req.text.format is not None:
        f = req.text.format
        text = r.TextConfig(
            format=r.TextFormatEcho(
                type=f.type or "", name=f.name or None, schema=f.schema_, strict=f.strict
            )
        )
    return r.Response(
        id=response_id,
        created_at=created_at,
        status=status,
        model=req.model or "",
        instructions=req.instructions or None,
        output=output,
        tools=[_echo(tool) for tool in req.tools or ()],
        truncation="disabled" if req.truncation is None else req.truncation,
        text=text,
        top_p=1.0 if req.top_p is None else req.top_p,
        temperature=1.0 if req.temperature is None else req.temperature,
        reasoning=reasoning,
        max_output_tokens=req.max_output_tokens,
        background=bool(req.background),
    )


def _echo(tool: r.ResponsesTool) -> r.ToolEcho:
    return r.ToolEcho(
        type=tool.type or "",
        name=tool.name or "",
        description=tool.description,
        strict=tool.strict,
        parameters=tool.parameters,
        tools=[_echo(t) for t in tool.tools] if tool.tools else None,
    )


def _reasoning_item(id_: str, thinking: str) -> r.OutputItem:
    # Ollama sends the thinking twice: as the summary, and as `encrypted_content` (plain text),
    # which a client replays in its next request.
    return r.OutputItem(
        id=id_,
        type="reasoning",
        summary=[r.ReasoningSummary(text=thinking)],
        encrypted_content=thinking,
    )


def _message_item(id_: str, text: str, status: str) -> r.OutputItem:
    return r.OutputItem(
        id=id_, type="message", status=status, role="assistant", content=[r.OutputText(text=text)]
    )


def _function_call_item(
    id_: str, call_id: str, name: str, arguments: str, status: str
) -> r.OutputItem:
    return r.OutputItem(
        id=id_, type="function_call", status=status, call_id=call_id, name=name, arguments=arguments
    )


# --- streams ----------------------------------------------------------------------------------


class ResponsesStream:
    """Chat chunks into the Responses stream's events (Ollama's ResponsesStreamConverter).

    The first chunk opens the response (`response.created`, `response.in_progress`); thinking
    is a `reasoning` item (`response.reasoning_summary_text.delta` …), text a `message` item
    (`response.output_item.added`, `response.content_part.added`, `response.output_text.delta`
    …), each tool call a `function_call` item with its arguments in one delta; the last chunk
    closes what is open and ends the stream: `response.completed` (or `response.incomplete`).
    Every event carries the next `sequence_number`; text after a tool call is dropped.
    """

    def __init__(self, req: r.ResponsesRequest, response_id: str, message_id: str) -> None:
        self.req = req
        self.response_id = response_id
        self.message_id = message_id
        self.created_at: int | None = None
        self.sequence = 0
        self.output_index = 0
        self.done: list[r.OutputItem] = []  # finished items, in output order
        self.tool_calls_sent = False
        self.text: str | None = None  # the open message's text
        self.thinking: str | None = None  # the open reasoning item's text
        self.reasoning_id = ""

    def process(self, chunk: ChatResponse) -> list[r.ResponseStreamEvent]:
        events: list[r.ResponseStreamEvent] = []
        if self.created_at is None:
            self.created_at = unix(chunk.created_at)
            events.append(self._lifecycle("response.created", "in_progress"))
            events.append(self._lifecycle("response.in_progress", "in_progress"))
        m = chunk.message
        if m.thinking:
            events += self._thinking(m.thinking)
        if m.tool_calls:
            events += self._finish_reasoning()
            events += self._finish_message()
            events += self._tool_calls(m.tool_calls)
            self.tool_calls_sent = True
        elif not self.tool_calls_sent and m.content:
            events += self._text(m.content)
        if chunk.done:
            events += self._finish_reasoning()
            events += self._finish_message()
            response = self._lifecycle_response("completed", self._output())
            _finish(response, chunk)
            events.append(self._event(f"response.{response.status}", response=response))
        return events

    def failed(self, message: str) -> list[r.ResponseStreamEvent]:
        """The stream's end when the reply fails after it began: `response.failed`, its error
        coded `server_error` (OpenAI's code for a failure on the server's side)."""
        events: list[r.ResponseStreamEvent] = []
        if self.created_at is None:
            self.created_at = int(time.time())
            events.append(self._lifecycle("response.created", "in_progress"))
            events.append(self._lifecycle("response.in_progress", "in_progress"))
        response = self._lifecycle_response("failed", self._output())
        response.error = r.ResponsesError(code="server_error", message=message)
        events.append(self._event("response.failed", response=response))
        return events

    # --- pieces ---

    def _event(self, type_: str, **fields: Any) -> r.ResponseStreamEvent:
        event = r.ResponseStreamEvent(type=type_, sequence_number=self.sequence, **fields)
        self.sequence += 1
        return event

    def _lifecycle_response(self, status: str, output: list[r.OutputItem]) -> r.Response:
        created = self.created_at if self.created_at is not None else int(time.time())
        return _response(self.req, self.response_id, created, status, output)

    def _lifecycle(self, type_: str, status: str) -> r.ResponseStreamEvent:
        return self._event(type_, response=self._lifecycle_response(status, []))

    def _output(self) -> list[r.OutputItem]:
        output = list(self.done)
        if self.text is not None:  # a message cut off by a failure
            output.append(_message_item(self.message_id, self.text, "incomplete"))
        return output

    def _thinking(self, thinking: str) -> list[r.ResponseStreamEvent]:
        events = []
        if self.thinking is None:
            self.thinking = ""
            self.reasoning_id = f"rs_{random.randrange(999999)}"
            item = r.OutputItem(id=self.reasoning_id, type="reasoning", summary=[])
            events.append(
                self._event("response.output_item.added", output_index=self.output_index, item=item)
            )
        self.thinking += thinking
        events.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=self.reasoning_id,
                output_index=self.output_index,
                summary_index=0,
                delta=thinking,
            )
        )
        return events

    def _finish_reasoning(self) -> list[r.ResponseStreamEvent]:
        if self.thinking is None:
            return []
        item = _reasoning_item(self.reasoning_id, self.thinking)
        index = self.output_index
        events = [
            self._event(
                "response.reasoning_summary_text.done",
                item_id=self.reasoning_id,
                output_index=index,
                summary_index=0,
                text=self.thinking,
            ),
            self._event("response.output_item.done", output_index=index, item=item),
        ]
        self.done.append(item)
        self.thinking = None
        self.output_index += 1
        return events

    def _text(self, content: str) -> list[r.ResponseStreamEvent]:
        events = self._finish_reasoning()
        if self.text is None:
            self.text = ""
            item = r.OutputItem(
                id=self.message_id,
                type="message",
                status="in_progress",
                role="assistant",
                content=[],
            )
            events.append(
                self._event("response.output_item.added", output_index=self.output_index, item=item)
            )
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=self.message_id,
                    output_index=self.output_index,
                    content_index=0,
                    part=r.OutputText(text=""),
                )
            )
        self.text += content
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self.message_id,
                output_index=self.output_index,
                content_index=0,
                delta=content,
                logprobs=[],
            )
        )
        return events

    def _finish_message(self) -> list[r.ResponseStreamEvent]:
        if self.text is None:
            return []
        text, index = self.text, self.output_index
        item = _message_item(self.message_id, text, "completed")
        common: dict[str, Any] = {"item_id": self.message_id, "output_index": index}
        events = [
            self._event(
                "response.output_text.done", **common, content_index=0, text=text, logprobs=[]
            ),
            self._event(
                "response.content_part.done",
                **common,
                content_index=0,
                part=r.OutputText(text=text),
            ),
            self._event("response.output_item.done", output_index=index, item=item),
        ]
        self.done.append(item)
        self.text = None
        self.output_index += 1
        return events

    def _tool_calls(self, calls: list[ChatToolCall]) -> list[r.ResponseStreamEvent]:
        events = []
        for i, call in enumerate(to_tool_calls(calls) or ()):
            index = self.output_index
            id_ = f"fc_{random.randrange(999999)}_{i}"
            name, arguments = call.function.name, call.function.arguments
            added = _function_call_item(id_, call.id, name, "", "in_progress")
            item = _function_call_item(id_, call.id, name, arguments, "completed")
            common: dict[str, Any] = {"item_id": id_, "output_index": index}
            events += [
                self._event("response.output_item.added", output_index=index, item=added),
                self._event("response.function_call_arguments.delta", **common, delta=arguments),
                self._event("response.function_call_arguments.done", **common, arguments=arguments),
                self._event("response.output_item.done", output_index=index, item=item),
            ]
            self.done.append(item)
            self.output_index += 1
        return events
