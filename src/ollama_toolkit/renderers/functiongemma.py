"""FunctionGemma's prompts (`functiongemma`): Gemma turns, tools declared in a developer turn
in its own notation (`declaration:name{description:<escape>…<escape>,parameters:{…}}`), calls
as `call:name{key:value,…}` and results as `response:name{…}`, strings between `<escape>`
marks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ollama_toolkit.renderers.base import Messages, Renderer, Think, Tools, go_value

DEFAULT_SYSTEM = "You can do function calling with the following functions:"


class FunctionGemmaRenderer(Renderer):
    leading_bos = "<bos>"

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = ["<bos>"]
        system = ""
        rest = messages
        if messages and messages[0].get("role") in ("system", "developer"):
            system, rest = messages[0].get("content") or "", messages[1:]
        if system or tools:
            out.append("<start_of_turn>developer\n")
            out.append(system.strip())
            if tools:
                if system:
                    out.append("\n")
                if system.strip() != DEFAULT_SYSTEM:
                    out.append(DEFAULT_SYSTEM)
            out.extend(declaration(tool) for tool in tools or ())
            out.append("<end_of_turn>\n")
        previous = ""
        for i, m in enumerate(rest):
            role, content = m.get("role"), m.get("content") or ""
            if role == "assistant":
                if previous != "tool_response":
                    out.append("<start_of_turn>model\n")
                previous = ""
                out.append(content.strip())
                calls = m.get("tool_calls") or []
                out.extend(call_text(call) for call in calls)
                if calls and i + 1 < len(rest) and rest[i + 1].get("role") == "tool":
                    out.append("<start_function_response>")
                    previous = "tool_call"
                else:
                    out.append("<end_of_turn>\n")
            elif role == "user":
                if previous != "tool_response":
                    out.append("<start_of_turn>user\n")
                previous = ""
                out.append(content.strip() + "<end_of_turn>\n")
            elif role == "tool":
                if previous != "tool_call":
                    out.append("<start_function_response>")
                name, value = _tool_name(rest, i), value_text(content)
                out.append(f"response:{name}{{{value}}}<end_function_response>")
                previous = "tool_response"
            else:
                out.append(f"<start_of_turn>{role}\n{content.strip()}<end_of_turn>\n")
        if previous != "tool_response":
            out.append("<start_of_turn>model\n")
        return "".join(out)


def _tool_name(messages: Messages, i: int) -> str:
    """The name of the call a tool message answers: the last assistant's calls, in order."""
    for j in range(i - 1, -1, -1):
        calls = messages[j].get("tool_calls") or []
        if messages[j].get("role") == "assistant" and calls:
            n = sum(1 for m in messages[j + 1 : i] if m.get("role") == "tool")
            return str((calls[n].get("function") or {}).get("name", "")) if n < len(calls) else ""
    return ""


def declaration(tool: dict[str, Any]) -> str:
    function = tool.get("function") or {}
    params = function.get("parameters") or {}
    out = [
        f"<start_function_declaration>declaration:{function.get('name', '')}{{"
        f"description:<escape>{function.get('description') or ''}<escape>"
    ]
    out.append(parameters_text(params, _properties, "<escape>"))
    out.append("}<end_function_declaration>")
    return "".join(out)


def parameters_text(
    params: dict[str, Any], properties_text: Callable[[dict[str, Any]], str], quote: str
) -> str:
    """A declaration's `,parameters:{properties:{…},required:[…],type:…}` (as much of it as
    the schema has; "" when it has neither properties nor a type), strings between `quote`s
    and the properties written by `properties_text`."""
    properties = params.get("properties")
    kind = params.get("type") or ""
    if properties is None and not kind:
        return ""
    parts = []
    if properties:
        parts.append("properties:{" + properties_text(properties) + "}")
    if params.get("required"):
        parts.append(
            "required:[" + ",".join(f"{quote}{r}{quote}" for r in params["required"]) + "]"
        )
    if kind:
        parts.append(f"type:{quote}{kind.upper()}{quote}")
    return ",parameters:{" + ",".join(parts) + "}"


def _properties(properties: dict[str, Any]) -> str:
    props = []
    for name in sorted(properties):
        prop = properties[name] or {}
        text = f"{name}:{{description:<escape>{prop.get('description') or ''}<escape>"
        types = prop.get("type")
        first = types if isinstance(types, str) else (types or [None])[0]
        if first:
            text += f",type:<escape>{first.upper()}<escape>"
        props.append(text + "}")
    return ",".join(props)


def call_text(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments") or {}
    args = ",".join(f"{k}:{value_text(arguments[k])}" for k in sorted(arguments))
    return f"<start_function_call>call:{function.get('name', '')}{{{args}}}<end_function_call>"


def value_text(value: Any) -> str:
    """A value in FunctionGemma's notation: strings escaped, objects with sorted keys."""
    if isinstance(value, str):
        return f"<escape>{value}<escape>"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{value_text(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    return go_value(value)
