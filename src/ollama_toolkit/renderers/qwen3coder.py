"""Qwen3-Coder's prompts (`qwen3-coder`): ChatML, tools as XML in the system message, tool
calls as `<function=name>` blocks of `<parameter=name>` values, tool results as
`<tool_response>`s in one user turn."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import Messages, Renderer, Think, Tools, go_json, go_value

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

DEFAULT_SYSTEM = (
    "You are Qwen, a helpful AI assistant that can interact with a computer to solve tasks."
)

TOOL_INSTRUCTIONS = """

If you choose to call a function ONLY reply in the following format with NO suffix:

<tool_call>
<function=example_function_name>
<parameter=example_parameter_1>
value_1
</parameter>
<parameter=example_parameter_2>
This is the value for the second parameter
that can span
multiple lines
</parameter>
</function>
</tool_call>

<IMPORTANT>
Reminder:
- Function calls MUST follow the specified format: an inner <function=...></function> block \
must be nested within <tool_call></tool_call> XML tags
- Required parameters MUST be specified
- You may provide optional reasoning for your function call in natural language BEFORE the \
function call, but NOT after
- If there is no function call available, answer the question like normal with your current \
knowledge and do not tell the user about function calls
</IMPORTANT>"""

# The keys of a property, and of the parameters, that Ollama's tool types keep, in their order.
_PROPERTY_KEYS = ("anyOf", "type", "items", "description", "enum", "properties", "required")
_PARAMETERS_KEYS = ("type", "$defs", "items", "required", "properties")


class Qwen3CoderRenderer(Renderer):
    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out: list[str] = []
        system = ""
        rest = []
        for m in messages:
            if m.get("role") != "system":
                rest.append(m)
            elif not system:
                system = m.get("content") or ""
        if system or tools:
            out.append(f"{IM_START}system\n{system or DEFAULT_SYSTEM}")
            if tools:
                out.append(tools_section(tools))
            out.append(f"{IM_END}\n")
        for i, m in enumerate(rest):
            role = m.get("role")
            last = i == len(rest) - 1
            prefill = last and role == "assistant"
            content = m.get("content") or ""
            if role == "assistant":
                out.append(f"{IM_START}assistant\n")
                calls = m.get("tool_calls") or []
                if calls:
                    if content:
                        out.append(content + "\n")
                    for call in calls:
                        out.append(format_call(call))
                    out.append(f"{IM_END}\n")
                else:
                    out.append(content)
                    if not prefill:
                        out.append(f"{IM_END}\n")
            elif role == "tool":
                if i == 0 or rest[i - 1].get("role") != "tool":
                    out.append(f"{IM_START}user")
                out.append(f"\n<tool_response>\n{content}\n</tool_response>")
                if last or rest[i + 1].get("role") != "tool":
                    out.append(f"{IM_END}\n")
            else:
                out.append(f"{IM_START}{role}\n{content}{IM_END}\n")
            if last and not prefill:
                out.append(f"{IM_START}assistant\n")
        return "".join(out)


def tools_section(tools: list[dict[str, Any]]) -> str:
    out = ["\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>"]
    for tool in tools:
        function = tool.get("function") or {}
        out.append(f"\n<function>\n<name>{function.get('name', '')}</name>")
        if function.get("description"):
            out.append(f"\n<description>{function['description']}</description>")
        out.append("\n<parameters>")
        params = function.get("parameters") or {}
        for name, prop in (params.get("properties") or {}).items():
            prop = prop or {}
            out.append(f"\n<parameter>\n<name>{name}</name>")
            kind = prop.get("type")
            if kind:
                out.append(f"\n<type>{type_text(kind)}</type>")
            if prop.get("description"):
                out.append(f"\n<description>{prop['description']}</description>")
            out.append(additional_keys(prop, _PROPERTY_KEYS, {"type", "description"}))
            out.append("\n</parameter>")
        out.append(additional_keys(params, _PARAMETERS_KEYS, {"type", "properties"}))
        out.append("\n</parameters>\n</function>")
    out.append("\n</tools>")
    out.append(TOOL_INSTRUCTIONS)
    return "".join(out)


def type_text(kind: Any) -> str:
    """A property's type: one name as itself, several as a JSON list."""
    kinds = [kind] if isinstance(kind, str) else list(kind or ())
    if not kinds:
        return "[]"
    return str(kinds[0]) if len(kinds) == 1 else go_json(kinds)


def additional_keys(obj: dict[str, Any], known: tuple[str, ...], handled: set[str]) -> str:
    """The object's other keys as `<key>value</key>` lines: lists and objects as JSON."""
    out = []
    for key in known:
        value = obj.get(key)
        if key in handled or value is None or value == "" or value == [] or value == {}:
            continue
        text = go_json(value) if isinstance(value, (dict, list)) else go_value(value)
        out.append(f"\n<{key}>{text}</{key}>")
    return "".join(out)


def format_argument(value: Any) -> str:
    """A tool call's argument: strings bare, lists and objects as JSON, the rest as Go prints."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return go_json(value, sort_keys=True)
    return go_value(value)


def format_call(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    out = [f"\n<tool_call>\n<function={function.get('name', '')}>"]
    for name, value in (function.get("arguments") or {}).items():
        out.append(f"\n<parameter={name}>\n{format_argument(value)}\n</parameter>")
    out.append("\n</function>\n</tool_call>")
    return "".join(out)
