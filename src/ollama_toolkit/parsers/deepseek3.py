"""DeepSeek-V3.1's output (`deepseek3`): thinking up to `</think>` (when `think` is on and no
answer is being continued), then content, with tool calls in DeepSeek's tags
(`<｜tool▁call▁begin｜>name<｜tool▁sep｜>{json}<｜tool▁call▁end｜>`); a tool output the model
echoes is content. A tag split across pieces of output is held back until it is whole (Ollama
lets one split in content through as text)."""

from __future__ import annotations

import json
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import TaggedParser, continues_answer

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


class DeepSeek3Parser(TaggedParser):
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

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        self.state = "thinking" if think and not continues_answer(last_message) else "content"

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        buf = self._unstripped()
        if not buf:
            return False
        if self.state == "thinking":
            return self._think_until(THINK_CLOSE, thinking)
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
            self._pass_until((CALLS_BEGIN, OUTPUT_BEGIN), content)
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
