"""Turning the arguments users pass (mappings, wire types, paths, bytes, functions) into JSON."""

from __future__ import annotations

import base64
import binascii
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from ollama_toolkit.api.types import Message, Tool, WireModel

Image = str | bytes | Path


def as_dict(value: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """A plain dict from a mapping or any pydantic model (ours, or the official client's)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(value)


def wire(wire_type: type[WireModel], /, **fields: Any) -> dict[str, Any]:
    """The request body: validated by the wire type, with only the fields the caller gave."""
    given = {k: v for k, v in fields.items() if v is not None}
    return wire_type.model_validate(given).model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude_unset=True
    )


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def encode_image(image: Image) -> str:
    """Base64 text for an image given as bytes, a file path, or base64 text already.

    As the official client's `Image`: a `Path` is read; a string is read when it names an
    existing file, and is otherwise sent as base64 once it decodes as such. A missing file (a
    `Path`, or a string ending in .png, .jpg, .jpeg or .webp) and text that is no base64 raise
    `ValueError`, as the official client's do.
    """
    if isinstance(image, bytes):
        return base64.b64encode(image).decode()
    if isinstance(image, Path):
        try:
            return base64.b64encode(image.read_bytes()).decode()
        except FileNotFoundError:
            raise ValueError(f"File {image} does not exist") from None
    path = Path(image)
    try:
        is_file = len(image) < 4096 and path.is_file()
    except (OSError, ValueError):
        is_file = False
    if is_file:
        return base64.b64encode(path.read_bytes()).decode()
    if image.lower().endswith(_IMAGE_SUFFIXES):
        raise ValueError(f"File {image} does not exist")
    try:
        base64.b64decode(image)
    except (binascii.Error, ValueError):
        raise ValueError(
            "Invalid image data, expected base64 string or path to image file"
        ) from None
    return image


def messages(items: Sequence[Mapping[str, Any] | BaseModel] | None) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        msg = as_dict(item)
        if msg.get("images"):
            msg["images"] = [encode_image(i) for i in msg["images"]]
        out.append(Message.model_validate(msg).to_wire())
    return out


def tools(items: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None) -> list:
    """Tools as JSON schema: mappings and Tool objects as given, Python functions described."""
    out = []
    for item in items or []:
        if isinstance(item, (Mapping, BaseModel)):
            out.append(Tool.model_validate(as_dict(item)).to_wire())
        else:
            out.append(function_tool(item))
    return out


_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def function_tool(func: Callable[..., Any]) -> dict[str, Any]:
    """A tool schema from a function's signature and its Google-style docstring."""
    doc = inspect.getdoc(func) or ""
    summary, arg_docs = _parse_docstring(doc)
    properties: dict[str, Any] = {}
    required = []
    for name, param in inspect.signature(func).parameters.items():
        annotation = str if param.annotation is inspect.Parameter.empty else param.annotation
        schema = TypeAdapter(annotation).json_schema()
        if name in arg_docs:
            schema["description"] = arg_docs[name]
        properties[name] = schema
        if param.default is inspect.Parameter.empty:
            required.append(name)
    parameters = {"type": "object", "properties": properties, "required": required}
    tool = Tool.model_validate(
        {"function": {"name": func.__name__, "description": summary, "parameters": parameters}}
    )
    return tool.to_wire()


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary paragraph, and each argument's description from an `Args:` section."""
    summary, _, rest = doc.partition("\n\n")
    args: dict[str, str] = {}
    in_args = False
    for line in rest.splitlines():
        if line.strip().lower() in {"args:", "arguments:", "parameters:"}:
            in_args = True
        elif in_args and line.strip().endswith(":") and not line.startswith(" "):
            in_args = False
        elif in_args and (m := _ARG_LINE.match(line)):
            args[m.group(1)] = m.group(2).strip()
    return " ".join(summary.split()), args
