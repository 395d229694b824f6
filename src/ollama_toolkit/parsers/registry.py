"""The built-in output parsers by Ollama's names (its `parsers.ParserForName`)."""

from __future__ import annotations

from collections.abc import Callable

from ollama_toolkit.parsers.builtin import BuiltinParser
from ollama_toolkit.parsers.cogito import CogitoParser
from ollama_toolkit.parsers.deepseek3 import DeepSeek3Parser
from ollama_toolkit.parsers.functiongemma import FunctionGemmaParser
from ollama_toolkit.parsers.glm47 import GLM47Parser
from ollama_toolkit.parsers.harmony import HarmonyParser
from ollama_toolkit.parsers.ministral import MinistralParser
from ollama_toolkit.parsers.olmo3 import Olmo3Parser
from ollama_toolkit.parsers.qwen3 import Qwen3Parser, Qwen3ThinkingParser
from ollama_toolkit.parsers.qwen3coder import Qwen3CoderParser

PARSERS: dict[str, Callable[[], BuiltinParser]] = {
    "passthrough": BuiltinParser,
    "harmony": HarmonyParser,
    "cogito": CogitoParser,
    "olmo3": Olmo3Parser,
    "deepseek3": DeepSeek3Parser,
    "glm-4.7": GLM47Parser,
    "functiongemma": FunctionGemmaParser,
    "ministral": MinistralParser,
    "qwen3": Qwen3Parser,
    "qwen3-thinking": Qwen3ThinkingParser,
    "qwen3-coder": Qwen3CoderParser,
}


def parser_names() -> list[str]:
    return sorted(PARSERS)


def parser_for_name(name: str) -> BuiltinParser | None:
    """A new parser for Ollama's `name`; None for a name not built in here."""
    make = PARSERS.get(name)
    return make() if make is not None else None
