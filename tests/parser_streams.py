"""What the parser and renderer tests share: a parser run over pieces of output, the ways to cut
an output into pieces, and the names of ported cases (for test ids)."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.parsers.builtin import BuiltinParser


def case_names(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def run_parser(parser: BuiltinParser, pieces: list[str]) -> tuple[str, str, list[dict[str, Any]]]:
    """The content, thinking and tool calls (wire dicts) of `pieces` fed in order, then finish."""
    content, thinking, calls = "", "", []
    for piece in [*pieces, None]:
        c, t, k = parser.add(piece) if piece is not None else parser.finish()
        content, thinking = content + c, thinking + t
        calls += [call.to_wire() for call in k]
    return content, thinking, calls


def splits(text: str) -> list[list[str]]:
    """The text whole, a character at a time, and cut in two at every position."""
    return [[text], list(text)] + [[text[:i], text[i:]] for i in range(len(text) + 1)]
