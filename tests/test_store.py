"""The on-disk store in Ollama's layout: manifests, blobs, sharing and removal, name safety.

Also the helpers the model management tests share: a tiny GGUF written with the `gguf`
package, and a check that a store is consistent (every manifest names whole, true blobs).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from ollama_toolkit.store import bundled
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.names import InvalidNameError, ModelName
from ollama_toolkit.store.store import (
    CONFIG_MEDIA_TYPE,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    BlobWriter,
    DigestError,
    Layer,
    Store,
    go_json,
)
from ollama_toolkit.template import named_template


def write_tiny_gguf(
    path: Path,
    *,
    n_embd: int = 64,
    n_ff: int = 128,
    n_vocab: int = 32,
    n_layer: int = 1,
    chat_template: str | None = None,
    kind: str | None = None,
    seed: int = 0,
) -> Path:
    """A small F32 llama GGUF (random weights) that llama.cpp's quantizer accepts."""
    w = GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    if kind:
        w.add_type(kind)
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)  # F32
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(n_vocab - 3)])
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([2, 3, 3] + [1] * (n_vocab - 3))
    if chat_template:
        w.add_chat_template(chat_template)
    rng = np.random.default_rng(seed)

    def matrix(name: str, rows: int, cols: int) -> None:
        w.add_tensor(name, rng.standard_normal((rows, cols), dtype=np.float32) * 0.02)

    matrix("token_embd.weight", n_vocab, n_embd)
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            matrix(f"blk.{i}.{t}.weight", n_embd, n_embd)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        matrix(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    matrix("output.weight", n_vocab, n_embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def manifest_files(models: Path) -> dict[str, Path]:
    """Stored manifests by `host/namespace/model:tag`."""
    return {
        "{}/{}/{}:{}".format(*p.relative_to(models / "manifests").parts): p
        for p in (models / "manifests").glob("*/*/*/*")
        if p.is_file() and not p.name.startswith(".tmp-")
    }


def assert_store_consistent(models: Path) -> None:
    """Every manifest is whole JSON in Ollama's shape and names blobs that are present, of the
    stated size, and true to their digest; every blob named by digest is true to it."""
    for name, path in manifest_files(models).items():
        doc = json.loads(path.read_bytes())
        assert doc["schemaVersion"] == 2, name
        for layer in [doc["config"], *doc["layers"]]:
            blob = models / "blobs" / layer["digest"].replace(":", "-")
            assert blob.is_file(), f"{name} names missing blob {layer['digest']}"
            assert blob.stat().st_size == layer["size"], f"{name}: {blob.name} has the wrong size"
    for blob in (models / "blobs").iterdir():
        if re.fullmatch(r"sha256-[0-9a-f]{64}", blob.name):
            assert sha256_file(blob) == blob.name.replace("-", ":"), f"{blob.name} lies"


def test_manifest_bytes_are_exactly_what_ollama_writes(tmp_path: Path):
    store = Store(tmp_path)
    model = store.write_blob_bytes(b"GGUF weights")
    system = store.write_blob_bytes(b"You are terse.")
    config = store.write_config({"model_format": "gguf", "architecture": "amd64", "os": "linux"})
    name = ModelName.parse("tiny")
    layers = [
        Layer(MEDIA_MODEL, model.digest, model.size, "base:latest"),
        Layer(MEDIA_SYSTEM, system.digest, system.size),
    ]
    store.write_manifest(name, config, layers)

    path = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest"
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        f'"config":{{"mediaType":"{CONFIG_MEDIA_TYPE}","digest":"{config.digest}","size":{config.size}}},'
        '"layers":[{"mediaType":"application/vnd.ollama.image.model",'
        f'"digest":"{model.digest}","size":12,"from":"base:latest"}},'
        '{"mediaType":"application/vnd.ollama.image.system",'
        f'"digest":"{system.digest}","size":14}}]}}\n'
    )
    assert path.read_text() == expected
    assert (tmp_path / "blobs" / model.digest.replace(":", "-")).read_bytes() == b"GGUF weights"
    assert store.read_manifest(name).layers[0].from_ == "base:latest"
    assert_store_consistent(tmp_path)


def test_json_blobs_are_encoded_as_go_encodes_them():
    assert go_json({"stop": ["<|im_end|>"], "a&b": "é"}) == (
        '{"stop":["\\u003c|im_end|\\u003e"],"a\\u0026b":"é"}\n'.encode()
    )


def test_a_manifest_naming_a_missing_blob_is_never_written(tmp_path: Path):
    store = Store(tmp_path)
    config = store.write_config({})
    missing = Layer(MEDIA_MODEL, "sha256:" + "0" * 64, 1)
    with pytest.raises(FileNotFoundError):
        store.write_manifest(ModelName.parse("x"), config, [missing])
    assert not (tmp_path / "manifests").exists() or not list((tmp_path / "manifests").rglob("*"))


def test_delete_removes_only_blobs_nothing_else_references(tmp_path: Path):
    store = Store(tmp_path)
    shared = store.write_blob_bytes(b"shared weights")
    own = store.write_blob_bytes(b"a system prompt")
    upload = store.write_blob_bytes(b"uploaded, not yet used")
    config = store.write_config({"model_format": "gguf"})
    model = Layer(MEDIA_MODEL, shared.digest, shared.size)
    store.write_manifest(ModelName.parse("a"), config, [model, Layer(MEDIA_SYSTEM, *_ds(own))])
    store.write_manifest(ModelName.parse("b"), config, [model])
    partial = tmp_path / "blobs" / (shared.digest.replace(":", "-") + "-partial")
    partial.write_bytes(b"a download in progress")

    store.delete(ModelName.parse("a"))

    assert not store.has_blob(own.digest)
    assert store.has_blob(shared.digest) and store.has_blob(config.digest)
    assert store.has_blob(upload.digest) and partial.exists()
    assert not (tmp_path / "manifests" / "registry.ollama.ai" / "library" / "a").exists()
    store.delete(ModelName.parse("b"))
    assert not store.has_blob(shared.digest) and not store.has_blob(config.digest)
    assert_store_consistent(tmp_path)


def test_an_upload_takes_its_digest_name_only_when_it_matches(tmp_path: Path):
    store = Store(tmp_path)
    data = b"some blob content"
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    writer = BlobWriter(store)
    writer.write(data)
    with pytest.raises(DigestError, match="digest mismatch"):
        writer.commit("sha256:" + "1" * 64)
    assert list((tmp_path / "blobs").iterdir()) == []

    writer = BlobWriter(store)
    for start in range(0, len(data), 5):
        writer.write(data[start : start + 5])
    assert writer.commit(good).size == len(data)
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == [good.replace(":", "-")]


@pytest.mark.parametrize(
    "text",
    [
        "../escape",
        "../../etc/passwd:latest",
        "/etc/passwd",
        "a/../../b",
        "model:..",
        "..",
        "ns/..:x",
        "host/../model",
        "with space",
        "back\\slash",
        "model:",
        "x/y/z/w",
        "名前",
    ],
)
def test_names_that_could_leave_the_store_are_invalid(text: str):
    with pytest.raises(InvalidNameError):
        ModelName.parse(text)


def _ds(layer: Layer) -> tuple[str, int]:
    return layer.digest, layer.size


# --- the bundled chat model ------------------------------------------------------------------


def test_the_chat_model_is_linked_in_with_the_chatml_template_and_its_stops(tmp_path: Path):
    store = Store(tmp_path / "models")
    name = bundled.ensure_smollm2(store)
    assert name == ModelName.parse(bundled.CHAT_MODEL)
    manifest = store.read_manifest(name)
    assert [x.media_type for x in manifest.layers] == [MEDIA_MODEL, MEDIA_TEMPLATE, MEDIA_PARAMS]
    blob = store.blob_path(manifest.layers[0].digest)
    assert manifest.layers[0].digest == "sha256:" + bundled.SMOLLM2_SHA256
    source = bundled._smollm2_file()
    assert source is not None and os.path.samefile(blob, source)  # a link, no second copy
    model = load_model(store, name)
    assert model.template == named_template("chatml")[0]
    assert model.params == {"num_predict": 512, "stop": ["<|im_start|>", "<|im_end|>"]}
    assert model.architecture == "llama"
    assert store.read_config(manifest)["file_type"] == "Q4_1"
    assert_store_consistent(store.root)

    # Registered already: nothing is written again.
    before = {p: p.stat().st_mtime_ns for p in store.root.rglob("*")}
    assert bundled.ensure_smollm2(store) == name
    assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*")} == before


def test_the_chat_model_is_copied_where_it_cannot_be_linked(tmp_path: Path, monkeypatch):
    def cross_device(*_args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    store = Store(tmp_path / "models")
    name = bundled.ensure_smollm2(store)
    assert name is not None
    blob = store.blob_path(store.read_manifest(name).layers[0].digest)
    source = bundled._smollm2_file()
    assert source is not None and not os.path.samefile(blob, source)
    assert_store_consistent(store.root)


def test_the_seeded_store_holds_both_bundled_models(seeded_store: Path):
    store = Store(seeded_store)
    names = {n.display() for n in store.iter_names()}
    assert {bundled.CHAT_MODEL, bundled.BUNDLED_MODEL} <= names
    assert bundled.ensure_bundled(store) == tuple(
        ModelName.parse(n) for n in bundled.BUNDLED_MODELS
    )
