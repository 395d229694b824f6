"""Ollama's built-in renderers (`model/renderers`), chosen by a model's `RENDERER` name.

A renderer turns a conversation (wire dicts, as `server/prompt.py`'s `conversation()` makes
them), the request's tools (wire dicts) and `think` into the prompt text, in place of a Go
template. Images become `[img-N]` tags, numbered over the whole conversation, as Ollama's
server has its renderers write them (`base.content_with_image_tags`). Pure: no server or
engine imports.
"""

from __future__ import annotations

import importlib

from ollama_toolkit.renderers.base import Messages, Renderer, RendererError, Think, Tools

# Ollama's renderer names (`model/renderers/renderer.go`) → "module:factory" in this package,
# imported when first asked for, so a request loads only its own family's module.
RENDERERS: dict[str, str] = {
    "cogito": "cogito:CogitoRenderer",
    "cohere": "cohere:CohereRenderer",
    "deepseek3.1": "deepseek3:DeepSeek3Renderer",
    "functiongemma": "functiongemma:FunctionGemmaRenderer",
    "gemma4": "gemma4:Gemma4Renderer",
    "gemma4-small": "gemma4:Gemma4Renderer",
    "gemma4-large": "gemma4:Gemma4LargeRenderer",
    "glimmer": "glimmer:GlimmerRenderer",
    "glm-4.7": "glm47:GLM47Renderer",
    "glm-ocr": "glmocr:GlmOcrRenderer",
    "harmony": "harmony:HarmonyRenderer",
    "laguna": "laguna:LagunaRenderer",
    "lfm2": "lfm2:LFM2Renderer",
    "lfm2-thinking": "lfm2:LFM2ThinkingRenderer",
    "nemotron-3-nano": "nemotron3nano:Nemotron3NanoRenderer",
    "nemotron-3.5-nano": "nemotron3nano:Nemotron35NanoRenderer",
    "olmo3": "olmo3:Olmo3Renderer",
    "olmo3.1": "olmo3:Olmo31Renderer",
    "olmo3-think": "olmo3_think:Olmo3ThinkRenderer",
    "olmo3-32b-think": "olmo3_think:Olmo332BThinkRenderer",
    "ornith": "qwen35:OrnithRenderer",
    "poolside-v1": "laguna:LagunaV8Renderer",
    "qwen3-coder": "qwen3coder:Qwen3CoderRenderer",
    "qwen3-vl-instruct": "qwen3vl:Qwen3VLInstructRenderer",
    "qwen3-vl-thinking": "qwen3vl:Qwen3VLThinkingRenderer",
    "qwen3.5": "qwen35:Qwen35Renderer",
    "qwen3.8": "qwen35:Qwen38Renderer",
}


def renderer_names() -> list[str]:
    return sorted(RENDERERS)


def renderer_for_name(name: str) -> Renderer | None:
    """A renderer for Ollama's `name`; None for a name not built in here."""
    target = RENDERERS.get(name)
    if target is None:
        return None
    module, factory = target.split(":")
    make = getattr(importlib.import_module(f"{__name__}.{module}"), factory)
    renderer: Renderer = make()
    return renderer


def render(name: str, messages: Messages, tools: Tools, think: Think) -> str:
    renderer = renderer_for_name(name)
    if renderer is None:
        raise RendererError(f"unknown renderer {name!r}")
    return renderer.render(messages, tools, think)
