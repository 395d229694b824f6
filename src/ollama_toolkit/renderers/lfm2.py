"""LFM2's prompts (`lfm2`, `lfm2-thinking`; Ollama's `model/renderers/lfm2.go`): ChatML after
`<|startoftext|>`, the first system message followed by the tools as JSON inside
`<|tool_list_start|>`, tool calls as a Python-style list `[name(key=json, …)]` inside
`<|tool_call_start|>`, tool results inside `<|tool_response_start|>`; the thinking variant writes
an assistant turn's thinking back as `<think>…</think>`, for past turns only when `think` is on."""

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
)

BOS = "<|startoftext|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_LIST_START = "<|tool_list_start|>"
TOOL_LIST_END = "<|tool_list_end|>"
TOOL_CALL_START = "<|tool_call_start|>"
TOOL_CALL_END = "<|tool_call_end|>"
TOOL_RESPONSE_START = "<|tool_response_start|>"
TOOL_RESPONSE_END = "<|tool_response_end|>"
# The placeholder LFM2's own chat template writes for an image, when tags are off.
IMAGE_PLACEHOLDER = "<image>"


def lfm2_json(value: Any, sort_keys: bool = False) -> str:
    """`value` as HF's `tojson` writes it (Ollama's `lfm2JSON`): Go's JSON without HTML
    escaping, a space after every `,` and `:` outside strings."""
    return go_json(value, sort_keys=sort_keys, spaced=True, escape_html=False)


def tool_schema(tool: dict[str, Any]) -> dict[str, Any]:
    """What the template lists for a tool: its function (name, description, parameters), or
    the whole tool when the function has no name."""
    go = go_tool(tool)
    return go["function"] if go["function"]["name"] else go


def render_tool_calls(calls: list[dict[str, Any]]) -> str:
    """`<|tool_call_start|>[name(key=json,…),…]<|tool_call_end|>`, keys in sorted order."""
    rendered = []
    for call in calls:
        function = call.get("function") or {}
        arguments = function.get("arguments") or {}
        args = ",".join(f"{k}={lfm2_json(arguments[k], sort_keys=True)}" for k in sorted(arguments))
        rendered.append(f"{function.get('name') or ''}({args})")
    return TOOL_CALL_START + "[" + ",".join(rendered) + "]" + TOOL_CALL_END


class LFM2Renderer(Renderer):
    leading_bos = BOS

    def __init__(self, thinking: bool = False, use_img_tags: bool = True) -> None:
        self.thinking = thinking
        # Ollama's server always renders images as `[img-N]` tags; off, they are `<image>`.
        self.use_img_tags = use_img_tags

    def _content(self, message: dict[str, Any], offset: int) -> str:
        content = message.get("content") or ""
        count = len(message.get("images") or ())
        if count == 0:
            return content
        if self.use_img_tags:
            return content_with_image_tags(content, count, offset)[0]
        if IMAGE_PLACEHOLDER in content:
            return content
        return IMAGE_PLACEHOLDER * count + content

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = [BOS]
        system = ""
        start = 0
        if messages and messages[0].get("role") == "system":
            system = messages[0].get("content") or ""
            start = 1
        if tools:
            if system:
                system += "\n"
            listed = ", ".join(lfm2_json(tool_schema(t)) for t in tools)
            system += f"List of tools: {TOOL_LIST_START}[{listed}]{TOOL_LIST_END}"
        if system:
            out.append(f"<|im_start|>system\n{system}<|im_end|>\n")

        keep_past_thinking = self.thinking and bool(think)
        last_assistant = next(
            (
                i
                for i in range(len(messages) - 1, start - 1, -1)
                if messages[i].get("role") == "assistant"
            ),
            -1,
        )
        # Images are numbered over the whole conversation, the system message's included.
        offset = sum(len(m.get("images") or ()) for m in messages[:start])
        for i in range(start, len(messages)):
            message = messages[i]
            role = message.get("role") or ""
            prefill = i == len(messages) - 1 and role == "assistant"
            out.append(f"<|im_start|>{role}\n")
            content = self._content(message, offset)
            offset += len(message.get("images") or ())
            calls = message.get("tool_calls") or []
            if role == "assistant" and calls and TOOL_CALL_START not in content:
                separator = "" if not content.strip() else "\n"
                content = render_tool_calls(calls) + separator + content
            # The thinking goes back in front of calls and content, in the model's own tags;
            # only the thinking variant writes them, even for a prefill.
            thinking = message.get("thinking") or ""
            if self.thinking and role == "assistant" and thinking and THINK_CLOSE not in content:
                content = THINK_OPEN + thinking + THINK_CLOSE + content
            # Earlier turns lose their reasoning unless thinking is kept: the block is a clean
            # prefix, so what follows its close is kept.
            if role == "assistant" and not keep_past_thinking and i != last_assistant:
                at = content.rfind(THINK_CLOSE)
                if at >= 0:
                    content = content[at + len(THINK_CLOSE) :].strip()
            if role == "tool" and TOOL_RESPONSE_START not in content:
                content = TOOL_RESPONSE_START + content + TOOL_RESPONSE_END
            out.append(content)
            if not prefill:
                out.append("<|im_end|>\n")
        if not messages or messages[-1].get("role") != "assistant":
            out.append("<|im_start|>assistant\n")
        return "".join(out)


class LFM2ThinkingRenderer(LFM2Renderer):
    def __init__(self, use_img_tags: bool = True) -> None:
        super().__init__(thinking=True, use_img_tags=use_img_tags)
