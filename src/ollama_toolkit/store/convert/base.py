"""What every architecture's converter shares: config.json's numbers, the tensor table, and
the check of the checkpoint's tensors against it.

An architecture lists its tensors as `Slot`s: the checkpoint's name, the GGUF's name, the
shape the config implies, and any change llama.cpp's layout needs (Gemma's norms + 1, Llama's
rotary permutation). `plan` matches the checkpoint to that table before anything is written: a
missing tensor, one of the wrong shape, or one the architecture does not know is a
ConvertError that names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ollama_toolkit.store.convert.source import Checkpoint, ConvertError, Source
from ollama_toolkit.store.convert.tokenizer import Vocab, read_vocab
from ollama_toolkit.store.convert.writer import OutTensor


@dataclass
class Slot:
    """One tensor an architecture expects."""

    source: str  # its name in the checkpoint (after `Converter.rename`)
    name: str  # its GGUF name
    shape: tuple[int, ...]  # as the checkpoint holds it (row-major)
    required: bool = True
    f32: bool = False
    transform: Callable[[np.ndarray], np.ndarray] | None = None


class Converter:
    """One Hugging Face architecture's conversion to llama.cpp's GGUF layout."""

    arch: ClassVar[str]  # llama.cpp's architecture name
    # Checkpoint tensors that are no part of the GGUF (regular expressions, full match).
    ignored: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: Source, config: dict[str, Any]):
        self.source = source
        self.config = config

    # --- config.json ---------------------------------------------------------------------------

    def int(self, *keys: str, default: int | None = None) -> int:
        """The first of `keys` config.json sets, as a positive integer."""
        for key in keys:
            value = self.config.get(key)
            if value is None:
                continue
            if type(value) is not int or value <= 0:
                raise ConvertError(f"config.json: {key} must be a positive integer, not {value!r}")
            return value
        if default is None:
            raise ConvertError(f"config.json: {keys[0]} is missing")
        return default

    def float(self, *keys: str, default: float | None = None) -> float:
        for key in keys:
            value = self.config.get(key)
            if value is None:
                continue
            if type(value) not in (int, float) or not value > 0:
                raise ConvertError(f"config.json: {key} must be a positive number, not {value!r}")
            return float(value)
        if default is None:
            raise ConvertError(f"config.json: {keys[0]} is missing")
        return default

    # --- what an architecture provides ---------------------------------------------------------

    def vocab(self) -> Vocab:
        return read_vocab(self.source, self.config.get("vocab_size"), self.config)

    def metadata(self, vocab: Vocab) -> dict[str, Any]:
        raise NotImplementedError

    def slots(self) -> list[Slot]:
        raise NotImplementedError

    def rename(self, name: str) -> str:
        """A checkpoint tensor's name as `slots` spells it."""
        return name

    def extra_tensors(self) -> list[OutTensor]:
        """Tensors the GGUF needs that the checkpoint does not hold (rope factors)."""
        return []

    # --- the check -----------------------------------------------------------------------------

    def plan(self, checkpoint: Checkpoint) -> list[OutTensor]:
        """The GGUF's tensors, each matched to a checkpoint tensor of the right shape."""
        by_name: dict[str, str] = {}
        for name in checkpoint.tensors:
            by_name.setdefault(self.rename(name), name)
        used: set[str] = set()
        out = []
        for slot in self.slots():
            real = by_name.get(slot.source)
            if real is None:
                if slot.required:
                    raise ConvertError(f"missing tensor {slot.source} ({self.arch} needs it)")
                continue
            shape = checkpoint.tensors[real].shape
            if shape != slot.shape:
                raise ConvertError(
                    f"tensor {real} has shape {list(shape)}, expected {list(slot.shape)} "
                    "from config.json"
                )
            used.add(real)
            out.append(OutTensor(slot.name, slot.shape, _loader(checkpoint, real, slot), slot.f32))
        ignored = [re.compile(p) for p in self.ignored]
        for real in checkpoint.tensors:
            if real in used or any(p.fullmatch(self.rename(real)) for p in ignored):
                continue
            raise ConvertError(f"unexpected tensor {real} for the {self.arch} architecture")
        return out + self.extra_tensors()


def _loader(checkpoint: Checkpoint, name: str, slot: Slot) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        data = checkpoint.load(name)
        return slot.transform(data) if slot.transform else data

    return load


class Decoder(Converter):
    """The layout Llama, Gemma 3 and Qwen share: `model.embed_tokens`, `model.layers.N` with
    `self_attn.{q,k,v,o}_proj`, `mlp.{gate,up,down}_proj` and RMS norms, `model.norm`, and an
    `lm_head` unless the embeddings are tied."""

    ignored: ClassVar[tuple[str, ...]] = (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",)
    attention_bias = False  # q, k and v have biases (Qwen 2)
    qk_norm = False  # q and k are RMS-normed per head (Gemma 3, Qwen 3)

    # --- the numbers ---------------------------------------------------------------------------

    @property
    def heads(self) -> int:
        return self.int("num_attention_heads")

    @property
    def kv_heads(self) -> int:
        return self.int("num_key_value_heads", default=self.heads)

    @property
    def head_dim(self) -> int:
        head_dim = self.config.get("head_dim")
        if head_dim is None:
            hidden = self.int("hidden_size")
            if hidden % self.heads:
                raise ConvertError("config.json: hidden_size is not a multiple of the heads")
            return hidden // self.heads
        return self.int("head_dim")

    def rope_parameters(self) -> dict[str, Any]:
        """rope_scaling (or newer configs' rope_parameters), with rope_theta."""
        params: dict[str, Any] = {}
        for key in ("rope_parameters", "rope_scaling"):
            value = self.config.get(key)
            if isinstance(value, dict):
                params.update(value.get("full_attention", value))
        return params

    def rope_theta(self, default: float) -> float:
        theta = self.config.get("rope_theta", self.rope_parameters().get("rope_theta"))
        if theta is None:
            return default
        if type(theta) not in (int, float) or theta <= 0:
            raise ConvertError(f"config.json: rope_theta must be a positive number, not {theta!r}")
        return float(theta)

    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))

    def common_metadata(self, rope_default: float) -> dict[str, Any]:
        a = self.arch
        kv: dict[str, Any] = {
            f"{a}.context_length": self.int("max_position_embeddings"),
            f"{a}.embedding_length": self.int("hidden_size"),
            f"{a}.block_count": self.int("num_hidden_layers"),
            f"{a}.feed_forward_length": self.int("intermediate_size"),
            f"{a}.attention.head_count": self.heads,
            f"{a}.attention.head_count_kv": self.kv_heads,
            f"{a}.rope.freq_base": self.rope_theta(rope_default),
            f"{a}.attention.layer_norm_rms_epsilon": self.float("rms_norm_eps", default=1e-6),
        }
        rope = self.rope_parameters()
        kind = rope.get("rope_type", rope.get("type"))
        factor = rope.get("factor")
        if kind in (None, "default"):
            pass
        elif kind == "linear" and isinstance(factor, (int, float)):
            kv[f"{a}.rope.scaling.type"] = "linear"
            kv[f"{a}.rope.scaling.factor"] = float(factor)
        elif kind == "yarn" and isinstance(factor, (int, float)):
            kv[f"{a}.rope.scaling.type"] = "yarn"
            kv[f"{a}.rope.scaling.factor"] = float(factor)
            original = rope.get("original_max_position_embeddings")
            if isinstance(original, int):
                kv[f"{a}.rope.scaling.original_context_length"] = original
        elif kind != "llama3":  # llama3 scaling is a tensor of frequency factors (llama.py)
            raise ConvertError(f"unsupported rope scaling {kind!r} for {a}")
        return kv

    # --- the tensors ---------------------------------------------------------------------------

    def norm(self, data: np.ndarray) -> np.ndarray:
        """A norm weight as llama.cpp multiplies by it (Gemma stores it less one)."""
        return data

    def q_transform(self, data: np.ndarray) -> np.ndarray:
        return data

    def k_transform(self, data: np.ndarray) -> np.ndarray:
        return data

    def slots(self) -> list[Slot]:
        h = self.int("hidden_size")
        ff = self.int("intermediate_size")
        n_vocab = self.int("vocab_size")
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        norm = self.norm
        slots = [
            Slot("model.embed_tokens.weight", "token_embd.weight", (n_vocab, h)),
            Slot("model.norm.weight", "output_norm.weight", (h,), transform=norm),
            Slot("lm_head.weight", "output.weight", (n_vocab, h), required=not self.tied()),
        ]
        for i in range(self.int("num_hidden_layers")):
            src, blk = f"model.layers.{i}", f"blk.{i}"
            attn = f"{src}.self_attn"
            slots += [
                Slot(
                    f"{src}.input_layernorm.weight", f"{blk}.attn_norm.weight", (h,), transform=norm
                ),
                Slot(
                    f"{attn}.q_proj.weight",
                    f"{blk}.attn_q.weight",
                    (q, h),
                    transform=self.q_transform,
                ),
                Slot(
                    f"{attn}.k_proj.weight",
                    f"{blk}.attn_k.weight",
                    (kv, h),
                    transform=self.k_transform,
                ),
                Slot(f"{attn}.v_proj.weight", f"{blk}.attn_v.weight", (kv, h)),
                Slot(f"{attn}.o_proj.weight", f"{blk}.attn_output.weight", (h, q)),
                Slot(f"{src}.mlp.gate_proj.weight", f"{blk}.ffn_gate.weight", (ff, h)),
                Slot(f"{src}.mlp.up_proj.weight", f"{blk}.ffn_up.weight", (ff, h)),
                Slot(f"{src}.mlp.down_proj.weight", f"{blk}.ffn_down.weight", (h, ff)),
            ]
            if self.attention_bias:
                slots += [
                    Slot(f"{attn}.q_proj.bias", f"{blk}.attn_q.bias", (q,)),
                    Slot(f"{attn}.k_proj.bias", f"{blk}.attn_k.bias", (kv,)),
                    Slot(f"{attn}.v_proj.bias", f"{blk}.attn_v.bias", (kv,)),
                ]
            if self.qk_norm:
                d = self.head_dim
                slots += [
                    Slot(
                        f"{attn}.q_norm.weight", f"{blk}.attn_q_norm.weight", (d,), transform=norm
                    ),
                    Slot(
                        f"{attn}.k_norm.weight", f"{blk}.attn_k_norm.weight", (d,), transform=norm
                    ),
                ]
            slots += self.layer_norm_slots(src, blk, h)
        return slots

    def layer_norm_slots(self, src: str, blk: str, h: int) -> list[Slot]:
        """The norm after attention (Llama's before the feed-forward)."""
        return [
            Slot(
                f"{src}.post_attention_layernorm.weight",
                f"{blk}.ffn_norm.weight",
                (h,),
                transform=self.norm,
            )
        ]
