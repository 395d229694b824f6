"""What the built-in renderers share: the interface, the thinking switch, `[img-N]` tags, Go's
JSON and values."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from ollama_toolkit.api.types import THINK_LEVELS

Messages = list[dict[str, Any]]
Tools = list[dict[str, Any]] | None
Think = bool | str | None


class Renderer:
    """The interface: `render` the prompt; `leading_bos`, text the renderer expects first."""

    leading_bos = ""

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        raise NotImplementedError


def think_enabled(think: Think) -> bool:
    """Ollama's `ThinkValue.Bool()`: true, or one of the thinking levels."""
    return think is True or (isinstance(think, str) and think in THINK_LEVELS)


class RendererError(ValueError):
    """A conversation the renderer cannot write (a role it does not know)."""


def content_with_image_tags(content: str, image_count: int, offset: int) -> tuple[str, int]:
    """A message's content with its images' `[img-N]` tags, and the next image's number.

    An `[img]` placeholder in the text takes the next tag; images left over are tagged in
    front (a space before text that does not start with one); content already tagged
    `[img-` is kept as it is."""
    if image_count == 0:
        return content, offset
    if "[img-" in content:
        return content, offset + image_count
    prefix = ""
    for i in range(image_count):
        tag = f"[img-{offset + i}]"
        if "[img]" in content:
            content = content.replace("[img]", tag, 1)
        else:
            prefix += tag
    if prefix and content and not content[0].isspace():
        prefix += " "
    return prefix + content, offset + image_count


def go_json(
    value: Any,
    indent: int | None = None,
    sort_keys: bool = False,
    spaced: bool = False,
    escape_html: bool = True,
) -> str:
    """`value` as Go's `json.Marshal` writes it (`json.MarshalIndent` with `indent` spaces):
    compact, `<`, `>` and `&` escaped (unless not `escape_html`, an encoder with
    `SetEscapeHTML(false)`), whole floats without a fraction; `sort_keys` for a Go
    `map[string]any`, which Go writes in key order; `spaced`: a space after every `:` and `,`
    (Ollama's `marshalWithSpaces`)."""
    separators = (",", ": ") if indent is not None else (", ", ": ") if spaced else (",", ":")
    text = json.dumps(
        _go_numbers(value),
        separators=separators,
        ensure_ascii=False,
        indent=indent,
        sort_keys=sort_keys,
    )
    if escape_html:
        for c, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(c, escaped)
    # Go's encoder escapes these two even with HTML escaping off.
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def spaced_arguments(arguments: dict[str, Any]) -> str:
    """A call's arguments as Ollama's `marshalWithSpaces` writes them: in their own order, the
    objects inside them (Go maps) in key order."""
    items = (
        f"{go_json(k)}: {go_json(v, sort_keys=True, spaced=True)}" for k, v in arguments.items()
    )
    return "{" + ", ".join(items) + "}"


def go_arguments_json(arguments: dict[str, Any]) -> str:
    """A tool call's arguments as Ollama marshals them: in their own order, the objects inside
    them (Go maps) in key order."""
    items = (f"{go_json(k)}:{go_json(v, sort_keys=True)}" for k, v in arguments.items())
    return "{" + ",".join(items) + "}"


def go_value(value: Any) -> str:
    """A scalar as Go's `fmt.Sprintf("%v")` prints it (Ollama decodes JSON numbers as float64)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_float(float(value))  # a JSON number is a float64 in Go
    return str(value)


def go_float(value: float) -> str:
    """A float64 as Go's `%v` (`%g`, shortest) prints it: the shortest digits that read back
    as the same number, with an exponent (`1e+06`, `1.5e-07`) when it is below -4 or at least
    6, the precision Go decides by for its shortest form."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(digits) - 1 + exponent
    minus = "-" if sign else ""
    if value == 0:
        return minus + "0"
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exponent >= 0:
        return minus + text + "0" * exponent
    point = len(text) + exponent
    if point > 0:
        return f"{minus}{text[:point]}.{text[point:]}"
    return f"{minus}0.{'0' * -point}{text}"


def _go_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    return value


def go_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A wire tool as Ollama's `api.Tool` marshals it: its fields in the struct's order,
    empty optional ones left out, `type` and `properties` always there."""
    function = tool.get("function") or {}
    params = function.get("parameters") or {}
    out: dict[str, Any] = {"type": tool.get("type") or ""}
    if tool.get("items") is not None:
        out["items"] = go_any(tool["items"])
    go_function: dict[str, Any] = {"name": function.get("name") or ""}
    if function.get("description"):
        go_function["description"] = function["description"]
    go_params: dict[str, Any] = {"type": params.get("type") or ""}
    for key in ("$defs", "items", "required"):
        if params.get(key):
            go_params[key] = go_any(params[key])
    properties = params.get("properties")
    go_params["properties"] = (
        {k: go_property(v) for k, v in properties.items()} if properties is not None else None
    )
    go_function["parameters"] = go_params
    out["function"] = go_function
    return out


def go_any(value: Any) -> Any:
    """A free-form JSON value (a Go `any`) as Go marshals it: its objects, decoded as Go maps,
    in key order."""
    if isinstance(value, dict):
        return {k: go_any(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [go_any(v) for v in value]
    return value


def go_property(prop: Any) -> Any:
    """A schema property as Ollama's `api.ToolProperty` marshals it."""
    if not isinstance(prop, dict):
        return prop
    out: dict[str, Any] = {}
    if prop.get("anyOf"):
        out["anyOf"] = [go_property(p) for p in prop["anyOf"]]
    kind = prop.get("type")
    if isinstance(kind, list):
        if kind:
            out["type"] = kind[0] if len(kind) == 1 else kind
    elif kind:
        out["type"] = kind
    if prop.get("items") is not None:
        out["items"] = go_any(prop["items"])
    if prop.get("description"):
        out["description"] = prop["description"]
    if prop.get("enum"):
        out["enum"] = go_any(prop["enum"])
    if prop.get("properties") is not None:
        out["properties"] = {k: go_property(v) for k, v in prop["properties"].items()}
    if prop.get("required"):
        out["required"] = prop["required"]
    return out
