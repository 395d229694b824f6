"""Cogito's prompts (`cogito`): DeepSeek's special tokens, Deep Cogito's default system
prompt (with "Enable deep thinking subroutine." when `think` is on), tools as indented JSON
blocks, tool calls and tool outputs in DeepSeek's tags; the prompt opens `<think>` when
thinking."""

from __future__ import annotations

from ollama_toolkit.renderers.base import (
    Messages,
    Think,
    Tools,
    go_arguments_json,
    go_json,
    go_tool,
)
from ollama_toolkit.renderers.deepseek3 import BOS, EOS, DeepSeekTokensRenderer

DEFAULT_SYSTEM = (
    "You are Cogito, an AI assistant created by Deep Cogito, which is an AI research lab "
    "based in San Francisco."
)


class CogitoRenderer(DeepSeekTokensRenderer):
    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        thinking = self._thinks(think)
        system = ""
        rest = messages
        if messages and messages[0].get("role") == "system":
            system, rest = messages[0].get("content") or "", messages[1:]
        if thinking:
            prompt = "Enable deep thinking subroutine.\n\n" + DEFAULT_SYSTEM
            if system:
                prompt += "\n\n" + system + "\n\n"
        else:
            prompt = DEFAULT_SYSTEM + ("\n\n" + system if system else "")
        if tools:
            prompt += "\nYou have the following functions available:\n"
            for tool in tools:
                prompt += "```json\n" + go_json(go_tool(tool), indent=4) + "\n```\n"
        out = [BOS + prompt]
        outputs_open = False
        last_user = False
        for i, m in enumerate(rest):
            role, content = m.get("role"), m.get("content") or ""
            if role == "user":
                last_user = True
                out.append(f"<｜User｜>{content}<｜Assistant｜>")
            elif role == "assistant":
                last_user = False
                calls = m.get("tool_calls") or []
                if calls:
                    out.append(content)
                    out.append("<｜tool▁calls▁begin｜>")
                    for j, call in enumerate(calls):
                        function = call.get("function") or {}
                        arguments = go_arguments_json(function.get("arguments") or {})
                        out.append(
                            f"<｜tool▁call▁begin｜>function<｜tool▁sep｜>{function.get('name', '')}"
                            f"\n```json\n{arguments}\n```<｜tool▁call▁end｜>"
                        )
                        if j < len(calls) - 1:
                            out.append("\n")
                    out.append("<｜tool▁calls▁end｜>" + EOS)
                else:
                    out.append(content + EOS)
            elif role == "tool":
                last_user = False
                if not outputs_open:
                    out.append("<｜tool▁outputs▁begin｜>")
                    outputs_open = True
                out.append(f"<｜tool▁output▁begin｜>{content}<｜tool▁output▁end｜>")
                if i + 1 < len(rest) and rest[i + 1].get("role") == "tool":
                    out.append("\n")
                else:
                    out.append("<｜tool▁outputs▁end｜>")
                    outputs_open = False
        if outputs_open:
            out.append("<｜tool▁outputs▁end｜>")
        if not last_user:
            out.append("<｜Assistant｜>")
        if thinking:
            out.append("<think>\n")
        return "".join(out)
