"""FunctionGemma's output (`functiongemma`): content, and calls written
`<start_function_call>call:name{key:value,…}<end_function_call>` in its notation (strings
between `<escape>` marks, numbers, booleans, `[…]` lists and `{…}` objects)."""

from __future__ import annotations

import re
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import CallBlockParser, Parsed

CALL_OPEN = "<start_function_call>"
CALL_CLOSE = "<end_function_call>"
ESCAPE = "<escape>"

_CALL = re.compile(r"call:([^{]+)\{(.*)\}", re.DOTALL)
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT_PREFIX = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class FunctionGemmaParser(CallBlockParser):
    has_tool_support = True
    preserved_tokens = (CALL_OPEN, CALL_CLOSE)
    open_tag, close_tag = CALL_OPEN, CALL_CLOSE

    def finish(self) -> Parsed:
        """Nothing: what is held back at the end (a tag's start, an unended call) is dropped."""
        return "", "", []

    def _block_calls(self, block: str) -> list[ToolCall]:
        # Text up to a next call is content (Ollama drops it when that call has arrived
        # already: it depends on how the output is split).
        call = parse_call(block)
        return [call] if call is not None else []


def parse_call(text: str) -> ToolCall | None:
    match = _CALL.search(text)
    if match is None:
        return None
    arguments: dict[str, Any] = {}
    for part in split_arguments(match.group(2)):
        key, colon, value = part.partition(":")
        if colon:
            arguments[key] = parse_value(value)
    return ToolCall(function=ToolCallFunction(name=match.group(1), arguments=arguments))


def split_arguments(text: str) -> list[str]:
    """`text` split at the commas outside `<escape>` marks and brackets."""
    parts: list[str] = []
    current = ""
    depth = 0
    escaped = False
    i = 0
    while i < len(text):
        if text.startswith(ESCAPE, i):
            escaped = not escaped
            current += ESCAPE
            i += len(ESCAPE)
            continue
        c = text[i]
        i += 1
        if not escaped:
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
            elif c == "," and depth == 0:
                if current:
                    parts.append(current)
                    current = ""
                continue
        current += c
    if current:
        parts.append(current)
    return parts


def parse_value(text: str) -> Any:
    if text.startswith(ESCAPE) and text.endswith(ESCAPE) and len(text) >= 2 * len(ESCAPE):
        return text[len(ESCAPE) : len(text) - len(ESCAPE)]
    if text in ("true", "false"):
        return text == "true"
    if _INT.fullmatch(text) and str(int(text)) == text and -(1 << 63) <= int(text) < 1 << 63:
        return int(text)
    number = _FLOAT_PREFIX.match(text)
    if number is not None:
        return float(number.group())  # as Go's Sscanf, a number that text starts with
    if text.startswith("[") and text.endswith("]"):
        return [parse_value(p) for p in split_arguments(text[1:-1])]
    if text.startswith("{") and text.endswith("}"):
        out: dict[str, Any] = {}
        for part in split_arguments(text[1:-1]):
            key, colon, value = part.partition(":")
            if colon:
                out[key] = parse_value(value)
        return out
    return text
