"""A Hugging Face checkpoint's files, and the tensors of its safetensors files.

A `Source` names each file by its path relative to the checkpoint's directory (`config.json`,
`1_Pooling/config.json`, `model-00001-of-00002.safetensors`) and maps it to a file on disk: the
directory's own file, or the blob uploaded under that name for `/api/create`. Nothing is read
outside that mapping, so a name such as `../x` can only fail.

`Checkpoint` reads the safetensors headers and checks them whole before any tensor is read:
every tensor's dtype, shape and byte range, and that the data covers the file exactly (a
truncated download is refused here). Tensors are then read one at a time, as float32, through
`safetensors.numpy`; BF16, which NumPy has no type for, is widened from its raw bytes.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open


class ConvertError(ValueError):
    """A checkpoint that cannot be converted; the message says what is wrong (a 400)."""


# safetensors dtypes and their sizes in bytes.
_DTYPE_SIZES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


class Source:
    """A checkpoint's files by relative name."""

    def __init__(self, files: Mapping[str, Path]):
        self.files = {_normal(name): Path(path) for name, path in files.items()}

    @classmethod
    def directory(cls, root: Path) -> Source:
        """Every file under `root`, by relative name; ConvertError for a link that leads out."""
        return cls(model_files(root))

    def has(self, name: str) -> bool:
        return _normal(name) in self.files

    def path(self, name: str) -> Path:
        key = _normal(name)
        if key not in self.files:
            raise ConvertError(f"{name} not found among the model's files")
        return self.files[key]

    def json(self, name: str) -> Any:
        """A JSON file's value; ConvertError when it is missing or not JSON."""
        path = self.path(name)
        try:
            with open(path, "rb") as f:
                return json.loads(f.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ConvertError(f"{name} is not valid JSON: {e}") from None

    def json_object(self, name: str) -> dict[str, Any]:
        value = self.json(name)
        if not isinstance(value, dict):
            raise ConvertError(f"{name} is not a JSON object")
        return value

    def optional_json_object(self, name: str) -> dict[str, Any]:
        return self.json_object(name) if self.has(name) else {}

    def text(self, name: str) -> str:
        try:
            return self.path(name).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConvertError(f"{name} is not UTF-8 text: {e}") from None

    def safetensors(self) -> list[str]:
        """The names of the top-level safetensors files, sorted (shards in order)."""
        return sorted(n for n in self.files if "/" not in n and n.endswith(".safetensors"))


def model_files(root: Path) -> dict[str, Path]:
    """The files of a model directory that `create` needs, by relative name, as the CLI uploads
    them (Ollama's choice): the safetensors files with the JSON files beside them and one level
    down (`1_Pooling/config.json`), `chat_template.jinja` and `tokenizer.model`; or, with no
    safetensors file, the GGUF files.

    A file whose real path is outside `root` (a link into a download cache, say) is refused,
    as Ollama's CLI refuses it ("insecure path"): only what the directory holds is sent.
    """
    root = Path(root)
    paths = sorted(root.glob("*.safetensors"))
    if paths:
        for pattern in ("*.json", "*/*.json", "chat_template.jinja", "tokenizer.model"):
            paths += sorted(root.glob(pattern))
    else:
        paths = sorted(root.glob("*.gguf"))
    real_root = root.resolve()
    files = {}
    for path in paths:
        name = path.relative_to(root).as_posix()
        if not path.resolve().is_relative_to(real_root):
            raise ConvertError(f"insecure path: {name} leads outside {root}")
        if path.is_file():
            files[name] = path
    return files


def _normal(name: str) -> str:
    """A relative, slash-separated name without `.` parts; ConvertError for one leaving it."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    if not parts or name.startswith("/") or ".." in parts:
        raise ConvertError(f"file path {name!r} is outside the model's directory")
    return "/".join(parts)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str  # the safetensors file's name in the source
    path: Path
    offset: int  # the first byte of its data in the file


class Checkpoint:
    """The tensors of a checkpoint's safetensors files, checked, by name."""

    def __init__(self, source: Source):
        names = source.safetensors()
        if not names:
            raise ConvertError("no safetensors file among the model's files")
        self.tensors: dict[str, TensorInfo] = {}
        for name in names:
            for info in _read_header(name, source.path(name)):
                if info.name in self.tensors:
                    raise ConvertError(
                        f"tensor {info.name} is in both {self.tensors[info.name].file} "
                        f"and {info.file}"
                    )
                self.tensors[info.name] = info

    def load(self, name: str) -> np.ndarray:
        """One tensor as a float32 array in its own shape."""
        info = self.tensors[name]
        if info.dtype == "BF16":
            count = math.prod(info.shape)
            raw = np.fromfile(info.path, dtype="<u2", count=count, offset=info.offset)
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(info.shape)
        try:
            with safe_open(str(info.path), framework="numpy") as f:
                array = f.get_tensor(info.name)
        except (SafetensorError, OSError) as e:
            raise ConvertError(f"{info.file}: cannot read tensor {info.name}: {e}") from None
        return np.asarray(array, dtype=np.float32).reshape(info.shape)


def _read_header(name: str, path: Path) -> list[TensorInfo]:
    """The tensors a safetensors file declares, each checked against the file's size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ConvertError(f"{name}: not a safetensors file (it is {size} bytes long)")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER:
            raise ConvertError(f"{name}: not a safetensors file (header of {n} bytes)")
        if 8 + n > size:
            raise ConvertError(f"{name}: truncated safetensors file (its header is cut short)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ConvertError(f"{name}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{name}: not a safetensors file (its header is not a JSON object)")
    data_start = 8 + n
    data_size = size - data_start
    infos = []
    end_max = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        info, begin, end = _entry(name, path, key, entry, data_start)
        if end > data_size:
            raise ConvertError(
                f"{name}: truncated safetensors file (tensor {key} ends at byte "
                f"{data_start + end}, the file has {size})"
            )
        end_max = max(end_max, end)
        if info.dtype in _FLOAT_DTYPES:
            infos.append(info)
    if end_max != data_size:
        raise ConvertError(
            f"{name}: not a valid safetensors file ({data_size - end_max} bytes after the "
            "last tensor)"
        )
    # safe_open checks what we did not: overlapping ranges, alignment, every header rule.
    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except SafetensorError as e:
        raise ConvertError(f"{name}: not a valid safetensors file: {e}") from None
    return infos


def _entry(
    file: str, path: Path, key: str, entry: Any, data_start: int
) -> tuple[TensorInfo, int, int]:
    bad = ConvertError(f"{file}: tensor {key} has a malformed header entry")
    if not isinstance(entry, dict):
        raise bad
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPE_SIZES:
        raise ConvertError(f"{file}: tensor {key} has an unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
        or offsets[1] < offsets[0]
    ):
        raise bad
    begin, end = offsets
    if end - begin != math.prod(shape) * _DTYPE_SIZES[dtype]:
        raise ConvertError(
            f"{file}: tensor {key} has {end - begin} bytes for a {dtype} tensor of shape "
            f"{tuple(shape)}"
        )
    info = TensorInfo(key, dtype, tuple(shape), file, path, data_start + begin)
    return info, begin, end
