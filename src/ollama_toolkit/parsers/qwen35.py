"""Qwen3.5's output (`qwen3.5`, also Ornith's `ornith`; Ollama's `model/parsers/qwen35.go`):
thinking up to `</think>` (the prompt has opened it; one `<think>` the model writes again is
skipped), then content, with Qwen3-Coder's XML tool calls,
`<tool_call><function=name><parameter=key>value</parameter>…</function></tool_call>`, each value
typed by the request's tool schema. A `<tool_call>` inside the thinking ends it (some
checkpoints forget the `</think>`). A prefill with content continues as content.

Ollama reads the thinking itself and hands the rest to its Qwen3-Coder parser; the states are
Qwen3's (`parsers/qwen3.py`), with the calls read as Qwen3-Coder's (`parsers/qwen3coder.py`).
Within one piece of output, Ollama looks for `</think>` before `<tool_call>`; since both tags
are single tokens, the first one in the text is the one it meets first, which is the rule here
for output split anywhere."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.api.types import ToolCall
from ollama_toolkit.parsers.builtin import continues_answer
from ollama_toolkit.parsers.qwen3 import Qwen3ThinkingParser
from ollama_toolkit.parsers.qwen3coder import parse_tool_call
from ollama_toolkit.renderers.base import think_enabled


class Qwen35Parser(Qwen3ThinkingParser):
    def starts_thinking(
        self, last_message: dict[str, Any] | None, think: bool | str | None
    ) -> bool:
        return (think is None or think_enabled(think)) and not continues_answer(last_message)

    def tool_call(self, raw: str) -> ToolCall:
        return parse_tool_call(raw, self.tools)
