"""GPU offload (engine/devices.py): the devices llama.cpp's build registers, and `num_gpu` in
layers, as Ollama means it. On a CPU-only build nothing is offloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import llama_cpp
import ollama
import pytest

from ollama_toolkit.engine.devices import (
    GPU_RESERVE_BYTES,
    ggml_library,
    gpu_devices,
    layers_to_offload,
    predicted_bytes,
)
from ollama_toolkit.engine.llama import _CACHE_BUFFER, _MODEL_BUFFER, _buffer_bytes, fits_on_gpu

MIB = 1 << 20


def test_the_device_list_is_llama_cpps_own():
    lib = ggml_library()
    assert lib is not None
    assert lib.ggml_backend_dev_count() >= 1  # the CPU device at least
    devices = gpu_devices()
    assert bool(devices) == bool(llama_cpp.llama_supports_gpu_offload())
    for i, device in enumerate(devices):
        assert device.index == i and device.name and 0 < device.free <= device.total


def test_the_devices_are_read_from_the_library_the_bindings_loaded(tmp_path):
    """With LLAMA_CPP_LIB_PATH (a llama.cpp built apart, a GPU build say), the bindings load
    libllama from that folder, and the devices are read from its libggml, not the wheel's."""
    built_apart = shutil.copytree(
        Path(llama_cpp.__file__).parent / "lib", tmp_path / "lib", symlinks=True
    )
    code = "from ollama_toolkit.engine.devices import ggml_library; print(ggml_library()._name)"
    env = {**os.environ, "LLAMA_CPP_LIB_PATH": str(built_apart)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(built_apart / "libggml.so")


@pytest.mark.parametrize(
    ("num_gpu", "free", "layers"),
    [
        (-1, None, 0),  # no GPU: all on the CPU
        (33, None, 0),
        (0, 80_000 * MIB, 0),  # asked: none
        (12, 80_000 * MIB, 12),  # asked: as many as asked
        (-1, 80_000 * MIB, 19),  # all 18 layers and the output layer fit
        (-1, GPU_RESERVE_BYTES + 95 * MIB, 9),  # 19 layers of 10 MiB: 9 fit in 95 MiB
        (-1, GPU_RESERVE_BYTES // 2, 0),  # not even the reserve
    ],
)
def test_num_gpu_in_layers(num_gpu, free, layers):
    assert layers_to_offload(num_gpu, 18, 190 * MIB, free) == layers


def test_the_footprint_is_ollamas_estimate():
    # Gemma 3 270M: 18 layers, 1 K/V head of 256, a 4096-token context, a 253 MB file.
    kv = 2 * 18 * 1 * 256 * 4096 * 2
    assert predicted_bytes(253_000_000, 18, 1, 256, 4096) == 253_000_000 + kv
    assert predicted_bytes(1000, 2, 0, 4, 8) == 1000 + 2 * 2 * 1 * 4 * 8 * 2  # no K/V heads: 1


def test_num_gpu_and_main_gpu_on_a_real_server(server, model):
    """Every `num_gpu` loads and answers alike; `/api/ps` reports what llama.cpp put on a GPU:
    nothing on a CPU-only build."""
    client = ollama.Client(host=server.url)
    answers = set()
    for num_gpu in (0, -1, 99):
        options = {"num_gpu": num_gpu, "main_gpu": 0, "temperature": 0, "num_predict": 8}
        answers.add(client.generate(model, "The capital of France is", options=options).response)
        (loaded,) = [m for m in client.ps().models if m.model == model]
        assert loaded.size_vram is not None and 0 <= loaded.size_vram <= loaded.size
        if not llama_cpp.llama_supports_gpu_offload() or num_gpu == 0:
            assert loaded.size_vram == 0
    assert len(answers) == 1, answers


def test_whether_a_model_fits_on_its_gpu_is_asked_only_of_num_gpu_minus_one(seeded_store):
    """The scheduler's question before it unloads models for GPU room: None (nothing to gain)
    on a CPU build, or for a number of layers asked for; yes or no on a GPU build."""
    gguf = next((seeded_store / "blobs").glob("sha256-a5fd*"))
    assert fits_on_gpu(gguf, 0, 0, 4096) is None
    assert fits_on_gpu(gguf, 12, 0, 4096) is None
    fits = fits_on_gpu(gguf, -1, 0, 4096)
    assert fits is None if not gpu_devices() else isinstance(fits, bool)


def test_gpu_bytes_are_read_from_llama_cpps_buffer_lines():
    lines = [
        b"load_tensors:   CPU_Mapped model buffer size =   241.00 MiB\n",
        b"load_tensors:        CUDA0 model buffer size =   100.50 MiB\n",
        b"llama_kv_cache:      CUDA0 KV buffer size =    36.00 MiB\n",
        b"llama_kv_cache:        CPU KV buffer size =     4.00 MiB\n",
    ]
    assert _buffer_bytes(lines, _MODEL_BUFFER) == (round(341.5 * MIB), round(100.5 * MIB))
    assert _buffer_bytes(lines, _CACHE_BUFFER) == (40 * MIB, 36 * MIB)
