"""OLMo 3's prompts (`olmo3`, `olmo3.1`): ChatML with a default system message that lists the
tools as JSON inside `<functions>`, tool calls as `name(key=json, …)` lines inside
`<function_calls>`, tool results from the `environment` role."""

from __future__ import annotations

from ollama_toolkit.renderers.base import Messages, Renderer, Think, Tools, go_json, go_tool

DEFAULT_SYSTEM = "You are a helpful function-calling AI assistant. "
OLMO_SYSTEM = (
    "You are Olmo, a helpful AI assistant built by Ai2. Your date cutoff is December 2024, "
    "and your model weights are available at https://huggingface.co/allenai."
)
DEFAULT_SYSTEM_31 = OLMO_SYSTEM + " "
NO_FUNCTIONS = "You do not currently have access to any functions. "
NO_FUNCTIONS_BLOCK = NO_FUNCTIONS + "<functions></functions>"
WITH_FUNCTIONS = (
    "You are provided with function signatures within <functions></functions> XML tags. You "
    "may call one or more functions to assist with the user query. Output any function calls "
    "within <function_calls></function_calls> XML tags. Do not make assumptions about what "
    "values to plug into functions."
)


class Olmo3Renderer(Renderer):
    def __init__(self, extended_system: bool = False) -> None:
        self.extended_system = extended_system

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        system = next((m for m in messages if m.get("role") == "system"), None)
        rest = [m for m in messages if m.get("role") != "system"]
        functions = (
            "<functions>" + go_json([go_tool(t) for t in tools], spaced=True) + "</functions>"
            if tools
            else ""
        )
        out = ["<|im_start|>system\n"]
        if system is not None:
            out.append((system.get("content") or "") + functions)
        else:
            out.append(DEFAULT_SYSTEM_31 if self.extended_system else DEFAULT_SYSTEM)
            out.append(WITH_FUNCTIONS + functions if tools else NO_FUNCTIONS_BLOCK)
        out.append("<|im_end|>\n")
        for i, m in enumerate(rest):
            role, content = m.get("role"), m.get("content") or ""
            if role == "user":
                out.append(f"<|im_start|>user\n{content}<|im_end|>\n")
            elif role == "assistant":
                out.append("<|im_start|>assistant\n" + content)
                calls = m.get("tool_calls") or []
                if calls:
                    lines = []
                    for call in calls:
                        function = call.get("function") or {}
                        arguments = function.get("arguments") or {}
                        args = ", ".join(
                            f"{k}={go_json(arguments[k], sort_keys=True)}"
                            for k in sorted(arguments)
                        )
                        lines.append(f"{function.get('name', '')}({args})")
                    out.append("<function_calls>" + "\n".join(lines) + "</function_calls>")
                if i < len(rest) - 1 or calls:
                    out.append("<|im_end|>\n")
            elif role == "tool":
                out.append(f"<|im_start|>environment\n{content}<|im_end|>\n")
        last = rest[-1] if rest else None
        if not (
            last is not None
            and last.get("role") == "assistant"
            and not last.get("tool_calls")
            and last.get("content")
        ):
            out.append("<|im_start|>assistant\n")
        return "".join(out)


class Olmo31Renderer(Olmo3Renderer):
    def __init__(self) -> None:
        super().__init__(extended_system=True)
