"""Gemma 3's text model (`Gemma3ForCausalLM`, and the language model of
`Gemma3ForConditionalGeneration`, whose vision tower is left out) as llama.cpp's `gemma3`.

Gemma's RMS norms multiply by (1 + weight), so each norm weight is stored plus one, as
llama.cpp's converter does. Local (sliding-window) layers follow config.json's `layer_types`
or `sliding_window_pattern`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ollama_toolkit.store.convert.base import Decoder, Slot
from ollama_toolkit.store.convert.source import ConvertError, Source
from ollama_toolkit.store.convert.tokenizer import Vocab


class Gemma3(Decoder):
    arch = "gemma3"
    qk_norm = True
    ignored = (
        *Decoder.ignored,
        r"vision_tower\..*",
        r"multi_modal_projector\..*",
        r"lm_head\.weight",  # tied to the embeddings
    )

    def __init__(self, source: Source, config: dict[str, Any]):
        text = config.get("text_config")
        if isinstance(text, dict):  # Gemma3ForConditionalGeneration: the text model's config
            config = {**config, **text}
        config.setdefault("tie_word_embeddings", True)
        super().__init__(source, config)

    def rename(self, name: str) -> str:
        # Gemma3ForConditionalGeneration: language_model.model.* (older) or model.language_model.*
        name = name.removeprefix("language_model.")
        return name.replace("model.language_model.", "model.", 1)

    def norm(self, data: np.ndarray) -> np.ndarray:
        return data + np.float32(1.0)

    def slots(self) -> list[Slot]:
        # llama.cpp reads the output from the embeddings: no lm_head.
        return [s for s in super().slots() if s.name != "output.weight"]

    def layer_norm_slots(self, src: str, blk: str, h: int) -> list[Slot]:
        return [
            Slot(f"{src}.{hf}.weight", f"{blk}.{gguf}.weight", (h,), transform=self.norm)
            for hf, gguf in (
                ("post_attention_layernorm", "post_attention_norm"),
                ("pre_feedforward_layernorm", "ffn_norm"),
                ("post_feedforward_layernorm", "post_ffw_norm"),
            )
        ]

    def metadata(self, vocab: Vocab) -> dict[str, Any]:
        if self.config.get("attn_logit_softcapping") is not None:
            raise ConvertError("config.json: attn_logit_softcapping is not Gemma 3's")
        kv = self.common_metadata(rope_default=1_000_000.0)
        kv["gemma3.attention.key_length"] = self.head_dim
        kv["gemma3.attention.value_length"] = self.head_dim
        softcap = self.config.get("final_logit_softcapping")
        if isinstance(softcap, (int, float)) and softcap > 0:
            kv["gemma3.final_logit_softcapping"] = float(softcap)
        window = self.config.get("sliding_window")
        if (
            isinstance(window, int)
            and window > 0
            and self.config.get("sliding_window_pattern") != 1
        ):
            kv["gemma3.attention.sliding_window"] = window
            kv.update(self._sliding_pattern())
            local = self.config.get("rope_local_base_freq")
            if isinstance(local, (int, float)) and local > 0:
                kv["gemma3.rope.freq_base_swa"] = float(local)
        return {**kv, **vocab.metadata()}

    def _sliding_pattern(self) -> dict[str, Any]:
        n = self.int("num_hidden_layers")
        types = self.config.get("layer_types")
        if isinstance(types, list) and len(types) == n:
            return {
                "gemma3.attention.sliding_window_pattern": [t == "sliding_attention" for t in types]
            }
        pattern = self.config.get("sliding_window_pattern")
        if type(pattern) is int and pattern > 0:
            return {"gemma3.attention.sliding_window_pattern": pattern}
        return {}
