"""Ollama's template data: wire-shaped messages and tools turned into the Go values templates see.

Ollama decodes a request into `api.Message`/`api.Tool` and converts them to the unexported
`templateMessage`/`templateTool` types of `template/template.go` before rendering. These
classes reproduce those types' fields, json tags, `String()` methods and zero values, so that
`.ToolCalls`, `{{ json .Function.Arguments }}` or `{{ $p.Type }}` behave as in Ollama. JSON
numbers inside free-form values (tool arguments, enums, items) become floats, as Go decodes
them into `float64`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .gofmt import sprint
from .gojson import UnsupportedValueError, encode_ordered, encode_string, marshal
from .values import GoList, GoMap, GoStruct


def _marshal_or_empty(v: Any) -> str:
    try:
        return marshal(v)
    except UnsupportedValueError:
        return ""


class PropertyType(GoList):
    """`api.PropertyType`: a JSON Schema type, one name or a list of names."""

    __slots__ = ()
    default_type = "api.PropertyType"
    go_methods = ("String",)

    def String(self) -> str:  # Go method name: callable from templates
        if len(self) == 1:
            return str(self[0])
        return "" if not self else sprint([GoList(self, go_type="[]string")])

    def go_marshal_json(self) -> str:
        if len(self) == 1:
            return encode_string(str(self[0]))
        return marshal(GoList(self, go_type="[]string", nil=self.nil))


@dataclass(slots=True)
class ToolPropertiesMap(GoStruct):
    """`*api.ToolPropertiesMap`: nested schema properties, kept in insertion order for JSON."""

    go_type = "api.ToolPropertiesMap"
    go_pointer = True
    go_methods = ("Len", "ToMap")
    om: dict[str, ToolProperty] | None = None

    @property
    def is_nil(self) -> bool:
        return self.om is None

    def Len(self) -> int:
        return len(self.om or {})

    def ToMap(self) -> GoMap:
        return GoMap(
            self.om or {},
            go_type="map[string]api.ToolProperty",
            nil=self.om is None,
            elem_zero=ToolProperty,
        )

    def go_marshal_json(self) -> str:
        return "null" if self.om is None else encode_ordered(list(self.om.items()))


def _nil_list(go_type: str) -> GoList:
    return GoList(go_type=go_type, nil=True)


@dataclass(slots=True)
class ToolProperty(GoStruct):
    """`api.ToolProperty`: one JSON Schema property of a tool's parameters."""

    go_type = "api.ToolProperty"
    go_methods = ("ToTypeScriptType",)
    go_json: ClassVar[dict[str, tuple[str, bool]]] = {
        "AnyOf": ("anyOf", True),
        "Type": ("type", True),
        "Items": ("items", True),
        "Description": ("description", True),
        "Enum": ("enum", True),
        "Properties": ("properties", True),
        "Required": ("required", True),
    }
    AnyOf: GoList = field(default_factory=lambda: _nil_list("[]api.ToolProperty"))
    Type: PropertyType = field(default_factory=lambda: PropertyType(nil=True))
    Items: Any = None
    Description: str = ""
    Enum: GoList = field(default_factory=lambda: _nil_list("[]interface {}"))
    Properties: ToolPropertiesMap = field(default_factory=ToolPropertiesMap)
    Required: GoList = field(default_factory=lambda: _nil_list("[]string"))

    def ToTypeScriptType(self) -> str:
        """Ollama's `ToolProperty.ToTypeScriptType` (union of mapped JSON Schema types)."""
        if self.AnyOf:
            return " | ".join(p.ToTypeScriptType() for p in self.AnyOf)
        if not self.Type:
            return "any"
        return " | ".join(_TS_TYPES.get(str(t), "any") for t in self.Type)


_TS_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "any[]",
    "object": "Record<string, any>",
    "null": "null",
}


class TemplateProperties(GoMap):
    """`templateProperties`: a tool's top-level properties, ranged in sorted key order."""

    __slots__ = ()
    default_type = "template.templateProperties"
    go_methods = ("String",)

    def String(self) -> str:
        return "{}" if self.nil else _marshal_or_empty(self)


class TemplateArgs(GoMap):
    """`templateArgs`: a tool call's arguments; prints as JSON (`{}` when absent)."""

    __slots__ = ()
    default_type = "template.templateArgs"
    go_methods = ("String",)

    def String(self) -> str:
        return "{}" if self.nil else _marshal_or_empty(self)


@dataclass(slots=True)
class TemplateToolFunctionParameters(GoStruct):
    go_type = "template.templateToolFunctionParameters"
    go_json: ClassVar[dict[str, tuple[str, bool]]] = {
        "Type": ("type", False),
        "Defs": ("$defs", True),
        "Items": ("items", True),
        "Required": ("required", True),
        "Properties": ("properties", False),
    }
    Type: str = ""
    Defs: Any = None
    Items: Any = None
    Required: GoList = field(default_factory=lambda: _nil_list("[]string"))
    Properties: TemplateProperties = field(default_factory=lambda: TemplateProperties(nil=True))


@dataclass(slots=True)
class TemplateToolFunction(GoStruct):
    go_type = "template.templateToolFunction"
    go_json: ClassVar[dict[str, tuple[str, bool]]] = {
        "Name": ("name", False),
        "Description": ("description", False),
        "Parameters": ("parameters", False),
    }
    Name: str = ""
    Description: str = ""
    Parameters: TemplateToolFunctionParameters = field(
        default_factory=TemplateToolFunctionParameters
    )


@dataclass(slots=True)
class TemplateTool(GoStruct):
    """`templateTool`: one entry of `.Tools`; prints as its JSON."""

    go_type = "template.templateTool"
    go_methods = ("String",)
    go_json: ClassVar[dict[str, tuple[str, bool]]] = {
        "Type": ("type", False),
        "Items": ("items", True),
        "Function": ("function", False),
    }
    Type: str = ""
    Items: Any = None
    Function: TemplateToolFunction = field(default_factory=TemplateToolFunction)

    def String(self) -> str:
        return _marshal_or_empty(self)


class TemplateTools(GoList):
    """`templateTools`: `.Tools`; prints as its JSON (`null` when the request had no tools)."""

    __slots__ = ()
    default_type = "template.templateTools"
    go_methods = ("String",)

    def String(self) -> str:
        return _marshal_or_empty(self)


@dataclass(slots=True)
class TemplateToolCallFunction(GoStruct):
    go_type = "template.templateToolCallFunction"
    Index: int = 0
    Name: str = ""
    Arguments: TemplateArgs = field(default_factory=lambda: TemplateArgs(nil=True))


@dataclass(slots=True)
class TemplateToolCall(GoStruct):
    go_type = "template.templateToolCall"
    ID: str = ""
    Function: TemplateToolCallFunction = field(default_factory=TemplateToolCallFunction)


@dataclass(slots=True)
class TemplateMessage(GoStruct):
    """`*templateMessage`: one entry of `.Messages` (no json tags, as in Ollama)."""

    go_type = "template.templateMessage"
    go_pointer = True
    Role: str = ""
    Content: str = ""
    Thinking: str = ""
    Images: GoList = field(default_factory=lambda: _nil_list("[]api.ImageData"))
    ToolCalls: GoList = field(default_factory=lambda: _nil_list("[]template.templateToolCall"))
    ToolName: str = ""
    ToolCallID: str = ""


# -- conversion from wire data ---------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    """A field of a wire object: a dict, or a model exposing dict-like `get` (pydantic types)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    getter = getattr(obj, "get", None)
    return getter(key) if callable(getter) else getattr(obj, key, None)


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def json_any(v: Any) -> Any:
    """A decoded JSON value as Go holds it in `any`: numbers are float64, objects maps."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, Mapping):
        return {str(k): json_any(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_any(x) for x in v]
    return v


def _string_list(v: Any) -> GoList:
    if not isinstance(v, (list, tuple)):
        return _nil_list("[]string")
    return GoList((str(x) for x in v), go_type="[]string")


def tool_property(obj: Any) -> ToolProperty:
    """An `api.ToolProperty` from a JSON Schema object (unknown keywords dropped, as Go does)."""
    typ = _get(obj, "type")
    any_of = _get(obj, "anyOf")
    enum = _get(obj, "enum")
    props = _get(obj, "properties")
    return ToolProperty(
        AnyOf=(
            GoList((tool_property(p) for p in any_of), go_type="[]api.ToolProperty")
            if isinstance(any_of, (list, tuple))
            else _nil_list("[]api.ToolProperty")
        ),
        Type=(
            PropertyType([typ])
            if isinstance(typ, str)
            else PropertyType(map(str, typ))
            if isinstance(typ, (list, tuple))
            else PropertyType(nil=True)
        ),
        Items=json_any(_get(obj, "items")),
        Description=_str(_get(obj, "description")),
        Enum=(
            GoList(json_any(list(enum)))
            if isinstance(enum, (list, tuple))
            else _nil_list("[]interface {}")
        ),
        Properties=ToolPropertiesMap(
            {str(k): tool_property(v) for k, v in props.items()}
            if isinstance(props, Mapping)
            else None
        ),
        Required=_string_list(_get(obj, "required")),
    )


def convert_tools(tools: list[Any] | None) -> TemplateTools:
    """Ollama's `convertToolsForTemplate`: nil stays nil (it prints `null`)."""
    if tools is None:
        return TemplateTools(nil=True)
    result = TemplateTools()
    for tool in tools:
        function = _get(tool, "function")
        params = _get(function, "parameters")
        props = _get(params, "properties")
        result.append(
            TemplateTool(
                Type=_str(_get(tool, "type")),
                Items=json_any(_get(tool, "items")),
                Function=TemplateToolFunction(
                    Name=_str(_get(function, "name")),
                    Description=_str(_get(function, "description")),
                    Parameters=TemplateToolFunctionParameters(
                        Type=_str(_get(params, "type")),
                        Defs=json_any(_get(params, "$defs")),
                        Items=json_any(_get(params, "items")),
                        Required=_string_list(_get(params, "required")),
                        Properties=(
                            TemplateProperties(
                                {str(k): tool_property(v) for k, v in props.items()},
                                elem_zero=ToolProperty,
                            )
                            if isinstance(props, Mapping)
                            else TemplateProperties(nil=True, elem_zero=ToolProperty)
                        ),
                    ),
                ),
            )
        )
    return result


def _arguments(raw: Any) -> TemplateArgs:
    if isinstance(raw, str):  # some clients send arguments as a JSON string
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, Mapping):
        return TemplateArgs(nil=True)
    return TemplateArgs({str(k): json_any(v) for k, v in raw.items()})


def _image(data: Any) -> bytes:
    """`api.ImageData` is raw bytes; on the wire it is base64 (Go's []byte JSON encoding)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    text = str(data)
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")


def convert_message(msg: Any) -> TemplateMessage:
    """A wire message as `*templateMessage` (roles lowercased, as Ollama's decoder does)."""
    images = _get(msg, "images")
    calls = _get(msg, "tool_calls")
    tool_calls = GoList(go_type="[]template.templateToolCall", nil=not calls)
    for call in calls or []:
        function = _get(call, "function")
        index = _get(function, "index")
        tool_calls.append(
            TemplateToolCall(
                ID=_str(_get(call, "id")),
                Function=TemplateToolCallFunction(
                    Index=index if isinstance(index, int) and not isinstance(index, bool) else 0,
                    Name=_str(_get(function, "name")),
                    Arguments=_arguments(_get(function, "arguments")),
                ),
            )
        )
    return TemplateMessage(
        Role=_str(_get(msg, "role")).lower(),
        Content=_str(_get(msg, "content")),
        Thinking=_str(_get(msg, "thinking")),
        Images=GoList((_image(i) for i in images or []), go_type="[]api.ImageData", nil=not images),
        ToolCalls=tool_calls,
        ToolName=_str(_get(msg, "tool_name")),
        ToolCallID=_str(_get(msg, "tool_call_id")),
    )
