"""Qwen3's output (`qwen3`, `qwen3-thinking`): thinking up to `</think>` (the prompt has
opened it; a `<think>` the model writes again is skipped), then content, and tool calls as
`<tool_call>{"name": …, "arguments": {…}}</tool_call>`, also straight from the thinking.
Whitespace around the tags is dropped, so trailing whitespace is held back until what follows
shows it is text (and, as in Ollama, never sent if nothing follows). Qwen3.5's and Qwen3-VL's
parsers (`parsers/qwen35.py`, `parsers/qwen3vl.py`) are these states with their own calls."""

from __future__ import annotations

import json
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, ParserError, held_back

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"


class Qwen3Parser(BuiltinParser):
    has_tool_support = True
    preserved_tokens: tuple[str, ...] = (THINK_OPEN, THINK_CLOSE, TOOL_OPEN, TOOL_CLOSE)
    # Whether whitespace at the ends of a call's text is dropped (Qwen3-VL keeps it: its JSON
    # reader skips it anyway), and whether a `<think>` the model writes first is skipped.
    trim_call_text = True
    skips_think_open = True

    def __init__(self, thinking_support: bool = False, default_thinking: bool = False) -> None:
        self.has_thinking_support = thinking_support
        self.default_thinking = default_thinking
        self.init(None, None, None)

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.tools: list[dict[str, Any]] = list(tools or ())
        self.buffer = ""
        self.index = 0
        # "thinking", "content", "tool", "looking" (for a `<think>` that may open the output),
        # or "eat:<next>" (dropping whitespace before <next>).
        self.state = "thinking" if self.starts_thinking(last_message, think) else "content"
        self.maybe_open = self.state == "thinking" and self.skips_think_open
        return tools

    def starts_thinking(
        self, last_message: dict[str, Any] | None, think: bool | str | None
    ) -> bool:
        """Whether the output starts inside the thinking the prompt opened."""
        thinking = self.default_thinking if think is None else bool(think)
        return self.has_thinking_support and thinking

    def events(self, text: str) -> list[tuple[str, str]]:
        """("content" | "thinking", text) and ("tool_call", raw) events of the next piece of
        output."""
        self.buffer += text
        events: list[tuple[str, str]] = []
        while True:
            kind, value, more = self._step()
            if kind:
                events.append((kind, value))
            if not more:
                return events

    def add(self, text: str) -> Parsed:
        content: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        for kind, value in self.events(text):
            if kind == "content":
                content.append(value)
            elif kind == "thinking":
                thinking.append(value)
            else:
                call = self.tool_call(value)
                call.function.index = self.index
                self.index += 1
                calls.append(call)
        return "".join(content), "".join(thinking), calls

    def tool_call(self, raw: str) -> ToolCall:
        """The call written between the tool tags."""
        return parse_tool_call(raw)

    def _split(self, tag: str, at: int, trim_after: bool = True) -> tuple[str, str]:
        before, after = self.buffer[:at].rstrip(), self.buffer[at + len(tag) :]
        if trim_after:
            after = after.lstrip()
        self.buffer = after
        return before, after

    def _step(self) -> tuple[str, str, bool]:
        """(event kind or "", its text, whether to go on)."""
        buf = self.buffer
        if self.state.startswith("eat:"):
            self.buffer = buf.lstrip()
            if not self.buffer:
                return "", "", False
            self.state = self.state[4:]
            return "", "", True
        if self.state == "tool":
            at = buf.find(TOOL_CLOSE)
            if at == -1:
                return "", "", False
            raw = buf[:at].rstrip() if self.trim_call_text else buf[:at]
            self.buffer = after = buf[at + len(TOOL_CLOSE) :].lstrip()
            self.state = "content" if after else "eat:content"
            return "tool_call", raw, True
        if self.state == "looking":
            trimmed = buf.lstrip()
            if trimmed.startswith(THINK_OPEN):
                self.buffer = trimmed[len(THINK_OPEN) :]
                self.state = "eat:thinking"
                return "", "", True
            if THINK_OPEN.startswith(trimmed):
                return "", "", False
            self.state = "content"
            return "", "", True
        if self.state == "thinking" and self.maybe_open:
            trimmed = buf.lstrip()
            if trimmed.startswith(THINK_OPEN):
                self.buffer = trimmed[len(THINK_OPEN) :]
                self.maybe_open = False
                self.state = "eat:thinking"
                return "", "", True
            if THINK_OPEN.startswith(trimmed):
                return "", "", False
            self.maybe_open = False
        kind = self.state
        tool = buf.find(TOOL_OPEN)
        close = buf.find(THINK_CLOSE) if kind == "thinking" else -1
        if tool != -1 and (close == -1 or tool < close):
            before, after = self._split(TOOL_OPEN, tool, trim_after=self.trim_call_text)
            self.state = "tool" if after or not self.trim_call_text else "eat:tool"
            return (kind, before, True) if before else ("", "", True)
        if close != -1:
            before, after = self._split(THINK_CLOSE, close)
            self.state = "content" if after else "eat:content"
            return (kind, before, True) if before else ("", "", True)
        tags = (THINK_CLOSE, TOOL_OPEN) if kind == "thinking" else (TOOL_OPEN,)
        keep = len(buf) - held_back(buf, *tags)
        self.buffer = buf[keep:]
        return (kind, buf[:keep], False) if keep else ("", "", False)


def parse_tool_call(raw: str) -> ToolCall:
    try:
        parsed = json.loads(raw)
    except ValueError as e:
        raise ParserError(f"failed to parse JSON: {e}") from None
    if not isinstance(parsed, dict) or not parsed.get("name"):
        raise ParserError("empty function name")
    arguments = parsed.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise ParserError("failed to parse JSON: arguments are not an object")
    return ToolCall(function=ToolCallFunction(name=str(parsed["name"]), arguments=arguments))


class Qwen3ThinkingParser(Qwen3Parser):
    def __init__(self) -> None:
        super().__init__(thinking_support=True, default_thinking=True)
