"""The GPUs llama.cpp can offload to, and how many layers of a model go to them (`num_gpu`).

llama-cpp-python is built for the CPU by default; built with `CMAKE_ARGS="-DGGML_CUDA=on"` (or
another GPU backend) its ggml library registers the GPU devices, which this module lists through
ggml's device registry (`ggml_backend_dev_*`, read with ctypes: the Python bindings do not wrap
them). With no GPU device, every answer here means "the CPU": zero layers offloaded, nothing in
GPU memory, so a CPU-only machine loads models exactly as before.

`num_gpu` has Ollama's meaning: the number of layers offloaded; 0 keeps everything on the CPU;
-1 (the default) offloads as many as fit in the chosen GPU's free memory, with Ollama's
estimate of a model's footprint (its `PredictServerVRAM`: the file's size plus an f16 K/V cache
for the context), spread evenly over the layers, and a reserve left free for llama.cpp's
compute buffers.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# ggml's enum ggml_backend_dev_type: the kinds of device that hold their own memory (an
# integrated GPU shares the host's, and is offloaded to all the same).
_DEVICE_GPU, _DEVICE_IGPU = 1, 2
# Left free on the GPU for llama.cpp's compute buffers and the driver (Ollama keeps a similar
# minimum; a 270M model's compute buffers alone are ~50 MiB at a 4096-token batch).
GPU_RESERVE_BYTES = 512 << 20


@dataclass(frozen=True)
class GpuDevice:
    index: int  # among the GPU devices: llama.cpp's `main_gpu`
    name: str  # ggml's name, as llama.cpp's buffer logs use it: "CUDA0"
    description: str
    free: int  # bytes
    total: int


@functools.cache
def ggml_library() -> ctypes.CDLL | None:
    """ggml's shared library as llama-cpp-python ships it (already loaded by the bindings),
    its device functions typed; None when it cannot be read."""
    try:
        return _typed_ggml()
    except (ImportError, OSError, AttributeError) as e:  # a build without the device registry
        log.warning("cannot list llama.cpp's devices: %s", e)
        return None


def _typed_ggml() -> ctypes.CDLL | None:
    import llama_cpp.llama_cpp as bindings

    # Where the bindings loaded libllama from: their `lib/`, or LLAMA_CPP_LIB_PATH's folder.
    lib_dir = Path(getattr(bindings, "_base_path", Path(bindings.__file__).parent / "lib"))
    for name in ("libggml.so", "libggml.dylib", "ggml.dll"):
        if (lib_dir / name).exists():
            lib = ctypes.CDLL(str(lib_dir / name))
            lib.ggml_backend_dev_count.restype = ctypes.c_size_t
            lib.ggml_backend_dev_get.restype = ctypes.c_void_p
            lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
            lib.ggml_backend_dev_type.restype = ctypes.c_int
            lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
            for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
                fn.restype = ctypes.c_char_p
                fn.argtypes = [ctypes.c_void_p]
            lib.ggml_backend_dev_memory.restype = None
            lib.ggml_backend_dev_memory.argtypes = [
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_size_t),
                ctypes.POINTER(ctypes.c_size_t),
            ]
            return lib
    return None


def gpu_devices() -> list[GpuDevice]:
    """The GPU devices llama.cpp's build can use, with their memory now; [] on a CPU build."""
    lib = ggml_library()
    if lib is None:
        return []
    found: list[GpuDevice] = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        if lib.ggml_backend_dev_type(dev) not in (_DEVICE_GPU, _DEVICE_IGPU):
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        name = (lib.ggml_backend_dev_name(dev) or b"").decode(errors="replace")
        description = (lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace")
        found.append(GpuDevice(len(found), name, description, free.value, total.value))
    return found


def predicted_bytes(
    file_size: int, n_layer: int, n_head_kv: int, head_dim: int, num_ctx: int
) -> int:
    """Ollama's estimate of a model's GPU footprint: the weights (the file's size) plus an f16
    K and V cache for `num_ctx` tokens in every layer."""
    return file_size + 2 * n_layer * max(n_head_kv, 1) * head_dim * num_ctx * 2


def layers_to_offload(num_gpu: int, n_layer: int, footprint: int, free: int | None) -> int:
    """llama.cpp's `n_gpu_layers` for `num_gpu`: 0 without a GPU (`free` None) or when asked;
    a count asked for as it is (llama.cpp caps it at the layers plus the output layer); -1: as
    many of the n_layer + 1 layers (the output one counted, as llama.cpp does) as fit in `free`
    less the reserve, each taking an even share of the `footprint`."""
    if free is None or num_gpu == 0:
        return 0
    if num_gpu > 0:
        return num_gpu
    layers = n_layer + 1
    per_layer = max(footprint // layers, 1)
    return max(0, min(layers, (free - GPU_RESERVE_BYTES) // per_layer))
