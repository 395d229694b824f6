"""Poolside Laguna's output (Ollama's `model/parsers/laguna.go`): `laguna` and `poolside-v1`
(`LagunaV8Parser`, for the v8 renderer, which never continues an assistant turn in place).

The prompt primes `<think>` when `think` is on (the output starts as thinking, a `<think>` the
model echoes skipped) or `</think>` when it is off (the default; a `<think>…</think>` the model
writes anyway is dropped). Tool calls are `<tool_call>name<arg_key>k</arg_key><arg_value>v
</arg_value>…</tool_call>` (the values typed by the tool's schema), or JSON inside the tags;
with tools, a known tool called inside `<user>…</user>`, and a bare JSON object with a `"name"`
or `"arguments"`, are calls too. Whitespace around blocks and at the end is dropped.

Where Ollama's result depends on how the output is split, this follows what it does with the
output arriving a token at a time, so that it does not: the earliest tag wins, whitespace that a
tag would drop is held back, and a bare JSON object is read once its braces close (text after it
stays content, where Ollama, given it all at once, fails to parse the object).
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import Parsed, ParserError, TaggedParser
from ollama_toolkit.parsers.qwen3coder import parse_value, property_types

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"
USER_OPEN = "<user>"
USER_CLOSE = "</user>"
ARG_KEY_OPEN = "<arg_key>"
ARG_KEY_CLOSE = "</arg_key>"
ARG_VALUE_OPEN = "<arg_value>"
ARG_VALUE_CLOSE = "</arg_value>"

# Names the model uses for tools that are commonly registered under shorter ones.
ALIASES = {"read_file": "read", "write_file": "write", "edit_file": "edit", "web_fetch": "webfetch"}

# Go's `\s` is ASCII whitespace only.
_ARG = re.compile(r"<arg_key>(.*?)</arg_key>[\t\n\f\r ]*<arg_value>(.*?)</arg_value>", re.DOTALL)


class _State(enum.Enum):
    THINKING = enum.auto()
    CONTENT = enum.auto()
    TOOL = enum.auto()


class LagunaParser(TaggedParser):
    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (
        THINK_OPEN,
        THINK_CLOSE,
        TOOL_OPEN,
        TOOL_CLOSE,
        USER_OPEN,
        USER_CLOSE,
        ARG_KEY_OPEN,
        ARG_KEY_CLOSE,
        ARG_VALUE_OPEN,
        ARG_VALUE_CLOSE,
    )
    # Whether an assistant message last is continued in place (so output starts as content).
    continues_prefill = True

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        self.thinking_enabled = bool(think)
        prefill = (
            self.continues_prefill
            and last_message is not None
            and last_message.get("role") == "assistant"
        )
        # A prefill is continued after the </think> the renderer already wrote.
        self.state = _State.THINKING if self.thinking_enabled and not prefill else _State.CONTENT
        self.echoed_open = self.state is _State.THINKING  # a primed <think> echoed is skipped
        self.trim_thinking = False  # whitespace after a <think> is dropped
        # At the start of content (the output's, or after a block): whitespace and stray
        # </think> tags are dropped.
        self.block_start = True

    def finish(self) -> Parsed:
        return self._parse("", done=True)

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        if self.state is _State.THINKING:
            # Thinking the request did not ask for is dropped.
            return self._thinking(thinking if self.thinking_enabled else [], self.done)
        if self.state is _State.CONTENT:
            return self._content(content, calls, self.done)
        return self._tool(calls, self.done)

    def _thinking(self, thinking: list[str], done: bool) -> bool:
        acc = self.buffer
        if self.echoed_open:
            trimmed = acc.lstrip()
            if trimmed.startswith(THINK_OPEN):
                self.buffer = trimmed[len(THINK_OPEN) :]
                self.echoed_open = False
                self.trim_thinking = True
                return True
            if THINK_OPEN.startswith(trimmed) and not done:
                self.buffer = trimmed  # maybe a partial <think>: wait
                return False
            # The reasoning starts here, without the whitespace the model writes first.
            self.buffer = acc = trimmed
            self.echoed_open = False
        if self.trim_thinking:
            self.buffer = acc = acc.lstrip()
            if not acc and not done:
                return False
            self.trim_thinking = False
        close, tool = acc.find(THINK_CLOSE), acc.find(TOOL_OPEN)
        if close >= 0 and (tool < 0 or close < tool):
            thinking.append(acc[:close].rstrip())
            self.buffer = acc[close + len(THINK_CLOSE) :].lstrip()
            self.state = _State.CONTENT
            self.block_start = True
            return True
        if tool >= 0:
            thinking.append(acc[:tool].rstrip())
            self.buffer = acc[tool + len(TOOL_OPEN) :]
            self.state = _State.TOOL
            return True
        if done:
            thinking.append(acc.rstrip())
            self.buffer = ""
            self.state = _State.CONTENT
            return False
        # Hold back a partial tag and the whitespace before it (dropped at the tag).
        self._pass_until((THINK_CLOSE, TOOL_OPEN), thinking)
        return False

    def _content(self, content: list[str], calls: list[ToolCall], done: bool) -> bool:
        if self.block_start:
            acc = self.buffer = self.buffer.lstrip()
            if acc.startswith(THINK_CLOSE):
                # The prompt primed the reasoning mode; a </think> the model writes is dropped.
                self.buffer = acc[len(THINK_CLOSE) :].lstrip()
                return True
            if not acc or (THINK_CLOSE.startswith(acc) and not done):
                return False
            self.block_start = False
        acc = self.buffer
        if not acc:
            return False
        tags = [(acc.find(THINK_OPEN), THINK_OPEN), (acc.find(TOOL_OPEN), TOOL_OPEN)]
        if self.tools:
            tags += [(acc.find(USER_OPEN), USER_OPEN), (acc.find("{"), "{")]
        found = [(at, tag) for at, tag in tags if at >= 0]
        if found:
            at, tag = min(found)
            before = acc[:at]
            if tag == THINK_OPEN:
                # Reasoning the model writes anyway: thinking, dropped unless asked for.
                content.append(before)
                self.buffer = acc[at + len(THINK_OPEN) :]
                self.state = _State.THINKING
                self.trim_thinking = True
                return True
            if tag == TOOL_OPEN:
                content.append(before.rstrip())
                self.buffer = acc[at + len(TOOL_OPEN) :]
                self.state = _State.TOOL
                return True
            if tag == USER_OPEN:
                return self._user(content, calls, acc, at, done)
            return self._json(content, calls, acc, at, done)
        if done:
            content.append(acc.rstrip())
            self.buffer = ""
            return False
        # Hold back a partial tag and the whitespace before it (dropped at a tag or the end).
        tags_held = (TOOL_OPEN, THINK_OPEN) + ((USER_OPEN,) if self.tools else ())
        self._pass_until(tags_held, content)
        return False

    def _user(
        self, content: list[str], calls: list[ToolCall], acc: str, at: int, done: bool
    ) -> bool:
        """`<user>name…</user>` naming a known tool is a call; any other is content."""
        before = acc[:at].rstrip()
        after_open = acc[at + len(USER_OPEN) :]
        close = after_open.find(USER_CLOSE)
        if close >= 0:
            end = at + len(USER_OPEN) + close + len(USER_CLOSE)
            call = self._alias(after_open[:close])
            if call is None:
                content.append(acc[:end])
                self.buffer = acc[end:]
                return True
            content.append(before)
            calls.append(call)
            self.buffer = acc[end:]
            self.block_start = True
            return True
        if done:
            content.append(acc.rstrip())
            self.buffer = ""
            return False
        # Wait for the close, the whitespace before the tag held with it.
        content.append(before)
        self.buffer = acc[len(before) :]
        return False

    def _alias(self, raw: str) -> ToolCall | None:
        raw = clean_raw(raw)
        name = tool_call_name(raw)
        if name is None or resolve_name(name, self.tools) is None:
            return None
        try:
            return parse_tool_call(raw, self.tools)
        except ParserError:
            return None

    def _json(
        self, content: list[str], calls: list[ToolCall], acc: str, at: int, done: bool
    ) -> bool:
        """A bare JSON object with a `"name"` or `"arguments"` is a call; other braces are
        content."""
        before = acc[:at].rstrip()
        end = json_object_end(acc, at)
        if end < 0:
            if not done:
                # Wait for the braces to close, the whitespace before them held with them.
                content.append(before)
                self.buffer = acc[len(before) :]
                return False
            raw = acc[at:]
            if '"name"' in raw or '"arguments"' in raw:
                parse_tool_call(raw.strip(), self.tools)  # fails, as Ollama's does
            content.append(acc.rstrip())
            self.buffer = ""
            return False
        raw = acc[at:end]
        if '"name"' not in raw and '"arguments"' not in raw:
            content.append(acc[:end])
            self.buffer = acc[end:]
            return True
        calls.append(parse_tool_call(raw, self.tools))
        content.append(before)
        self.buffer = acc[end:]
        self.block_start = True
        return True

    def _tool(self, calls: list[ToolCall], done: bool) -> bool:
        acc = self.buffer
        at = acc.find(TOOL_CLOSE)
        if at >= 0:
            self.buffer = acc[at + len(TOOL_CLOSE) :].lstrip()
            self.state = _State.CONTENT
            self.block_start = True
            calls.append(parse_tool_call(acc[:at], self.tools))
            return True
        if done and acc.strip():
            # The output ended inside the call: read what there is.
            self.buffer = ""
            self.state = _State.CONTENT
            calls.append(parse_tool_call(acc, self.tools))
            return True
        return False


class LagunaV8Parser(LagunaParser):
    # The v8 renderer closes every assistant turn and opens a fresh one.
    continues_prefill = False


def json_object_end(text: str, start: int) -> int:
    """The index just past the `}` that closes the `{` at `start` (braces inside JSON strings
    not counted); -1 while it is open."""
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        c = text[i]
        if escaped:
            escaped = False
        elif in_string:
            if c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def resolve_name(name: str, tools: list[dict[str, Any]]) -> str | None:
    """The request's tool that `name` calls (itself, or by a common alias); None."""
    names = {(t.get("function") or {}).get("name") for t in tools}
    if name in names:
        return name
    alias = ALIASES.get(name)
    return alias if alias is not None and alias in names else None


def clean_raw(raw: str) -> str:
    """A call's text without the tool-call tags around it; of a call written twice, nested,
    the first."""
    raw = raw.strip()
    while raw.startswith(TOOL_OPEN):
        raw = raw[len(TOOL_OPEN) :].strip()
    at = raw.find(TOOL_CLOSE)
    if at >= 0:
        raw = raw[:at].strip()
    at = raw.find(TOOL_OPEN)
    if at >= 0:
        before = raw[:at].strip()
        if before:
            return before
        raw = raw[at + len(TOOL_OPEN) :].strip()
    return raw


def tool_call_name(raw: str) -> str | None:
    """The tool a call's text names; None when it names none."""
    raw = clean_raw(raw)
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("name"), (str, type(None))):
            return None
        return (value.get("name") or "").strip() or None
    # The name runs to the first argument, else to a JSON object, else to the line's end.
    end = raw.find(ARG_KEY_OPEN)
    if end < 0:
        end = raw.find("{")
    if end < 0:
        end = min((at for at in (raw.find("\r"), raw.find("\n")) if at >= 0), default=len(raw))
    return raw[:end].strip() or None


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ParserError(f"failed to parse Laguna JSON tool call{what}: {e}") from e
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParserError(f"failed to parse Laguna JSON tool call{what}: not an object")
    return value


def parse_tool_call(raw: str, tools: list[dict[str, Any]]) -> ToolCall:
    """A call's text: JSON `{"name", "arguments"}`, or a name then `<arg_key>`/`<arg_value>`
    pairs (typed by the tool's schema) or a JSON object of arguments."""
    raw = clean_raw(raw)
    if raw.startswith("{"):
        parsed = _object(raw, "")
        name, arguments = parsed.get("name"), parsed.get("arguments")
        if not isinstance(name, (str, type(None))) or not isinstance(arguments, (dict, type(None))):
            raise ParserError("failed to parse Laguna JSON tool call: wrong field types")
        if not name:
            raise ParserError("empty Laguna tool call name")
        name = resolve_name(name, tools) or name
        return ToolCall(function=ToolCallFunction(name=name, arguments=arguments or {}))

    name, args_text = raw, ""
    at = raw.find(ARG_KEY_OPEN)
    if at < 0:
        at = raw.find("{")
    if at >= 0:
        name, args_text = raw[:at], raw[at:]
    name = name.strip()
    name = resolve_name(name, tools) or name
    if args_text.strip().startswith("{"):
        arguments = _object(args_text.strip(), " arguments")
        return ToolCall(function=ToolCallFunction(name=name, arguments=arguments))
    tool = next((t for t in tools if (t.get("function") or {}).get("name") == name), None)
    properties = ((tool or {}).get("function") or {}).get("parameters") or {}
    properties = properties.get("properties") or {}
    arguments = {}
    for match in _ARG.finditer(args_text):
        key = match.group(1).strip()
        arguments[key] = parse_value(match.group(2), property_types(properties.get(key)))
    return ToolCall(function=ToolCallFunction(name=name, arguments=arguments))
