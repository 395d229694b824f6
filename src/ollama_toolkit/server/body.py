"""Decoding request bodies into wire types, with Go-like errors that clients already understand."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ollama_toolkit.api.errors import APIError, missing_body

T = TypeVar("T", bound=BaseModel)

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
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise APIError(
            f"invalid JSON in request body: {e.msg} (line {e.lineno} column {e.colno})"
        ) from None
    except UnicodeDecodeError:
        raise APIError("invalid JSON in request body: not UTF-8") from None
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), "value")
        raise APIError(f"json: cannot unmarshal {kind} into Go value of type api.{model.__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise APIError(_describe(e, model)) from None


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
