"""Go's `encoding/json.Marshal`, for Ollama's `json` template function and `String()` methods.

Models see this JSON in their prompts, so it must match Go byte for byte: compact, map keys
sorted, struct fields in declaration order under their json tags (with omitempty), `<`, `>`,
`&`, U+2028 and U+2029 escaped as `\\u003c`..., floats formatted like Go (`1`, `1e+21`).
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

from .gofmt import format_float
from .values import INVALID, GoStruct, is_nil, kind, sorted_items, type_name


class UnsupportedValueError(ValueError):
    """A value Go's json.Marshal rejects (NaN, complex numbers, functions)."""


_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\<>&\u2028\u2029\ud800-\udfff]')


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if "\ud800" <= ch <= "\udfff":  # invalid UTF-8 byte: Go substitutes U+FFFD
        return "\\ufffd"
    return f"\\u{ord(ch):04x}"


def encode_string(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


def encode_float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        raise UnsupportedValueError(f"json: unsupported value: {format_float(x, 'g', -1)}")
    magnitude = abs(x)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = format_float(x, "e", -1)
        # Go writes e-7, not e-07.
        return re.sub(r"e-0(\d)$", r"e-\1", text)
    return format_float(x, "f", -1)


def _is_empty(v: Any) -> bool:
    """Go's `isEmptyValue`, which decides omitempty."""
    k = kind(v)
    if k in ("invalid", "nil"):
        return True
    if k in ("slice", "map", "string"):
        return len(v) == 0
    if k in ("bool", "int", "float", "complex"):
        return v == 0
    if k == "ptr":
        return bool(v.is_nil)
    return False


def _encode(v: Any, out: list[str]) -> None:
    custom = getattr(v, "go_marshal_json", None)
    if custom is not None:
        out.append(custom())
        return
    if v is None or v is INVALID or is_nil(v):
        out.append("null")
        return
    k = kind(v)
    if k == "bool":
        out.append("true" if v else "false")
    elif k == "int":
        out.append(str(v))
    elif k == "float":
        out.append(encode_float(v))
    elif k == "string":
        out.append(encode_string(v))
    elif isinstance(v, (bytes, bytearray)):
        out.append('"' + base64.b64encode(bytes(v)).decode("ascii") + '"')
    elif k == "slice":
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif k == "map":
        out.append("{")
        for i, (key, value) in enumerate(sorted_items(v)):
            if i:
                out.append(",")
            out.append(encode_string(str(key)))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(v, GoStruct):
        _encode_struct(v, out)
    else:
        raise UnsupportedValueError(f"json: unsupported type: {type_name(v)}")


def _encode_struct(v: GoStruct, out: list[str]) -> None:
    out.append("{")
    first = True
    for name in v.go_field_names():
        if not name[:1].isupper():
            continue  # unexported: invisible to encoding/json
        value = getattr(v, name)
        json_name, omitempty = v.go_json.get(name, (name, False))
        if omitempty and _is_empty(value):
            continue
        if not first:
            out.append(",")
        first = False
        out.append(encode_string(json_name))
        out.append(":")
        _encode(value, out)
    out.append("}")


def marshal(v: Any) -> str:
    """`json.Marshal(v)`; raises UnsupportedValueError where Go returns an error."""
    out: list[str] = []
    _encode(v, out)
    return "".join(out)


def encode_ordered(items: list[tuple[str, Any]]) -> str:
    """A JSON object in the given key order (Ollama's insertion-ordered maps)."""
    return "{" + ",".join(encode_string(k) + ":" + marshal(v) for k, v in items) + "}"
