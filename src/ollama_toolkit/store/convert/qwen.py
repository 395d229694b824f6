"""Qwen 2 and 2.5 (`Qwen2ForCausalLM`, biases on q, k and v) and Qwen 3 (`Qwen3ForCausalLM`,
per-head q and k norms, an explicit head size) as llama.cpp's `qwen2` and `qwen3`."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.store.convert.base import Decoder
from ollama_toolkit.store.convert.tokenizer import Vocab


class Qwen2(Decoder):
    arch = "qwen2"
    attention_bias = True

    def metadata(self, vocab: Vocab) -> dict[str, Any]:
        return {**self.common_metadata(rope_default=1_000_000.0), **vocab.metadata()}


class Qwen3(Decoder):
    arch = "qwen3"
    qk_norm = True

    def metadata(self, vocab: Vocab) -> dict[str, Any]:
        kv = self.common_metadata(rope_default=1_000_000.0)
        kv["qwen3.attention.key_length"] = self.head_dim
        kv["qwen3.attention.value_length"] = self.head_dim
        return {**kv, **vocab.metadata()}
