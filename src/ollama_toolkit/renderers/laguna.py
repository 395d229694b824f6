"""Poolside Laguna's prompts (Ollama's `model/renderers/laguna.go`): `laguna` (the v2 chat
template: `<system>`, `<user>`, `<assistant>` blocks on their own lines, each assistant turn
opening with its reasoning or a bare `</think>`, a last assistant turn continued in place) and
`poolside-v1` (the v8 template, `LagunaV8Renderer`: the same blocks inline, reasoning written
back only when `think` is on, every assistant turn closed and a fresh one opened). Tools are
listed as JSON in the system block; tool calls are `<tool_call>name<arg_key>…</arg_key>
<arg_value>…</arg_value></tool_call>`; the prompt ends with `<think>` or `</think>`."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import Messages, Renderer, Think, Tools, go_json, go_tool

BOS = "〈|EOS|〉"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# The template's default system message, for a conversation that brings none.
DEFAULT_SYSTEM = (
    "You are a helpful, conversationally-fluent assistant made by Poolside. You are here to be "
    "helpful to users through natural language conversations."
)
TOOLS_INTRO = (
    "### Tools\n\n"
    "You may call functions to assist with the user query.\n"
    "All available function signatures are listed below:\n"
    "<available_tools>\n"
)
CALL_FORMAT = (
    "For each function call, return an unescaped XML-like object with function name and "
    "arguments within '<tool_call>' and '</tool_call>' tags, like here:\n"
)
THINKING_CALL_FORMAT = (
    "Wrap your thinking in '<think>', '</think>' tags, followed by a function call. " + CALL_FORMAT
)
CALL_EXAMPLE = (
    "<tool_call>function-name\n<arg_key>argument-key</arg_key>\n"
    "<arg_value>value-of-argument-key</arg_value>\n</tool_call>"
)


def format_argument(value: Any) -> str:
    """A tool call's argument: a string as it is, anything else as spaced JSON."""
    if isinstance(value, str):
        return value
    return go_json(value, sort_keys=True, spaced=True)


def available_tools(tools: list[dict[str, Any]]) -> str:
    """The tools, one spaced JSON line each."""
    return "".join(go_json(go_tool(t), spaced=True) + "\n" for t in tools)


def _system(messages: Messages) -> tuple[str, bool]:
    """The header's system message (the first message's, or the default) and whether the
    first message is it."""
    first_is_system = bool(messages) and messages[0].get("role") == "system"
    if first_is_system:
        return messages[0].get("content") or "", True
    return DEFAULT_SYSTEM, False


def split_thinking(content: str, reasoning: str) -> tuple[str, str]:
    """An assistant turn's content with a `<think>…</think>` block taken out: the reasoning
    comes from the block unless the message carries its own."""
    parts = content.split(THINK_CLOSE)
    if len(parts) == 1:
        return content, reasoning
    if not reasoning:
        before = parts[0].rstrip("\n")
        at = before.rfind(THINK_OPEN)
        if at >= 0:
            before = before[at + len(THINK_OPEN) :]
        reasoning = before.lstrip("\n")
    return parts[-1].lstrip("\n"), reasoning


# The tags of the turns written as they are.
TURN_TAGS = {"user": "user", "tool": "tool_response", "system": "system"}


def turn_text(role: str, content: str, sep: str) -> str:
    """A user, tool or system turn, its content between `sep`s inside the role's tags."""
    tag = TURN_TAGS[role]
    return f"<{tag}>{sep}{content}{sep}</{tag}>\n"


def call_text(call: dict[str, Any], sep: str) -> str:
    """A tool call, `sep` after its name and after each key and value."""
    function = call.get("function") or {}
    out = [f"<tool_call>{function.get('name') or ''}{sep}"]
    for name, value in (function.get("arguments") or {}).items():
        out.append(f"<arg_key>{name}</arg_key>{sep}")
        out.append(f"<arg_value>{format_argument(value)}</arg_value>{sep}")
    out.append(f"</tool_call>{sep}")
    return "".join(out)


class LagunaRenderer(Renderer):
    leading_bos = BOS

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = [BOS]
        # The generation prompt's <think> or </think> says whether to think; off by default.
        thinking = bool(think)
        system, first_is_system = _system(messages)
        if system.strip() or tools:
            out.append("<system>\n")
            if system.strip():
                out.append("\n" + system.rstrip())
            if tools:
                out.append("\n\n" + TOOLS_INTRO + available_tools(tools) + "</available_tools>\n\n")
                if thinking:
                    out.append(THINKING_CALL_FORMAT + "<think> your thoughts here </think>\n")
                else:
                    out.append(CALL_FORMAT)
                out.append(CALL_EXAMPLE)
            out.append("\n</system>\n")

        for i, message in enumerate(messages):
            if i == 0 and first_is_system:
                continue
            role = message.get("role")
            content = message.get("content") or ""
            if role == "assistant":
                calls = message.get("tool_calls") or []
                content, reasoning = split_thinking(content, message.get("thinking") or "")
                prefill = i == len(messages) - 1 and bool(
                    content.strip() or reasoning.strip() or calls
                )
                out.append("<assistant>\n")
                # Every turn opens with its reasoning, or a bare </think> for a direct one.
                if reasoning.strip():
                    out.append(f"<think>\n{reasoning.strip()}\n</think>\n")
                else:
                    out.append("</think>\n")
                if content.strip():
                    out.append(content.strip() + "\n")
                out.extend(call_text(call, "\n") for call in calls)
                if not prefill:
                    out.append("</assistant>\n")
            elif role in TURN_TAGS:
                out.append(turn_text(role, content, "\n"))

        # A last assistant turn is continued in place; otherwise a fresh one is opened.
        if not messages or messages[-1].get("role") != "assistant":
            out.append("<assistant>\n" + (THINK_OPEN if thinking else THINK_CLOSE))
        return "".join(out)


class LagunaV8Renderer(Renderer):
    leading_bos = BOS

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = [BOS]
        thinking = bool(think)
        system, first_is_system = _system(messages)
        has_system = bool(system.strip())
        if has_system or tools or thinking:
            out.append("<system>")
            if has_system:
                out.append(system.rstrip())
                if tools:
                    out.append("\n\n")
            if tools:
                out.append(TOOLS_INTRO + available_tools(tools) + "</available_tools>")
            out.append("</system>\n")

        for i, message in enumerate(messages):
            if i == 0 and first_is_system:
                continue
            role = message.get("role")
            content = message.get("content") or ""
            if role == "assistant":
                out.append("<assistant>")
                if thinking:
                    out.append(THINK_OPEN + (message.get("thinking") or "") + THINK_CLOSE)
                else:
                    out.append(THINK_CLOSE)
                out.append(content)
                out.extend(call_text(call, "") for call in message.get("tool_calls") or [])
                out.append("</assistant>\n")
            elif role in TURN_TAGS:
                out.append(turn_text(role, content, ""))

        out.append("<assistant>" + (THINK_OPEN if thinking else THINK_CLOSE))
        return "".join(out)
