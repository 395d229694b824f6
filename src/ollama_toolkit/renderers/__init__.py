"""Ollama's built-in renderers (`model/renderers`), chosen by a model's `RENDERER` name.

A renderer turns a conversation (wire dicts, as `server/prompt.py`'s `conversation()` makes
them), the request's tools (wire dicts) and `think` into the prompt text, in place of a Go
template. Images become `[img-N]` tags, numbered over the whole conversation, as Ollama's
server has its renderers write them (`base.content_with_image_tags`). Pure: no server or
engine imports.
"""

from __future__ import annotations

from collections.abc import Callable

from ollama_toolkit.renderers.base import Messages, Renderer, RendererError, Think, Tools
from ollama_toolkit.renderers.cogito import CogitoRenderer
from ollama_toolkit.renderers.deepseek3 import DeepSeek3Renderer
from ollama_toolkit.renderers.functiongemma import FunctionGemmaRenderer
from ollama_toolkit.renderers.glm47 import GLM47Renderer
from ollama_toolkit.renderers.harmony import HarmonyRenderer
from ollama_toolkit.renderers.olmo3 import Olmo3Renderer, Olmo31Renderer
from ollama_toolkit.renderers.qwen3coder import Qwen3CoderRenderer

RENDERERS: dict[str, Callable[[], Renderer]] = {
    "cogito": CogitoRenderer,
    "deepseek3.1": DeepSeek3Renderer,
    "functiongemma": FunctionGemmaRenderer,
    "glm-4.7": GLM47Renderer,
    "harmony": HarmonyRenderer,
    "olmo3": Olmo3Renderer,
    "olmo3.1": Olmo31Renderer,
    "qwen3-coder": Qwen3CoderRenderer,
}


def renderer_names() -> list[str]:
    return sorted(RENDERERS)


def renderer_for_name(name: str) -> Renderer | None:
    """A renderer for Ollama's `name`; None for a name not built in here."""
    make = RENDERERS.get(name)
    return make() if make is not None else None


def render(name: str, messages: Messages, tools: Tools, think: Think) -> str:
    renderer = renderer_for_name(name)
    if renderer is None:
        raise RendererError(f"unknown renderer {name!r}")
    return renderer.render(messages, tools, think)
