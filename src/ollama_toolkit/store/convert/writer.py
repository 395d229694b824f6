"""Writing the converted model: GGUF key/values and tensors, one tensor in memory at a time.

Matrices take the output type (F16 by default, as Ollama and llama.cpp write a conversion; F32
or BF16 when asked); vectors (norms, biases) and the few tensors llama.cpp reads as F32 stay F32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter
from gguf.quants import quantize as gguf_quantize

from ollama_toolkit.store.convert.source import ConvertError

# The output types a conversion writes directly, with their llama_ftype (general.file_type).
OUTPUT_TYPES = {"F32": 0, "F16": 1, "BF16": 32}
_GGML_TYPES = {
    "F32": GGMLQuantizationType.F32,
    "F16": GGMLQuantizationType.F16,
    "BF16": GGMLQuantizationType.BF16,
}


@dataclass
class OutTensor:
    """A tensor of the GGUF: its name, its shape (row-major, as the checkpoint holds it),
    how to read it (float32), and whether it must stay F32 whatever the output type."""

    name: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]
    f32: bool = False

    def out_type(self, ftype: str) -> str:
        return "F32" if self.f32 or len(self.shape) < 2 else ftype


def write_gguf(
    path: Path,
    arch: str,
    metadata: dict[str, Any],
    tensors: Sequence[OutTensor],
    ftype: str,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write the GGUF at `path`: the header and key/values, then each tensor as it is read."""
    writer = GGUFWriter(path, arch)
    try:
        writer.add_type("model")
        for key, value in metadata.items():
            if value is not None and value != []:
                _add(writer, key, value)
        writer.add_file_type(OUTPUT_TYPES[ftype])
        writer.add_quantization_version(2)
        for t in tensors:
            kind = t.out_type(ftype)
            n = int(np.prod(t.shape, dtype=np.int64))
            if kind == "BF16":
                byte_shape = (*t.shape[:-1], t.shape[-1] * 2)
                writer.add_tensor_info(
                    t.name, byte_shape, np.dtype(np.uint8), n * 2, _GGML_TYPES[kind]
                )
            else:
                dtype = np.dtype(np.float32 if kind == "F32" else np.float16)
                writer.add_tensor_info(t.name, t.shape, dtype, n * dtype.itemsize)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, t in enumerate(tensors):
            data = t.load()
            if data.shape != t.shape:
                raise ConvertError(f"tensor {t.name} came out as {data.shape}, not {t.shape}")
            writer.write_tensor_data(_cast(data, t.out_type(ftype)))
            if progress is not None:
                progress(i + 1, len(tensors))
    finally:
        writer.close()


def _cast(data: np.ndarray, kind: str) -> np.ndarray:
    if kind == "F32":
        return np.ascontiguousarray(data, dtype=np.float32)
    if kind == "F16":
        return np.ascontiguousarray(data.astype(np.float16))
    return gguf_quantize(np.ascontiguousarray(data, dtype=np.float32), GGMLQuantizationType.BF16)


def _add(writer: GGUFWriter, key: str, value: Any) -> None:
    """A key/value typed as llama.cpp reads it: ints as uint32, floats as float32, lists of
    ints (token types) as int32."""
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_uint32(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, str):
        writer.add_string(key, value)
    elif isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            sub = GGUFValueType.STRING
        elif value and all(isinstance(v, bool) for v in value):
            sub = GGUFValueType.BOOL
        elif value and all(isinstance(v, int) for v in value):
            sub = GGUFValueType.INT32
        else:
            sub = GGUFValueType.FLOAT32
        writer.add_key_value(key, value, GGUFValueType.ARRAY, sub_type=sub)
    else:
        raise TypeError(f"no GGUF type for {key}={value!r}")
