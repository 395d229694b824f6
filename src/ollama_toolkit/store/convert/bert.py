"""BERT encoders (`BertModel`: all-MiniLM, bge, …) as llama.cpp's `bert` embedding model.

The pooling comes from the sentence-transformers files: modules.json names the Pooling
module's directory, whose config.json says mean, CLS or last-token pooling (mean when a
checkpoint has no such files, the sentence-transformers default). The pooler and the masked-LM
head are dropped: only the encoder's hidden states are pooled.
"""

from __future__ import annotations

from typing import Any

from ollama_toolkit.store.convert.base import Converter, Slot
from ollama_toolkit.store.convert.source import ConvertError
from ollama_toolkit.store.convert.tokenizer import Vocab

# llama.cpp's pooling types.
POOLING_MEAN, POOLING_CLS, POOLING_LAST = 1, 2, 3


class Bert(Converter):
    arch = "bert"
    ignored = (
        r"embeddings\.position_ids",
        r"pooler\..*",
        r"cls\..*",
    )

    def rename(self, name: str) -> str:
        name = name.removeprefix("bert.")
        if name.endswith(".gamma"):
            name = name[: -len(".gamma")] + ".weight"
        if name.endswith(".beta"):
            name = name[: -len(".beta")] + ".bias"
        return name

    def pooling(self) -> tuple[int, bool]:
        """The pooling type and whether the model normalizes its vectors."""
        if not self.source.has("modules.json"):
            return POOLING_MEAN, False
        modules = self.source.json("modules.json")
        if not isinstance(modules, list):
            raise ConvertError("modules.json is not a list")
        pooling_dir, normalize = None, False
        for m in modules:
            kind = m.get("type") if isinstance(m, dict) else None
            if kind == "sentence_transformers.models.Pooling":
                pooling_dir = m.get("path")
            elif kind == "sentence_transformers.models.Normalize":
                normalize = True
        if not isinstance(pooling_dir, str) or not pooling_dir:
            return POOLING_MEAN, normalize
        name = f"{pooling_dir}/config.json"
        if not self.source.has(name):
            raise ConvertError(f"modules.json names a Pooling module but {name} is missing")
        cfg = self.source.json_object(name)
        if cfg.get("pooling_mode_mean_tokens"):
            return POOLING_MEAN, normalize
        if cfg.get("pooling_mode_cls_token"):
            return POOLING_CLS, normalize
        if cfg.get("pooling_mode_lasttoken"):
            return POOLING_LAST, normalize
        modes = sorted(k for k, v in cfg.items() if k.startswith("pooling_mode") and v)
        raise ConvertError(f"unsupported pooling {modes}: only mean, CLS and last-token")

    def metadata(self, vocab: Vocab) -> dict[str, Any]:
        heads = self.int("num_attention_heads")
        hidden = self.int("hidden_size")
        if hidden % heads:
            raise ConvertError("config.json: hidden_size is not a multiple of num_attention_heads")
        pooling, normalize = self.pooling()
        return {
            "bert.context_length": self.int("max_position_embeddings"),
            "bert.embedding_length": hidden,
            "bert.feed_forward_length": self.int("intermediate_size"),
            "bert.block_count": self.int("num_hidden_layers"),
            "bert.attention.head_count": heads,
            "bert.attention.layer_norm_epsilon": self.float("layer_norm_eps", default=1e-12),
            "bert.attention.causal": False,
            "bert.pooling_type": pooling,
            "bert.normalize_embeddings": normalize,
            "tokenizer.ggml.token_type_count": self.int("type_vocab_size", default=2),
            **vocab.metadata(),
        }

    def slots(self) -> list[Slot]:
        if self.config.get("hidden_act", "gelu") != "gelu":
            raise ConvertError(f"unsupported hidden_act {self.config['hidden_act']!r} for BERT")
        if self.config.get("position_embedding_type", "absolute") != "absolute":
            raise ConvertError("only absolute position embeddings are supported for BERT")
        h = self.int("hidden_size")
        ff = self.int("intermediate_size")
        n_vocab = self.int("vocab_size")
        slots = [
            Slot("embeddings.word_embeddings.weight", "token_embd.weight", (n_vocab, h)),
            Slot(
                "embeddings.position_embeddings.weight",
                "position_embd.weight",
                (self.int("max_position_embeddings"), h),
            ),
            Slot(
                "embeddings.token_type_embeddings.weight",
                "token_types.weight",
                (self.int("type_vocab_size", default=2), h),
                f32=True,
            ),
            Slot("embeddings.LayerNorm.weight", "token_embd_norm.weight", (h,)),
            Slot("embeddings.LayerNorm.bias", "token_embd_norm.bias", (h,)),
        ]
        for i in range(self.int("num_hidden_layers")):
            src, blk = f"encoder.layer.{i}", f"blk.{i}"
            for hf, gguf, shape in (
                ("attention.self.query", "attn_q", (h, h)),
                ("attention.self.key", "attn_k", (h, h)),
                ("attention.self.value", "attn_v", (h, h)),
                ("attention.output.dense", "attn_output", (h, h)),
                ("attention.output.LayerNorm", "attn_output_norm", None),
                ("intermediate.dense", "ffn_up", (ff, h)),
                ("output.dense", "ffn_down", (h, ff)),
                ("output.LayerNorm", "layer_output_norm", None),
            ):
                bias = (shape[0],) if shape else (h,)
                slots.append(Slot(f"{src}.{hf}.weight", f"{blk}.{gguf}.weight", shape or (h,)))
                slots.append(Slot(f"{src}.{hf}.bias", f"{blk}.{gguf}.bias", bias))
        return slots
