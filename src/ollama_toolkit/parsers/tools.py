"""Tool calls in a model's output, parsed as the text streams in (Ollama's `tools` package).

The chat template shows how the model writes a call: the text it renders before a past turn's
`.ToolCalls` is the tag (`<tool_call>`, `[TOOL_CALLS]` …), or `{` when calls are bare JSON.
Text before the tag streams as content; after it, every complete JSON object that names one of
the request's tools becomes a call, sent as soon as its closing brace arrives.
"""

from __future__ import annotations

import enum
import json
import random
import string
from collections.abc import Sequence
from typing import Any

from ollama_toolkit.api.types import Tool, ToolCall, ToolCallFunction
from ollama_toolkit.template.nodes import (
    ActionNode,
    FieldNode,
    IfNode,
    ListNode,
    Node,
    RangeNode,
    TextNode,
    WithNode,
)

JSON_TAG = "{"


def tool_call_tag(root: ListNode) -> str:
    """The text a template writes before tool calls, up to any `{`; `{` when there is none."""
    branch = _tool_calls_branch(root.nodes)
    text = _first_text(branch.list.nodes) if branch is not None else None
    if text is None:
        return JSON_TAG
    tag = text.replace("\r\n", "\n").split("{", 1)[0].strip()
    return tag or JSON_TAG


def _tool_calls_branch(nodes: Sequence[Node]) -> IfNode | None:
    """The first `{{ if … .ToolCalls … }}`, searched depth-first through if/range/with."""
    for node in nodes:
        if isinstance(node, IfNode) and any(
            isinstance(arg, FieldNode) and "ToolCalls" in arg.ident
            for cmd in node.pipe.cmds
            for arg in cmd.args
        ):
            return node
        if isinstance(node, ListNode):
            found = _tool_calls_branch(node.nodes)
        elif isinstance(node, (IfNode, RangeNode, WithNode)):
            found = _tool_calls_branch(node.list.nodes)
            if found is None and node.else_list is not None:
                found = _tool_calls_branch(node.else_list.nodes)
        else:
            continue
        if found is not None:
            return found
    return None


def _first_text(nodes: Sequence[Node]) -> str | None:
    """The first non-blank text, not looking past the first action or nested block."""
    for node in nodes:
        if isinstance(node, TextNode):
            if node.text.strip():
                return node.text
        elif isinstance(node, ListNode):
            found = _first_text(node.nodes)
            if found is not None:
                return found
        elif isinstance(node, (IfNode, RangeNode, WithNode)):
            found = _first_text(node.list.nodes)
            if found is None and node.else_list is not None:
                found = _first_text(node.else_list.nodes)
            return found
        elif isinstance(node, ActionNode):
            return None
    return None


def new_call_id() -> str:
    """Ollama's tool call ids: `call_` and eight random lowercase letters or digits."""
    return "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


class _State(enum.Enum):
    LOOKING = enum.auto()  # content so far; waiting for the tag
    CALLING = enum.auto()  # after the tag: everything is parsed as calls
    DONE = enum.auto()  # no (more) calls possible: everything is content


class ToolCallParser:
    """Feed model output with `add`; get back the calls completed and the content to send."""

    def __init__(self, tag: str, tools: Sequence[Tool]) -> None:
        self.tag = tag
        self._names = sorted({t.function.name for t in tools}, key=len, reverse=True)
        self._state = _State.LOOKING
        self._held = ""
        self._count = 0

    def add(self, text: str) -> tuple[list[ToolCall], str]:
        if self._state is _State.DONE:
            return [], text
        self._held += text
        content = ""
        if self._state is _State.LOOKING:
            at, found = self._find_tag()
            content, self._held = self._held[:at], self._held[at:]
            if self.tag in ("{", "[") and content.strip():
                # Bare JSON counts as a call only when the answer starts with it.
                self._state = _State.DONE
                content, self._held = content + self._held, ""
                return [], content
            if not found:
                return [], content
            self._state = _State.CALLING
        calls = []
        while (call := self._next_call()) is not None:
            calls.append(call)
        if self._closed():
            self._state = _State.DONE
            content, self._held = content + self._held, ""
        return calls, content

    def finish(self) -> str:
        """Held text to send when the output ends: a tag or JSON that never became a call."""
        held, self._held = self._held, ""
        return "" if self._count else held

    def _find_tag(self) -> tuple[int, bool]:
        """Where the tag starts in the held text; or where a partial tag at its end starts."""
        at = self._held.find(self.tag)
        if at >= 0:
            return at, True
        for n in range(min(len(self.tag), len(self._held)), 0, -1):
            if self._held.endswith(self.tag[:n]):
                return len(self._held) - n, False
        return len(self._held), False

    def _next_call(self) -> ToolCall | None:
        name = self._find_name()
        found = None if name is None else _find_arguments(self._held, name)
        if name is None or found is None:
            return None
        arguments, end = found
        self._held = self._held[end:]
        call = ToolCall(
            id=new_call_id(),
            function=ToolCallFunction(index=self._count, name=name, arguments=arguments),
        )
        self._count += 1
        return call

    def _find_name(self) -> str | None:
        """The tool named earliest in the held text (the longest name on a tie); None while the
        text ends with what may be the start of a longer name."""
        held = self._held
        for n in range(1, min(len(held), len(self._names[0]) if self._names else 0) + 1):
            tail = held[-n:]
            if any(len(tail) < len(name) and name.startswith(tail) for name in self._names):
                return None
        best: str | None = None
        best_at = -1
        for name in self._names:  # longest first, so a tie keeps the longer name
            at = held.find(name)
            if at >= 0 and (best_at < 0 or at < best_at):
                best, best_at = name, at
        return best

    def _closed(self) -> bool:
        """For `{`/`[` tags: whether the held text's first bracket has been closed."""
        if self.tag not in ("{", "["):
            return False
        opening, closing = self.tag, "}" if self.tag == "{" else "]"
        depth = 0
        for c, in_string in _scan(self._held):
            if in_string:
                continue
            if c == opening:
                depth += 1
            elif c == closing:
                depth -= 1
                if depth == 0:
                    return True
        return False


def _scan(text: str):
    """Each character of `text` with whether it is inside a JSON string (quotes count as in)."""
    in_string = escaped = False
    for c in text:
        if escaped:
            escaped = False
            yield c, True
        elif c == "\\":
            escaped = True
            yield c, in_string
        elif c == '"':
            in_string = not in_string
            yield c, True
        else:
            yield c, in_string


def _find_arguments(text: str, name: str) -> tuple[dict[str, Any], int] | None:
    """The arguments in the first complete JSON object of `text`, and the index just past it.

    The object may be the call (`{"name": …, "arguments": {…}}`, or `parameters`, also as a
    JSON string), hold the call under the tool's name or deeper, or be the arguments itself.
    """
    depth = 0
    start = -1
    for i, (c, in_string) in enumerate(_scan(text)):
        if in_string:
            continue
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and start >= 0:
                try:
                    value = json.loads(text[start : i + 1])
                except ValueError:
                    start = -1
                    continue
                if isinstance(value, dict):
                    found = _arguments_in(value, name)
                    return (value if found is None else found), i + 1
                start = -1
            depth = max(depth, 0)
    return None


def _arguments_in(obj: dict[str, Any], name: str) -> dict[str, Any] | None:
    if "name" in obj:
        for key in ("arguments", "parameters"):
            found = _as_object(obj.get(key))
            if found is not None:
                return found
        if obj["name"] == name:
            return {}  # a call without arguments
    found = _as_object(obj.get(name))
    if found is not None:
        return found
    for value in obj.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict) and (found := _arguments_in(child, name)) is not None:
                return found
    return None


def _as_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None
