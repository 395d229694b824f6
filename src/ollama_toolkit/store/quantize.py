"""Quantizing a GGUF with llama.cpp's own quantizer (`llama_model_quantize`), with progress.

llama.cpp reports no progress while it quantizes; it writes the output tensor by tensor, so
the progress shown is the output's size against the size the chosen type should reach.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable
from pathlib import Path

import llama_cpp as lc
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from ollama_toolkit import config
from ollama_toolkit.api.errors import InternalError, unsupported_quantization
from ollama_toolkit.engine.llama import listening
from ollama_toolkit.store import gguf_meta

# Quantization names (llama.cpp's llama_ftype) and the tensor type that dominates each.
_TYPES: dict[str, tuple[int, GGMLQuantizationType]] = {
    "F32": (0, GGMLQuantizationType.F32),
    "F16": (1, GGMLQuantizationType.F16),
    "BF16": (32, GGMLQuantizationType.BF16),
    "Q4_0": (2, GGMLQuantizationType.Q4_0),
    "Q4_1": (3, GGMLQuantizationType.Q4_1),
    "Q5_0": (8, GGMLQuantizationType.Q5_0),
    "Q5_1": (9, GGMLQuantizationType.Q5_1),
    "Q8_0": (7, GGMLQuantizationType.Q8_0),
    "Q2_K": (10, GGMLQuantizationType.Q2_K),
    "Q3_K_S": (11, GGMLQuantizationType.Q3_K),
    "Q3_K_M": (12, GGMLQuantizationType.Q3_K),
    "Q3_K_L": (13, GGMLQuantizationType.Q3_K),
    "Q4_K_S": (14, GGMLQuantizationType.Q4_K),
    "Q4_K_M": (15, GGMLQuantizationType.Q4_K),
    "Q5_K_S": (16, GGMLQuantizationType.Q5_K),
    "Q5_K_M": (17, GGMLQuantizationType.Q5_K),
    "Q6_K": (18, GGMLQuantizationType.Q6_K),
}
_ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}

FLOAT_TYPES = ("F32", "F16", "BF16")
_POLL_S = 0.25


def quantization_type(name: str) -> str:
    """The canonical name of a quantization type (`q4_k_m` → `Q4_K_M`); a 400 otherwise."""
    upper = name.upper()
    upper = _ALIASES.get(upper, upper)
    if upper not in _TYPES:
        raise unsupported_quantization(name, list(_TYPES))
    return upper


def quantize(source: Path, target: Path, type_name: str, progress: Callable[[float], None]) -> None:
    """Write `source` quantized to `type_name` at `target`, calling `progress(fraction)`."""
    ftype, _ = _TYPES[type_name]
    expected = _expected_size(source, type_name)
    params = lc.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = config.num_threads()
    result: list[int] = []

    def run() -> None:
        with listening():  # llama.cpp's errors, if any, into our log
            done = lc.llama_model_quantize(
                str(source).encode(), str(target).encode(), ctypes.byref(params)
            )
        result.append(done)

    worker = threading.Thread(target=run, name="quantize", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(_POLL_S)
        try:
            written = target.stat().st_size
        except FileNotFoundError:
            written = 0
        progress(min(0.99, written / expected))
    if not result or result[0] != 0 or not target.is_file():
        raise InternalError(f"llama.cpp could not quantize the model to {type_name}")
    progress(1.0)


def _expected_size(source: Path, type_name: str) -> int:
    """About the size llama.cpp's output will have: vectors stay F32, matrices take the type."""
    _, ggml_type = _TYPES[type_name]
    block, block_bytes = GGML_QUANT_SIZES[ggml_type]
    size = 0
    for shape in gguf_meta.tensor_shapes(source):
        n = math.prod(shape)
        size += n * 4 if len(shape) < 2 else math.ceil(n / block) * block_bytes
    return max(size, 1)
