"""Ollama's built-in templates and its Jinja-to-template matching (`template.Named`).

A GGUF file carries a Jinja `tokenizer.chat_template`; Ollama picks the built-in Go template
whose known Jinja source is closest by Levenshtein distance, accepting it when the distance
is under 100 (first entry of `index.json` wins ties).
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

MATCH_THRESHOLD = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _builtin_dir() -> Any:
    return resources.files(__package__) / "builtin"


@functools.cache
def _index() -> tuple[tuple[str, str], ...]:
    entries = json.loads((_builtin_dir() / "index.json").read_text(encoding="utf-8"))
    return tuple((e["template"], e["name"]) for e in entries)


def named_template(name: str) -> tuple[str, dict[str, Any]] | None:
    """A built-in template's text (line endings normalised) and default parameters, or None."""
    if not _NAME.fullmatch(name):
        return None
    folder = _builtin_dir()
    source = folder / f"{name}.gotmpl"
    if not source.is_file():
        return None
    text = source.read_text(encoding="utf-8").replace("\r\n", "\n")
    params_file = folder / f"{name}.json"
    params = json.loads(params_file.read_text(encoding="utf-8")) if params_file.is_file() else {}
    return text, params


def levenshtein(a: str, b: str) -> int:
    """Edit distance over code points (Go's agnivade/levenshtein works on runes).

    Uses Hyyrö's bit-parallel algorithm with Python integers as bit vectors: chat templates
    run to thousands of characters, which a quadratic loop in Python handles too slowly.
    """
    if not a:
        return len(b)
    m = len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(a):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for ch in b:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def template_for_jinja(chat_template: str) -> str | None:
    """The built-in template name Ollama would choose for a GGUF Jinja chat template."""
    best: str | None = None
    score = MATCH_THRESHOLD
    for jinja, name in _index():
        # Only a strictly smaller distance can win, and length difference bounds it below.
        if abs(len(jinja) - len(chat_template)) >= score:
            continue
        distance = levenshtein(chat_template, jinja)
        if distance < score:
            best, score = name, distance
            if score == 0:
                break
    return best
