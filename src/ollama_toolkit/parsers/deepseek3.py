"""DeepSeek-V3.1's output (`deepseek3`): thinking up to `</think>` (when `think` is on and no
answer is being continued), then content, with tool calls in DeepSeek's tags
(`<｜tool▁call▁begin｜>name<｜tool▁sep｜>{json}<｜tool▁call▁end｜>`); a tool output the model
echoes is content. A tag split across pieces of output is held back until it is whole (Ollama
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


def parse_call(text: str) -> ToolCall | None:
    """`name<｜tool▁sep｜>{…}` as a call; None when malformed."""
    name, sep, args = text.partition(SEP)
    if not sep:
        return None
    try:
        arguments = json.loads(args.strip())
    except ValueError:
        return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(function=ToolCallFunction(name=name.strip(), arguments=arguments))


class DeepSeek3Parser(BuiltinParser):
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
    )

    def __init__(self) -> None:
        self.buffer = ""
        self.index = 0
        self.state = "content"  # "thinking", "content", "calls", "output"
        self.strip = False  # whitespace after a closing tag is dropped

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.index = 0
        prefill = last_message is not None and last_message.get("role") == "assistant"
        answering = prefill and bool((last_message or {}).get("content"))
        self.state = "thinking" if think and not answering else "content"
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
            keep = len(buf) - overlap(buf, THINK_CLOSE)
            keep -= len(buf[:keep]) - len(buf[:keep].rstrip())
            self.buffer = buf[keep:]
            if keep:
                thinking.append(buf[:keep])
            return False
        if self.state == "content":
            calls_at, output_at = buf.find(CALLS_BEGIN), buf.find(OUTPUT_BEGIN)
            if calls_at != -1:
                before = buf[:calls_at].rstrip()
                self.buffer = buf[calls_at + len(CALLS_BEGIN) :]
                self.state = "calls"
                if before:
                    content.append(before)
                return True
            if output_at != -1:
                if buf[:output_at]:
                    content.append(buf[:output_at])
                self.buffer = buf[output_at + len(OUTPUT_BEGIN) :]
                self.state = "output"
                return True
            # Held back: the start of a tag, and whitespace that a tag would drop.
            keep = len(buf) - max(overlap(buf, CALLS_BEGIN), overlap(buf, OUTPUT_BEGIN))
            keep -= len(buf[:keep]) - len(buf[:keep].rstrip())
            self.buffer = buf[keep:]
            if keep:
                content.append(buf[:keep])
            return False
        if self.state == "output":
            at = buf.find(OUTPUT_END)
            if at == -1:
                return False
            if buf[:at]:
                content.append(buf[:at])
            self.buffer = buf[at + len(OUTPUT_END) :]
            self.state = "content"
            return True
        # A call after the block's end belongs to a later block (Ollama reads it here, and
        # drops the content between).
        at, end = buf.find(CALL_BEGIN), buf.find(CALLS_END)
        if at != -1 and (end == -1 or at < end):
            start = at + len(CALL_BEGIN)
            stop = buf.find(CALL_END, start)
            if stop != -1:
                call = parse_call(buf[start:stop])
                if call is not None:
                    calls.append(call)
                    self.buffer, self.strip = buf[stop + len(CALL_END) :], True
                    return True
        at = buf.find(CALLS_END)
        if at != -1:
            self.buffer = buf[at + len(CALLS_END) :]
            self.state, self.strip = "content", True
            return True
        return False
