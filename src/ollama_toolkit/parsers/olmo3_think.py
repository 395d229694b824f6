"""OLMo 3 Think's output (`olmo3-think`; Ollama's `model/parsers/olmo3_think.go`): thinking
(the prompt has opened `<think>`) up to the first `</think>`, then content; no tool calls.
An answer being continued (an assistant prefill with content) is all content.

Whitespace around `</think>` is dropped, however the output is split: trailing thinking
whitespace is held back until what follows shows it is text (and, as in Ollama, never sent if
nothing follows)."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.api.types import ToolCall
from ollama_toolkit.parsers.builtin import TaggedParser, continues_answer

THINK_CLOSE = "</think>"


class Olmo3ThinkParser(TaggedParser):
    has_thinking_support = True
    preserved_tokens = (THINK_CLOSE,)

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        self.state = "content" if continues_answer(last_message) else "thinking"

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        buf = self._unstripped()
        if not buf:
            return False
        if self.state == "thinking":
            return self._think_until(THINK_CLOSE, thinking)
        content.append(buf)
        self.buffer = ""
        return False
