"""Splitting a thinking model's reasoning from its answer, as the text streams in.

A model thinks between an opening and a closing tag (`<think>` … `</think>`); Ollama infers the
tags from the chat template, where the previous turns' `.Thinking` is written back between
them. `ThinkingParser` separates the two parts incrementally, holding back only text that may
still turn out to be a tag.
"""

from __future__ import annotations

import enum

from ollama_toolkit.template.nodes import (
    ActionNode,
    BranchNode,
    CommandNode,
    FieldNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
)

DEFAULT_TAGS = ("<think>", "</think>")


def infer_tags(root: ListNode) -> tuple[str, str]:
    """Ollama's heuristic: for each `.Thinking` inside a `range` over `.Messages`, the first and
    last text of the nearest enclosing list are the opening and closing tags (the last such
    `.Thinking` wins). Empty strings when the template does not write thinking back."""
    opening = closing = ""
    ancestors: list[Node] = []

    def visit(node: Node) -> None:
        nonlocal opening, closing
        ancestors.append(node)
        if isinstance(node, FieldNode) and node.ident[0] == "Thinking":
            ranges = [a for a in ancestors if isinstance(a, RangeNode)]
            if ranges and _uses_field(ranges[-1].pipe, "Messages"):
                enclosing = next(a for a in reversed(ancestors) if isinstance(a, ListNode))
                first, last = enclosing.nodes[0], enclosing.nodes[-1]
                if isinstance(first, TextNode):
                    opening = first.text.strip()
                if isinstance(last, TextNode):
                    closing = last.text.strip()
        for child in _children(node):
            visit(child)
        ancestors.pop()

    visit(root)
    return opening, closing


def _children(node: Node) -> list[Node]:
    if isinstance(node, ListNode):
        return node.nodes
    if isinstance(node, BranchNode):
        return [n for n in (node.pipe, node.list, node.else_list) if n is not None]
    if isinstance(node, ActionNode):
        return [node.pipe]
    if isinstance(node, TemplateNode):
        return [node.pipe] if node.pipe is not None else []
    if isinstance(node, PipeNode):
        return list(node.cmds)
    if isinstance(node, CommandNode):
        return node.args
    return []


def _uses_field(pipe: PipeNode, name: str) -> bool:
    stack: list[Node] = [pipe]
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode) and node.ident[0] == name:
            return True
        stack.extend(_children(node))
    return False


class _State(enum.Enum):
    LOOKING = enum.auto()  # no opening tag yet, only whitespace seen
    OPENED = enum.auto()  # opening tag seen; eating whitespace before the thinking
    THINKING = enum.auto()
    CLOSED = enum.auto()  # closing tag seen; eating whitespace before the answer
    ANSWERING = enum.auto()


class ThinkingParser:
    """Feed model output with `add`; get back (thinking, content) that is safe to send now.

    Output that does not start with the opening tag (after whitespace) is all content.
    Whitespace right after either tag is dropped, as Ollama does.
    """

    def __init__(self, opening: str, closing: str) -> None:
        self.opening = opening
        self.closing = closing
        self._state = _State.LOOKING
        self._held = ""

    def add(self, text: str) -> tuple[str, str]:
        self._held += text
        thinking: list[str] = []
        content: list[str] = []
        while True:
            more = self._step(thinking, content)
            if not more:
                return "".join(thinking), "".join(content)

    def finish(self) -> tuple[str, str]:
        """What is still held back when the output ends: a partial tag is plain text after all."""
        held, self._held = self._held, ""
        if self._state in (_State.OPENED, _State.THINKING):
            return held, ""
        return "", held

    def _step(self, thinking: list[str], content: list[str]) -> bool:
        """Consume what the current state can decide; True when another state should look."""
        held = self._held
        if self._state is _State.LOOKING:
            trimmed = held.lstrip()
            if trimmed.startswith(self.opening):
                self._held = trimmed[len(self.opening) :].lstrip()
                self._state = _State.THINKING if self._held else _State.OPENED
                return True
            if self.opening.startswith(trimmed):  # whitespace or a partial tag: wait
                return False
            self._held = ""
            self._state = _State.ANSWERING
            content.append(held)  # no thinking: the answer keeps its leading whitespace
            return False
        if self._state is _State.OPENED:
            self._held = held.lstrip()
            if not self._held:
                return False
            self._state = _State.THINKING
            return True
        if self._state is _State.THINKING:
            before, found, after = held.partition(self.closing)
            if found:
                after = after.lstrip()
                self._held = ""
                self._state = _State.ANSWERING if after else _State.CLOSED
                thinking.append(before)
                content.append(after)
                return False
            keep = _partial_suffix(held, self.closing)
            self._held = held[len(held) - keep :] if keep else ""
            thinking.append(held[: len(held) - keep])
            return False
        if self._state is _State.CLOSED:
            self._held = ""
            trimmed = held.lstrip()
            if trimmed:
                self._state = _State.ANSWERING
            content.append(trimmed)
            return False
        self._held = ""
        content.append(held)
        return False


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper start of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
