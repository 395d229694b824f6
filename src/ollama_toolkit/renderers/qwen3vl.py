"""Qwen3-VL's prompts (`qwen3-vl-instruct`, `qwen3-vl-thinking`; Ollama's
`model/renderers/qwen3vl.go`): ChatML, tools as JSON lines in the system message, tool calls
as `<tool_call>{"name": …, "arguments": …}</tool_call>`, tool results as `<tool_response>`s in
one user turn; the thinking model writes back the thinking of the turns after the last user
query and opens `<think>` for the answer."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    Think,
    Tools,
    content_with_image_tags,
    go_json,
    go_tool,
    spaced_arguments,
    think_enabled,
)

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# What a model without image tags sees for each image, in front of the text.
VISION_PAD = "<|vision_start|><|image_pad|><|vision_end|>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"

TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_POSTAMBLE = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
)


def message_content(message: dict[str, Any], offset: int, use_img_tags: bool) -> tuple[str, int]:
    """A message's text with its images: `[img-N]` tags, or the vision pads in front."""
    content = message.get("content") or ""
    count = len(message.get("images") or ())
    if use_img_tags:
        return content_with_image_tags(content, count, offset)
    return VISION_PAD * count + content, offset


def is_tool_response(content: str) -> bool:
    """Whether a user message is only tool results (not a query)."""
    return content.startswith(TOOL_RESPONSE_OPEN) and content.endswith(TOOL_RESPONSE_CLOSE)


def last_query_index(messages: Messages, use_img_tags: bool, strip: bool = False) -> int:
    """The last user message that is a query, not tool results (its content, with `strip`
    stripped, tells); the last message when there is none. Thinking is written back only for
    the assistant turns after it."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") == "user":
            content, _ = message_content(m, 0, use_img_tags)
            if not is_tool_response(content.strip() if strip else content):
                return i
    return len(messages) - 1


def tool_turn(messages: Messages, i: int, content: str) -> str:
    """Tool message `i` as a `<tool_response>`: a run of tool messages is one user turn."""
    out = []
    if i == 0 or messages[i - 1].get("role") != "tool":
        out.append(f"{IM_START}user")
    out.append(f"\n{TOOL_RESPONSE_OPEN}\n{content}\n{TOOL_RESPONSE_CLOSE}")
    if i == len(messages) - 1 or messages[i + 1].get("role") != "tool":
        out.append(f"{IM_END}\n")
    return "".join(out)


def generation_prompt(thinking: bool, emit_empty_think_on_no_think: bool) -> str:
    """The assistant turn opened for the answer: `<think>` opened when thinking, or an empty
    think block with `emit_empty_think_on_no_think`."""
    if thinking:
        return f"{IM_START}assistant\n<think>\n"
    if emit_empty_think_on_no_think:
        return f"{IM_START}assistant\n<think>\n\n</think>\n\n"
    return f"{IM_START}assistant\n"


def tool_line(tool: dict[str, Any]) -> str:
    """A tool as one line of JSON, as Ollama's `marshalWithSpaces` writes it."""
    return go_json(go_tool(tool), spaced=True)


class Qwen3VLRenderer(Renderer):
    def __init__(
        self,
        is_thinking: bool = False,
        emit_empty_think_on_no_think: bool = False,
        use_img_tags: bool = True,
    ) -> None:
        self.is_thinking = is_thinking
        self.emit_empty_think_on_no_think = emit_empty_think_on_no_think
        self.use_img_tags = use_img_tags

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out: list[str] = []
        thinking = self.is_thinking if think is None else think_enabled(think)
        first_system = bool(messages) and messages[0].get("role") == "system"
        if tools:
            out.append(f"{IM_START}system\n")
            if first_system:
                out.append((messages[0].get("content") or "") + "\n\n")
            out.append(TOOLS_PREAMBLE)
            for tool in tools:
                out.append("\n" + tool_line(tool))
            out.append(TOOLS_POSTAMBLE)
        elif first_system:
            out.append(f"{IM_START}system\n{messages[0].get('content') or ''}{IM_END}\n")

        last_query = last_query_index(messages, self.use_img_tags)

        offset = 0
        for i, m in enumerate(messages):
            content, offset = message_content(m, offset, self.use_img_tags)
            role = m.get("role")
            last = i == len(messages) - 1
            prefill = last and role == "assistant"
            if role == "user" or (role == "system" and i != 0):
                out.append(f"{IM_START}{role}\n{content}{IM_END}\n")
            elif role == "assistant":
                reasoning = (m.get("thinking") or "") if thinking else ""
                if thinking and i > last_query and (last or reasoning):
                    out.append(f"{IM_START}assistant\n<think>\n" + reasoning.strip("\n"))
                    if content:
                        out.append("\n</think>\n\n" + content.lstrip("\n"))
                else:
                    out.append(f"{IM_START}assistant\n{content}")
                for j, call in enumerate(m.get("tool_calls") or ()):
                    if j > 0 or content:
                        out.append("\n")
                    function = call.get("function") or {}
                    out.append(
                        f'<tool_call>\n{{"name": "{function.get("name", "")}", "arguments": '
                        + spaced_arguments(function.get("arguments") or {})
                        + "}\n</tool_call>"
                    )
                if not prefill:
                    out.append(f"{IM_END}\n")
            elif role == "tool":
                out.append(tool_turn(messages, i, content))
            if last and not prefill:
                out.append(generation_prompt(thinking, self.emit_empty_think_on_no_think))
        return "".join(out)


class Qwen3VLInstructRenderer(Qwen3VLRenderer):
    def __init__(self, **flags: bool) -> None:
        super().__init__(**{"is_thinking": False, **flags})


class Qwen3VLThinkingRenderer(Qwen3VLRenderer):
    def __init__(self, **flags: bool) -> None:
        super().__init__(**{"is_thinking": True, **flags})
