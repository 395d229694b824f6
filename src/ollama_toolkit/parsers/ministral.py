"""Ministral's output (`ministral`): content, `[THINK]` … `[/THINK]` thinking, and tool calls
written `[TOOL_CALLS]name[ARGS]{json}` (the name must be one of the request's tools).
Whitespace before a tag is dropped, so trailing whitespace is held back until what follows
shows it is content (and, as in Ollama, never sent if nothing follows)."""

from __future__ import annotations

import json
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import Parsed, ParserError, TaggedParser, continues_answer

TOOL_CALLS = "[TOOL_CALLS]"
THINK = "[THINK]"
THINK_END = "[/THINK]"
ARGS = "[ARGS]"


def json_end(text: str) -> int:
    """The index of the bracket that closes the JSON object or array `text` starts with;
    -1 while it is still open."""
    depth = 0
    in_string = escaped = False
    for i, c in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i
    return -1


class MinistralParser(TaggedParser):
    has_tool_support = True
    preserved_tokens = (TOOL_CALLS, THINK, THINK_END, ARGS)

    def __init__(self, thinking_support: bool = False) -> None:
        self.has_thinking_support = thinking_support
        self.name = ""
        super().__init__()  # state: "content", "thinking", "name", "args"

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        thinks = self.has_thinking_support and not continues_answer(last_message)
        self.state = "thinking" if thinks else "content"

    def finish(self) -> Parsed:
        """Nothing: whitespace held back at the end is never sent (Ollama's parser)."""
        return "", "", []

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        buf = self._unstripped()
        if not buf:
            return False
        if self.state == "content":
            found = [(buf.find(tag), tag) for tag in (TOOL_CALLS, THINK) if tag in buf]
            if found:
                at, tag = min(found)
                if buf[:at].rstrip():
                    content.append(buf[:at].rstrip())
                self.buffer = buf[at + len(tag) :]
                self.state = "name" if tag == TOOL_CALLS else "thinking"
                return True
            self._pass_until((TOOL_CALLS, THINK), content)
            return False
        if self.state == "thinking":
            at = buf.find(THINK_END)
            if at != -1:
                if buf[:at]:
                    thinking.append(buf[:at])
                self.buffer = buf[at + len(THINK_END) :]
                self.state, self.strip = "content", True
                return True
            self._pass_until((THINK_END,), thinking, rstrip=False)
            return False
        if self.state == "name":
            at = buf.find(ARGS)
            if at == -1:
                return False
            self.name, self.buffer, self.state = buf[:at], buf[at + len(ARGS) :], "args"
            return True
        end = json_end(buf)
        if end == -1:
            return False
        calls.append(self._call(buf[: end + 1]))
        self.buffer, self.state = buf[end + 1 :], "content"
        return True

    def _call(self, args: str) -> ToolCall:
        if not any((t.get("function") or {}).get("name") == self.name for t in self.tools):
            raise ParserError(f"tool '{self.name}' not found")
        try:
            arguments = json.loads(args)
        except ValueError as e:
            raise ParserError(str(e)) from None
        if not isinstance(arguments, dict):
            raise ParserError("tool call arguments are not an object")
        return ToolCall(function=ToolCallFunction(name=self.name, arguments=arguments))
