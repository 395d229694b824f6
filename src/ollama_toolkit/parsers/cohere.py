"""Cohere North / Command A 2026's output (`cohere`; Ollama's `model/parsers/cohere.go`): the
prompt opens `<|START_THINKING|>` unless `think` is false, so the output starts as thinking up
to `<|END_THINKING|>`; then `<|START_TEXT|>content<|END_TEXT|>` (or the older
`<|START_RESPONSE|>…<|END_RESPONSE|>`), or `<|START_ACTION|>[…]<|END_ACTION|>`, a JSON array of
`{"tool_call_id", "tool_name", "parameters"}` calls. Text outside any block is content."""

from __future__ import annotations

import enum
import json
import logging
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import Parsed, TaggedParser, continues_answer, overlap

log = logging.getLogger(__name__)

START_THINKING = "<|START_THINKING|>"
END_THINKING = "<|END_THINKING|>"
START_TEXT = "<|START_TEXT|>"
END_TEXT = "<|END_TEXT|>"
START_ACTION = "<|START_ACTION|>"
END_ACTION = "<|END_ACTION|>"
END_OF_TURN = "<|END_OF_TURN_TOKEN|>"
# The older Command A template's markers, which these models also write: aliases of the text's.
START_RESPONSE = "<|START_RESPONSE|>"
END_RESPONSE = "<|END_RESPONSE|>"

_TEXT_OPENERS = (START_TEXT, START_RESPONSE)
_TEXT_CLOSERS = (END_TEXT, END_RESPONSE, END_OF_TURN)  # end of turn also closes bare text
_AWAITED = (START_TEXT, START_RESPONSE, START_ACTION, END_OF_TURN)


class _State(enum.Enum):
    THINKING = enum.auto()
    AWAITING = enum.auto()  # between blocks
    CONTENT = enum.auto()
    ACTION = enum.auto()


class CohereParser(TaggedParser):
    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (
        START_THINKING,
        END_THINKING,
        START_TEXT,
        END_TEXT,
        START_ACTION,
        END_ACTION,
        START_RESPONSE,
        END_RESPONSE,
    )

    def _begin(self, last_message: dict[str, Any] | None, think: bool | str | None) -> None:
        if continues_answer(last_message):
            self.state = _State.CONTENT  # the prompt left the text open to continue
        elif think is None or bool(think):  # the template reasons by default
            self.state = _State.THINKING
        else:
            self.state = _State.AWAITING

    def finish(self) -> Parsed:
        return self._parse("", done=True)

    def _step(self, content: list[str], thinking: list[str], calls: list[ToolCall]) -> bool:
        """Consume what the current state can decide; True when the rest should be looked at
        again in a new state."""
        buf, done = self.buffer, self.done
        if not buf:
            return False
        if self.state is _State.THINKING:
            at = buf.find(END_THINKING)
            if at >= 0:
                thinking.append(buf[:at].rstrip())
                self.buffer = buf[at + len(END_THINKING) :]
                self.state = _State.AWAITING
                return True
            # Hold back a partial tag and the whitespace before it (dropped at the tag).
            self._pass_until((END_THINKING,), thinking)
            return False

        if self.state is _State.AWAITING:
            # The next text or action block; whitespace and end-of-turn markers between
            # blocks are skipped.
            for opener in _TEXT_OPENERS:
                at = buf.find(opener)
                if at >= 0:
                    self.buffer = buf[at + len(opener) :]
                    self.state = _State.CONTENT
                    return True
            at = buf.find(START_ACTION)
            if at >= 0:
                self.buffer = buf[at + len(START_ACTION) :]
                self.state = _State.ACTION
                return True
            trimmed = buf.lstrip()
            if trimmed.startswith(END_OF_TURN):
                self.buffer = trimmed[len(END_OF_TURN) :]
                return True
            if not trimmed:
                if done:
                    self.buffer = ""
                return False
            # Wait only while this may still become one of the tags: anything else (bare
            # content, a tag not known here) streams out as content.
            if not done and any(len(trimmed) < len(t) and t.startswith(trimmed) for t in _AWAITED):
                return False
            self.buffer = trimmed
            self.state = _State.CONTENT
            return True

        if self.state is _State.CONTENT:
            for closer in _TEXT_CLOSERS:
                at = buf.find(closer)
                if at >= 0:
                    content.append(buf[:at])
                    self.buffer = buf[at + len(closer) :]
                    self.state = _State.AWAITING
                    return True
            end = len(buf) if done else len(buf) - max(overlap(buf, t) for t in _TEXT_CLOSERS)
            content.append(buf[:end])
            self.buffer = buf[end:]
            return False

        at = buf.find(END_ACTION)
        if at >= 0:
            self.buffer = buf[at + len(END_ACTION) :]
            self.state = _State.AWAITING
            calls.extend(parse_actions(buf[:at]))
            return True
        if done:  # a truncated action: read what there is
            self.buffer = ""
            calls.extend(parse_actions(buf))
        return False


def parse_actions(payload: str) -> list[ToolCall]:
    """The calls of an action block's JSON array. When the array does not parse (sampled
    output drops a comma, or leaves a value unquoted), each balanced object in it is read on
    its own, so one bad call does not lose the others."""
    payload = payload.strip()
    if not payload:
        return []
    try:
        value = json.loads(payload)
    except ValueError:
        value = None
    else:
        if value is None:
            return []
    if isinstance(value, list):
        try:
            return [_call(item) for item in value]
        except ValueError:
            pass
    calls = []
    for obj in json_objects(payload):
        try:
            calls.append(_call(json.loads(obj)))
        except ValueError as e:
            log.warning("cohere action parsing failed: %s: %s", e, obj[:200])
    return calls


def _call(item: Any) -> ToolCall:
    """One `{"tool_call_id", "tool_name", "parameters"}` object as a call; ValueError for one
    that Go's decoder would refuse."""
    if item is None:
        item = {}
    if not isinstance(item, dict):
        raise ValueError("a call is not an object")
    call_id, name = item.get("tool_call_id"), item.get("tool_name")
    parameters = item.get("parameters")
    if not isinstance(call_id, (str, type(None))) or not isinstance(name, (str, type(None))):
        raise ValueError("tool_call_id and tool_name must be strings")
    if not isinstance(parameters, (dict, type(None))):
        raise ValueError("parameters must be an object")
    return ToolCall(
        id=call_id or None,
        function=ToolCallFunction(name=name or "", arguments=parameters or {}),
    )


def json_objects(text: str) -> list[str]:
    """The balanced top-level `{…}` of `text`, braces inside strings not counted."""
    objects = []
    depth, start = 0, -1
    in_string = escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\" and in_string:
            escaped = True
        elif c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0 and start >= 0:
                objects.append(text[start : i + 1])
                start = -1
    return objects
