"""Decoding request bodies into wire types, with Go-like errors that clients already understand."""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from ollama_toolkit.api.errors import InvalidRequest, missing_body

T = TypeVar("T", bound=BaseModel)

MAX_JSON_DEPTH = 100
"""The deepest nesting of arrays and objects a request body may have. Go's decoder allows
10,000; Python's decoder, and the code that walks a value after it (validation, templates,
grammars), recurse, so the limit is far lower, yet far above what a schema or a tool needs."""
_DEPTH_ERROR = f"invalid JSON in request body: exceeded max depth (limit {MAX_JSON_DEPTH})"

_JSON_TYPES = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
    type(None): "null",
}
_EXPECTED = {
    "string_type": "string",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float64",
    "float_parsing": "float64",
    "list_type": "array",
    "dict_type": "object",
    "literal_error": "value",
    "model_type": "object",
}


def parse_body(raw: bytes, model: type[T]) -> T:
    """Decode `raw` as `model`; a missing, malformed or mistyped body is a clear 400."""
    if not raw.strip():
        raise missing_body()
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _Refused as e:
        raise InvalidRequest(str(e)) from None
    except RecursionError:
        raise InvalidRequest(_DEPTH_ERROR) from None
    except json.JSONDecodeError as e:
        raise InvalidRequest(
            f"invalid JSON in request body: {e.msg} (line {e.lineno} column {e.colno})"
        ) from None
    except UnicodeDecodeError:
        raise InvalidRequest("invalid JSON in request body: not UTF-8") from None
    except ValueError:  # an integer literal of more digits than Python converts (4300)
        raise InvalidRequest("invalid JSON in request body: number too long") from None
    if _too_deep(raw, data):
        raise InvalidRequest(_DEPTH_ERROR)
    if _may_hold_surrogates(raw):
        _refuse_lone_surrogates(data)
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), "value")
        raise InvalidRequest(
            f"json: cannot unmarshal {kind} into Go value of type api.{model.__name__}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidRequest(_describe(e, model)) from None


class _Refused(Exception):
    """A JSON text Go's decoder refuses and Python's accepts; its message is the client's."""


def _refuse_constant(name: str) -> NoReturn:
    # NaN and ±Infinity are not JSON. Python accepts them; Go's decoder does not, and a NaN
    # option that reached llama.cpp's sampler would abort the whole process.
    if name.startswith("-"):
        raise _Refused(f"invalid character '{name[1]}' in numeric literal")
    raise _Refused(f"invalid character '{name[0]}' looking for beginning of value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Go's strconv reports it out of range
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _Refused(f"json: cannot unmarshal number {shown} into Go value of type float64")
    return value


def _too_deep(raw: bytes, data: Any) -> bool:
    """Whether `data` nests deeper than MAX_JSON_DEPTH; only a body with more brackets than
    that can, so almost every body is let through on a count of its bytes."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH or not isinstance(data, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        items = value.values() if isinstance(value, dict) else value
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


# A `\uD800`-`\uDFFF` escape: the only way an ASCII body can carry a UTF-16 surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _may_hold_surrogates(raw: bytes) -> bool:
    """Whether the decoded body could hold a lone surrogate; false for almost every body, so
    that only those are walked. json.loads reads bytes with `surrogatepass`: a body that is not
    strict UTF-8 (or one with a surrogate escape, paired or not) may hold one."""
    if _SURROGATE_ESCAPE.search(raw):
        return True
    if raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _refuse_lone_surrogates(data: Any) -> None:
    """A string with a lone UTF-16 surrogate cannot be encoded as UTF-8: refuse it now rather
    than fail later, in the middle of writing the response."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_string(key)
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        code = ord(text[e.start])
        raise InvalidRequest(
            f"invalid JSON in request body: lone surrogate \\u{code:04x} in a string"
        ) from None


def _describe(error: ValidationError, model: type[BaseModel]) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    field = loc.split(".")[0] if loc else ""
    kind = _JSON_TYPES.get(type(first.get("input")), "value")
    expected = _EXPECTED.get(first["type"])
    if expected:
        return (
            f"json: cannot unmarshal {kind} into Go struct field {model.__name__}.{loc} "
            f"of type {expected}"
        )
    return f"invalid value for {field or 'request'}: {first['msg']}"
