"""GLM-4.7's output (`glm-4.7`): thinking up to `</think>` (the prompt opened it, unless
`think` is false: then a `<think>` the model writes opens it), then content, and tool calls as
`<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value>…</tool_call>`, each value typed by
the request's tool schema as Qwen3-Coder's are. A call the output ends inside is read if it
is complete enough: a declared tool with its required arguments."""

from __future__ import annotations

import re
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import Parsed, ParserError, overlap
from ollama_toolkit.parsers.qwen3 import TOOL_CLOSE, Qwen3Parser, Qwen3ThinkingParser
from ollama_toolkit.parsers.qwen3coder import parse_value, property_types, tool_properties

_KEY = re.compile(r"<arg_key>(.*?)</arg_key>", re.DOTALL)
_VALUE = re.compile(r"<arg_value>(.*?)</arg_value>", re.DOTALL)


class GLM47Parser(Qwen3ThinkingParser):
    preserved_tokens: tuple[str, ...] = (
        *Qwen3Parser.preserved_tokens,
        "<arg_key>",
        "</arg_key>",
        "<arg_value>",
        "</arg_value>",
    )

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        super().init(tools, last_message, think)
        self.maybe_open = False
        if think is not None and not think:
            self.state = "looking"
        return tools

    def tool_call(self, raw: str) -> ToolCall:
        return parse_glm_call(raw, self.tools)

    def finish(self) -> Parsed:
        """A call the output ended inside, when it is complete enough to run."""
        if self.state not in ("tool", "eat:tool"):
            return "", "", []
        raw = self.buffer
        held = overlap(raw, TOOL_CLOSE)
        if held:
            raw = raw[: len(raw) - held].rstrip()
        call = parse_glm_call(raw, self.tools)
        declared = next(
            (t for t in self.tools if (t.get("function") or {}).get("name") == call.function.name),
            None,
        )
        if declared is None:
            raise ParserError(
                f"incomplete GLM tool call: tool {call.function.name!r} is not declared"
            )
        required = ((declared.get("function") or {}).get("parameters") or {}).get("required") or []
        missing = [r for r in required if r not in call.function.arguments]
        if missing:
            raise ParserError(
                f"incomplete GLM tool call: required argument {missing[0]!r} is missing"
            )
        self.buffer, self.state = "", "content"
        call.function.index = self.index
        self.index += 1
        return "", "", [call]


def parse_glm_call(raw: str, tools: list[dict[str, Any]]) -> ToolCall:
    """`name<arg_key>k</arg_key><arg_value>v</arg_value>…` as a call."""
    keys = _KEY.findall(raw)
    values = _VALUE.findall(raw)
    name = _VALUE.sub("", _KEY.sub("", raw)).strip()
    if not name:
        raise ParserError("empty function name")
    if len(keys) != len(values):
        raise ParserError(
            f"mismatched arg_key and arg_value counts: {len(keys)} keys, {len(values)} values"
        )
    properties = tool_properties(tools, name)
    arguments: dict[str, Any] = {}
    for key, value in zip(keys, values, strict=True):
        key = key.strip()
        arguments[key] = parse_value(value, property_types(properties.get(key)))
    return ToolCall(function=ToolCallFunction(name=name, arguments=arguments))
