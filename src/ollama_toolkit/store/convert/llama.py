"""Llama (2 and 3), Mistral and SmolLM (`LlamaForCausalLM`, `MistralForCausalLM`) as llama.cpp's
`llama`.

Hugging Face keeps q and k with each head's rotary halves split ("rotate half"); llama.cpp
rotates interleaved pairs, so both are permuted back, as llama.cpp's converter does. Llama 3.1's
long-context RoPE becomes the `rope_freqs` tensor of per-frequency factors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ollama_toolkit.store.convert.base import Decoder
from ollama_toolkit.store.convert.tokenizer import Vocab
from ollama_toolkit.store.convert.writer import OutTensor


def permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Hugging Face's rotate-half layout of q or k rows to llama.cpp's interleaved one."""
    shape = weights.shape
    return (
        weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:])
        .swapaxes(1, 2)
        .reshape(shape)
    )


class Llama(Decoder):
    arch = "llama"

    def q_transform(self, data: np.ndarray) -> np.ndarray:
        return permute(data, self.heads)

    def k_transform(self, data: np.ndarray) -> np.ndarray:
        return permute(data, self.kv_heads)

    def metadata(self, vocab: Vocab) -> dict[str, Any]:
        kv = self.common_metadata(rope_default=10000.0)
        kv["llama.vocab_size"] = len(vocab.tokens)
        kv["llama.rope.dimension_count"] = self.head_dim
        if self.config.get("head_dim") is not None:
            kv["llama.attention.key_length"] = self.head_dim
            kv["llama.attention.value_length"] = self.head_dim
        add_prefix = self._tokenizer_config().get("add_prefix_space")
        if isinstance(add_prefix, bool):
            vocab.add_space_prefix = add_prefix
        return {**kv, **vocab.metadata()}

    def _tokenizer_config(self) -> dict[str, Any]:
        return self.source.optional_json_object("tokenizer_config.json")

    def extra_tensors(self) -> list[OutTensor]:
        rope = self.rope_parameters()
        if str(rope.get("rope_type", "")).lower() != "llama3":
            return []
        factors = llama3_rope_factors(
            base=self.rope_theta(10000.0),
            dim=self.head_dim,
            factor=float(rope.get("factor", 8.0)),
            low=float(rope.get("low_freq_factor", 1.0)),
            high=float(rope.get("high_freq_factor", 4.0)),
            original=int(rope.get("original_max_position_embeddings", 8192)),
        )
        return [OutTensor("rope_freqs.weight", factors.shape, lambda: factors, f32=True)]


def llama3_rope_factors(
    base: float, dim: int, factor: float, low: float, high: float, original: int
) -> np.ndarray:
    """Llama 3.1's frequency factors: 1 for short wavelengths, `factor` for long ones,
    smoothly between (llama.cpp's `generate_extra_tensors`)."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_wavelen, high_wavelen = original / low, original / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / float(freq)
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)
