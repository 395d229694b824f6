"""The built-in output parsers by Ollama's names (its `parsers.ParserForName`)."""

from __future__ import annotations

import importlib

from ollama_toolkit.parsers.builtin import BuiltinParser

# Ollama's parser names (`model/parsers/parsers.go`) → "module:factory" in this package,
# imported when first asked for.
PARSERS: dict[str, str] = {
    "passthrough": "builtin:BuiltinParser",
    "cogito": "cogito:CogitoParser",
    "cohere": "cohere:CohereParser",
    "deepseek3": "deepseek3:DeepSeek3Parser",
    "functiongemma": "functiongemma:FunctionGemmaParser",
    "gemma4": "gemma4:Gemma4Parser",
    "gemma4-no-thinking": "gemma4:Gemma4NoThinkingParser",
    "glimmer": "glimmer:GlimmerParser",
    "glm-4.7": "glm47:GLM47Parser",
    "glm-ocr": "glmocr:GlmOcrParser",
    "harmony": "harmony:HarmonyParser",
    "laguna": "laguna:LagunaParser",
    "lfm2": "lfm2:LFM2Parser",
    "lfm2-thinking": "lfm2:LFM2ThinkingParser",
    "ministral": "ministral:MinistralParser",
    "nemotron-3-nano": "nemotron3nano:Nemotron3NanoParser",
    "nemotron-3.5-nano": "nemotron3nano:Nemotron3NanoParser",
    "olmo3": "olmo3:Olmo3Parser",
    "olmo3-think": "olmo3_think:Olmo3ThinkParser",
    "ornith": "qwen35:Qwen35Parser",
    "poolside-v1": "laguna:LagunaV8Parser",
    "qwen3": "qwen3:Qwen3Parser",
    "qwen3-thinking": "qwen3:Qwen3ThinkingParser",
    "qwen3-coder": "qwen3coder:Qwen3CoderParser",
    "qwen3-vl-instruct": "qwen3vl:Qwen3VLInstructParser",
    "qwen3-vl-thinking": "qwen3vl:Qwen3VLThinkingParser",
    "qwen3.5": "qwen35:Qwen35Parser",
}


def parser_names() -> list[str]:
    return sorted(PARSERS)


def parser_for_name(name: str) -> BuiltinParser | None:
    """A new parser for Ollama's `name`; None for a name not built in here."""
    target = PARSERS.get(name)
    if target is None:
        return None
    module, factory = target.split(":")
    package = __name__.rpartition(".")[0]
    make = getattr(importlib.import_module(f"{package}.{module}"), factory)
    parser: BuiltinParser = make()
    return parser
