"""GLM-OCR's output (`glm-ocr`), ported from Ollama's `model/parsers/glmocr.go`: GLM-4.6's
parser (here GLM-4.7's, which shares it) without thinking support. The prompt never opens
thinking, so the output is content and `<tool_call>` calls; a `<think>…</think>` the model
writes at the very start is still read as thinking, as in Ollama."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.parsers.glm47 import GLM47Parser


class GlmOcrParser(GLM47Parser):
    def __init__(self) -> None:
        super().__init__()
        self.has_thinking_support = False

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        super().init(tools, last_message, think)
        # Whatever `think` says: look for a `<think>` the output may open with.
        self.state = "looking"
        self.maybe_open = False
        return tools
