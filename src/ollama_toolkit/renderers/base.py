"""What the built-in renderers share: the interface, `[img-N]` tags, Go's JSON and values."""

from __future__ import annotations

import json
from typing import Any

Messages = list[dict[str, Any]]
Tools = list[dict[str, Any]] | None
Think = bool | str | None


class Renderer:
    """The interface: `render` the prompt; `leading_bos`, text the renderer expects first."""

    leading_bos = ""

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        raise NotImplementedError


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
    value: Any, indent: int | None = None, sort_keys: bool = False, spaced: bool = False
) -> str:
    """`value` as Go's `json.Marshal` writes it (`json.MarshalIndent` with `indent` spaces):
    compact, `<`, `>` and `&` escaped, whole floats without a fraction; `sort_keys` for a Go
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
    for c, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(c, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_arguments_json(arguments: dict[str, Any]) -> str:
    """A tool call's arguments as Ollama marshals them: in their own order, the objects inside
    them (Go maps) in key order."""
    items = (f"{go_json(k)}:{go_json(v, sort_keys=True)}" for k, v in arguments.items())
    return "{" + ",".join(items) + "}"


def go_value(value: Any) -> str:
    """A scalar as Go's `fmt.Sprintf("%v")` prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            sign = "-" if exponent.startswith("-") else "+"
            text = f"{mantissa}e{sign}{exponent.lstrip('+-').rjust(2, '0')}"
        return text
    return str(value)


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
        out["items"] = tool["items"]
    go_function: dict[str, Any] = {"name": function.get("name") or ""}
    if function.get("description"):
        go_function["description"] = function["description"]
    go_params: dict[str, Any] = {"type": params.get("type") or ""}
    for key in ("$defs", "items", "required"):
        if params.get(key):
            go_params[key] = params[key]
    properties = params.get("properties")
    go_params["properties"] = (
        {k: go_property(v) for k, v in properties.items()} if properties is not None else None
    )
    go_function["parameters"] = go_params
    out["function"] = go_function
    return out


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
        out["items"] = prop["items"]
    if prop.get("description"):
        out["description"] = prop["description"]
    if prop.get("enum"):
        out["enum"] = prop["enum"]
    if prop.get("properties") is not None:
        out["properties"] = {k: go_property(v) for k, v in prop["properties"].items()}
    if prop.get("required"):
        out["required"] = prop["required"]
    return out
