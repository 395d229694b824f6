"""Crash safety: the server is killed (SIGKILL) in the middle of a create and of a blob upload,
restarted on the same store, and the store is consistent and usable."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama

from conftest import ServerProcess, copy_store, start_server
from test_store import assert_store_consistent, manifest_files, sha256_file, write_tiny_gguf


def _kill(server: ServerProcess) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)


def test_a_create_killed_while_quantizing_leaves_the_old_store(seeded_store, tmp_path: Path):
    models = copy_store(seeded_store, tmp_path / "models")
    server = start_server(models, tmp_path / "first.log")
    # Big enough that llama.cpp takes a while over Q4_K_M: the kill lands while it works.
    gguf = write_tiny_gguf(tmp_path / "f32.gguf", n_embd=512, n_ff=1024, n_vocab=2048, n_layer=2)
    try:
        digest = ollama.Client(host=server.url).create_blob(gguf)
        body = {"model": "half", "files": {"f32.gguf": digest}, "quantize": "q4_K_M"}
        with httpx.stream("POST", f"{server.url}/api/create", json=body, timeout=120) as r:
            for line in r.iter_lines():
                if "quantizing F32 model to Q4_K_M" in line:
                    _kill(server)
                    break
    finally:
        server.stop()

    assert list((models / "blobs").glob(".tmp-quantize-*"))  # the kill landed mid-quantize
    assert "registry.ollama.ai/library/half:latest" not in manifest_files(models)
    assert_store_consistent(models)

    restarted = start_server(models, tmp_path / "second.log")
    try:
        client = ollama.Client(host=restarted.url)
        done = client.create(model="half", files={"f32.gguf": digest}, quantize="q8_0")
        assert done.status == "success"
        assert client.show("half").details.quantization_level == "Q8_0"
        assert_store_consistent(models)
    finally:
        restarted.stop()


def test_a_blob_upload_killed_halfway_leaves_no_blob(seeded_store, tmp_path: Path):
    models = copy_store(seeded_store, tmp_path / "models")
    server = start_server(models, tmp_path / "first.log")
    gguf = write_tiny_gguf(tmp_path / "upload.gguf", n_embd=256, n_ff=512)
    data = gguf.read_bytes()
    digest = sha256_file(gguf)
    half = len(data) // 2

    def body() -> Iterator[bytes]:
        yield data[:half]
        # Wait until the server has written the first half to its temporary file, then kill.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sizes = [p.stat().st_size for p in (models / "blobs").glob(".tmp-*")]
            if sizes and max(sizes) >= half:
                break
            time.sleep(0.02)
        _kill(server)
        yield data[half:]

    try:
        httpx.post(f"{server.url}/api/blobs/{digest}", content=body(), timeout=60)
    except httpx.HTTPError:
        pass  # the server died mid-request, as intended
    finally:
        server.stop()
    assert server.proc.returncode == -signal.SIGKILL
    assert not (models / "blobs" / digest.replace(":", "-")).exists()
    assert_store_consistent(models)

    restarted = start_server(models, tmp_path / "second.log")
    try:
        url = f"{restarted.url}/api/blobs/{digest}"
        assert httpx.head(url).status_code == 404
        assert httpx.post(url, content=data).status_code == 201
        stored = models / "blobs" / digest.replace(":", "-")
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest[7:]
        assert_store_consistent(models)
    finally:
        restarted.stop()
