"""GGUF key/values for /api/show's `model_info` and the model's details, read with `gguf`."""

from __future__ import annotations

import functools
import math
import mmap
import struct
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType

# Arrays longer than this (token lists, merges, scores) only show with `verbose`: Ollama's
# `llm.LoadModel(path, 0)` keeps the values of arrays up to 1024 items, and a longer one is
# `null` (its `array.values` left nil).
_LARGE_ARRAY = 1024

# Keys /api/show leaves out of `model_info` (Ollama's GetModelInfo deletes them): the template
# is shown as `template` already.
_HIDDEN_KEYS = ("general.name", "tokenizer.chat_template")

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


# GGUF value types (gguf_type) that are fixed-size scalars, as struct and numpy formats.
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


class _Cursor:
    """Little-endian reads from a GGUF header held in memory (a memory map)."""

    def __init__(self, data: mmap.mmap):
        self.data = data
        self.pos = 0

    def scalar(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.scalar("Q")
        text = self.data[self.pos : self.pos + n].decode("utf-8")
        self.pos += n
        return text

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.scalar("I"), self.scalar("Q")
            if item == _STRING:
                return [self.string() for _ in range(count)]
            fmt = _SCALARS[item]  # nested arrays: KeyError, and GGUFReader takes over
            dtype = np.dtype("<" + fmt)
            values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
            self.pos += count * dtype.itemsize
            return values.tolist()
        return self.scalar(_SCALARS[kind])


# A tensor as the header describes it: name, ggml type id, dimensions (in file order).
TensorInfo = tuple[str, int, list[int]]


def _read_header(path: str) -> tuple[dict[str, Any], list[TensorInfo]]:
    """Key/values and tensors straight from the header: GGUFReader builds an object per
    token of a 262k-token vocabulary, which takes many seconds on a small machine."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cursor = _Cursor(data)
        if data[:4] != b"GGUF":
            raise ValueError("not a GGUF file")
        cursor.pos = 4
        if cursor.scalar("I") not in (2, 3):
            raise ValueError("unsupported GGUF version")
        n_tensors, n_kv = cursor.scalar("Q"), cursor.scalar("Q")
        kv: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cursor.string()
            kv[key] = cursor.value(cursor.scalar("I"))
        tensors: list[TensorInfo] = []
        for _ in range(n_tensors):
            name = cursor.string()
            shape = [cursor.scalar("Q") for _ in range(cursor.scalar("I"))]
            kind = cursor.scalar("I")
            cursor.scalar("Q")  # data offset
            tensors.append((name, kind, shape))
        return kv, tensors


@functools.lru_cache(maxsize=16)
def _read(path: str, mtime: float) -> tuple[dict[str, Any], list[TensorInfo]]:
    try:
        return _read_header(path)
    except (ValueError, KeyError, struct.error):
        pass  # big-endian or unusual files: the gguf package's reader knows them all
    reader = GGUFReader(path, "r")
    kv: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        kv[key] = _field_value(field)
    tensors = [(str(t.name), int(t.tensor_type), [int(n) for n in t.shape]) for t in reader.tensors]
    return kv, tensors


def read_metadata(path: Path) -> tuple[dict[str, Any], int]:
    """All key/values of a GGUF file and its parameter count (cached per file version)."""
    kv, tensors = _read(str(path), path.stat().st_mtime)
    return kv, sum(math.prod(shape) for _, _, shape in tensors)


def tensor_shapes(path: Path) -> list[list[int]]:
    """The dimensions of every tensor of a GGUF file, in file order."""
    return [shape for _, _, shape in _read(str(path), path.stat().st_mtime)[1]]


def tensors(path: Path) -> list[tuple[str, str, list[int]]]:
    """Every tensor of a GGUF file, in file order: its name, its type as Ollama names it
    (ggml's `F32`, `Q4_K` …, "unknown" for ids ggml no longer uses) and its dimensions."""
    return [
        (name, _type_name(kind), shape)
        for name, kind, shape in _read(str(path), path.stat().st_mtime)[1]
    ]


def _type_name(kind: int) -> str:
    try:
        return GGMLQuantizationType(kind).name
    except ValueError:
        return "unknown"


def model_info(path: Path, verbose: bool = False, hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """/api/show's `model_info` (or `projector_info`): the GGUF's key/values without the keys
    in `hide`, long arrays `null` unless `verbose`, and the parameter count counted from the
    tensors (it replaces the file's own, as Ollama patches it in)."""
    kv, n_params = read_metadata(path)
    info: dict[str, Any] = {}
    for key, value in kv.items():
        if key in hide:
            continue
        if isinstance(value, list) and len(value) > _LARGE_ARRAY and not verbose:
            value = None
        info[key] = value
    info["general.parameter_count"] = n_params
    return info


def show_info(path: Path, verbose: bool = False) -> dict[str, Any]:
    """The weights' `model_info`: as `model_info`, less the keys Ollama deletes."""
    return model_info(path, verbose, _HIDDEN_KEYS)


def architecture(path: Path) -> str:
    return str(read_metadata(path)[0].get("general.architecture", ""))


def quantization(path: Path) -> str:
    ft = read_metadata(path)[0].get("general.file_type")
    return _FILE_TYPES.get(int(ft), "unknown") if ft is not None else "unknown"


def parameter_size(n_params: int) -> str:
    """Ollama's human form (format.HumanNumber): 268.10M, 7.6B, 8B, 45K."""
    if n_params >= 1_000_000_000:
        n = n_params / 1e9
        return f"{n:.0f}B" if n.is_integer() else f"{n:.1f}B"
    if n_params >= 1_000_000:
        n = n_params / 1e6
        return f"{n:.0f}M" if n.is_integer() else f"{n:.2f}M"
    if n_params >= 1_000:
        return f"{n_params / 1e3:.0f}K"
    return str(n_params)
