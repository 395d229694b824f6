"""`create` from a safetensors checkpoint refuses bad input with a clear 400 before any progress
line, and leaves nothing half-written: no manifest, and no blob but the uploads themselves.

The cases: an unsupported architecture, a missing tokenizer, a tensor of the wrong shape, a
truncated safetensors file, and paths that leave the checkpoint's directory (a `files` name, a
module path inside modules.json, and, for the CLI, a link inside the directory named by `FROM`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from safetensors.numpy import load_file, save_file

from hf_checkpoints import copy_checkpoint, minilm_checkpoint
from test_store import assert_store_consistent, manifest_files


@pytest.fixture(scope="module")
def server(private_server):
    """This module's own server: the models it imports stay loaded after their tests."""
    return private_server


@pytest.fixture(scope="session")
def minilm() -> Path:
    return minilm_checkpoint()


def _upload(server, files: dict[str, bytes]) -> dict[str, str]:
    """Upload each file's bytes as a blob; its digest by name."""
    digests = {}
    for name, data in files.items():
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = httpx.post(f"{server.url}/api/blobs/{digest}", content=data, timeout=120)
        assert r.status_code in (200, 201), r.text
        digests[name] = digest
    return digests


def _checkpoint_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _refused(server, files: dict[str, bytes], model: str = "broken", **body) -> str:
    """Create from `files` (uploaded first): the 400's error, with the store left as it was."""
    digests = _upload(server, files)
    blobs = set((server.models_dir / "blobs").iterdir())
    manifests = set(manifest_files(server.models_dir))
    # Streaming is the default: the refusal still comes as a plain 400, before any progress.
    r = httpx.post(
        f"{server.url}/api/create",
        json={"model": model, "files": {**digests, **body.pop("files", {})}, **body},
        timeout=120,
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert set(manifest_files(server.models_dir)) == manifests
    assert set((server.models_dir / "blobs").iterdir()) == blobs  # nothing new, nothing left
    assert_store_consistent(server.models_dir)
    return r.json()["error"]


def test_an_unsupported_architecture(server, minilm: Path):
    files = _checkpoint_files(minilm)
    config = json.loads(files["config.json"])
    config["architectures"] = ["T5ForConditionalGeneration"]
    files["config.json"] = json.dumps(config).encode()
    error = _refused(server, files)
    assert error.startswith("unsupported architecture 'T5ForConditionalGeneration'")
    assert "BertModel" in error  # the message lists what is supported


def test_a_missing_tokenizer(server, minilm: Path):
    files = _checkpoint_files(minilm)
    del files["tokenizer.json"]
    assert _refused(server, files) == (
        "missing tokenizer: no tokenizer.json among the model's files"
    )


def test_a_missing_config(server, minilm: Path):
    files = _checkpoint_files(minilm)
    del files["config.json"]
    assert _refused(server, files) == "config.json not found among the model's files"


def test_a_tensor_of_the_wrong_shape(server, minilm: Path, tmp_path: Path):
    tensors = load_file(str(minilm / "model.safetensors"))
    name = "encoder.layer.3.attention.self.key.weight"
    tensors[name] = tensors[name][:, :380].copy()
    save_file(tensors, str(tmp_path / "model.safetensors"))
    files = _checkpoint_files(minilm)
    files["model.safetensors"] = (tmp_path / "model.safetensors").read_bytes()
    assert _refused(server, files) == (
        f"tensor {name} has shape [384, 380], expected [384, 384] from config.json"
    )


def test_a_missing_tensor_and_an_unknown_one(server, minilm: Path, tmp_path: Path):
    tensors = load_file(str(minilm / "model.safetensors"))
    del tensors["encoder.layer.5.output.LayerNorm.bias"]
    save_file(tensors, str(tmp_path / "missing.safetensors"))
    files = _checkpoint_files(minilm)
    files["model.safetensors"] = (tmp_path / "missing.safetensors").read_bytes()
    assert _refused(server, files) == (
        "missing tensor encoder.layer.5.output.LayerNorm.bias (bert needs it)"
    )
    tensors = load_file(str(minilm / "model.safetensors"))
    tensors["encoder.layer.9.output.dense.weight"] = tensors["encoder.layer.0.output.dense.weight"]
    save_file(tensors, str(tmp_path / "extra.safetensors"))
    files["model.safetensors"] = (tmp_path / "extra.safetensors").read_bytes()
    assert _refused(server, files) == (
        "unexpected tensor encoder.layer.9.output.dense.weight for the bert architecture"
    )


def test_a_truncated_safetensors_file(server, minilm: Path):
    files = _checkpoint_files(minilm)
    whole = files["model.safetensors"]
    files["model.safetensors"] = whole[: len(whole) - 4096]
    error = _refused(server, files)
    assert error.startswith("model.safetensors: truncated safetensors file (tensor ")
    assert error.endswith(f"the file has {len(whole) - 4096})")
    files["model.safetensors"] = whole[:6]
    assert _refused(server, files) == (
        "model.safetensors: not a safetensors file (it is 6 bytes long)"
    )
    files["model.safetensors"] = b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"
    assert _refused(server, files) == (
        "model.safetensors: not a safetensors file (its header is not JSON)"
    )


def test_paths_outside_the_checkpoint_directory(server, minilm: Path):
    files = _checkpoint_files(minilm)
    digests = _upload(server, files)
    r = httpx.post(
        f"{server.url}/api/create",
        json={"model": "escape", "files": {**digests, "../config.json": digests["config.json"]}},
        timeout=60,
    )
    assert (r.status_code, r.json()) == (400, {"error": "file path must be relative"})
    # A module path inside the checkpoint cannot lead out of it either.
    modules = json.loads(files["modules.json"])
    modules[1]["path"] = "../../1_Pooling"
    files["modules.json"] = json.dumps(modules).encode()
    assert _refused(server, files) == (
        "file path '../../1_Pooling/config.json' is outside the model's directory"
    )


def test_the_cli_refuses_a_link_out_of_the_directory_named_by_from(
    server, minilm: Path, tmp_path: Path
):
    checkpoint = copy_checkpoint(minilm, tmp_path / "model")
    secret = tmp_path / "elsewhere" / "secret.json"
    secret.parent.mkdir()
    secret.write_text('{"token": "do not upload me"}')
    (checkpoint / "extra.json").symlink_to(secret)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./model\n")
    blobs = set((server.models_dir / "blobs").iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "ollama_toolkit", "create", "escape", "-f", str(modelfile)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "insecure path: extra.json leads outside" in done.stderr
    assert set((server.models_dir / "blobs").iterdir()) == blobs  # nothing was uploaded
    assert "registry.ollama.ai/library/escape:latest" not in manifest_files(server.models_dir)
