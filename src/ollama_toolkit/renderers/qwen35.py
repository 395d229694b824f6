"""Qwen3.5's prompts (`qwen3.5`), and its variants Qwen3.8 (`qwen3.8`) and Ornith (`ornith`);
Ollama's `model/renderers/qwen35.go` and `ornith.go`: ChatML, tools as JSON lines in the system
message ahead of the system prompt, tool calls as Qwen3-Coder's XML blocks, tool results as
`<tool_response>`s in one user turn; thinking written back as `<think>` blocks (for the turns
after the last user query, or for every assistant turn in Qwen3.8 and Ornith), and the answer
opened with `<think>` (or an empty block when `think` is off).

Qwen3.8 also takes one system turn only (system and developer messages are folded into it),
states the reasoning effort there, and refuses a conversation without a user query."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.api.types import THINK_LEVELS
from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    RendererError,
    Think,
    Tools,
    think_enabled,
)
from ollama_toolkit.renderers.qwen3coder import TOOL_INSTRUCTIONS, format_argument
from ollama_toolkit.renderers.qwen3vl import (
    IM_END,
    IM_START,
    generation_prompt,
    is_tool_response,
    last_query_index,
    message_content,
    tool_line,
    tool_turn,
)

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

XHIGH_REASONING = (
    "Reasoning effort is set to xhigh. Please think carefully through the task, validate key "
    "assumptions, consider plausible alternatives, and prioritize correctness, consistency, "
    "and clarity in the final answer."
)
LOW_REASONING = (
    "Reasoning effort is set to low. Keep your thinking brief and focused, moving directly to "
    "the conclusion without unnecessary elaboration."
)

TOOLS_PREAMBLE = "# Tools\n\nYou have access to the following functions:\n\n<tools>"
TOOLS_POSTAMBLE = "\n</tools>" + TOOL_INSTRUCTIONS


def split_reasoning(
    content: str, thinking: str, is_thinking: bool, extract_tagged: bool
) -> tuple[str, str]:
    """(reasoning, rest of the content): the message's thinking; else, when asked, what the
    content has up to a `</think>` (after its last `<think>`)."""
    if is_thinking and thinking:
        return thinking.strip(), content
    if not extract_tagged:
        return "", content
    reasoning = ""
    at = content.find(THINK_CLOSE)
    if at != -1:
        before = content[:at]
        opened = before.rfind(THINK_OPEN)
        reasoning = before[opened + len(THINK_OPEN) :] if opened != -1 else before
        content = content[at + len(THINK_CLOSE) :].lstrip("\n")
    return reasoning.strip(), content


def qwen38_reasoning_instructions(think: Think) -> str:
    """Qwen3.8's reasoning-effort line: xhigh unless asked (Ollama's true is medium: none)."""
    if think is None:
        return XHIGH_REASONING
    if not (isinstance(think, bool) or think in THINK_LEVELS):
        raise RendererError(f"invalid thinking value {think}")
    if not think_enabled(think):
        return ""
    level = "medium" if think is True else think
    if level == "low":
        return LOW_REASONING
    if level == "medium":
        return ""
    return XHIGH_REASONING  # high and max


def normalize_qwen38_messages(messages: Messages) -> Messages:
    """Qwen3.8 has one leading system turn and no developer role: the instructions, in their
    order, become that turn; the other messages keep theirs."""
    instructions: list[str] = []
    count = 0
    for m in messages:
        role = m.get("role")
        if role not in ("system", "developer"):
            continue
        if m.get("images"):
            raise RendererError(f"{role} message cannot contain images")
        count += 1
        content = (m.get("content") or "").strip()
        if content:
            instructions.append(content)
    if count == 0 or (count == 1 and messages[0].get("role") == "system"):
        return messages
    return [{"role": "system", "content": "\n\n".join(instructions)}] + [
        m for m in messages if m.get("role") not in ("system", "developer")
    ]


class Qwen35Renderer(Renderer):
    def __init__(
        self,
        is_thinking: bool = True,
        qwen38: bool = False,
        always_render_assistant_think_block: bool = False,
        emit_empty_think_on_no_think: bool = True,
        use_img_tags: bool = True,
    ) -> None:
        self.is_thinking = is_thinking
        self.qwen38 = qwen38
        self.always_render_assistant_think_block = always_render_assistant_think_block
        self.emit_empty_think_on_no_think = emit_empty_think_on_no_think
        self.use_img_tags = use_img_tags

    def _content(self, message: dict[str, Any], offset: int = 0) -> tuple[str, int]:
        return message_content(message, offset, self.use_img_tags)

    def _validate(self, messages: Messages) -> None:
        if not self.qwen38:
            return
        if not messages:
            raise RendererError("no messages provided")
        if messages[0].get("role") == "system" and messages[0].get("images"):
            raise RendererError("system message cannot contain images")
        for m in messages:
            if m.get("role") == "user" and not is_tool_response(self._content(m)[0].strip()):
                return
        raise RendererError("no user query found in messages")

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        if self.qwen38:
            messages = normalize_qwen38_messages(messages)
        self._validate(messages)
        out: list[str] = []
        thinking = self.is_thinking if think is None else think_enabled(think)
        reasoning = qwen38_reasoning_instructions(think) if self.qwen38 else ""

        first_system = bool(messages) and messages[0].get("role") == "system"
        system = self._content(messages[0])[0].strip() if first_system else ""
        if tools:
            out.append(f"{IM_START}system\n")
            if reasoning:
                out.append(reasoning + "\n\n")
            out.append(TOOLS_PREAMBLE)
            for tool in tools:
                out.append("\n" + tool_line(tool))
            out.append(TOOLS_POSTAMBLE)
            if system:
                out.append("\n\n" + system)
            out.append(f"{IM_END}\n")
        elif first_system:
            # Qwen3.8 leaves out a system turn that would be empty.
            if not self.qwen38 or system or reasoning:
                out.append(f"{IM_START}system\n")
                if reasoning:
                    out.append(reasoning + ("\n\n" if system else ""))
                out.append(f"{system}{IM_END}\n")
        elif reasoning:
            out.append(f"{IM_START}system\n{reasoning}{IM_END}\n")

        last_query = last_query_index(messages, self.use_img_tags, strip=True)

        offset = 0
        for i, m in enumerate(messages):
            content, offset = self._content(m, offset)
            content = content.strip()
            role = m.get("role")
            last = i == len(messages) - 1
            prefill = last and role == "assistant"
            if role == "user" or (role == "system" and i != 0):
                out.append(f"{IM_START}{role}\n{content}{IM_END}\n")
            elif role == "assistant":
                think_block = self.always_render_assistant_think_block or (
                    thinking and i > last_query
                )
                # Qwen3.8 keeps `<think>` tags in the content as text.
                reasoning_text, content = split_reasoning(
                    content, m.get("thinking") or "", think_block, not self.qwen38
                )
                out.append(f"{IM_START}assistant\n")
                if think_block:
                    out.append(f"<think>\n{reasoning_text}\n</think>\n\n")
                out.append(content)
                for j, call in enumerate(m.get("tool_calls") or ()):
                    if j > 0:
                        out.append("\n")
                    elif content.strip():
                        out.append("\n\n")
                    out.append(format_call(call))
                if not prefill:
                    out.append(f"{IM_END}\n")
            elif role == "tool":
                out.append(tool_turn(messages, i, content))
            elif self.qwen38 and role != "system":
                # Other roles: Qwen3.8 writes them as they are, Qwen3.5 leaves them out.
                out.append(f"{IM_START}{role}\n{content}{IM_END}\n")
            if last and not prefill:
                out.append(generation_prompt(thinking, self.emit_empty_think_on_no_think))
        return "".join(out)


def format_call(call: dict[str, Any]) -> str:
    """A tool call as Qwen3-Coder's XML block, its arguments in their order."""
    function = call.get("function") or {}
    out = [f"<tool_call>\n<function={function.get('name', '')}>\n"]
    for name, value in (function.get("arguments") or {}).items():
        out.append(f"<parameter={name}>\n{format_argument(value)}\n</parameter>\n")
    out.append("</function>\n</tool_call>")
    return "".join(out)


class Qwen38Renderer(Qwen35Renderer):
    def __init__(self, **flags: bool) -> None:
        super().__init__(**{"qwen38": True, "always_render_assistant_think_block": True, **flags})


class OrnithRenderer(Qwen35Renderer):
    def __init__(self, **flags: bool) -> None:
        super().__init__(**{"always_render_assistant_think_block": True, **flags})
