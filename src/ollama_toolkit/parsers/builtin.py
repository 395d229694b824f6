"""Ollama's built-in output parsers (`model/parsers`): the interface and what they share;
`parsers/registry.py` has them by the names a model's `PARSER` gives.

A built-in parser replaces the thinking and tool-call parsers for models whose Modelfile
names one: it reads the model's raw output, split anywhere, and returns what each piece adds
to the answer's content, thinking and tool calls. `init` is told the request's tools, the
conversation's last message (an assistant message is a prefill the output continues) and
`think`; it returns the tools as the renderer should show them (harmony renames them).
"""

from __future__ import annotations

import enum
from typing import Any

from ollama_toolkit.api.types import ToolCall

Parsed = tuple[str, str, list[ToolCall]]


class BuiltinParser:
    """The interface, and a parser that passes everything through as content."""

    has_tool_support = False
    has_thinking_support = False
    # Special tokens the parser reads: the runner must keep them in the output's text.
    preserved_tokens: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.init(None, None, None)

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


def held_back(text: str, *tags: str) -> int:
    """How much of the end of `text` to hold back: the start of any of `tags` still arriving,
    and the whitespace before it (which the tag would drop)."""
    partial = max(overlap(text, tag) for tag in tags)
    before = text[: len(text) - partial]
    return partial + len(before) - len(before.rstrip())


def continues_answer(last_message: dict[str, Any] | None) -> bool:
    """Whether the conversation ends with an assistant message with content: a prefill that
    the output continues as content, past any thinking."""
    return (
        last_message is not None
        and last_message.get("role") == "assistant"
        and bool(last_message.get("content"))
    )


class TaggedParser(BuiltinParser):
    """A parser as a state machine over the output held so far: `_begin` says where the
    output starts; `_step` reads what it can of `buffer` into content, thinking and calls, and
    says whether to step again; the calls are numbered in order; `strip` drops the whitespace
    after a closing tag, however the output is split. `done` is set for a last step at the
    end of the output, for parsers that read what is held then (their `finish` is
    `self._parse("", done=True)`)."""

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.tools = list(tools or ())
        self.buffer = ""
        self.state: str | enum.Enum = "content"
        self.index = 0
        self.strip = False
        self.done = False
        self._begin(last_message, think)
        return tools

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        """Set up a new output (`tools` is set): where it starts, given the conversation's last
        message and `think`."""

    def add(self, text: str) -> Parsed:
        return self._parse(text)

    def finish(self) -> Parsed:
        """What content held back is content after all (held thinking is dropped, as
        Ollama drops it)."""
        held, self.buffer = self.buffer, ""
        if self.state == "content" and not self.strip:
            return held, "", []
        return "", "", []

    def _parse(self, text: str, done: bool = False) -> Parsed:
        self.buffer += text
        self.done = done
        content: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        while self._step(content, thinking, calls):
            pass
        return "".join(content), "".join(thinking), self._number(calls)

    def _number(self, calls: list[ToolCall]) -> list[ToolCall]:
        """`calls`, numbered on from the calls before them."""
        for call in calls:
            call.function.index = self.index
            self.index += 1
        return calls

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        raise NotImplementedError

    def _unstripped(self) -> str:
        """The buffer, with the whitespace after a closing tag dropped as it arrives."""
        if self.strip:
            self.buffer = self.buffer.lstrip()
            self.strip = not self.buffer
        return self.buffer

    def _pass_until(self, tags: tuple[str, ...], out: list[str], rstrip: bool = True) -> None:
        """Pass the buffer to `out`, holding back the start of any of `tags` still arriving
        (and, with `rstrip`, the whitespace a tag would drop)."""
        buf = self.buffer
        keep = len(buf) - (held_back(buf, *tags) if rstrip else max(overlap(buf, t) for t in tags))
        self.buffer = buf[keep:]
        if keep:
            out.append(buf[:keep])

    def _think_until(self, close: str, thinking: list[str]) -> bool:
        """In the thinking: up to `close` (the whitespace before it and after it dropped),
        then content."""
        buf = self.buffer
        at = buf.find(close)
        if at == -1:
            self._pass_until((close,), thinking)
            return False
        before = buf[:at].rstrip()
        self.buffer = buf[at + len(close) :]
        self.state, self.strip = "content", True
        if before:
            thinking.append(before)
        return True


class CallBlockParser(TaggedParser):
    """Content, with tool calls in blocks from `open_tag` to `close_tag`: the text up to a
    block is content as it is, the start of an `open_tag` still arriving is held back, and
    `_block_calls` reads a block once it has ended."""

    open_tag = ""
    close_tag = ""

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        buf = self.buffer
        if self.state == "calls":
            at = buf.find(self.close_tag)
            if at == -1:
                return False
            self.buffer, self.state = buf[at + len(self.close_tag) :], "content"
            calls.extend(self._block_calls(buf[:at]))
            return True
        at = buf.find(self.open_tag)
        if at == -1:
            self._pass_until((self.open_tag,), content, rstrip=False)
            return False
        content.append(buf[:at])
        self.buffer, self.state = buf[at + len(self.open_tag) :], "calls"
        return True

    def _block_calls(self, block: str) -> list[ToolCall]:
        raise NotImplementedError
