"""Qwen3-VL's output (`qwen3-vl-instruct`, `qwen3-vl-thinking`; Ollama's
`model/parsers/qwen3vl.go`): for the thinking model, thinking up to `</think>` (the prompt has
opened it, and `think` does not change that; a `<think>` the model writes is kept as
thinking), then content, and tool calls as `<tool_call>{"name": …, "arguments": {…}}</tool_call>`,
also straight from the thinking. A prefill with content continues as content.

The states are Qwen3's (`parsers/qwen3.py`); unlike Qwen3, the text of a call keeps the
whitespace at its ends (JSON skips it) and an empty name is no error."""

from __future__ import annotations

import json
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import ParserError, continues_answer
from ollama_toolkit.parsers.qwen3 import THINK_CLOSE, TOOL_CLOSE, TOOL_OPEN, Qwen3Parser


class Qwen3VLInstructParser(Qwen3Parser):
    preserved_tokens: tuple[str, ...] = (THINK_CLOSE, TOOL_OPEN, TOOL_CLOSE)
    trim_call_text = False
    skips_think_open = False

    def __init__(self, thinking_support: bool = False) -> None:
        super().__init__(thinking_support=thinking_support, default_thinking=thinking_support)

    def starts_thinking(
        self, last_message: dict[str, Any] | None, think: bool | str | None
    ) -> bool:
        return self.has_thinking_support and not continues_answer(last_message)

    def tool_call(self, raw: str) -> ToolCall:
        return parse_json_tool_call(raw)


class Qwen3VLThinkingParser(Qwen3VLInstructParser):
    def __init__(self) -> None:
        super().__init__(thinking_support=True)


def parse_json_tool_call(raw: str) -> ToolCall:
    """A call's JSON as Go reads it into Ollama's `ToolCallFunction`: `name` a string (empty
    if missing), `arguments` an object (empty if missing or null)."""
    try:
        parsed = json.loads(raw)
    except ValueError as e:
        raise ParserError(f"failed to parse JSON: {e}") from None
    if parsed is None:  # Go reads `null` into a struct as nothing at all
        parsed = {}
    if not isinstance(parsed, dict):
        raise ParserError("failed to parse JSON: a tool call is not an object")
    name = parsed.get("name")
    arguments = parsed.get("arguments")
    if name is not None and not isinstance(name, str):
        raise ParserError("failed to parse JSON: a tool call's name is not a string")
    if arguments is not None and not isinstance(arguments, dict):
        raise ParserError("failed to parse JSON: a tool call's arguments are not an object")
    return ToolCall(function=ToolCallFunction(name=name or "", arguments=arguments or {}))
