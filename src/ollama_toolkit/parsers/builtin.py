"""Ollama's built-in output parsers (`model/parsers`): the interface and what they share;
`parsers/registry.py` has them by the names a model's `PARSER` gives.

A built-in parser replaces the thinking and tool-call parsers for models whose Modelfile
names one: it reads the model's raw output, split anywhere, and returns what each piece adds
to the answer's content, thinking and tool calls. `init` is told the request's tools, the
conversation's last message (an assistant message is a prefill the output continues) and
`think`; it returns the tools as the renderer should show them (harmony renames them).
"""

from __future__ import annotations

from typing import Any

from ollama_toolkit.api.types import ToolCall

Parsed = tuple[str, str, list[ToolCall]]


class BuiltinParser:
    """The interface, and a parser that passes everything through as content."""

    has_tool_support = False
    has_thinking_support = False
    # Special tokens the parser reads: the runner must keep them in the output's text.
    preserved_tokens: tuple[str, ...] = ()

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        return tools

    def add(self, text: str) -> Parsed:
        """(content, thinking, tool calls) that `text`, the next piece of output, completes."""
        return text, "", []

    def finish(self) -> Parsed:
        """Whatever is still held back once the output has ended."""
        return "", "", []


class ParserError(ValueError):
    """Output the parser cannot read (a tool call whose arguments are not JSON)."""


def overlap(text: str, tag: str) -> int:
    """The length of the longest end of `text` that begins `tag` (a tag maybe still arriving)."""
    for n in range(min(len(tag), len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
