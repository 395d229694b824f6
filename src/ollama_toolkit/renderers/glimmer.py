"""Glimmer's prompts (`glimmer`; Ollama's `model/renderers/glimmer.go`): messages as
`<|start|>header<|message|>content` ended by `<|eot|>` (or `<|eom|>` before another message of
the same role), a system message with the knowledge cutoff, the date, the reasoning strength,
the tools as JSON schemas and the valid recipients; assistant thinking addressed `to=self`,
answers `to=user`, tool calls `to=<tool>` as `<atem:function_calls>` blocks, tool results from
`tool <name>`."""

from __future__ import annotations

import datetime
from typing import Any

from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    Think,
    Tools,
    content_with_image_tags,
    go_json,
    go_tool,
    go_value,
)

BOS = "<|begin_of_text|>"
START = "<|start|>"
MESSAGE = "<|message|>"
END_MESSAGE = "<|eom|>"
END_TURN = "<|eot|>"
PATCH = "<|patch|>"
DEFAULT_SYSTEM = "You are a helpful AI assistant."
KNOWLEDGE_CUTOFF = "2026-01-04"

TOOLS_HEAD = """In this environment you have access to a set of tools you can use to answer \
the user's question.

You can invoke a function by writing a "<atem:function_calls>" block like the following:
<atem:function_calls>
<atem:invoke name="$FUNCTION_NAME">
<atem:parameter name="$PARAMETER_NAME">$PARAMETER_VALUE</atem:parameter>
...
</atem:invoke>
</atem:function_calls>

String and scalar parameters should be specified as is, while lists and objects should use \
JSON format. Note that spaces for string values are not stripped. The output is not expected \
to be valid XML and is parsed with regular expressions.
Here are the functions available in JSONSchema format:
// Tool metadata
"""

TOOLS_TAIL = """

Here's an example of how to call a function in the tool set:
(If the tool namespace is not specified, invoke the function directly as \
`example_function_name` rather than `example_tool_name.example_function_name`)

to=example_tool_name.example_function_name

<atem:function_calls>
<atem:invoke name="example_tool_name.example_function_name">
<atem:parameter name="example_parameter_1">value_1</atem:parameter>
<atem:parameter name="example_parameter_2">This is the value for the second parameter
that can span
"multiple" lines
</atem:parameter>
</atem:invoke>
</atem:function_calls>"""

_REASONING = (
    ("Reasoning effort", "Reasoning strength"),
    ("Reasoning Effort", "Reasoning Strength"),
    ("reasoning effort", "reasoning strength"),
    ("REASONING EFFORT", "REASONING STRENGTH"),
)


def glimmer_json(value: Any, sort_keys: bool = False) -> str:
    """`value` as the Transformers `tojson` filter writes it: Go's JSON with a space after each
    `:` and `,`, and `<`, `>`, `&` left as they are; `sort_keys` for a Go map."""
    return go_json(value, spaced=True, sort_keys=sort_keys, escape_html=False)


def reasoning_strength(think: Think) -> str:
    if think is None:
        return "high"
    if not think:
        return "none"
    return think if isinstance(think, str) else "high"


def namespace(name: str) -> str:
    """A tool's namespace: its name up to the first dot."""
    return name.split(".", 1)[0]


def namespaces(tools: Tools) -> list[str]:
    return list(dict.fromkeys(namespace(_name(t)) for t in tools or ()))


def _name(tool: dict[str, Any]) -> str:
    return (tool.get("function") or {}).get("name") or ""


def tool_definitions(tools: list[dict[str, Any]]) -> str:
    out = [TOOLS_HEAD]
    for ns in namespaces(tools):
        out.append(f'{{"name": {glimmer_json(ns)}, "description": ""}}\n')
    out.append("// Function schemas")
    for tool in tools:
        function = go_tool(tool)["function"]
        out.append(
            f'\n{{"name": {glimmer_json(function["name"])}, '
            f'"description": {glimmer_json(function.get("description", ""))}, '
            f'"parameters": {glimmer_json(function["parameters"])}}}'
        )
    out.append(TOOLS_TAIL)
    return "".join(out)


def system_message(
    content: str, tools: Tools, strength: str, current_date: str, default: bool
) -> str:
    if not default:
        for old, new in _REASONING:
            content = content.replace(old, new)
    out = [START, "system", MESSAGE, content]
    if default:
        out.append(f"\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}.\nCurrent date: {current_date}.")
    # A system message that sets the strength itself is not given another.
    if default or "reasoning strength" not in content.lower():
        out.append(f"\n\nReasoning strength: {strength}.")
    if tools:
        out.append("\n\n" + tool_definitions(tools))
    recipients = "".join(f', "{ns}.*"' for ns in namespaces(tools))
    out.append(f'\n\n# Valid recipients: "self"{recipients}, "user".{END_TURN}')
    return "".join(out)


def tool_result_name(message: dict[str, Any], messages: Messages) -> str:
    """The tool a result came from: its `tool_name`, else the call its `tool_call_id` names
    (the id itself when no call has it)."""
    if message.get("tool_name"):
        return str(message["tool_name"])
    name = str(message.get("tool_call_id") or "")
    if not name:
        return name
    for candidate in messages:
        for call in candidate.get("tool_calls") or ():
            if call.get("id") == message["tool_call_id"]:
                name = (call.get("function") or {}).get("name") or ""
    return name


def atem_call(call: dict[str, Any]) -> str:
    """A tool call as an `<atem:function_calls>` block: strings and scalars as they are, lists
    and objects as JSON."""
    function = call.get("function") or {}
    out = [f'<atem:function_calls>\n<atem:invoke name="{function.get("name") or ""}">\n']
    for name, value in (function.get("arguments") or {}).items():
        if value is None:
            shown = "null"
        elif isinstance(value, (dict, list)):
            shown = glimmer_json(value, sort_keys=True)
        else:
            shown = go_value(value)
        out.append(f'<atem:parameter name="{name}">{shown}</atem:parameter>\n')
    out.append("</atem:invoke>\n</atem:function_calls>")
    return "".join(out)


class GlimmerRenderer(Renderer):
    leading_bos = BOS

    def __init__(self, use_img_tags: bool = True, current_date: str | None = None) -> None:
        # Ollama's server renders images as [img-N] tags; the model's own template writes
        # one <|patch|> per image.
        self.use_img_tags = use_img_tags
        self.current_date = current_date

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = [BOS]
        strength = reasoning_strength(think)
        if not any(m.get("role") == "system" for m in messages):
            today = self.current_date or datetime.date.today().isoformat()
            out.append(system_message(DEFAULT_SYSTEM, tools, strength, today, True))
        images = 0
        for i, m in enumerate(messages):
            role = m.get("role")
            count = len(m.get("images") or ())
            if self.use_img_tags:
                content, images = content_with_image_tags(m.get("content") or "", count, images)
            else:
                content = PATCH * count + (m.get("content") or "")
            same_next = i + 1 < len(messages) and messages[i + 1].get("role") == role
            end = END_MESSAGE if same_next else END_TURN
            if role == "system":
                out.append(system_message(content, tools, strength, "", False))
            elif role == "user":
                out.append(f"{START}user{MESSAGE}{content}{END_TURN}")
            elif role == "tool":
                name = tool_result_name(m, messages)
                out.append(
                    f'{START}tool {name}{MESSAGE}<tool_output name="{name}">\n{content}\n'
                    f"</tool_output>{END_TURN}"
                )
            elif role == "assistant":
                thinking = m.get("thinking") or ""
                if thinking:
                    out.append(f"{START}assistant to=self{MESSAGE}{thinking}{END_MESSAGE}")
                calls = m.get("tool_calls") or []
                if calls:
                    for j, call in enumerate(calls):
                        name = (call.get("function") or {}).get("name") or ""
                        out.append(f"{START}assistant to={name}{MESSAGE}{atem_call(call)}")
                        out.append(end if j + 1 == len(calls) else END_MESSAGE)
                elif content or not thinking:
                    # A last message with only thinking is an unfinished self message,
                    # which the answer continues.
                    out.append(f"{START}assistant to=user{MESSAGE}{content}{END_TURN}")
        out.append(START + "assistant")
        return "".join(out)
