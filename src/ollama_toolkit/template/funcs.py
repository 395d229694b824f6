"""Functions templates can call: Go's `text/template` builtins and Ollama's additions.

Each function declares Go-style parameter kinds because the executor converts and checks
arguments the way Go's reflection-based call does: `value` (a `reflect.Value`, receives nil
and missing values as they are), `any` (`interface{}`, missing values become nil) and
`string`. Failures raise FuncError with Go's message; the executor prefixes
`error calling NAME: `.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .gofmt import print_struct_value, sprint, sprintf, sprintln
from .gojson import UnsupportedValueError, marshal
from .gostrings import from_bytes, to_bytes
from .values import (
    INVALID,
    GoList,
    GoStruct,
    is_nil,
    kind,
    type_name,
    zero_elem,
)
from .values import truth as is_true
from .wire import ToolProperty


class FuncError(Exception):
    """A function returned a Go error (or panicked); the message is Go's."""


@dataclass(frozen=True)
class GoFunc:
    """A callable plus its Go signature: fixed parameter kinds and the variadic kind, if any."""

    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None


def _unwrap(v: Any) -> Any:
    """Go's `indirectInterface`: a nil interface becomes the invalid value."""
    return INVALID if v is None else v


def _deref_type(v: Any) -> str:
    """The type name after Go's `indirect` (pointers to structs are followed)."""
    return v.go_type if isinstance(v, GoStruct) else type_name(v)


# -- truth and length -----------------------------------------------------------------------


def _not(v: Any) -> bool:
    return not is_true(v)


def _len(v: Any) -> int:
    if v is None or (isinstance(v, GoStruct) and v.is_nil):
        raise FuncError("len of nil pointer")
    if v is INVALID:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    k = kind(v)
    if k == "string":
        return len(to_bytes(v))
    if k in ("slice", "map"):
        return len(v)
    raise FuncError(f"len of type {_deref_type(v)}")


# -- indexing and slicing ------------------------------------------------------------------


def _index_arg(index: Any, cap: int) -> int:
    if kind(index) == "int":
        x: int = index
    elif index is INVALID:
        raise FuncError("cannot index slice/array with nil")
    else:
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    if x < 0 or x > cap:
        raise FuncError(f"index out of range: {x}")
    return x


def _index(item: Any, *indexes: Any) -> Any:
    item = _unwrap(item)
    if item is INVALID:
        raise FuncError("index of untyped nil")
    for raw in indexes:
        index = _unwrap(raw)
        if item is None or (isinstance(item, GoStruct) and item.is_nil):
            raise FuncError("index of nil pointer")
        k = kind(item)
        if k == "string":
            data = to_bytes(item)
            x = _index_arg(index, len(data))
            if x == len(data):
                raise FuncError("reflect: string index out of range")
            item = data[x]
        elif k == "slice":
            x = _index_arg(index, len(item))
            if x == len(item):
                raise FuncError("reflect: slice index out of range")
            item = item[x]
        elif k == "map":
            if index is INVALID:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise FuncError(f"value has type {type_name(index)}; should be string")
            item = item[index] if index in item else zero_elem(item)
        else:
            raise FuncError(f"can't index item of type {_deref_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    item = _unwrap(item)
    if item is INVALID:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    k = kind(item)
    if k == "string":
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data: Any = to_bytes(item)
    elif k == "slice":
        data = item
    else:
        raise FuncError(f"can't slice item of type {_deref_type(item)}")
    bounds = [0, len(data), len(data)]
    for i, index in enumerate(indexes):
        bounds[i] = _index_arg(_unwrap(index), len(data))
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > bounds[2]:
        raise FuncError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    part = data[bounds[0] : bounds[1]]
    if k == "string":
        return from_bytes(part)
    if isinstance(item, GoList):
        return item.derive(part)
    return part if isinstance(part, (bytes, list)) else list(part)


# -- comparisons ---------------------------------------------------------------------------

_BASIC = {"bool", "int", "float", "complex", "string"}


def _basic_kind(v: Any) -> str:
    k = kind(v)
    return k if k in _BASIC else "invalid"


def _eq(first: Any, *others: Any) -> bool:
    a = _unwrap(first)
    if not others:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(a)
    for other in others:
        b = _unwrap(other)
        k2 = _basic_kind(b)
        if k1 != k2:
            if a is not INVALID and b is not INVALID:
                raise FuncError(
                    f"incompatible types for comparison: {type_name(a)} and {type_name(b)}"
                )
            equal = False
        elif k1 != "invalid":
            equal = a == b
        else:
            if kind(a) != kind(b) and a is not INVALID and b is not INVALID:
                message = "non-comparable types %s: %v, %s: %v"
                raise FuncError(sprintf(message, [a, type_name(a), type_name(b), b]))
            if is_nil(a) or is_nil(b):
                equal = is_nil(a) == is_nil(b)
            elif kind(b) != "ptr":
                raise FuncError(sprintf("non-comparable type %s: %v", [b, type_name(b)]))
            else:
                equal = a is b
        if equal:
            return True
    return False


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _lt(first: Any, second: Any) -> bool:
    a, b = _unwrap(first), _unwrap(second)
    k1, k2 = _basic_kind(a), _basic_kind(b)
    if k1 == "invalid" or k2 == "invalid":
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError(f"incompatible types for comparison: {type_name(a)} and {type_name(b)}")
    if k1 in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _gt(a: Any, b: Any) -> bool:
    return not _le(a, b)


def _ge(a: Any, b: Any) -> bool:
    return not _lt(a, b)


# -- printing and escaping -----------------------------------------------------------------


def _printable(v: Any) -> Any:
    """Go's `printableValue`: pointers to structs print as the struct."""
    if isinstance(v, GoStruct) and v.go_pointer and not v.is_nil:
        return print_struct_value(v)
    return v


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint([_printable(a) for a in args])


_HTML_ESCAPES = str.maketrans(
    {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
)
_JS_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _html(*args: Any) -> str:
    return _eval_args(args).translate(_HTML_ESCAPES)


def _js_char(ch: str) -> str:
    if ch in _JS_ESCAPES:
        return _JS_ESCAPES[ch]
    code = ord(ch)
    if code < 0x20:
        return f"\\u00{code:02X}"
    if code < 0x80 or ch.isprintable():
        return ch
    return f"\\u{code:04X}"


def _js(*args: Any) -> str:
    return "".join(_js_char(ch) for ch in _eval_args(args))


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(to_bytes(_eval_args(args)), safe="")


def _print(*args: Any) -> str:
    return sprint(args)


def _println(*args: Any) -> str:
    return sprintln(args)


def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, args)


def _call(callee: str, fn: Any, *args: Any) -> Any:
    fn = _unwrap(fn)
    if fn is INVALID:
        raise FuncError("call of nil")
    if kind(fn) != "func":
        raise FuncError(f"non-function {callee} of type {type_name(fn)}")
    try:
        return fn(*(None if a is INVALID else a for a in args))
    except Exception as e:  # a panic in Go, reported as the call's error
        raise FuncError(str(e)) from e


def _short_circuit(*args: Any) -> Any:
    """Stand-in body for `and`/`or`: the executor evaluates them lazily and never calls this."""
    raise FuncError("and/or must be evaluated by the executor")


BUILTINS: dict[str, GoFunc] = {
    "and": GoFunc(_short_circuit, ("value",), "value"),
    "or": GoFunc(_short_circuit, ("value",), "value"),
    "not": GoFunc(_not, ("value",)),
    "len": GoFunc(_len, ("value",)),
    "index": GoFunc(_index, ("value",), "value"),
    "slice": GoFunc(_slice, ("value",), "value"),
    "call": GoFunc(_call, ("value",), "value"),
    "print": GoFunc(_print, (), "any"),
    "printf": GoFunc(_printf, ("string",), "any"),
    "println": GoFunc(_println, (), "any"),
    "html": GoFunc(_html, (), "any"),
    "js": GoFunc(_js, (), "any"),
    "urlquery": GoFunc(_urlquery, (), "any"),
    "eq": GoFunc(_eq, ("value",), "value"),
    "ne": GoFunc(_ne, ("value", "value")),
    "lt": GoFunc(_lt, ("value", "value")),
    "le": GoFunc(_le, ("value", "value")),
    "gt": GoFunc(_gt, ("value", "value")),
    "ge": GoFunc(_ge, ("value", "value")),
}


# -- Ollama's functions (template/template.go `funcs`) -------------------------------------


def _json(v: Any) -> str:
    """`json.Marshal(v)`, with errors ignored as Ollama does (an empty string)."""
    try:
        return marshal(v)
    except UnsupportedValueError:
        return ""


def _current_date(*_format: str) -> str:
    """Today in local time as 2006-01-02; Ollama accepts and ignores a format argument."""
    return dt.date.today().isoformat()


def _yesterday_date(*_format: str) -> str:
    return (dt.date.today() - dt.timedelta(days=1)).isoformat()


def _to_typescript_type(v: Any) -> str:
    return v.ToTypeScriptType() if isinstance(v, ToolProperty) else "any"


OLLAMA_FUNCS: dict[str, GoFunc] = {
    "json": GoFunc(_json, ("any",)),
    "currentDate": GoFunc(_current_date, (), "string"),
    "yesterdayDate": GoFunc(_yesterday_date, (), "string"),
    "toTypeScriptType": GoFunc(_to_typescript_type, ("any",)),
}
