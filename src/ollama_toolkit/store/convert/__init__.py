"""Converting a Hugging Face safetensors checkpoint to a GGUF llama.cpp can run, as Ollama's
`convert` package does for `create`: config.json picks the architecture, tokenizer.json (with
tokenizer_config.json) gives the vocabulary, the safetensors files the weights.

`prepare` reads and checks everything but the weights themselves (the config, the tokenizer,
every tensor's name, dtype, shape and byte range), so that a bad checkpoint is refused before
anything is written; `Conversion.write` then streams the tensors into the GGUF, one at a time.

Architectures: `bert` (BertModel), `llama` (Llama 2/3, Mistral, SmolLM), `gemma3` (text),
`qwen2` and `qwen3`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_toolkit.store.convert.base import Converter
from ollama_toolkit.store.convert.bert import Bert
from ollama_toolkit.store.convert.gemma3 import Gemma3
from ollama_toolkit.store.convert.llama import Llama
from ollama_toolkit.store.convert.qwen import Qwen2, Qwen3
from ollama_toolkit.store.convert.source import Checkpoint, ConvertError, Source, model_files
from ollama_toolkit.store.convert.writer import OUTPUT_TYPES, OutTensor, write_gguf

__all__ = [
    "ARCHITECTURES",
    "OUTPUT_TYPES",
    "Conversion",
    "ConvertError",
    "Source",
    "model_files",
    "prepare",
]

# config.json's `architectures[0]` → its converter.
ARCHITECTURES: dict[str, type[Converter]] = {
    "BertModel": Bert,
    "BertForMaskedLM": Bert,
    "LlamaForCausalLM": Llama,
    "MistralForCausalLM": Llama,
    "Gemma3ForCausalLM": Gemma3,
    "Gemma3ForConditionalGeneration": Gemma3,
    "Qwen2ForCausalLM": Qwen2,
    "Qwen3ForCausalLM": Qwen3,
}


@dataclass
class Conversion:
    """A checked checkpoint, ready to be written as a GGUF."""

    arch: str
    metadata: dict[str, Any]
    tensors: list[OutTensor]

    def write(
        self, path: Path, ftype: str = "F16", progress: Callable[[int, int], None] | None = None
    ) -> None:
        write_gguf(path, self.arch, self.metadata, self.tensors, ftype, progress)


def prepare(source: Source) -> Conversion:
    """Read and check a checkpoint; ConvertError says what is missing or wrong."""
    if not source.has("config.json"):
        raise ConvertError("config.json not found among the model's files")
    config = source.json_object("config.json")
    names = config.get("architectures")
    if not isinstance(names, list) or not names or not isinstance(names[0], str):
        raise ConvertError("config.json names no architecture")
    converter_type = ARCHITECTURES.get(names[0])
    if converter_type is None:
        supported = ", ".join(sorted(ARCHITECTURES))
        raise ConvertError(f"unsupported architecture {names[0]!r} (supported: {supported})")
    converter = converter_type(source, config)
    checkpoint = Checkpoint(source)
    tensors = converter.plan(checkpoint)
    vocab = converter.vocab()
    metadata = converter.metadata(vocab)
    return Conversion(converter.arch, metadata, tensors)
