"""GLM-OCR's prompts (`glm-ocr`), ported from Ollama's `model/renderers/glmocr.go`: GLM-4.7's
`[gMASK]<sop>` and tools block, but every turn on its own line (`<|user|>\n…`), each
assistant turn with its thinking (`<think>…</think>`, empty when there is none), tool results
in `<tool_response>` blocks, and images as `[img-N]` tags. Thinking is off only when `think`
says so: then each user turn ends with `/nothink` and the prompt with an empty
`<think></think>`."""

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
    think_enabled,
)
from ollama_toolkit.renderers.glm47 import TOOLS_HEAD, TOOLS_TAIL, arguments_text


class GlmOcrRenderer(Renderer):
    def __init__(self, use_img_tags: bool = True) -> None:
        self.use_img_tags = use_img_tags

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        out = ["[gMASK]<sop>"]
        if tools:
            out.append(TOOLS_HEAD)
            out.extend(go_json(go_tool(tool), spaced=True) + "\n" for tool in tools)
            out.append(TOOLS_TAIL)
        no_think = think is not None and not think_enabled(think)
        self._image_offset = 0
        for i, m in enumerate(messages):
            role, content = m.get("role"), m.get("content") or ""
            if role == "user":
                out.append("<|user|>\n" + self._content(m))
                if no_think and not content.endswith("/nothink"):
                    out.append("/nothink")
            elif role == "assistant":
                thinking = m.get("thinking") or ""
                out.append(f"<|assistant|>\n<think>{thinking.strip()}</think>")
                if content:
                    out.append("\n" + content.strip())
                for call in m.get("tool_calls") or ():
                    function = call.get("function") or {}
                    out.append(f"\n<tool_call>{function.get('name') or ''}")
                    out.append(arguments_text(function.get("arguments") or {}))
                    out.append("</tool_call>")
                out.append("\n")
            elif role == "tool":
                if i == 0 or messages[i - 1].get("role") != "tool":
                    out.append("<|observation|>")
                out.append(f"\n<tool_response>\n{self._content(m)}\n</tool_response>\n")
            elif role == "system":
                out.append(f"<|system|>\n{content}\n")
        out.append("<|assistant|>\n")
        if no_think:
            out.append("<think></think>\n")
        return "".join(out)

    def _content(self, m: dict[str, Any]) -> str:
        content = m.get("content") or ""
        if not self.use_img_tags:
            return content
        content, self._image_offset = content_with_image_tags(
            content, len(m.get("images") or ()), self._image_offset
        )
        return content
