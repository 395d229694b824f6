"""DeepSeek-V3.1's prompts (`deepseek3.1`): DeepSeek's special tokens, the system messages
joined at the top with the tools and their JSON parameters, tool calls and outputs in its
tags; each answer opens `<think>` (when `think` is on) or closes it (`</think>`)."""

from __future__ import annotations

from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    Think,
    Tools,
    go_arguments_json,
    go_json,
    go_tool,
)

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
TOOLS_TAIL = (
    "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments"
    "<｜tool▁call▁end｜>{{additional_tool_calls}}<｜tool▁calls▁end｜>\n\n"
    "Where:\n\n"
    "- `tool_call_name` must be an exact match to one of the available tools\n"
    "- `tool_call_arguments` must be valid JSON that strictly follows the tool's Parameters "
    "Schema\n"
    "- For multiple tool calls, chain them directly without separators or spaces\n"
)


class DeepSeekTokensRenderer(Renderer):
    """A prompt in DeepSeek's special tokens, for a model that thinks when `thinking` says it
    can and `think` asks it to."""

    leading_bos = BOS

    def __init__(self, thinking: bool = True) -> None:
        self.thinking = thinking

    def _thinks(self, think: Think) -> bool:
        return self.thinking and bool(think)


class DeepSeek3Renderer(DeepSeekTokensRenderer):
    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        thinking = self._thinks(think)
        system = "\n\n".join(m.get("content") or "" for m in messages if m.get("role") == "system")
        out = [BOS, system]
        if tools:
            out.append("\n\n## Tools\nYou have access to the following tools:\n")
            for tool in tools:
                go = go_tool(tool)["function"]
                out.append(f"\n### {go['name']}\nDescription: {go.get('description', '')}")
                out.append(f"\n\nParameters: {go_json(go['parameters'])}\n")
            out.append(TOOLS_TAIL)
        last_user_index = max(
            (i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1
        )
        is_tool = last_user = False
        for i, m in enumerate(messages):
            role, content = m.get("role"), m.get("content") or ""
            if role == "user":
                is_tool, last_user = False, True
                out.append("<｜User｜>" + content)
            elif role == "assistant":
                calls = m.get("tool_calls") or []
                if calls:
                    if last_user:
                        out.append("<｜Assistant｜></think>")
                    last_user = is_tool = False
                    out.append(content + "<｜tool▁calls▁begin｜>")
                    for call in calls:
                        function = call.get("function") or {}
                        out.append(
                            f"<｜tool▁call▁begin｜>{function.get('name', '')}<｜tool▁sep｜>"
                            f"{go_arguments_json(function.get('arguments') or {})}"
                            "<｜tool▁call▁end｜>"
                        )
                    out.append("<｜tool▁calls▁end｜>" + EOS)
                else:
                    if last_user:
                        current = i > last_user_index
                        opened = m.get("thinking") and thinking and current
                        out.append("<｜Assistant｜>" + ("<think>" if opened else "</think>"))
                    last_user = False
                    if is_tool:
                        is_tool = False
                    elif "</think>" in content:
                        content = content.split("</think>", 1)[1]
                    out.append(content + EOS)
            elif role == "tool":
                last_user, is_tool = False, True
                out.append(f"<｜tool▁output▁begin｜>{content}<｜tool▁output▁end｜>")
        if last_user and not is_tool:
            out.append("<｜Assistant｜>" + ("<think>" if thinking else "</think>"))
        return "".join(out)
