"""Gemma 4's output (`gemma4`, `gemma4-no-thinking`), ported from Ollama's
`model/parsers/gemma4.go`: thinking in a channel (`<|channel>thought\n…<channel|>`, kept only
when thinking is on, dropped otherwise), content, and tool calls written
`<|tool_call>call:name{key:value,…}<tool_call|>` in Gemma's notation (bare keys, strings
between `<|"|>` marks), read by turning them into JSON, with a few schema-guided repairs of
the malformed calls models are seen to write. A call that cannot be read is dropped, as
Ollama drops it (with a warning)."""

from __future__ import annotations

import enum
import json
import logging
import re
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import Parsed, ParserError, TaggedParser, overlap
from ollama_toolkit.renderers.base import go_json, think_enabled

log = logging.getLogger(__name__)

THINKING_OPEN = "<|channel>"
THINKING_CLOSE = "<channel|>"
TOOL_CALL_OPEN = "<|tool_call>"
TOOL_CALL_CLOSE = "<tool_call|>"
TOOL_RESPONSE = "<|tool_response>"
Q = '<|"|>'  # Gemma 4's string delimiter
CHANNEL_NAME = "thought\n"

_QUOTED = re.compile(re.escape(Q) + "(.*?)" + re.escape(Q), re.DOTALL)


class _State(enum.Enum):
    CONTENT = enum.auto()
    THINKING = enum.auto()
    TOOL_CALL = enum.auto()
    # Right after a call: stray `<tool_call|>` / `<|tool_response>` marks are dropped.
    AFTER_TOOL_CALL = enum.auto()


def _held(text: str, *tags: str, only_before_tag: bool = False) -> int:
    """How much of the end of `text` to hold back: the start of a tag and the whitespace
    before it (dropped if the tag follows); trailing whitespace even without a tag's start,
    unless `only_before_tag` (content, which Ollama sends as it comes)."""
    partial = max(overlap(text, tag) for tag in tags)
    if only_before_tag and not partial:
        return 0
    before = text[: len(text) - partial]
    return partial + len(before) - len(before.rstrip())


class Gemma4Parser(TaggedParser):
    has_tool_support = True
    preserved_tokens = (
        THINKING_OPEN,
        THINKING_CLOSE,
        TOOL_CALL_OPEN,
        TOOL_CALL_CLOSE,
        TOOL_RESPONSE,
        Q,
    )

    def __init__(self, thinking_support: bool = True) -> None:
        self.has_thinking_support = thinking_support
        super().__init__()

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        self.state = _State.CONTENT
        # Just inside a channel: its name ("thought\n") is not thinking.
        self.strip_channel_name = False
        self.thinking_enabled = self.has_thinking_support and think_enabled(think)
        # After a tool's result the prompt has opened the thought channel itself.
        if self.thinking_enabled and (last_message or {}).get("role") == "tool":
            self.state = _State.THINKING

    def finish(self) -> Parsed:
        return self._parse("", done=True)

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        """Consume what the current state can decide; True when another state should look."""
        buf, done = self.buffer, self.done
        if not buf:
            return False
        if not self.thinking_enabled:
            thinking = []  # a channel the model opens anyway is read and dropped
        if self.state is _State.CONTENT:
            # Ollama looks for a channel before a call, wherever each is in the text.
            for tag, state in (
                (THINKING_OPEN, _State.THINKING),
                (TOOL_CALL_OPEN, _State.TOOL_CALL),
            ):
                at = buf.find(tag)
                if at != -1:
                    self.buffer = buf[at + len(tag) :]
                    self.state = state
                    self.strip_channel_name = state is _State.THINKING
                    content.append(buf[:at].rstrip())
                    return True
            held = _held(buf, THINKING_OPEN, TOOL_CALL_OPEN, only_before_tag=True)
            keep = len(buf) if done else len(buf) - held
            self.buffer = buf[keep:]
            content.append(buf[:keep])
            return False

        if self.state is _State.THINKING:
            if self.strip_channel_name:
                if buf.startswith(CHANNEL_NAME):
                    buf = self.buffer = buf[len(CHANNEL_NAME) :]
                    self.strip_channel_name = False
                elif not done and CHANNEL_NAME.startswith(buf):
                    return False  # the name may still be arriving
                else:
                    self.strip_channel_name = False
            before, found, after = buf.partition(THINKING_CLOSE)
            if found:
                self.buffer = after.lstrip()
                self.state = _State.CONTENT
                thinking.append(before.rstrip())
                return True
            keep = len(buf) if done else len(buf) - _held(buf, THINKING_CLOSE)
            self.buffer = buf[keep:]
            thinking.append(buf[:keep])
            return False

        if self.state is _State.TOOL_CALL:
            raw, found, after = buf.partition(TOOL_CALL_CLOSE)
            if found:
                self.buffer = after.lstrip()
                self.state = _State.AFTER_TOOL_CALL
            elif done:
                # The model may stop before closing its call: read what there is.
                self.buffer = ""
                self.state = _State.CONTENT
            else:
                return False
            try:
                calls.append(parse_tool_call(raw, self.tools))
            except ParserError as e:
                log.warning("gemma4 tool call parsing failed: %s (content %r)", e, raw)
            return bool(found)

        # AFTER_TOOL_CALL: Gemma 4 sometimes repeats `<tool_call|>`, and the template marks
        # the end of a call with `<|tool_response>`; neither is content. (So content that
        # starts with one of them right after a call is lost, as in Ollama.)
        buf = buf.lstrip()
        while True:
            for tag in (TOOL_CALL_CLOSE, TOOL_RESPONSE):
                if buf.startswith(tag):
                    buf = buf[len(tag) :].lstrip()
                    break
            else:
                break
        self.buffer = buf
        if not buf:
            return False
        if TOOL_CALL_CLOSE.startswith(buf) or TOOL_RESPONSE.startswith(buf):
            if done:
                self.buffer = ""
                self.state = _State.CONTENT
            return False
        self.state = _State.CONTENT
        return True


class Gemma4NoThinkingParser(Gemma4Parser):
    def __init__(self) -> None:
        super().__init__(thinking_support=False)


# A call: `call:NAME{args}` in Gemma's notation.


def parse_tool_call(text: str, tools: list[dict[str, Any]]) -> ToolCall:
    if not text.startswith("call:"):
        raise ParserError("expected 'call:' prefix")
    text = text[len("call:") :]
    brace = text.find("{")
    if brace == -1:
        raise ParserError("expected '{' in tool call")
    name = text[:brace].strip()
    raw = text[brace:]
    try:
        arguments = _arguments(args_to_json(raw))
    except ValueError as e:
        arguments = _repaired_arguments(raw, name, tools, e)
    return ToolCall(function=ToolCallFunction(name=name, arguments=arguments))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")  # NaN and Infinity are not JSON (Go)


def _arguments(text: str) -> dict[str, Any]:
    value = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("arguments are not an object")
    return value


def _repaired_arguments(
    raw: str, name: str, tools: list[dict[str, Any]], error: ValueError
) -> dict[str, Any]:
    """Best effort once strict parsing has failed: the first repair candidate that reads."""
    for candidate in repair_candidates(raw, name, tools):
        try:
            return _arguments(args_to_json(candidate))
        except ValueError:
            continue
    raise ParserError(f"{error}; repair failed to produce valid JSON arguments")


def args_to_json(text: str) -> str:
    """Gemma's argument notation as JSON: `<|"|>` strings become JSON strings (set aside
    first, so nothing inside them is read as structure) and bare keys are quoted."""
    strings: list[str] = []

    def aside(match: re.Match[str]) -> str:
        strings.append(match.group(1))
        return f"\x00{chr(len(strings) - 1)}\x00"

    text = _quote_bare_keys(_QUOTED.sub(aside, text))
    for i, value in enumerate(strings):
        text = text.replace(f"\x00{chr(i)}\x00", go_json(value))
    return text


def _is_key_char(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _key_end(s: str, i: int) -> int:
    while i < len(s) and _is_key_char(s[i]):
        i += 1
    return i


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def _json_string_end(s: str, start: int) -> int:
    """The index after the `"` that closes the JSON string at `start`; -1 if none does."""
    escaped = False
    for i in range(start + 1, len(s)):
        if s[i] == '"' and not escaped:
            return i + 1
        escaped = s[i] == "\\" and not escaped
    return -1


def _quote_bare_keys(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] == '"':
            end = _json_string_end(s, i)
            if end != -1:
                out.append(s[i:end])
                i = end
                continue
        if s[i] not in "{,":
            out.append(s[i])
            i += 1
            continue
        out.append(s[i])
        space = _skip_space(s, i + 1)
        out.append(s[i + 1 : space])
        i = space
        end = _key_end(s, i)
        if i < end < len(s) and s[end] == ":":
            out.append(f'"{s[i:end]}":')
            i = end + 1
    return "".join(out)


# Repairs.


def repair_candidates(raw: str, name: str, tools: list[dict[str, Any]]) -> list[str]:
    """The few repaired forms of `raw` worth trying, in order."""
    candidates: list[str] = []

    def add(candidate: str, allow_missing_object_close: bool) -> None:
        original = candidate
        candidate = repair_missing_string_delimiter(repair_single_quoted_values(candidate))
        # Closing the object is a guess only worth making once another repair applied.
        if allow_missing_object_close or candidate != original:
            candidate = repair_missing_object_close(candidate)
        if candidate not in candidates:
            candidates.append(candidate)

    add(raw, False)
    terminal = repair_raw_terminal_string_value(raw, name, tools)
    if terminal is not None:
        add(terminal, True)
    return candidates


def _trimmed_end(s: str) -> int:
    return len(s.rstrip())


def repair_missing_string_delimiter(s: str) -> str:
    """An unbalanced `<|"|>` closed at the end, before a final `}` or `]`."""
    if s.count(Q) % 2 == 0:
        return s
    at = _trimmed_end(s)
    if at > 0 and s[at - 1] in "}]":
        at -= 1
    return s[:at] + Q + s[at:]


def repair_missing_object_close(s: str) -> str:
    if not s.lstrip().startswith("{"):
        return s
    end = _trimmed_end(s)
    if end > 0 and s[end - 1] == "}":
        return s
    return s[:end] + "}" + s[end:]


def repair_single_quoted_values(s: str) -> str:
    """`key:'value'` as `key:<|"|>value<|"|>`, dropping a stray `<|"|>` right after it."""
    out: list[str] = []
    i = 0
    while i < len(s):
        if s.startswith(Q, i):
            close = s.find(Q, i + len(Q))
            if close == -1:
                out.append(s[i:])
                break
            end = close + len(Q)
            out.append(s[i:end])
            i = end
            continue
        if s[i] == '"':
            end = _json_string_end(s, i)
            if end != -1:
                out.append(s[i:end])
                i = end
                continue
        if s[i] != ":":
            out.append(s[i])
            i += 1
            continue
        space = _skip_space(s, i + 1)
        out.append(s[i:space])
        i = space
        if i >= len(s) or s[i] != "'":
            continue
        quoted = _single_quoted(s, i)
        if quoted is None:
            continue
        value, i = quoted
        out.append(Q + value + Q)
        if s.startswith(Q, i):
            i += len(Q)
    return "".join(out)


def _single_quoted(s: str, start: int) -> tuple[str, int] | None:
    escaped = False
    for i in range(start + 1, len(s)):
        if s[i] == "'" and not escaped:
            return s[start + 1 : i], i + 1
        escaped = s[i] == "\\" and not escaped
    return None


def _tool_properties(name: str, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    for tool in tools:
        function = tool.get("function") or {}
        if function.get("name") == name:
            properties = (function.get("parameters") or {}).get("properties")
            return properties if isinstance(properties, dict) else None
    return None


def _accepts_string(prop: Any) -> bool:
    if not isinstance(prop, dict):
        return False
    kind = prop.get("type")
    types = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    if any(isinstance(t, str) and t.lower() == "string" for t in types):
        return True
    return any(_accepts_string(branch) for branch in prop.get("anyOf") or ())


def repair_raw_terminal_string_value(
    raw: str, name: str, tools: list[dict[str, Any]]
) -> str | None:
    """A bare value of a string argument wrapped in `<|"|>` marks: only for an argument the
    tool's schema says is a string (raw text is too ambiguous otherwise)."""
    props = _tool_properties(name, tools)
    if props is None:
        return None
    for key, prop in props.items():
        if _accepts_string(prop):
            repaired = _wrap_raw_value(raw, key, props)
            if repaired is not None:
                return repaired
    return None


def _wrap_raw_value(s: str, key: str, props: dict[str, Any]) -> str | None:
    search = 0
    while search < len(s):
        start = _value_start(s, key, search)
        if start is None:
            return None
        check = _skip_space(s, start)
        if check < len(s) and _starts_structured(s, check):
            search = start
            continue
        end = _raw_value_end(s, start, props)
        return s[:start] + Q + s[start:end] + Q + s[end:]
    return None


def _value_start(s: str, key: str, search: int) -> int | None:
    """Where the value of `key` starts (after its `:`), from `search` on, outside strings."""
    i = search
    while i < len(s):
        if s.startswith(Q, i):
            close = s.find(Q, i + len(Q))
            if close == -1:
                return None
            i = close + len(Q)
            continue
        if s[i] == '"':
            end = _json_string_end(s, i)
            if end != -1:
                i = end
                continue
        if s[i] in "{,":
            key_start = _skip_space(s, i + 1)
            if s.startswith(key, key_start):
                colon = _skip_space(s, key_start + len(key))
                if colon < len(s) and s[colon] == ":":
                    return colon + 1
        i += 1
    return None


def _raw_value_end(s: str, start: int, props: dict[str, Any]) -> int:
    """A raw value runs to the `,` before the next declared key, else to a final `}`."""
    for i in range(start, len(s)):
        if s[i] != ",":
            continue
        key_start = _skip_space(s, i + 1)
        key_end = _key_end(s, key_start)
        if key_end == key_start:
            continue
        colon = _skip_space(s, key_end)
        if colon < len(s) and s[colon] == ":" and s[key_start:key_end] in props:
            return i
    end = _trimmed_end(s)
    if end > start and s[end - 1] == "}":
        return end - 1
    return len(s)


def _starts_structured(s: str, at: int) -> bool:
    if s.startswith(Q, at) or s[at] in "'\"{[":
        return True
    return s[at] == "-" or "0" <= s[at] <= "9" or s[at] in "tfn"  # a JSON literal
