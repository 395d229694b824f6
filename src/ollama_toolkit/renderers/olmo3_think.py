"""OLMo 3 Think's prompts (`olmo3-think` for Olmo-3-7B-Think and Olmo-3.1-32B-Think,
`olmo3-32b-think` for Olmo-3-32B-Think; Ollama's `model/renderers/olmo3_think.go`): OLMo 3's
ChatML without tools (the Think models have none: tools, tool calls and tool results are left
out), a given system message followed by OLMo 3's "no functions" line, and the answer opened
with `<think>`."""

from __future__ import annotations

from ollama_toolkit.renderers.base import Messages, Renderer, Think, Tools
from ollama_toolkit.renderers.olmo3 import NO_FUNCTIONS_BLOCK, OLMO_SYSTEM

SYSTEM_32B = "You are a helpful AI assistant."


class Olmo3ThinkRenderer(Renderer):
    def __init__(self, default_system: str = OLMO_SYSTEM) -> None:
        self.default_system = default_system

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        system = next((m for m in messages if m.get("role") == "system"), None)
        out = ["<|im_start|>system\n"]
        if system is not None:
            out.append((system.get("content") or "") + " " + NO_FUNCTIONS_BLOCK)
        else:
            out.append(self.default_system)
        out.append("<|im_end|>\n")
        for m in messages:
            role = m.get("role")
            if role in ("user", "assistant"):
                out.append(f"<|im_start|>{role}\n{m.get('content') or ''}<|im_end|>\n")
        # A thinking model always starts by thinking.
        out.append("<|im_start|>assistant\n<think>")
        return "".join(out)


class Olmo332BThinkRenderer(Olmo3ThinkRenderer):
    def __init__(self) -> None:
        super().__init__(default_system=SYSTEM_32B)
