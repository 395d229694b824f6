"""GGUF key/values for /api/show's `model_info` and the model's details, read with `gguf`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from gguf import GGUFReader, GGUFValueType

# Arrays longer than this (token lists, merges, scores) only show with `verbose`, as in Ollama.
_LARGE_ARRAY = 32

# llama.cpp's file type ids (general.file_type) to Ollama's quantization names.
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
}


def _field_value(field: Any) -> Any:
    types = field.types
    if not types:
        return None
    if types[0] == GGUFValueType.ARRAY:
        return [field.contents(i) for i in range(len(field.data))]
    return field.contents()


@functools.lru_cache(maxsize=16)
def _read(path: str, mtime: float) -> tuple[dict[str, Any], int]:
    reader = GGUFReader(path, "r")
    kv: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        kv[key] = _field_value(field)
    n_params = sum(int(t.n_elements) for t in reader.tensors)
    return kv, n_params


def read_metadata(path: Path) -> tuple[dict[str, Any], int]:
    """All key/values of a GGUF file and its parameter count (cached per file version)."""
    return _read(str(path), path.stat().st_mtime)


def model_info(path: Path, verbose: bool = False) -> dict[str, Any]:
    kv, n_params = read_metadata(path)
    info: dict[str, Any] = {}
    for key, value in kv.items():
        if isinstance(value, list) and len(value) > _LARGE_ARRAY and not verbose:
            value = None
        info[key] = value
    info.setdefault("general.parameter_count", n_params)
    return info


def architecture(path: Path) -> str:
    return str(read_metadata(path)[0].get("general.architecture", ""))


def quantization(path: Path) -> str:
    ft = read_metadata(path)[0].get("general.file_type")
    return _FILE_TYPES.get(int(ft), "unknown") if ft is not None else "unknown"


def parameter_size(n_params: int) -> str:
    """Ollama's human form: 268.10M, 7.6B."""
    if n_params >= 1_000_000_000:
        return f"{n_params / 1e9:.1f}B"
    if n_params >= 1_000_000:
        return f"{n_params / 1e6:.2f}M"
    return f"{n_params / 1e3:.2f}K"
