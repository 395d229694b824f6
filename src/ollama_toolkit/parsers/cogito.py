"""Cogito's output (`cogito`): thinking up to `</think>` (when `think` is on, no tools are
given and no answer is being continued), then content, with tool calls in DeepSeek's tags
(`<｜tool▁calls▁begin｜>` … `function<｜tool▁sep｜>name` and a ```json block) and echoed tool
outputs skipped. A tag split across pieces of output is held back until it is whole (Ollama
lets one split in content through as text)."""

from __future__ import annotations

import json
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import TaggedParser, continues_answer
from ollama_toolkit.parsers.deepseek3 import (
    CALL_BEGIN,
    CALL_END,
    CALLS_BEGIN,
    CALLS_END,
    OUTPUT_BEGIN,
    OUTPUT_END,
    SEP,
    THINK_CLOSE,
    DeepSeek3Parser,
    step_block,
)

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


class CogitoParser(TaggedParser):
    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (*DeepSeek3Parser.preserved_tokens, OUTPUTS_BEGIN, OUTPUTS_END)

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        thinks = think and not self.tools and not continues_answer(last_message)
        self.state = "thinking" if thinks else "content"

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        buf = self._unstripped()
        if not buf:
            return False
        if self.state == "thinking":
            return self._think_until(THINK_CLOSE, thinking)
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
            self._pass_until((CALLS_BEGIN, OUTPUTS_BEGIN), content)
            return False
        if self.state == "calls":
            return step_block(self, (CALL_BEGIN, CALL_END), CALLS_END, parse_call, calls)
        return step_block(self, (OUTPUT_BEGIN, OUTPUT_END), OUTPUTS_END, None, calls)
