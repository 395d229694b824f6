"""A JSON schema → a GBNF grammar for `format`: every keyword enforced, or the schema refused.

llama-cpp-python's Python port of llama.cpp's converter lags the C++ one (no integer bounds, no
`definitions`, a `char` that lets control characters through), and both loosen what they cannot
express without a word: an unanchored or unsupported `pattern` becomes any string, a keyword they
do not know is ignored. The C++ converter is not exported by llama-cpp-python's libraries, so
this module is our own, written from the C++ one's grammar shapes
(`common/json-schema-to-grammar.cpp`): the same primitives, whitespace, property order and
repetitions, plus number bounds, exact `pattern` search semantics and JSON escapes inside
patterns. What it cannot enforce it refuses with `InvalidFormat` (a 400) naming the keyword.

Two passes: `_check` walks the whole schema and refuses any keyword outside `SUPPORTED` (the
annotations in `ANNOTATIONS` are allowed and ignored) or of the wrong shape; `_Converter` then
builds the grammar from the root, refusing combinations it cannot express (`pattern` with
`maxLength`, `anyOf` next to `properties`, `uniqueItems: true`, ...).

Where a schema allows more than the grammar does, the grammar is the narrower one, never the
looser: an object with `properties` admits no other keys unless `additionalProperties` says so
(as llama.cpp), `prefixItems` are all present, numbers with bounds have no exponent and at most
15 significant digits (so parsing them as doubles keeps them inside their bounds), dates have no
29th of February, `oneOf` is enforced as `anyOf` (as llama.cpp: exclusivity is not checked).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import unquote

from ollama_toolkit.api.errors import InvalidFormat

# Keywords that never constrain a value: allowed anywhere and ignored.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        # OpenAPI's hint next to a `oneOf` (pydantic writes it for discriminated unions): the
        # alternatives themselves carry the constraint.
        "discriminator",
    }
)
STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern", "format"})
NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
ARRAY_KEYWORDS = frozenset({"items", "prefixItems", "minItems", "maxItems", "uniqueItems"})
OBJECT_KEYWORDS = frozenset({"properties", "required", "additionalProperties"})
GENERAL_KEYWORDS = frozenset(
    {"type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "$defs", "definitions"}
)
SUPPORTED = GENERAL_KEYWORDS | STRING_KEYWORDS | NUMBER_KEYWORDS | ARRAY_KEYWORDS | OBJECT_KEYWORDS
TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
STRING_FORMATS = frozenset({"date", "time", "date-time", "uuid"} | {f"uuid{v}" for v in "12345"})

# Containers of subschemas that are not themselves constraints.
_DEFINITIONS = frozenset({"$defs", "definitions"})
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems")

# llama.cpp's grammar parser turns a repetition over 2000 into an unbounded one, and refuses
# 2000 rules made by one: longer repetitions are built from blocks of this many.
_BLOCK = 1000
# An open-ended integer range stops at this many digits (llama.cpp's integral part does too).
_OPEN_DIGITS = 16
# Bounded numbers: at most this many significant digits, so a double holds them exactly enough
# that a value strictly inside its bounds stays strictly inside once parsed.
_SIGNIFICANT = 15
_MAX_BOUND_DIGITS = 300
_MAX_PATTERN_DEPTH = 100

_HEX = "[0-9a-fA-F]"
_YEAR = '( [1-9] [0-9]{3} | "0" [1-9] [0-9]{2} | "00" [1-9] [0-9] | "000" [1-9] )'
_DAY28 = '( "0" [1-9] | "1" [0-9] | "2" [0-8] )'
_DAY30 = '( "0" [1-9] | [12] [0-9] | "30" )'
_DAY31 = '( "0" [1-9] | [12] [0-9] | "3" [01] )'
_HOUR = '( [01] [0-9] | "2" [0-3] )'

# name → (body, the primitives it uses). Whitespace, number shapes and the JSON string char are
# llama.cpp's, narrowed where they let invalid or absurd output through: `char` also refuses
# escaped surrogates (half a character), exponents have at most two digits (1e999 is infinity).
_PRIMITIVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "space": ('( " " | "\\n"{1,2} [ \\t]{0,20} )?', ()),
    "boolean": ('( "true" | "false" )', ()),
    "null": ('"null"', ()),
    "integral-part": ('( "0" | [1-9] [0-9]{0,15} )', ()),
    "decimal-part": ("[0-9]{1,16}", ()),
    "integer": ('"-"? integral-part', ("integral-part",)),
    "number": (
        '"-"? integral-part ( "." decimal-part )? ( [eE] [-+]? [0-9]{1,2} )?',
        ("integral-part", "decimal-part"),
    ),
    "char": (
        '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ( ["\\\\/bfnrt] | "u" '
        f"( [0-9a-cA-CeEfF] {_HEX}{{3}} | [dD] [0-7] {_HEX}{{2}} ) )",
        (),
    ),
    "string": ('"\\"" char* "\\""', ("char",)),
    "value": (
        "object | array | string | number | boolean | null",
        ("object", "array", "string", "number", "boolean", "null"),
    ),
    "object": (
        '"{" space ( string space ":" space value ( "," space string space ":" space value )* )?'
        ' space "}"',
        ("space", "string", "value"),
    ),
    "array": ('"[" space ( value ( "," space value )* )? space "]"', ("space", "value")),
    "date": (
        f'{_YEAR} "-" ( ( "0" [13578] | "1" [02] ) "-" {_DAY31} | ( "0" [469] | "11" ) "-" '
        f'{_DAY30} | "02-" {_DAY28} )',
        (),
    ),
    "time": (
        f'{_HOUR} ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{{3}} )? ( "Z" | [+-] {_HOUR} ":" '
        "[0-5] [0-9] )",
        (),
    ),
    "date-time": ('date "T" time', ("date", "time")),
    "uuid": (f'{_HEX}{{8}} "-" {_HEX}{{4}} "-" {_HEX}{{4}} "-" {_HEX}{{4}} "-" {_HEX}{{12}}', ()),
}
_RESERVED = frozenset(_PRIMITIVES) | {"root"}

_SIMPLE_SYMBOL = re.compile(r'[a-zA-Z0-9-]+|\[(?:\\.|[^\]\\])*\]|"(?:\\.|[^"\\])*"')
_RULE_CHARS = re.compile(r"[^a-zA-Z0-9-]+")


def schema_to_gbnf(schema: Any) -> str:
    """The GBNF grammar (root rule `root`) for a JSON schema; InvalidFormat if it cannot be
    enforced. Properties come out in the schema's order."""
    try:
        _check(schema, "#")
        converter = _Converter(schema)
        converter.prim("space")
        converter.rules["root"] = converter.body(schema, "root", "#")
    except RecursionError:  # a long chain of $refs: the body's nesting limit does not see it
        raise InvalidFormat("invalid format: the JSON schema is nested too deeply") from None
    return converter.grammar()


# --- errors ----------------------------------------------------------------------------------


def _unsupported(keyword: str, path: str, detail: str = "") -> InvalidFormat:
    return InvalidFormat(
        f'invalid format: unsupported JSON schema keyword "{keyword}"{detail} at {path}'
    )


def _invalid(keyword: str, path: str, what: str) -> InvalidFormat:
    return InvalidFormat(f'invalid format: JSON schema keyword "{keyword}" {what} at {path}')


def _combination(keyword: str, other: str, path: str) -> InvalidFormat:
    return _unsupported(keyword, path, f' together with "{other}"')


def _empty(path: str, why: str) -> InvalidFormat:
    return InvalidFormat(f"invalid format: the JSON schema at {path} accepts no value ({why})")


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


# --- the keyword check -------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: Any) -> int | None:
    """A non-negative integer (2.0 counts as 2, as JSON Schema has it), else None."""
    if isinstance(value, bool) or not _is_number(value):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return value if value >= 0 else None


def _check(node: Any, path: str) -> None:
    """Every keyword of `node` and its subschemas is supported (or an annotation) and well
    formed; else InvalidFormat naming the first that is not."""
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise InvalidFormat(
            f"invalid format: a JSON schema must be an object or a boolean at {path}"
        )
    for key, value in node.items():
        if key in ANNOTATIONS:
            continue
        if key not in SUPPORTED:
            raise _unsupported(key, path)
        at = _pointer(path, key)
        if key == "type":
            names = value if isinstance(value, list) else [value]
            if not names or any(not isinstance(t, str) or t not in TYPES for t in names):
                raise _invalid(key, path, f"must be one of {', '.join(TYPES)} or a list of them")
        elif key == "enum":
            if not isinstance(value, list) or not value:
                raise _invalid(key, path, "must be a non-empty array")
        elif key == "$ref" or key == "pattern" or key == "format":
            if not isinstance(value, str):
                raise _invalid(key, path, "must be a string")
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if not isinstance(value, list) or not value:
                raise _invalid(key, path, "must be a non-empty array of schemas")
            for i, sub in enumerate(value):
                _check(sub, _pointer(at, i))
        elif key in ("properties", "$defs", "definitions"):
            if not isinstance(value, dict):
                raise _invalid(key, path, "must be an object of schemas")
            for name, sub in value.items():
                _check(sub, _pointer(at, name))
        elif key == "items":
            if isinstance(value, list):  # draft 7's tuple form
                for i, sub in enumerate(value):
                    _check(sub, _pointer(at, i))
            else:
                _check(value, at)
        elif key == "additionalProperties":
            _check(value, at)
        elif key == "required":
            if not isinstance(value, list) or any(not isinstance(n, str) for n in value):
                raise _invalid(key, path, "must be an array of strings")
        elif key in _COUNTS:
            if _count(value) is None:
                raise _invalid(key, path, "must be a non-negative integer")
        elif key in NUMBER_KEYWORDS:
            if not _is_number(value):
                raise _invalid(key, path, "must be a number")
        elif key == "uniqueItems":
            if not isinstance(value, bool):
                raise _invalid(key, path, "must be a boolean")
            if value:
                # Distinct items are beyond a context-free grammar.
                raise _unsupported(key, path, ": true")


# --- GBNF text helpers ---------------------------------------------------------------------------


def _literal(text: str) -> str:
    """A GBNF string literal matching `text` exactly."""
    out = []
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _json_literal(value: Any) -> str:
    return _literal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _class_char(cp: int) -> str:
    c = chr(cp)
    if c.isascii() and c.isalnum():
        return c
    if cp < 0x100:
        return f"\\x{cp:02X}"
    if cp < 0x10000:
        return f"\\u{cp:04X}"
    return f"\\U{cp:08X}"


def _class(ranges: list[tuple[int, int]], negated: bool = False) -> str:
    parts = [_class_char(a) if a == b else f"{_class_char(a)}-{_class_char(b)}" for a, b in ranges]
    return "[" + ("^" if negated else "") + "".join(parts) + "]"


def _alternatives(alts: list[str]) -> str:
    return alts[0] if len(alts) == 1 else "( " + " | ".join(alts) + " )"


def _seq(*parts: str) -> str:
    return " ".join(p for p in parts if p)


# --- character sets (for patterns) -------------------------------------------------------------

_MAX_CP = 0x10FFFF
Ranges = list[tuple[int, int]]


def _normalize(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    start = 0
    for a, b in _normalize(ranges):
        if a > start:
            out.append((start, a - 1))
        start = b + 1
    if start <= _MAX_CP:
        out.append((start, _MAX_CP))
    return out


def _intersect(x: Ranges, y: Ranges) -> Ranges:
    out: Ranges = []
    for a, b in _normalize(x):
        for c, d in _normalize(y):
            lo, hi = max(a, c), min(b, d)
            if lo <= hi:
                out.append((lo, hi))
    return _normalize(out)


def _contains(ranges: Ranges, cp: int) -> bool:
    return any(a <= cp <= b for a, b in ranges)


_DIGITS: Ranges = [(0x30, 0x39)]
_WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
# ECMAScript's \s: white space and line terminators.
_SPACES: Ranges = _normalize(
    [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A)]
    + [(0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)]
)
# ECMAScript's `.`: anything but a line terminator.
_DOT: Ranges = _complement([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])
# What a JSON string holds as itself: no quote, backslash, control character or surrogate.
_RAW_JSON: Ranges = _complement([(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)])
_RAW_JSON = _intersect(_RAW_JSON, _complement([(0xD800, 0xDFFF)]))
# The characters a JSON string holds escaped, with their short escapes.
_ESCAPED = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}
_CLASS_ESCAPES = {"d": _DIGITS, "w": _WORD, "s": _SPACES}
_CHAR_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "v": 0x0B}


def _json_chars(ranges: Ranges) -> str | None:
    """GBNF for one character of `ranges` inside a JSON string (escaped where JSON needs it);
    None when no such character can be written (controls without a short escape)."""
    alts = []
    raw = _intersect(ranges, _RAW_JSON)
    if raw:
        inside = _class(raw)
        outside = _class(_complement(raw), negated=True)
        alts.append(inside if len(inside) <= len(outside) else outside)
    alts += [_literal(esc) for cp, esc in _ESCAPED.items() if _contains(ranges, cp)]
    return _alternatives(alts) if alts else None


# --- patterns ----------------------------------------------------------------------------------


class _PatternError(Exception):
    """A pattern outside the supported syntax: the message says which part."""


# The pattern's syntax tree: ("chars", ranges) | ("seq", [nodes]) | ("alt", [nodes])
# | ("rep", node, min, max or None).
Node = tuple[Any, ...]


class _PatternParser:
    """ECMAScript regular expressions (JSON Schema's dialect), the part a grammar can hold:
    literals, escapes, classes, `.`, groups (capturing, `(?:`, named), alternation, greedy and
    lazy quantifiers, and `^`/`$` at the ends of top-level alternatives. Lookaround,
    backreferences, word boundaries and Unicode properties are refused."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.p[j] if j < len(self.p) else ""

    def parse(self) -> list[tuple[bool, Node, bool]]:
        """Top-level alternatives: (anchored at the start, tree, anchored at the end)."""
        branches = []
        while True:
            start = self.peek() == "^"
            if start:
                self.i += 1
            node, end = self.sequence(top=True)
            branches.append((start, node, end))
            if self.peek() == "|":
                self.i += 1
                continue
            if self.peek() == ")":
                raise _PatternError("unbalanced parenthesis")
            return branches

    def alternation(self) -> Node:
        alts = [self.sequence(top=False)[0]]
        while self.peek() == "|":
            self.i += 1
            alts.append(self.sequence(top=False)[0])
        return alts[0] if len(alts) == 1 else ("alt", alts)

    def sequence(self, top: bool) -> tuple[Node, bool]:
        items: list[Node] = []
        while self.i < len(self.p) and self.peek() not in "|)":
            c = self.peek()
            if c == "$" and top and self.peek(1) in ("", "|"):
                self.i += 1
                return ("seq", items), True
            if c in "^$":
                raise _PatternError("an anchor inside the pattern")
            atom = self.atom()
            items.append(self.quantified(atom))
        return ("seq", items), False

    def quantified(self, atom: Node) -> Node:
        c = self.peek()
        if c == "*":
            lo, hi = 0, None
        elif c == "+":
            lo, hi = 1, None
        elif c == "?":
            lo, hi = 0, 1
        elif c == "{":
            m = re.compile(r"\{(\d+)(?:(,)(\d*))?\}").match(self.p, self.i)
            if not m:
                raise _PatternError("a '{' that is not a quantifier")
            lo = int(m.group(1))
            hi = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
            if hi is not None and hi < lo:
                raise _PatternError("a quantifier whose maximum is below its minimum")
            self.i = m.end() - 1
        else:
            return atom
        self.i += 1
        if self.peek() == "?":  # lazy: the same language
            self.i += 1
        if self.peek() and self.peek() in "*+?{":
            raise _PatternError("a quantifier after a quantifier")
        return ("rep", atom, lo, hi)

    def atom(self) -> Node:
        c = self.peek()
        self.i += 1
        if c == "(":
            self.depth += 1
            if self.depth > _MAX_PATTERN_DEPTH:
                raise _PatternError("groups nested too deeply")
            if self.peek() == "?":
                if self.peek(1) == ":":
                    self.i += 2
                elif self.peek(1) == "<" and self.peek(2) not in ("=", "!", ""):
                    close = self.p.find(">", self.i)
                    if close < 0:
                        raise _PatternError("an unterminated group name")
                    self.i = close + 1
                else:
                    raise _PatternError("lookaround or group flags")
            node = self.alternation()
            if self.peek() != ")":
                raise _PatternError("unbalanced parenthesis")
            self.i += 1
            self.depth -= 1
            return node
        if c == "[":
            return ("chars", self.char_class())
        if c == ".":
            return ("chars", _DOT)
        if c == "\\":
            return ("chars", self.escape(in_class=False))
        if c in "*+?{":
            raise _PatternError(f"nothing to repeat before '{c}'")
        return ("chars", [(ord(c), ord(c))])

    def escape(self, in_class: bool) -> Ranges:
        c = self.peek()
        if not c:
            raise _PatternError("a trailing backslash")
        self.i += 1
        if c.lower() in _CLASS_ESCAPES:
            ranges = _CLASS_ESCAPES[c.lower()]
            return _complement(ranges) if c.isupper() else ranges
        if c in _CHAR_ESCAPES:
            return [(_CHAR_ESCAPES[c],) * 2]
        if c == "b" and in_class:
            return [(0x08, 0x08)]
        if c == "0" and not self.peek().isdigit():
            return [(0, 0)]
        if c in "xu":
            size = 2 if c == "x" else 4
            digits = self.p[self.i : self.i + size]
            if len(digits) != size or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise _PatternError(f"an incomplete \\{c} escape")
            self.i += size
            cp = int(digits, 16)
            return [(cp, cp)]
        if c.isascii() and c.isalnum():
            what = {
                "b": "a word boundary",
                "B": "a word boundary",
                "k": "a backreference",
                "p": "a Unicode property",
                "P": "a Unicode property",
                "c": "a control escape",
            }.get(c, "a backreference" if c.isdigit() else f"the escape \\{c}")
            raise _PatternError(what)
        return [(ord(c), ord(c))]  # an escaped punctuation character is itself

    def char_class(self) -> Ranges:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        if self.peek() == "]":
            raise _PatternError("an empty character class")
        ranges: Ranges = []
        while True:
            c = self.peek()
            if not c:
                raise _PatternError("an unterminated character class")
            if c == "]":
                self.i += 1
                break
            first = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                last = self.class_atom()
                if len(first) != 1 or len(last) != 1 or first[0][0] != first[0][1]:
                    raise _PatternError("a range between character classes")
                if last[0][0] != last[0][1] or last[0][0] < first[0][0]:
                    raise _PatternError("a range out of order")
                ranges.append((first[0][0], last[0][0]))
            else:
                ranges += first
        ranges = _normalize(ranges)
        return _complement(ranges) if negated else ranges

    def class_atom(self) -> Ranges:
        c = self.peek()
        self.i += 1
        if c == "\\":
            return self.escape(in_class=True)
        if c == "[" and self.peek() in (":", "=", "."):
            raise _PatternError("a POSIX class")
        return [(ord(c), ord(c))]


# --- numbers -----------------------------------------------------------------------------------

Bound = tuple[Any, bool]  # (value, exclusive)


def _same_length_range(a: str, b: str) -> str:
    """GBNF for the digit strings of len(a) == len(b) from a to b (a <= b)."""
    if a == b:
        return _literal(a)
    p = 0
    while a[p] == b[p]:
        p += 1
    head, a, b = a[:p], a[p:], b[p:]
    n = len(a) - 1
    tail = f" [0-9]{{{n}}}" if n > 1 else (" [0-9]" if n == 1 else "")
    alts = []
    low, high = int(a[0]), int(b[0])
    if a[1:].strip("0"):
        alts.append(f'"{a[0]}" {_same_length_range(a[1:], "9" * n)}')
        low += 1
    if b[1:].strip("9"):
        high_alt = f'"{b[0]}" {_same_length_range("0" * n, b[1:])}'
        high -= 1
    else:
        high_alt = ""
    if low <= high:
        digit = f"[{low}]" if low == high else f"[{low}-{high}]"
        alts.append(digit + tail)
    if high_alt:
        alts.append(high_alt)
    body = _alternatives(alts)
    return _seq(_literal(head) if head else "", body)


def _natural_pieces(lo: int, hi: int | None) -> list[tuple[int, str]]:
    """The naturals from lo to hi (open: up to _OPEN_DIGITS digits), as (digit count, GBNF)."""
    top = hi if hi is not None else 10 ** max(_OPEN_DIGITS, len(str(lo))) - 1
    pieces = []
    for d in range(len(str(lo)), len(str(top)) + 1):
        a = max(lo, 10 ** (d - 1) if d > 1 else 0)
        b = min(top, 10**d - 1)
        if a <= b:
            pieces.append((d, _same_length_range(str(a), str(b))))
    return pieces


def _integer_range(lo: int | None, hi: int | None) -> str:
    alts = []
    if lo is None or lo < 0:  # negatives: "-" and a magnitude of at least 1
        top = None if lo is None else -lo
        bottom = 1 if hi is None or hi >= 0 else -hi
        alts.append('"-" ' + _alternatives([g for _, g in _natural_pieces(bottom, top)]))
    if hi is None or hi >= 0:
        alts += [g for _, g in _natural_pieces(max(lo or 0, 0), hi)]
    return _alternatives(alts)


def _fraction_digits(value: Decimal) -> tuple[int, str]:
    """A non-negative decimal's integer part and the digits after its point (no trailing 0)."""
    whole = int(value)
    text = format(value - whole, "f")
    return whole, (text.split(".")[1] if "." in text else "").rstrip("0")


_Digits = tuple[str, bool] | None  # digits after the point, and whether the bound is exclusive


def _fraction_language(lo: _Digits, hi: _Digits, room: int) -> tuple[bool, list[str]]:
    """Digit strings s of at most `room` digits with lo <= 0.s <= hi: whether the empty string
    is one, and GBNF alternatives for the others (each starts with a digit)."""
    if lo is not None and lo == ("", False):
        lo = None
    empty_ok = (lo is None) and (hi is None or hi[0] != "" or not hi[1])
    if room == 0:
        return empty_ok, []
    dead = object()
    keys: list[Any] = []
    for d in range(10):
        sub_lo: Any
        sub_hi: Any
        if lo is None:
            sub_lo = None
        else:
            first = int(lo[0][0]) if lo[0] else 0
            sub_lo = None if d > first else ((lo[0][1:], lo[1]) if d == first else dead)
        if hi is None:
            sub_hi = None
        else:
            first = int(hi[0][0]) if hi[0] else 0
            sub_hi = None if d < first else ((hi[0][1:], hi[1]) if d == first else dead)
        keys.append(dead if dead in (sub_lo, sub_hi) else (sub_lo, sub_hi))
    alts = []
    d = 0
    while d < 10:
        end = d
        while end + 1 < 10 and keys[end + 1] == keys[d]:
            end += 1
        key = keys[d]
        if key is not dead:
            digit = f"[{d}]" if d == end else f"[{d}-{end}]"
            tail: str | None
            if key == (None, None):
                tail = f"[0-9]{{0,{room - 1}}}" if room > 1 else ""
            else:
                tail = _optional_tail(*_fraction_language(key[0], key[1], room - 1))
            if tail is not None:
                alts.append(_seq(digit, tail))
        d = end + 1
    return empty_ok, alts


def _optional_tail(empty_ok: bool, alts: list[str]) -> str | None:
    """What follows a digit: one of `alts`, or nothing too when `empty_ok`; None if neither."""
    if not alts:
        return "" if empty_ok else None
    body = _alternatives(alts)
    return f"{body}?" if empty_ok and len(alts) > 1 else (f"( {body} )?" if empty_ok else body)


def _fraction(lo: _Digits, hi: _Digits, room: int) -> str | None:
    """The optional "." and digits after an integer part; None if none fits."""
    empty_ok, alts = _fraction_language(lo, hi, room)
    if not alts:
        return "" if empty_ok else None
    dot = f'"." {_alternatives(alts)}'
    return f"( {dot} )?" if empty_ok else dot


def _magnitude(lo: Bound, hi: Bound | None) -> list[str]:
    """Non-negative decimals (no exponent) within the bounds, as GBNF alternatives."""
    low, low_x = lo
    il, fl = _fraction_digits(low)
    ih, fh = _fraction_digits(hi[0]) if hi is not None else (0, "")

    def room(whole: int) -> int:
        return max(_SIGNIFICANT - len(str(whole)), len(fl) + 1, len(fh) + 1)

    alts = []
    if hi is not None and il == ih:
        tail = _fraction((fl, low_x), (fh, hi[1]), room(il))
        if tail is not None:
            alts.append(_seq(_literal(str(il)), tail))
        return alts
    tail = _fraction((fl, low_x), None, room(il))
    if tail is not None:
        alts.append(_seq(_literal(str(il)), tail))
    if hi is None or il + 1 <= ih - 1:
        for digits, piece in _natural_pieces(il + 1, None if hi is None else ih - 1):
            alts.append(_seq(piece, _fraction(None, None, max(_SIGNIFICANT - digits, 0)) or ""))
    if hi is not None:
        tail = _fraction(None, (fh, hi[1]), room(ih))
        if tail is not None:
            alts.append(_seq(_literal(str(ih)), tail))
    return alts


def _number_range(lo: Bound | None, hi: Bound | None) -> str:
    zero = Decimal(0)
    alts = []
    if lo is None or lo[0] < zero:
        # negatives: "-" and a magnitude above 0 (or above -hi)
        m_lo = (-hi[0], hi[1]) if hi is not None and hi[0] < zero else (zero, True)
        m_hi = (-lo[0], lo[1]) if lo is not None else None
        neg = _magnitude(m_lo, m_hi)
        if neg:
            alts.append('"-" ' + _alternatives(neg))
    if hi is None or hi[0] > zero or (hi[0] == zero and not hi[1]):
        alts += _magnitude(lo if lo is not None and lo[0] >= zero else (zero, False), hi)
    return _alternatives(alts) if alts else ""


def _decimal(value: int | float) -> Decimal:
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _tighter(a: Bound | None, b: Bound | None, lower: bool) -> Bound | None:
    if a is None or b is None:
        return a or b
    if a[0] == b[0]:
        return (a[0], a[1] or b[1])
    return max(a, b) if lower else min(a, b)


# --- the converter ---------------------------------------------------------------------------


class _Converter:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.rules: dict[str, str] = {}
        self.refs: dict[str, str] = {}  # $ref → its rule
        self.open_refs: dict[str, int] = {}  # $refs being converted → nesting when entered
        self.nesting = 0  # objects and arrays entered: a $ref back inside one is no loop

    # rules

    def grammar(self) -> str:
        root = self.rules.pop("root")
        return "\n".join([f"root ::= {root}"] + [f"{k} ::= {v}" for k, v in self.rules.items()])

    def rule(self, name: str, body: str) -> str:
        """Add a rule (or find the same one) and return its name."""
        base = _RULE_CHARS.sub("-", name).strip("-") or "r"
        if base in _RESERVED:
            base += "-"
        key, i = base, 0
        while key in self.rules and self.rules[key] != body:
            key, i = f"{base}{i}", i + 1
        self.rules[key] = body
        return key

    def reserve(self, name: str) -> str:
        base = _RULE_CHARS.sub("-", name).strip("-") or "r"
        key, i = base, 0
        while key in self.rules or key in _RESERVED:
            key, i = f"{base}{i}", i + 1
        self.rules[key] = ""
        return key

    def prim(self, name: str) -> str:
        if name not in self.rules:
            body, deps = _PRIMITIVES[name]
            self.rules[name] = body
            for dep in deps:
                self.prim(dep)
        return name

    def symbol(self, expr: str, name: str) -> str:
        """`expr` as one symbol that a repetition may follow."""
        return expr if _SIMPLE_SYMBOL.fullmatch(expr) else self.rule(name, expr)

    def repeat(self, item: str, lo: int, hi: int | None, name: str) -> str:
        """`item` (one symbol) lo to hi times (hi None: unbounded), in blocks llama.cpp takes."""
        if hi is not None and hi > lo:
            return _seq(self.repeat(item, lo, lo, name), self.repeat_up_to(item, hi - lo, name))
        if hi is None:
            return _seq(self.repeat(item, lo, lo, name), f"{item}*")
        if lo <= _BLOCK:
            return "" if lo == 0 else (item if lo == 1 else f"{item}{{{lo}}}")
        block = self.rule(f"{name}-{_BLOCK}", f"{item}{{{_BLOCK}}}")
        q, r = divmod(lo, _BLOCK)
        return _seq(self.repeat(block, q, q, name), self.repeat(item, r, r, name))

    def repeat_up_to(self, item: str, n: int, name: str) -> str:
        if n <= _BLOCK:
            return f"{item}?" if n == 1 else f"{item}{{0,{n}}}"
        block = self.rule(f"{name}-upto-{_BLOCK}", f"{item}{{0,{_BLOCK}}}")
        q, r = divmod(n, _BLOCK)
        return _seq(
            self.repeat_up_to(block, q, name), self.repeat_up_to(item, r, name) if r else ""
        )

    def separated(self, item: str, lo: int, hi: int | None, name: str) -> str:
        """lo to hi items separated by commas."""
        if hi == 0:
            return ""
        more = self.rule(f"{name}-more", f'"," space {item}')
        rest = self.repeat(more, max(lo - 1, 0), None if hi is None else hi - 1, name)
        return _seq(item, rest) if lo >= 1 else f"( {_seq(item, rest)} )?"

    # schemas

    def visit(self, node: Any, name: str, path: str) -> str:
        return self.rule(name, self.body(node, name, path))

    def body(self, node: Any, name: str, path: str) -> str:
        if node is True or node == {}:
            return self.prim("value")
        if node is False:
            raise _empty(path, "the schema false")
        if "$ref" in node:
            self.only(node, "$ref", set(), path)
            return self.ref(node["$ref"], name, path)
        for key in ("anyOf", "oneOf"):
            if key in node:
                self.only(node, key, set(), path)
                alts = [
                    self.visit(alt, f"{name}-{i}", _pointer(_pointer(path, key), i))
                    for i, alt in enumerate(node[key])
                    if alt is not False
                ]
                if not alts:
                    raise _empty(path, f"every {key} alternative is false")
                return " | ".join(alts)
        if "allOf" in node:
            return self.all_of(self.all_of_parts(node, path), name, path)
        if "enum" in node or "const" in node:
            self.only(node, "enum" if "enum" in node else "const", {"enum", "const", "type"}, path)
            return self.constants(node, path)
        types = self.types(node)
        if len(types) == 1:
            return self.typed(node, types[0], name, path)
        return " | ".join(
            self.rule(f"{name}-{t}", self.typed(node, t, f"{name}-{t}", path)) for t in types
        )

    def only(self, node: dict[str, Any], keyword: str, allowed: set[str], path: str) -> None:
        """Refuse constraints next to `keyword` that its conversion would leave out."""
        for other in node:
            if other == keyword or other in allowed or other in ANNOTATIONS:
                continue
            if other in _DEFINITIONS or (other == "uniqueItems" and node[other] is False):
                continue
            raise _combination(keyword, other, path)

    def types(self, node: dict[str, Any]) -> list[str]:
        if "type" in node:
            names = node["type"] if isinstance(node["type"], list) else [node["type"]]
            names = list(dict.fromkeys(names))
            if "number" in names and "integer" in names:
                names.remove("integer")
            return names
        # No type: the type-specific keywords say which types are constrained; a schema with
        # none of them takes any value.
        keys = set(node) - ({"uniqueItems"} if node.get("uniqueItems") is False else set())
        found = [
            t
            for t, kws in (
                ("object", OBJECT_KEYWORDS),
                ("array", ARRAY_KEYWORDS),
                ("string", STRING_KEYWORDS),
                ("number", NUMBER_KEYWORDS),
            )
            if keys & kws
        ]
        return found or ["any"]

    def typed(self, node: dict[str, Any], t: str, name: str, path: str) -> str:
        if t == "any":
            return self.prim("value")
        if t in ("null", "boolean"):
            return self.prim(t)
        if t == "string":
            return self.string(node, name, path)
        if t in ("integer", "number"):
            return self.number(node, t, path)
        self.nesting += 1
        try:
            if t == "array":
                return self.array(node, name, path)
            return self.object(node, name, path)
        finally:
            self.nesting -= 1

    def ref(self, ref: str, name: str, path: str) -> str:
        if ref in self.refs:
            if self.open_refs.get(ref) == self.nesting:
                raise InvalidFormat(
                    f'invalid format: $ref "{ref}" at {path} refers to itself without nesting'
                )
            return self.refs[ref]
        target = self.resolve(ref, path)
        key = self.reserve("ref-" + ref.lstrip("#/"))
        self.refs[ref] = key
        self.open_refs[ref] = self.nesting
        try:
            self.rules[key] = self.body(target, key, ref)
        finally:
            del self.open_refs[ref]
        return key

    def resolve(self, ref: str, path: str) -> Any:
        if ref != "#" and not ref.startswith("#/"):
            raise _unsupported("$ref", path, f': "{ref}" (only "#/..." pointers into the schema)')
        target = self.root
        for token in ref[2:].split("/") if ref != "#" else []:
            key = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                raise InvalidFormat(f'invalid format: cannot resolve $ref "{ref}" at {path}')
        _check(target, ref)
        return target

    def constants(self, node: dict[str, Any], path: str) -> str:
        values = self.values_of(node)
        literals = list(dict.fromkeys(_json_literal(v) for v in values))
        if not literals:
            raise _empty(path, "no enum or const value fits the other keywords")
        return _alternatives(literals) if len(literals) > 1 else literals[0]

    @staticmethod
    def all_of_parts(node: dict[str, Any], path: str) -> list[tuple[Any, str]]:
        """The parts of an allOf, with their paths: its schemas, and the keywords beside it
        (one more part)."""
        at = _pointer(path, "allOf")
        parts = [(part, _pointer(at, i)) for i, part in enumerate(node["allOf"])]
        rest = {
            k: v
            for k, v in node.items()
            if k != "allOf" and k not in ANNOTATIONS and k not in _DEFINITIONS
        }
        return parts + [(rest, path)] if rest else parts

    def all_of(self, parts: list[tuple[Any, str]], name: str, path: str) -> str:
        if len(parts) == 1:
            return self.body(parts[0][0], name, parts[0][1])
        flat: list[tuple[dict[str, Any], str]] = []
        self.flatten(parts, flat, set())
        if not flat:
            return self.prim("value")
        if len(flat) == 1:
            return self.body(flat[0][0], name, flat[0][1])
        constant_parts = [p for p, _ in flat if "enum" in p or "const" in p]
        if constant_parts and all(
            set(p) - ANNOTATIONS <= {"enum", "const", "type"} for p, _ in flat
        ):
            # constants: the values of the first that every part allows
            common = [
                v
                for v in self.values_of(constant_parts[0])
                if all(self.allows(p, v) for p, _ in flat)
            ]
            literals = list(dict.fromkeys(_json_literal(v) for v in common))
            if not literals:
                raise _empty(path, "the allOf parts share no value")
            return _alternatives(literals) if len(literals) > 1 else literals[0]
        merged: dict[str, Any] = {}
        required: list[str] = []
        for part, at in flat:
            for key, value in part.items():
                if key in ANNOTATIONS or key in _DEFINITIONS:
                    continue
                if key == "type" and value == "object":
                    continue
                if key == "additionalProperties" and value is True:
                    continue
                if key == "properties":
                    for prop, schema in value.items():
                        if prop in merged and not _same_json(merged[prop], schema):
                            raise _unsupported(
                                "allOf", at, f' (property "{prop}" with different schemas)'
                            )
                        merged[prop] = schema
                elif key == "required":
                    required += value
                else:
                    raise _unsupported("allOf", at, f' (with "{key}": only objects merge)')
        for key in required:  # no part closes the object: other required keys take any value
            merged.setdefault(key, True)
        combined = {"type": "object", "properties": merged, "required": required}
        self.nesting += 1
        try:
            return self.object(combined, name, path)
        finally:
            self.nesting -= 1

    def values_of(self, part: dict[str, Any]) -> list[Any]:
        values = part["enum"] if "enum" in part else [part["const"]]
        return [v for v in values if self.allows(part, v)]

    def allows(self, part: dict[str, Any], value: Any) -> bool:
        """Whether a schema of enum, const and type keywords only takes `value`."""
        if "enum" in part and not any(_same_json(value, v) for v in part["enum"]):
            return False
        if "const" in part and not _same_json(value, part["const"]):
            return False
        if "type" in part:
            names = part["type"] if isinstance(part["type"], list) else [part["type"]]
            return any(_has_type(value, t) for t in names)
        return True

    def flatten(
        self, parts: list[tuple[Any, str]], out: list[tuple[dict[str, Any], str]], seen: set[str]
    ) -> None:
        """The object or constant schemas that `parts` combine: $refs followed, nested allOf
        spread out, schemas that take anything left out."""
        for part, at in parts:
            while isinstance(part, dict) and "$ref" in part:
                self.only(part, "$ref", set(), at)
                ref = part["$ref"]
                if ref in seen:
                    raise InvalidFormat(f'invalid format: $ref "{ref}" at {at} refers to itself')
                seen = seen | {ref}
                part, at = self.resolve(ref, at), ref
            if part is True or part == {}:
                continue
            if part is False:
                raise _empty(at, "the schema false")
            if "allOf" in part:
                self.flatten(self.all_of_parts(part, at), out, seen)
            else:
                out.append((part, at))

    def string(self, node: dict[str, Any], name: str, path: str) -> str:
        kinds = [k for k in ("pattern", "format", "minLength", "maxLength") if k in node]
        if "minLength" in kinds and "maxLength" in kinds:
            kinds.remove("maxLength")
        if len(kinds) > 1:
            raise _combination(kinds[0], kinds[1], path)
        if "pattern" in node:
            return self.pattern(node["pattern"], name, path)
        if "format" in node:
            fmt = node["format"]
            if fmt not in STRING_FORMATS:
                raise _unsupported("format", path, f": {json.dumps(fmt)}")
            if fmt.startswith("uuid") and fmt != "uuid":
                # a version: its digit, and RFC 4122's variant
                body = (
                    f'{_HEX}{{8}} "-" {_HEX}{{4}} "-" "{fmt[4]}" {_HEX}{{3}} "-" [89abAB] '
                    f'{_HEX}{{3}} "-" {_HEX}{{12}}'
                )
                return f'"\\"" {body} "\\""'
            return f'"\\"" {self.prim(fmt)} "\\""'
        if "minLength" in node or "maxLength" in node:
            lo = _count(node.get("minLength", 0)) or 0
            hi = _count(node["maxLength"]) if "maxLength" in node else None
            if hi is not None and lo > hi:
                raise _empty(path, "minLength > maxLength")
            chars = self.repeat(self.prim("char"), lo, hi, f"{name}-chars")
            return _seq('"\\""', chars, '"\\""')
        return self.prim("string")

    def pattern(self, pattern: str, name: str, path: str) -> str:
        try:
            branches = _PatternParser(pattern).parse()
            alts = []
            for start, node, end in branches:
                middle = self.regex(node, name)
                anywhere = f"{self.prim('char')}*"
                alts.append(_seq("" if start else anywhere, middle, "" if end else anywhere))
        except _PatternError as e:
            shown = pattern if len(pattern) <= 80 else pattern[:80] + "…"
            raise _unsupported("pattern", path, f": {json.dumps(shown)} ({e})") from None
        body = " | ".join(a or '""' for a in alts)
        return f'"\\"" ( {body} ) "\\""'

    def regex(self, node: Node, name: str) -> str:
        kind = node[0]
        if kind == "chars":
            chars = _json_chars(node[1])
            if chars is None:
                raise _PatternError("a character a JSON string cannot hold")
            return chars
        if kind == "alt":
            return "( " + " | ".join(self.regex(n, name) or '""' for n in node[1]) + " )"
        if kind == "rep":
            _, inner, lo, hi = node
            item = self.symbol(self.regex(inner, name) or '""', f"{name}-part")
            return self.repeat(item, lo, hi, f"{name}-part")
        # a sequence: runs of single plain characters become one literal
        parts: list[str] = []
        run = ""
        for item in node[1]:
            ranges = item[1] if item[0] == "chars" else None
            if ranges and len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
                cp = ranges[0][0]
                if _contains(_RAW_JSON, cp):
                    run += chr(cp)
                    continue
            if run:
                parts.append(_literal(run))
                run = ""
            part = self.regex(item, name)
            if part:
                parts.append(part)
        if run:
            parts.append(_literal(run))
        return " ".join(parts)

    def number(self, node: dict[str, Any], t: str, path: str) -> str:
        lo: Bound | None = None
        hi: Bound | None = None
        for key, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
            if key in node:
                lo = _tighter(lo, (Fraction(node[key]), exclusive), lower=True)
        for key, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
            if key in node:
                hi = _tighter(hi, (Fraction(node[key]), exclusive), lower=False)
        if lo is None and hi is None:
            return self.prim(t)
        if t == "integer":
            ilo = None if lo is None else (math.floor(lo[0]) + 1 if lo[1] else math.ceil(lo[0]))
            ihi = None if hi is None else (math.ceil(hi[0]) - 1 if hi[1] else math.floor(hi[0]))
            if ilo is not None and ihi is not None and ilo > ihi:
                raise _empty(path, "no integer within the bounds")
            if max(len(str(abs(b))) for b in (ilo, ihi) if b is not None) > _MAX_BOUND_DIGITS:
                raise _unsupported("minimum" if lo else "maximum", path, " (a bound too large)")
            return _integer_range(ilo, ihi)
        if (
            lo is not None
            and hi is not None
            and (lo[0] > hi[0] or (lo[0] == hi[0] and (lo[1] or hi[1])))
        ):
            raise _empty(path, "no number within the bounds")
        # As decimals: the numbers as written in the schema (0.1, not the double nearest it).
        dlo = None
        dhi = None
        for key in ("minimum", "exclusiveMinimum"):
            if key in node and lo is not None and Fraction(node[key]) == lo[0]:
                dlo = (_decimal(node[key]), lo[1])
        for key in ("maximum", "exclusiveMaximum"):
            if key in node and hi is not None and Fraction(node[key]) == hi[0]:
                dhi = (_decimal(node[key]), hi[1])
        if any(len(_decimal_digits(b[0])) > _MAX_BOUND_DIGITS for b in (dlo, dhi) if b):
            raise _unsupported("minimum" if lo else "maximum", path, " (a bound too large)")
        body = _number_range(dlo, dhi)
        if not body:
            raise _empty(path, "no number within the bounds")
        return body

    def array(self, node: dict[str, Any], name: str, path: str) -> str:
        prefix = node.get("prefixItems", [])
        items = node.get("items")
        if isinstance(items, list):  # draft 7's tuple: taken as exactly these items
            prefix, items = items, False
        lo = _count(node.get("minItems", 0)) or 0
        hi = _count(node["maxItems"]) if "maxItems" in node else None
        if hi is not None and lo > hi:
            raise _empty(path, "minItems > maxItems")
        if items is None:
            # no `items`: any values, or (after prefixItems) no more than the prefix needs
            items = not prefix or lo > len(prefix)
        k = len(prefix) if hi is None else min(len(prefix), hi)
        if items is False:
            hi = k if hi is None else min(hi, k)
            if lo > hi:
                raise _empty(path, "minItems > the items allowed")
        if not prefix and (items is True or items == {}) and lo == 0 and hi is None:
            return self.prim("array")
        item = "" if items is False else self.visit(items, f"{name}-item", _pointer(path, "items"))
        if not prefix:
            inner = self.separated(item, lo, hi, name) if item else ""
            return _seq('"[" space', inner, 'space "]"') if inner else '"[" space "]"'
        parts = []
        for i, sub in enumerate(prefix[:k]):
            if sub is False:
                raise _empty(_pointer(_pointer(path, "prefixItems"), i), "the schema false")
            rule = self.visit(sub, f"{name}-{i}", _pointer(_pointer(path, "prefixItems"), i))
            parts.append(rule if i == 0 else f'"," space {rule}')
        extra_lo = max(lo - k, 0)
        extra_hi = None if hi is None else hi - k
        if item and extra_hi != 0:
            more = self.rule(f"{name}-more", f'"," space {item}')
            parts.append(self.repeat(more, extra_lo, extra_hi, name))
        return _seq('"[" space', *parts, 'space "]"')

    def object(self, node: dict[str, Any], name: str, path: str) -> str:
        props: dict[str, Any] = node.get("properties", {})
        required = list(dict.fromkeys(node.get("required", [])))
        # Without additionalProperties, as llama.cpp: an object with properties takes no others.
        extra = node.get("additionalProperties", "properties" not in node)
        if extra is True and not props and not required:
            return self.prim("object")
        entries: list[tuple[str, Any, bool, str]] = []
        for key, schema in props.items():
            at = _pointer(_pointer(path, "properties"), key)
            if schema is False:
                if key in required:
                    raise _empty(at, f'required property "{key}" is false')
                continue
            entries.append((key, schema, key in required, at))
        for key in required:
            if key not in props:
                schema = node.get("additionalProperties", True)
                if schema is False:
                    raise _empty(path, f'required property "{key}" is not allowed')
                entries.append((key, schema, True, _pointer(path, "additionalProperties")))
        kvs = []
        for key, schema, _, at in entries:
            value = self.visit(schema, f"{name}-{key}", at)
            kvs.append(
                self.rule(f"{name}-{key}-kv", f'{_json_literal(key)} space ":" space {value}')
            )
        extra_kv = ""
        if extra is not False:
            names = [key for key, *_ in entries]
            key_rule = self.not_strings(names, f"{name}-additional-k") if names else "string"
            if key_rule == "string":
                self.prim("string")
            value = self.visit(
                extra, f"{name}-additional-value", _pointer(path, "additionalProperties")
            )
            extra_kv = self.rule(f"{name}-additional-kv", f'{key_rule} space ":" space {value}')
        self.prim("space")
        # first[i]: the members from entry i on, none written yet; rest[i]: after one was.
        rest = f'( "," space {extra_kv} )*' if extra_kv else ""
        first = f"( {extra_kv} {rest} )?" if extra_kv else ""
        for i in range(len(entries) - 1, -1, -1):
            kv, is_required = kvs[i], entries[i][2]
            rest_name = self.rule(f"{name}-rest-{i + 1}", rest) if rest else ""
            if is_required:
                first = _seq(kv, rest_name)
                rest = _seq(f'"," space {kv}', rest_name)
            else:
                first_name = self.rule(f"{name}-first-{i + 1}", first) if first else ""
                first = (
                    f"{_seq(kv, rest_name)} | {first_name}"
                    if first_name
                    else f"( {_seq(kv, rest_name)} )?"
                )
                rest = _seq(f'( "," space {kv} )?', rest_name)
        if not first:
            return '"{" space "}"'
        return f'"{{" space ( {first} ) space "}}"'

    def not_strings(self, names: list[str], name: str) -> str:
        """A JSON string (of unescaped characters) that is none of `names`."""
        trie: dict[str, Any] = {}
        for word in names:
            node = trie
            for c in word:
                node = node.setdefault(c, {})
            node[""] = {}
        char = _class(_RAW_JSON)

        def branch(node: dict[str, Any]) -> str:
            # what may follow, having matched a prefix that leads to `node`
            alts = []
            for c, child in node.items():
                if c == "":
                    continue
                sub = branch(child)
                alts.append(_seq(_literal(c), sub) if sub else _literal(c))
            others = [(ord(c), ord(c)) for c in node if c]
            rest_chars = _intersect(_RAW_JSON, _complement(others))
            if rest_chars:
                alts.append(f"{_class(_complement(rest_chars), negated=True)} {char}*")
            body = " | ".join(alts)
            if "" in node:  # a whole name so far: it must go on
                return f"( {body} )"
            return f"( {body} )?"

        return self.rule(name, f'"\\"" {branch(trie)} "\\""')


def _decimal_digits(value: Decimal) -> str:
    return format(abs(value), "f").replace(".", "")


def _same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _has_type(value: Any, t: str) -> bool:
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return t == "number" or isinstance(value, int) or value.is_integer()
