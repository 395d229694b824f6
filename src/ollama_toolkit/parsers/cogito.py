"""Cogito's output (`cogito`): thinking up to `</think>` (when `think` is on, no tools are
given and no answer is being continued), then content, with tool calls in DeepSeek's tags
(`<｜tool▁calls▁begin｜>` … `function<｜tool▁sep｜>name` and a ```json block) and echoed tool
outputs skipped. A tag split across pieces of output is held back until it is whole (Ollama
lets one split in content through as text)."""

from __future__ import annotations

import json
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, overlap

THINK_CLOSE = "</think>"
CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
SEP = "<｜tool▁sep｜>"
OUTPUT_BEGIN = "<｜tool▁output▁begin｜>"
OUTPUT_END = "<｜tool▁output▁end｜>"
OUTPUTS_BEGIN = "<｜tool▁outputs▁begin｜>"
OUTPUTS_END = "<｜tool▁outputs▁end｜>"
JSON_OPEN = "\n```json\n"


def parse_call(text: str) -> ToolCall | None:
    """`function<｜tool▁sep｜>name\\n```json\\n{…}\\n```` as a call; None when malformed."""
    _, sep, name_and_args = text.partition(SEP)
    at = name_and_args.find(JSON_OPEN)
    if not sep or at == -1:
        return None
    body = name_and_args[at + len(JSON_OPEN) :]
    end = body.find("\n```")
    if end == -1:
        return None
    try:
        arguments = json.loads(body[:end])
    except ValueError:
        return None
    if not isinstance(arguments, dict):
        return None
    name = name_and_args[:at].strip()
    return ToolCall(function=ToolCallFunction(name=name, arguments=arguments))


class CogitoParser(BuiltinParser):
    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (
        THINK_CLOSE,
        CALLS_BEGIN,
        CALLS_END,
        CALL_BEGIN,
        CALL_END,
        SEP,
        OUTPUT_BEGIN,
        OUTPUT_END,
        OUTPUTS_BEGIN,
        OUTPUTS_END,
    )

    def __init__(self) -> None:
        self.buffer = ""
        self.index = 0
        self.state = "content"  # "thinking", "content", "calls", "outputs"
        # Whitespace after a closing tag is dropped, however the output is split.
        self.strip = False

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.index = 0
        prefill = last_message is not None and last_message.get("role") == "assistant"
        answering = prefill and bool((last_message or {}).get("content"))
        self.state = "thinking" if think and not answering and not tools else "content"
        return tools

    def add(self, text: str) -> Parsed:
        self.buffer += text
        content: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        while self._step(content, thinking, calls):
            pass
        for call in calls:
            call.function.index = self.index
            self.index += 1
        return "".join(content), "".join(thinking), calls

    def finish(self) -> Parsed:
        """What content held back is content after all (held thinking is dropped, as
        Ollama drops it)."""
        held, self.buffer = self.buffer, ""
        if self.state == "content" and not self.strip:
            return held, "", []
        return "", "", []

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        if self.strip:
            self.buffer = self.buffer.lstrip()
            self.strip = not self.buffer
        buf = self.buffer
        if not buf:
            return False
        if self.state == "thinking":
            at = buf.find(THINK_CLOSE)
            if at != -1:
                before = buf[:at].rstrip()
                self.buffer = buf[at + len(THINK_CLOSE) :]
                self.state, self.strip = "content", True
                if before:
                    thinking.append(before)
                return True
            partial = overlap(buf, THINK_CLOSE)
            keep = len(buf) - partial
            keep -= len(buf[:keep]) - len(buf[:keep].rstrip())
            self.buffer = buf[keep:]
            if keep:
                thinking.append(buf[:keep])
            return False
        if self.state == "content":
            found = [(buf.find(tag), tag) for tag in (CALLS_BEGIN, OUTPUTS_BEGIN) if tag in buf]
            if found:
                at, tag = min(found)
                before = buf[:at].rstrip()
                self.buffer = buf[at + len(tag) :]
                self.state = "calls" if tag == CALLS_BEGIN else "outputs"
                if before:
                    content.append(before)
                return True
            # Held back: the start of a tag, and whitespace that a tag would drop.
            keep = len(buf) - max(overlap(buf, CALLS_BEGIN), overlap(buf, OUTPUTS_BEGIN))
            keep -= len(buf[:keep]) - len(buf[:keep].rstrip())
            self.buffer = buf[keep:]
            if keep:
                content.append(buf[:keep])
            return False
        begin, end, close = (
            (CALL_BEGIN, CALL_END, CALLS_END)
            if self.state == "calls"
            else (OUTPUT_BEGIN, OUTPUT_END, OUTPUTS_END)
        )
        # An item after the block's end belongs to a later block.
        at, after = buf.find(begin), buf.find(close)
        if at != -1 and (after == -1 or at < after):
            start = at + len(begin)
            stop = buf.find(end, start)
            if stop != -1:
                call = parse_call(buf[start:stop]) if self.state == "calls" else None
                if call is not None or self.state == "outputs":
                    if call is not None:
                        calls.append(call)
                    self.buffer, self.strip = buf[stop + len(end) :], True
                    return True
        at = buf.find(close)
        if at != -1:
            self.buffer = buf[at + len(close) :]
            self.state, self.strip = "content", True
            return True
        return False
