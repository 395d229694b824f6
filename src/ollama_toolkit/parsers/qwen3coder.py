"""Qwen3-Coder's output (`qwen3-coder`): content, and tool calls written as XML-like blocks,
`<tool_call><function=name><parameter=key>value</parameter>…</function></tool_call>`, each
value typed by the request's tool schema (integer, number, boolean, array, object, string,
null). Whitespace around a `<tool_call>` block is dropped, so trailing whitespace is held back
until what follows shows it is content (and, as in Ollama, never sent if nothing follows)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, ParserError, held_back

TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"

_FUNCTION = re.compile(r"<function=([^>]+)>")
_PARAMETER = re.compile(r"<parameter=([^>]+)>(.*?)</parameter>", re.DOTALL)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FLOAT_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"}
_INT64 = (-(1 << 63), (1 << 63) - 1)


class Qwen3CoderParser(BuiltinParser):
    has_tool_support = True
    preserved_tokens = (TOOL_OPEN, TOOL_CLOSE)

    def __init__(self) -> None:
        self.buffer = ""
        self.in_call = False
        self.tools: list[dict[str, Any]] = []
        self.index = 0
        # Whitespace after a call is dropped, however the output is split.
        self.after_call = False

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.tools = list(tools or ())
        self.index = 0
        return tools

    def events(self, text: str) -> list[tuple[str, str]]:
        """("content", text) and ("tool_call", raw) events of the next piece of output."""
        self.buffer += text
        events: list[tuple[str, str]] = []
        while True:
            buf = self.buffer
            if self.in_call:
                at = buf.find(TOOL_CLOSE)
                if at == -1:
                    return events
                events.append(("tool_call", buf[:at]))
                self.buffer = buf[at + len(TOOL_CLOSE) :]
                self.in_call = False
                self.after_call = True
                continue
            if self.after_call:
                buf = self.buffer = buf.lstrip()
                if not buf:
                    return events
                self.after_call = False
            at = buf.find(TOOL_OPEN)
            if at != -1:
                before = buf[:at].rstrip()
                if before:
                    events.append(("content", before))
                self.buffer = buf[at + len(TOOL_OPEN) :]
                self.in_call = True
                continue
            keep = len(buf) - held_back(buf, TOOL_OPEN)
            if keep:
                events.append(("content", buf[:keep]))
            self.buffer = buf[keep:]
            return events

    def add(self, text: str) -> Parsed:
        content: list[str] = []
        calls: list[ToolCall] = []
        for kind, value in self.events(text):
            if kind == "content":
                content.append(value)
            else:
                call = parse_tool_call(value, self.tools)
                call.function.index = self.index
                self.index += 1
                calls.append(call)
        return "".join(content), "", calls


def parse_tool_call(raw: str, tools: list[dict[str, Any]]) -> ToolCall:
    """One `<function=…>` block as a call, its values typed by the matching tool's schema."""
    function = _FUNCTION.search(raw)
    if function is None:
        raise ParserError(f"qwen tool call has no function: {raw!r}")
    name = function.group(1)
    properties = tool_properties(tools, name)
    arguments: dict[str, Any] = {}
    for parameter in _PARAMETER.finditer(raw, function.end()):
        key = parameter.group(1)
        arguments[key] = parse_value(parameter.group(2), property_types(properties.get(key)))
    return ToolCall(function=ToolCallFunction(name=name, arguments=arguments))


def tool_properties(tools: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The schema properties of the first tool called `name` ({} for none)."""
    for tool in tools:
        if (tool.get("function") or {}).get("name") == name:
            return ((tool["function"].get("parameters") or {}).get("properties")) or {}
    return {}


def property_types(prop: Any) -> list[str]:
    if not isinstance(prop, dict):
        return []
    if prop.get("anyOf"):
        return [t for p in prop["anyOf"] if isinstance(p, dict) for t in property_types(p)]
    kind = prop.get("type")
    return [kind] if isinstance(kind, str) else [str(k) for k in kind or ()]


def parse_value(raw: str, types: list[str], trim_newlines: bool = True) -> Any:
    """A parameter's text (with `trim_newlines`, one newline trimmed at each end) as its
    schema's type: null, then boolean, integer, number, array, object, string in that
    precedence, whatever the order of the types; text that is none of them stays text (a lone
    boolean type reads false)."""
    if trim_newlines:
        raw = raw.removeprefix("\n").removesuffix("\n")
    if raw.lower() == "null":
        return None
    if not types:
        return raw
    only = len(types) == 1
    if "boolean" in types:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if only:
            return False
    if "integer" in types:
        if _INTEGER.fullmatch(raw) and _INT64[0] <= int(raw) <= _INT64[1]:
            return int(raw)
        if only:
            return raw
    if "number" in types:
        if _FLOAT.fullmatch(raw) or raw.lower() in _FLOAT_WORDS:
            f = float(raw)
            if math.isfinite(f) and f == math.trunc(f):
                return int(f)
            return f
        if only:
            return raw
    for kind, shape in (("array", list), ("object", dict)):
        if kind in types:
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            if isinstance(value, shape):
                return value
            if only:
                return raw
    return raw
