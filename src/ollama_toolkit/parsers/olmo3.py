"""OLMo 3's output (`olmo3`): content, and tool calls as Python-style call lines inside
`<function_calls>` … `</function_calls>` (`name(key="value", n=3, flag=True, xs=[1, 2])`)."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import CallBlockParser, ParserError

CALLS_OPEN = "<function_calls>"
CALLS_CLOSE = "</function_calls>"

_CALL = re.compile(r"(\w+)\((.*)\)", re.ASCII)
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class Olmo3Parser(CallBlockParser):
    has_tool_support = True
    preserved_tokens = (CALLS_OPEN, CALLS_CLOSE)
    open_tag, close_tag = CALLS_OPEN, CALLS_CLOSE

    def _block_calls(self, block: str) -> list[ToolCall]:
        # As Ollama: a block it cannot read is dropped.
        with contextlib.suppress(ParserError):
            return parse_calls(block)
        return []


def parse_calls(text: str) -> list[ToolCall]:
    """The call lines of a `<function_calls>` block."""
    calls = []
    for line in text.strip().split("\n"):
        line = line.strip()
        if not line:
            continue
        match = _CALL.fullmatch(line)
        if match is None:
            raise ParserError(f"failed to parse function call {line!r}")
        arguments: dict[str, Any] = {}
        for part in split_arguments(match.group(2).strip()):
            part = part.strip()
            if not part:
                continue
            key, eq, value = part.partition("=")
            if not eq:
                raise ParserError(f"invalid argument format: {part}")
            arguments[key.strip()] = parse_value(value)
        calls.append(ToolCall(function=ToolCallFunction(name=match.group(1), arguments=arguments)))
    return calls


def split_arguments(text: str) -> list[str]:
    """`text` split at the commas outside quotes and brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    escaped = False
    for c in text:
        if escaped:
            escaped = False
        elif quote:
            if c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    if current:
        parts.append("".join(current))
    return parts


def parse_value(text: str) -> Any:
    """A Python-style literal: a quoted string, True/False/None (or JSON's), a number, a list,
    a dict; anything else as its text."""
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return unescape(s[1:-1])
    if s in ("true", "True"):
        return True
    if s in ("false", "False"):
        return False
    if s in ("null", "None", "nil"):
        return None
    if _INT.fullmatch(s) and -(1 << 63) <= int(s) < 1 << 63:
        return int(s)
    if _FLOAT.fullmatch(s):
        return float(s)
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [parse_value(p) for p in split_arguments(inner)] if inner else []
    if s.startswith("{") and s.endswith("}"):
        out: dict[str, Any] = {}
        for part in split_arguments(s[1:-1].strip()):
            part = part.strip()
            if not part:
                continue
            key, colon, value = part.partition(":")
            if not colon:
                raise ParserError(f"invalid object entry: {part}")
            key = key.strip()
            if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
                key = key[1:-1]
            out[key] = parse_value(value)
        return out
    return s


def unescape(s: str) -> str:
    s = s.replace("\\\\", "\x00").replace('\\"', '"').replace("\\'", "'")
    s = s.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")
    return s.replace("\x00", "\\")
