"""GLM-4.7's prompts (`glm-4.7`): `[gMASK]<sop>`, tools as JSON lines in a system turn, each
assistant turn with its thinking kept (`<think>…</think>`, or a bare `</think>`), tool calls as
`<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value>…</tool_call>`, tool results in an
`<|observation|>` turn; the prompt ends by opening thinking (`<think>`) unless `think` is
false."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import Messages, Renderer, Think, Tools, go_json, go_tool

TOOLS_HEAD = (
    "<|system|>\n# Tools\n\nYou may call one or more functions to assist with the user query."
    "\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
TOOLS_TAIL = (
    "</tools>\n\nFor each function call, output the function name and arguments within the "
    "following XML format:\n<tool_call>{function-name}<arg_key>{arg-key-1}</arg_key><arg_value>"
    "{arg-value-1}</arg_value><arg_key>{arg-key-2}</arg_key><arg_value>{arg-value-2}</arg_value>"
    "...</tool_call>"
)


class GLM47Renderer(Renderer):
    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = ["[gMASK]<sop>"]
        if tools:
            out.append(TOOLS_HEAD)
            for tool in tools:
                out.append(go_json(go_tool(tool), spaced=True) + "\n")
            out.append(TOOLS_TAIL)
        for i, m in enumerate(messages):
            role, content = m.get("role"), m.get("content") or ""
            if role == "user":
                out.append("<|user|>" + content)
            elif role == "assistant":
                thinking = m.get("thinking") or ""
                out.append(
                    "<|assistant|>" + (f"<think>{thinking}</think>" if thinking else "</think>")
                )
                out.append(content)
                for call in m.get("tool_calls") or ():
                    function = call.get("function") or {}
                    out.append(f"<tool_call>{function.get('name', '')}")
                    out.append(arguments_text(function.get("arguments") or {}))
                    out.append("</tool_call>")
            elif role == "tool":
                if i == 0 or messages[i - 1].get("role") != "tool":
                    out.append("<|observation|>")
                out.append(f"<tool_response>{content}</tool_response>")
            elif role == "system":
                out.append("<|system|>" + content)
        out.append("<|assistant|>" + ("</think>" if think is not None and not think else "<think>"))
        return "".join(out)


def arguments_text(arguments: dict[str, Any]) -> str:
    """A call's arguments as `<arg_key>k</arg_key><arg_value>v</arg_value>` pairs, in their
    order: strings as they are, other values as Go's JSON."""
    out = []
    for key, value in arguments.items():
        text = value if isinstance(value, str) else go_json(value, sort_keys=True)
        out.append(f"<arg_key>{key}</arg_key><arg_value>{text}</arg_value>")
    return "".join(out)
