"""A tiny vision projector for Gemma 3 270M, written with the `gguf` package: no real vision model
can be had offline, and this one loads in llama.cpp's mtmd like a real one.

A one-block SigLIP-style encoder (32×32 images, 8×8 patches, width 64) with Gemma 3's projector
(2×2 average pooling, RMS norm, projection to the text model's 640): 4 image tokens per image.
Its weights are random but fixed by the seed, so different images give different embeddings and
the same image the same ones. About 350 KB.

Also here: small valid PNG images made from a seed, to send to it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from gguf import GGUFWriter
from PIL import Image

TEXT_EMBD = 640  # Gemma 3 270M's n_embd
IMAGE_SIZE = 32
PATCH_SIZE = 8
WIDTH = 64
FFN = 128  # must differ from WIDTH: mtmd tells the FFN layout apart by the shapes
TOKENS_PER_IMAGE = (IMAGE_SIZE // PATCH_SIZE // 2) ** 2


def write_tiny_projector(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)

    def weights(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    writer = GGUFWriter(str(path), "clip")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_string("clip.projector_type", "gemma3")
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", WIDTH)
    writer.add_uint32("clip.vision.feed_forward_length", FFN)
    writer.add_uint32("clip.vision.block_count", 1)
    writer.add_uint32("clip.vision.attention.head_count", 2)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.projection_dim", TEXT_EMBD)
    writer.add_uint32("clip.vision.projector.scale_factor", 2)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_string("general.name", "tiny-projector")

    # numpy shapes are ggml's ne reversed.
    patches = (IMAGE_SIZE // PATCH_SIZE) ** 2
    tensors = {
        "v.patch_embd.weight": weights(WIDTH, 3, PATCH_SIZE, PATCH_SIZE),
        "v.patch_embd.bias": zeros(WIDTH),
        "v.position_embd.weight": weights(patches, WIDTH),
    }
    block = "v.blk.0"
    for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
        tensors[f"{block}.{name}.weight"] = weights(WIDTH, WIDTH)
        tensors[f"{block}.{name}.bias"] = zeros(WIDTH)
    for name in ("ln1", "ln2"):
        tensors[f"{block}.{name}.weight"] = ones(WIDTH)
        tensors[f"{block}.{name}.bias"] = zeros(WIDTH)
    tensors[f"{block}.ffn_up.weight"] = weights(FFN, WIDTH)
    tensors[f"{block}.ffn_up.bias"] = zeros(FFN)
    tensors[f"{block}.ffn_down.weight"] = weights(WIDTH, FFN)
    tensors[f"{block}.ffn_down.bias"] = zeros(WIDTH)
    tensors["v.post_ln.weight"] = ones(WIDTH)
    tensors["v.post_ln.bias"] = zeros(WIDTH)
    tensors["mm.input_projection.weight"] = weights(WIDTH, TEXT_EMBD, scale=1.0)
    tensors["mm.soft_emb_norm.weight"] = ones(WIDTH)
    for name, data in tensors.items():
        writer.add_tensor(name, data)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def png(seed: int, size: int = IMAGE_SIZE) -> bytes:
    """A valid RGB PNG of random pixels, the same bytes for the same seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return png_of(pixels)


def png_of(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "PNG")
    return out.getvalue()
