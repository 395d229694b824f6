"""LFM2's output (`lfm2`, `lfm2-thinking`; Ollama's `model/parsers/lfm2.go`): with thinking on,
a leading `<think>…</think>` block is the thinking (an answer without the tag is all content);
then content, and tool calls as a Python-style list `[name(key='v', …), …]` inside
`<|tool_call_start|>…<|tool_call_end|>`. With tools, an answer that is nothing but such a list,
without the wrapper, is read as the calls.

Ollama reads that bare list from the last piece of output only; here it is read from the whole
answer, which is held back while it may still be one, so that the result does not depend on how
the output is split. Partial tags and whitespace that a tag would drop are held back too.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import Parsed, ParserError, TaggedParser, continues_answer

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_CALL_START = "<|tool_call_start|>"
TOOL_CALL_END = "<|tool_call_end|>"
_INT64 = (-(1 << 63), (1 << 63) - 1)


class _State(enum.Enum):
    LOOKING = enum.auto()  # thinking on: waiting to see whether the output opens with <think>
    THINKING = enum.auto()
    CONTENT = enum.auto()
    TOOL_CALLS = enum.auto()


class LFM2Parser(TaggedParser):
    has_tool_support = True
    preserved_tokens = (THINK_OPEN, THINK_CLOSE, TOOL_CALL_START, TOOL_CALL_END)

    def __init__(self, thinking_support: bool = False) -> None:
        self.has_thinking_support = thinking_support
        super().__init__()

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        self.tool_names = {
            name for t in self.tools if (name := (t.get("function") or {}).get("name"))
        }
        self.has_tools = bool(self.tools)
        self.trim_thinking = False  # whitespace after <think> is dropped
        self.trim_content = False  # whitespace after </think> or a call block is dropped
        self.reopened = False  # whether a second <think> right after the first was looked for
        self.calls_seen = False
        # The answer so far, while it may still be a bare list of calls.
        self.bare: str | None = "" if self.has_tools else None
        # Thinking on, the model decides each turn whether to reason: wait for a leading
        # <think>; a prefill with content is continued as content.
        thinking = self.has_thinking_support and bool(think)
        self.state = (
            _State.LOOKING if thinking and not continues_answer(last_message) else _State.CONTENT
        )

    def finish(self) -> Parsed:
        return self._parse("", done=True)

    def _parse(self, text: str, done: bool = False) -> Parsed:
        if done and self.state is _State.LOOKING:
            # A partial <think> can no longer complete: what there is is the answer.
            trimmed = (self.buffer + text).lstrip()
            if not trimmed.startswith(THINK_OPEN):
                self.buffer, text = trimmed, ""
                self.state = _State.CONTENT
        answer, thinking, calls = super()._parse(text, done)
        if calls:
            self.calls_seen = True
        if self.bare is not None:
            self.bare += answer
            answer = ""
            if calls or self.calls_seen:
                answer, self.bare = self.bare, None
            elif done:
                found = self._bare_calls(self.bare.strip())
                if found:
                    calls = self._number(found)
                else:
                    answer = self.bare
                self.bare = None
            elif not may_be_bare_calls(self.bare, self.tool_names):
                answer, self.bare = self.bare, None
        return answer, thinking, calls

    def _bare_calls(self, text: str) -> list[ToolCall]:
        try:
            calls = parse_tool_calls(text)
        except ParserError:
            return []
        if self.tool_names and any(c.function.name not in self.tool_names for c in calls):
            return []
        return calls

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        """Consume what the current state can decide; True when another state should look."""
        buf, done = self.buffer, self.done
        if not buf:
            return False
        if self.state is _State.LOOKING:
            trimmed = buf.lstrip()
            if trimmed.startswith(THINK_OPEN):
                self.buffer = trimmed[len(THINK_OPEN) :]
                self.state = _State.THINKING
                self.trim_thinking = True
                return True
            if not trimmed or THINK_OPEN.startswith(trimmed):
                return False  # whitespace or a partial <think>: wait
            self.buffer = trimmed  # a direct answer
            self.state = _State.CONTENT
            return True

        if self.state is _State.THINKING:
            if not self.reopened:
                # Ollama drops a second <think> that follows the first straight away.
                if len(buf) < len(THINK_OPEN) and THINK_OPEN.startswith(buf) and not done:
                    return False
                self.reopened = True
                if buf.startswith(THINK_OPEN):
                    buf = buf[len(THINK_OPEN) :]
            if self.trim_thinking:
                buf = buf.lstrip()
                self.trim_thinking = not buf
            if THINK_CLOSE in buf:
                before, _, after = buf.partition(THINK_CLOSE)
                after = after.lstrip()
                self.buffer = after
                self.state = _State.CONTENT
                self.trim_content = not after
                if before.rstrip():
                    thinking.append(before.rstrip())
                return True
            # Hold back a partial </think> and the whitespace before it (dropped at the tag).
            self.buffer = buf
            self._pass_until((THINK_CLOSE,), thinking)
            return False

        if self.state is _State.CONTENT:
            if self.trim_content:
                buf = buf.lstrip()
                self.trim_content = not buf
            if TOOL_CALL_START in buf:
                before, _, after = buf.partition(TOOL_CALL_START)
                content.append(before.rstrip())
                self.buffer = after
                self.state = _State.TOOL_CALLS
                return True
            if done:
                content.append(buf)
                self.buffer = ""
                return False
            # Hold back a partial tag and the whitespace before it (dropped at the tag).
            self.buffer = buf
            self._pass_until((TOOL_CALL_START,), content)
            return False

        # Tool calls: wait for the end tag. A block that does not parse is never read past,
        # as in Ollama (which logs it): the rest of the output is dropped.
        at = buf.find(TOOL_CALL_END)
        if at < 0:
            return False
        try:
            found = parse_tool_calls(buf[:at])
        except ParserError:
            return False
        calls.extend(found)
        self.buffer = buf[at + len(TOOL_CALL_END) :]
        self.state = _State.CONTENT
        self.trim_content = True
        return True


class LFM2ThinkingParser(LFM2Parser):
    def __init__(self) -> None:
        super().__init__(thinking_support=True)


def parse_tool_calls(text: str) -> list[ToolCall]:
    """Python-style calls, `[f(a='v'), g(b=1)]` or `f(a='v')`, wrapper tags tolerated."""
    text = text.strip().removeprefix(TOOL_CALL_START).strip()
    text = text.removesuffix(TOOL_CALL_END).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    calls = []
    while text:
        text = text.strip()
        if not text:
            break
        if text.startswith(","):
            text = text[1:].strip()
            if not text:
                break
        paren = text.find("(")
        if paren == -1:
            raise ParserError("invalid tool call: no opening parenthesis")
        name = text[:paren].strip()
        if not name:
            raise ParserError("invalid tool call: empty function name")
        close = matching_paren(text, paren)
        if close == -1:
            raise ParserError("invalid tool call: no matching closing parenthesis")
        arguments = parse_python_args(text[paren + 1 : close])
        calls.append(ToolCall(function=ToolCallFunction(name=name, arguments=arguments)))
        text = text[close + 1 :]
    if not calls:
        raise ParserError("no tool calls found")
    return calls


def matching_paren(text: str, open_at: int) -> int:
    """The index of the `)` that closes the `(` at `open_at`, skipping quoted strings; -1."""
    depth = 1
    i = open_at + 1
    while i < len(text) and depth > 0:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        elif c in "'\"":
            i += 1
            while i < len(text) and text[i] != c:
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                i += 1
        i += 1
    return -1


def parse_python_args(text: str) -> dict[str, Any]:
    """Keyword arguments, `key='value', key2=42`; string values keep their escapes."""
    arguments: dict[str, Any] = {}
    i = 0
    while i < len(text):
        while i < len(text) and (text[i] == "," or text[i].isspace()):
            i += 1
        if i >= len(text):
            break
        start = i
        while i < len(text) and text[i] not in "=,":
            i += 1
        if i >= len(text) or text[i] != "=":
            raise ParserError("invalid argument: expected '='")
        key = text[start:i].strip()
        if not key:
            raise ParserError("invalid argument: empty key")
        i += 1
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise ParserError("invalid argument: missing value")
        arguments[key], i = _arg_value(text, i)
        if i < len(text) and text[i] == ",":
            i += 1
    return arguments


def _arg_value(text: str, i: int) -> tuple[Any, int]:
    if text[i] in "'\"":
        quote = text[i]
        i += 1
        start = i
        while i < len(text):
            if text[i] == "\\" and i + 1 < len(text):
                i += 2
                continue
            if text[i] == quote:
                return text[start:i], i + 1
            i += 1
        raise ParserError("invalid argument: unterminated string")
    # A bare literal runs to the next comma outside brackets and strings.
    start = i
    depth = {")": 0, "]": 0, "}": 0}  # each kind of bracket counted apart, as Ollama does
    opening = {"(": ")", "[": "]", "{": "}"}
    quote = ""
    escaped = False
    while i < len(text):
        c = text[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in opening:
            depth[opening[c]] += 1
        elif c in depth:
            depth[c] = max(depth[c] - 1, 0)
        elif c == "," and not any(depth.values()):
            break
        i += 1
    return python_literal(text[start:i].strip()), i


def python_literal(token: str) -> Any:
    """A bare value: booleans and None in JSON's or Python's spelling, integers, floats, lists
    and dicts as JSON or as Python writes them; anything else stays text."""
    if token == "":
        return ""
    if token in ("true", "True"):
        return True
    if token in ("false", "False"):
        return False
    if token in ("null", "None"):
        return None
    number = _go_number(token)
    if number is not None:
        return number
    if token.startswith(("[", "{")):
        for text in (token, _python_to_json(token)):
            if text is None:
                continue
            try:
                return json.loads(text)
            except ValueError:
                continue
    return token


def _go_number(token: str) -> int | float | None:
    """`token` as Go's ParseInt, else ParseFloat, would read it (decimal; no `_`)."""
    if "_" in token:
        return None
    body = token[1:] if token[:1] in "+-" else token
    if not token.isascii():
        return None
    if body.isdigit():
        value = int(token)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    try:
        return float(token)
    except ValueError:
        return None


def _python_to_json(text: str) -> str | None:
    """A Python literal's text as JSON: quotes doubled, True/False/None spelled as JSON."""
    out: list[str] = []
    quote = ""
    escaped = False
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if escaped:
                out.append(c)
                escaped = False
            elif c == "\\":
                out.append(c)
                escaped = True
            elif c == quote:
                out.append('"')
                quote = ""
            elif quote == "'" and c == '"':
                out.append('\\"')
            else:
                out.append(c)
            i += 1
            continue
        if c in "'\"":
            quote = c
            out.append('"')
            i += 1
            continue
        if c.isascii() and (c.isalpha() or c == "_"):
            j = i + 1
            while j < len(text) and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            ident = text[i:j]
            out.append({"True": "true", "False": "false", "None": "null"}.get(ident, ident))
            i = j
            continue
        out.append(c)
        i += 1
    return None if quote else "".join(out)


def may_be_bare_calls(text: str, names: Collection[str]) -> bool:
    """Whether `text`, the answer so far, may still grow into a bare list of calls to the
    named tools (any names when none are known) that `parse_tool_calls` reads."""
    text = text.lstrip()
    if not text:
        return True
    bodies = [text[1:], text] if text.startswith("[") else [text]
    return any(_calls_prefix(body, names) for body in bodies)


def _calls_prefix(text: str, names: Collection[str]) -> bool:
    while True:
        text = text.lstrip()
        if text.startswith(","):
            text = text[1:].lstrip()
        if not text:
            return True
        paren = text.find("(")
        if paren == -1:
            # A name still arriving, or the end: `]`, then maybe the end tag.
            if not names or any(n.startswith(text) or n == text.rstrip() for n in names):
                return True
            tail = text.removeprefix("]").lstrip()
            return TOOL_CALL_END.startswith(tail.rstrip()) or (
                tail.startswith(TOOL_CALL_END) and not tail[len(TOOL_CALL_END) :].strip()
            )
        name = text[:paren].strip()
        if not name or (names and name not in names):
            return False
        close = matching_paren(text, paren)
        if close == -1:
            return True  # arguments still arriving
        try:
            parse_python_args(text[paren + 1 : close])
        except ParserError:
            return False
        text = text[close + 1 :]
