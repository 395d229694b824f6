"""Nemotron 3 Nano's output (`nemotron-3-nano`, `nemotron-3.5-nano`; Ollama's
`model/parsers/nemotron3nano.go`): thinking (the prompt has opened `<think>`; one the model
writes again is skipped) up to `</think>`, or up to a `<tool_call>` when the model skips the
closing tag; then Qwen3-Coder's content and `<tool_call>` blocks (`parsers/qwen3coder.py`).

Whitespace around the thinking is dropped, however the output is split: trailing whitespace is
held back until what follows shows it is text (and, as in Ollama, never sent if nothing
follows)."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, continues_answer, held_back
from ollama_toolkit.parsers.qwen3 import THINK_CLOSE, THINK_OPEN
from ollama_toolkit.parsers.qwen3coder import TOOL_CLOSE, TOOL_OPEN, Qwen3CoderParser


class Nemotron3NanoParser(BuiltinParser):
    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (THINK_OPEN, THINK_CLOSE, TOOL_OPEN, TOOL_CLOSE)

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.tool_parser = Qwen3CoderParser()
        self.tool_parser.init(tools, None, None)
        self.buffer = ""
        # "thinking", "skip" (whitespace after `</think>`) or "content".
        self.state = "thinking"
        # Whether a `<think>` may still open the output (only whitespace seen so far).
        self.maybe_open = True
        # Whitespace after `<think>` is dropped.
        self.skip_leading = False
        if not (think is None or bool(think)) or continues_answer(last_message):
            self.state, self.maybe_open = "content", False
        return tools

    def add(self, text: str) -> Parsed:
        if self.state == "skip":
            text = text.lstrip()
            if not text:
                return "", "", []
            self.state = "content"
        if self.state == "content":
            return self.tool_parser.add(text)
        self.buffer += text
        if self.skip_leading or self.maybe_open:
            # Leading whitespace is dropped, whether or not a `<think>` follows it (Ollama
            # drops it when it arrives on its own).
            self.buffer = self.buffer.lstrip()
            if not self.buffer:
                return "", "", []
            self.skip_leading = False
        if self.maybe_open:
            if self.buffer.startswith(THINK_OPEN):
                self.buffer = self.buffer[len(THINK_OPEN) :]
                self.maybe_open, self.skip_leading = False, True
                return self.add("")
            if THINK_OPEN.startswith(self.buffer):
                return "", "", []
            self.maybe_open = False
        buf = self.buffer
        think_at, tool_at = buf.find(THINK_CLOSE), buf.find(TOOL_OPEN)
        if think_at != -1 and (tool_at == -1 or think_at < tool_at):
            thinking = buf[:think_at].rstrip()
            rest = buf[think_at + len(THINK_CLOSE) :].lstrip()
        elif tool_at != -1:
            # The model went straight to a tool call: the call is content's.
            thinking, rest = buf[:tool_at].rstrip(), buf[tool_at:]
        else:
            # Held back: the start of either tag, and the whitespace before it.
            keep = held_back(buf, THINK_CLOSE, TOOL_OPEN)
            self.buffer = buf[len(buf) - keep :]
            return "", buf[: len(buf) - keep], []
        self.buffer = ""
        if not rest:
            self.state = "skip"
            return "", thinking, []
        self.state = "content"
        content, _, calls = self.tool_parser.add(rest)
        return content, thinking, calls

    def finish(self) -> Parsed:
        """Held thinking is dropped, as Ollama drops it; the content parser finishes."""
        self.buffer = ""
        if self.state == "content":
            return self.tool_parser.finish()
        return "", "", []
