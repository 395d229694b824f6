"""`format` → a GBNF grammar, and the check that ends generation when the JSON value closes.

A JSON schema goes through our own converter (`schema_grammar.py`): every keyword it takes is
enforced while decoding, and a schema it cannot enforce is refused (400) naming the keyword.

llama.cpp's JSON grammars allow whitespace after the closing brace, so a model can pad forever
(a long-standing Ollama complaint). `JsonEnd` watches the emitted text and reports the moment the
top-level value is complete, so the slot finishes right there.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF

from ollama_toolkit.api.errors import InvalidFormat
from ollama_toolkit.engine.schema_grammar import schema_to_gbnf


def grammar_for_format(fmt: str | dict[str, Any] | None) -> str | None:
    """The GBNF grammar for a request's `format`: None, "json", or a JSON schema object."""
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return JSON_GBNF
    if isinstance(fmt, dict):
        return _schema_grammar(json.dumps(fmt))  # key order is the output order: keep it
    raise InvalidFormat(
        f'invalid format: {json.dumps(fmt)}; expected "json" or a valid JSON Schema object'
    )


@functools.lru_cache(maxsize=64)
def _schema_grammar(schema: str) -> str:
    # Clients send the same schema with every request: convert it once (a refusal is not
    # cached: lru_cache keeps results only).
    return schema_to_gbnf(json.loads(schema))


class JsonEnd:
    """Incremental scanner: depth of brackets outside strings, to find where a value closes."""

    __slots__ = ("depth", "in_string", "escaped", "started")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.started = False

    def feed(self, text: str) -> int:
        """Return the index just past the closing bracket of the top-level value, or -1."""
        for i, c in enumerate(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif c == "\\":
                    self.escaped = True
                elif c == '"':
                    self.in_string = False
            elif c == '"':
                self.in_string = True
            elif c in "{[":
                self.depth += 1
                self.started = True
            elif c in "}]":
                self.depth -= 1
                if self.started and self.depth == 0:
                    return i + 1
        return -1
