"""DeepSeek-V3.1's output (`deepseek3`): thinking up to `</think>` (when `think` is on and no
answer is being continued), then content, with tool calls in DeepSeek's tags
(`<｜tool▁call▁begin｜>name<｜tool▁sep｜>{json}<｜tool▁call▁end｜>`); a tool output the model
echoes is content. A tag split across pieces of output is held back until it is whole (Ollama
lets one split in content through as text)."""

from __future__ import annotations

import json
from collections.abc import Callable
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


def step_block(
    parser: TaggedParser,
    item: tuple[str, str],
    close: str,
    read: Callable[[str], ToolCall | None] | None,
    calls: list[ToolCall],
) -> bool:
    """In a block of `item` (its begin and end tags) up to `close`: take the next whole item,
    a call when `read` reads one (an item it cannot read is left, up to `close`), or, without
    `read`, whatever it holds, dropped; at `close`, back to content. An item after the block's
    end belongs to a later block."""
    buf = parser.buffer
    begin, end = item
    at, after = buf.find(begin), buf.find(close)
    if at != -1 and (after == -1 or at < after):
        start = at + len(begin)
        stop = buf.find(end, start)
        if stop != -1:
            call = read(buf[start:stop]) if read is not None else None
            if call is not None or read is None:
                if call is not None:
                    calls.append(call)
                parser.buffer, parser.strip = buf[stop + len(end) :], True
                return True
    if after != -1:
        parser.buffer = buf[after + len(close) :]
        parser.state, parser.strip = "content", True
        return True
    return False


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
        # (Ollama reads a call after the block's end here, and drops the content between.)
        return step_block(self, (CALL_BEGIN, CALL_END), CALLS_END, parse_call, calls)
