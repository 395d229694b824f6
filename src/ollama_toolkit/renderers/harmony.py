"""The harmony format's prompts (gpt-oss), written the way gpt-oss's chat template writes them.

Ollama renders gpt-oss with a Go template and reads its output with the `harmony` parser; this
renderer is the same prompt as code, registered as `harmony` so a Modelfile can pair
`RENDERER harmony` with `PARSER harmony`. A system message, then a developer message with the
instructions (the conversation's system text) and the tools as a TypeScript namespace, then
the messages: thinking on the `analysis` channel, answers on `final`, tool calls on
`commentary` to `functions.name` ended by `<|call|>`, tool results from `functions.name`.
The prompt ends by opening the assistant's message, or continues a last assistant message.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from ollama_toolkit.renderers.base import Messages, Renderer, RendererError, Think, Tools

_BUILTIN_TOOLS = frozenset({"browser.open", "browser.search", "browser.find", "python"})


class HarmonyRenderer(Renderer):
    knowledge_cutoff = "2024-06"

    def __init__(self, today: datetime.date | None = None) -> None:
        self.today = today

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        today = self.today or datetime.datetime.now(datetime.timezone.utc).date()
        functions = [t for t in tools or () if _name(t) not in _BUILTIN_TOOLS]
        out = [
            "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
            f"OpenAI.\nKnowledge cutoff: {self.knowledge_cutoff}\n"
            f"Current date: {today.isoformat()}"
        ]
        if think is None or think is True:
            out.append("\n\nReasoning: medium")
        elif isinstance(think, str):
            out.append(f"\n\nReasoning: {'high' if think == 'max' else think}")
        out.append(
            "\n\n# Valid channels: analysis, commentary, final. "
            "Channel must be included for every message."
        )
        if functions:
            out.append("\nCalls to these tools must go to the commentary channel: 'functions'.")
        out.append("<|end|>")
        system = "\n\n".join(
            str(m.get("content", "")) for m in messages if m.get("role") in ("system", "developer")
        )
        if system or functions:
            out.append("<|start|>developer<|message|>")
            if system:
                out.append(f"# Instructions\n\n{system}")
            if functions:
                out.append("\n\n" if system else "")
                out.append(_namespace(functions))
            out.append("<|end|>")
        rest = [m for m in messages if m.get("role") not in ("system", "developer")]
        last_user = max((i for i, m in enumerate(rest) if m.get("role") == "user"), default=-1)
        call_names: list[str] = []
        for i, m in enumerate(rest):
            role = m.get("role")
            last = i == len(rest) - 1
            if role == "user":
                out.append(f"<|start|>user<|message|>{m.get('content', '')}<|end|>")
            elif role == "assistant":
                out.append(self._assistant(m, keep_thinking=i > last_user, prefill=last))
                call_names = [_name(c) for c in m.get("tool_calls") or ()]
            elif role == "tool":
                name = m.get("tool_name") or (call_names.pop(0) if call_names else "")
                out.append(
                    f"<|start|>functions.{name} to=assistant<|channel|>commentary<|message|>"
                    f"{m.get('content', '')}<|end|>"
                )
            else:
                raise RendererError(f"harmony: unknown role {role!r}")
        if not rest or rest[-1].get("role") != "assistant" or rest[-1].get("tool_calls"):
            out.append("<|start|>assistant")
        return "".join(out)

    @staticmethod
    def _assistant(m: dict[str, Any], keep_thinking: bool, prefill: bool) -> str:
        content, thinking = m.get("content") or "", m.get("thinking") or ""
        calls = m.get("tool_calls") or []
        parts = []
        if thinking and (keep_thinking or calls):
            end = "" if prefill and not content and not calls else "<|end|>"
            parts.append(f"<|start|>assistant<|channel|>analysis<|message|>{thinking}{end}")
        if content:
            end = "" if prefill and not calls else "<|end|>"
            parts.append(f"<|start|>assistant<|channel|>final<|message|>{content}{end}")
        for call in calls:
            arguments = call.get("function", {}).get("arguments") or {}
            args = arguments if isinstance(arguments, str) else json.dumps(arguments)
            parts.append(
                f"<|start|>assistant<|channel|>commentary to=functions.{_name(call)} "
                f"<|constrain|>json<|message|>{args}<|call|>"
            )
        return "".join(parts)


def _name(item: dict[str, Any]) -> str:
    return str((item.get("function") or {}).get("name", ""))


def _namespace(tools: list[dict[str, Any]]) -> str:
    lines = ["# Tools\n\n## functions\n\nnamespace functions {\n"]
    for tool in tools:
        function = tool.get("function") or {}
        description = function.get("description")
        if description:
            lines.append(f"// {description}")
        params = function.get("parameters") or {}
        properties = params.get("properties") or {}
        if properties:
            lines.append(f"type {function.get('name', '')} = (_: {{")
            required = set(params.get("required") or ())
            for key, schema in properties.items():
                if schema.get("description"):
                    lines.append(f"// {schema['description']}")
                optional = "" if key in required else "?"
                lines.append(f"{key}{optional}: {_ts_type(schema)},")
            lines.append("}) => any;\n")
        else:
            lines.append(f"type {function.get('name', '')} = () => any;\n")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _ts_type(schema: dict[str, Any]) -> str:
    """A JSON schema's type as the TypeScript the harmony format shows the model."""
    if schema.get("enum"):
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts_type({**schema, "type": k}) for k in kind) or "any"
    if kind in ("number", "integer"):
        return "number"
    if kind in ("string", "boolean"):
        return str(kind)
    if kind == "null":
        return "null"
    if kind == "array":
        items = schema.get("items")
        return f"{_ts_type(items) if isinstance(items, dict) else 'any'}[]"
    if kind == "object":
        return "object"
    return "any"
