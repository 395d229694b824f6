"""Model management against a running server: create (from an uploaded GGUF and from a stored
model), blobs, show, list, copy, delete, quantize — with the official `ollama` client where it
has a method, and the store on disk checked against Ollama's layout."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import httpx
import ollama
import pytest

from test_store import assert_store_consistent, manifest_files, sha256_file, write_tiny_gguf


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url)


def _chatml_jinja() -> str:
    index = resources.files("ollama_toolkit.template") / "builtin" / "index.json"
    return next(e["template"] for e in json.loads(index.read_text()) if e["name"] == "chatml")


def _manifest(server, name: str) -> dict:
    return json.loads(manifest_files(server.models_dir)[name].read_bytes())


def _blob(server, digest: str) -> Path:
    return server.models_dir / "blobs" / digest.replace(":", "-")


def test_create_from_an_uploaded_gguf(server, client, tmp_path: Path):
    gguf = write_tiny_gguf(tmp_path / "tiny.gguf", chat_template=_chatml_jinja())
    digest = client.create_blob(gguf)
    assert digest == sha256_file(gguf)
    assert httpx.head(f"{server.url}/api/blobs/{digest}").status_code == 200

    done = client.create(model="tiny-upload", files={"tiny.gguf": digest}, stream=False)
    assert done.status == "success"
    try:
        shown = client.show("tiny-upload")
        assert shown.details.format == "gguf" and shown.details.family == "llama"
        assert shown.details.quantization_level == "F32"
        assert shown.capabilities == ["completion"]
        assert shown.template.startswith("{{- range .Messages }}<|im_start|>")
        assert 'stop                           "<|im_end|>"' in shown.parameters
        assert shown.modelinfo["general.architecture"] == "llama"

        listed = {m.model: m for m in client.list().models}["tiny-upload:latest"]
        path = manifest_files(server.models_dir)["registry.ollama.ai/library/tiny-upload:latest"]
        assert listed.digest == hashlib.sha256(path.read_bytes()).hexdigest()
        doc = json.loads(path.read_bytes())
        layers = doc["layers"]
        assert [x["mediaType"] for x in layers] == [
            "application/vnd.ollama.image.model",
            "application/vnd.ollama.image.template",
            "application/vnd.ollama.image.params",
        ]
        assert layers[0] == {
            "mediaType": "application/vnd.ollama.image.model",
            "digest": digest,
            "size": gguf.stat().st_size,
            "from": "tiny.gguf",
        }
        assert listed.size == doc["config"]["size"] + sum(x["size"] for x in layers)
        config = json.loads(_blob(server, doc["config"]["digest"]).read_bytes())
        assert list(config) == [
            "model_format",
            "model_family",
            "model_families",
            "model_type",
            "file_type",
            "architecture",
            "os",
        ]
        assert config["model_family"] == "llama" and config["file_type"] == "F32"
        assert json.loads(_blob(server, layers[2]["digest"]).read_bytes()) == {
            "stop": ["<|im_start|>", "<|im_end|>"]
        }
        assert_store_consistent(server.models_dir)
    finally:
        client.delete("tiny-upload")
    assert not _blob(server, digest).exists()  # nothing else used the upload


def test_create_from_a_stored_model_with_a_system_prompt_and_parameters(server, client, model):
    lines = list(
        client.create(
            model="Terse:v1",
            from_=model,
            system="Answer in one word.",
            parameters={"num_predict": 2, "stop": ["###"], "temperature": 0},
            messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
            license="MIT",
            stream=True,
        )
    )
    statuses = [line.status for line in lines]
    assert statuses[-2:] == ["writing manifest", "success"]
    assert any(s.startswith("using existing layer sha256:") for s in statuses)
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    try:
        base = _manifest(server, f"registry.ollama.ai/library/{model}")
        created = _manifest(server, "registry.ollama.ai/library/Terse:v1")
        assert created["layers"][0]["digest"] == base["layers"][0]["digest"]  # weights shared
        assert created["layers"][0]["from"] == model

        shown = client.show("terse:V1")  # names are case-insensitive
        assert 'SYSTEM """Answer in one word."""' in shown.modelfile
        assert "MESSAGE user Hi" in shown.modelfile
        assert shown.license == "MIT"
        params = dict(line.split(None, 1) for line in shown.parameters.splitlines())
        assert params == {
            "num_predict": "2",
            "repeat_penalty": "1.1",  # kept from the base model
            "stop": '"###"',
            "temperature": "0",
        }
        rendered = httpx.post(
            f"{server.url}/api/generate",
            json={"model": "terse:v1", "prompt": "Sky?", "_debug_render_only": True},
            timeout=30,
        ).json()["_debug_info"]["rendered_template"]
        assert rendered.startswith("Answer in one word.\n\n")
        reply = client.generate(model="terse:v1", prompt="The sky is")
        assert reply.done_reason == "length" and reply.eval_count == 2
    finally:
        client.delete("terse:v1")
    assert client.show(model).details.family == "gemma3"  # the base and its blobs are intact
    assert_store_consistent(server.models_dir)


def test_recreating_a_model_writes_ollamas_bytes_and_drops_unused_layers(
    server, client, tmp_path: Path
):
    gguf = write_tiny_gguf(tmp_path / "r.gguf", seed=5)
    digest = client.create_blob(gguf)
    client.create(model="again", files={"r.gguf": digest}, system="first")
    first = _manifest(server, "registry.ollama.ai/library/again:latest")
    # The server keeps models it has read: the new manifest must replace what it kept.
    assert 'SYSTEM """first"""' in client.show("again").modelfile
    client.create(model="again", files={"r.gguf": digest}, system="second")
    try:
        # What Ollama writes for `FROM ./r.gguf` + `SYSTEM second`, byte for byte.
        config = (
            b'{"model_format":"gguf","model_family":"llama","model_families":["llama"],'
            b'"model_type":"45K","file_type":"F32","architecture":"amd64","os":"linux"}\n'
        )
        config_digest = f"sha256:{_hex(config)}"
        system_digest = f"sha256:{_hex(b'second')}"
        expected = (
            '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
            '"config":{"mediaType":"application/vnd.docker.container.image.v1+json",'
            f'"digest":"{config_digest}","size":{len(config)}}},'
            '"layers":[{"mediaType":"application/vnd.ollama.image.model",'
            f'"digest":"{digest}","size":{gguf.stat().st_size},"from":"r.gguf"}},'
            '{"mediaType":"application/vnd.ollama.image.system",'
            f'"digest":"{system_digest}","size":6}}]}}\n'
        )
        path = manifest_files(server.models_dir)["registry.ollama.ai/library/again:latest"]
        assert path.read_text() == expected
        assert _blob(server, config_digest).read_bytes() == config
        assert not _blob(server, first["layers"][1]["digest"]).exists()  # "first" is gone
        assert 'SYSTEM """second"""' in client.show("again").modelfile
    finally:
        client.delete("again")


def test_create_with_a_lora_adapter(server, client, tmp_path: Path):
    base = client.create_blob(write_tiny_gguf(tmp_path / "base.gguf", seed=7))
    lora = client.create_blob(write_tiny_gguf(tmp_path / "lora.gguf", kind="adapter", seed=8))
    client.create(model="with-lora", files={"base.gguf": base}, adapters={"lora.gguf": lora})
    try:
        layers = _manifest(server, "registry.ollama.ai/library/with-lora:latest")["layers"]
        assert [(x["mediaType"], x["digest"], x.get("from")) for x in layers] == [
            ("application/vnd.ollama.image.model", base, "base.gguf"),
            ("application/vnd.ollama.image.adapter", lora, "lora.gguf"),
        ]
        assert f"ADAPTER {_blob(server, lora)}" in client.show("with-lora").modelfile
    finally:
        client.delete("with-lora")
    two = {"a.gguf": lora, "b.gguf": base}
    r = _create(server, model="x", files={"base.gguf": base}, adapters=two)
    assert (r.status_code, r.json()) == (400, {"error": "only one adapter is currently supported"})


def test_quantize_an_f32_gguf_through_llama_cpp(server, client, tmp_path: Path):
    digest = client.create_blob(write_tiny_gguf(tmp_path / "f32.gguf", n_embd=128, n_ff=256))
    lines = list(
        client.create(model="tiny-q8", files={"f32.gguf": digest}, quantize="q8_0", stream=True)
    )
    try:
        quantizing = [x for x in lines if x.status == "quantizing F32 model to Q8_0"]
        assert quantizing and quantizing[-1].completed == quantizing[-1].total > 0
        assert lines[-1].status == "success"
        shown = client.show("tiny-q8")
        assert shown.details.quantization_level == "Q8_0"
        model_layer = _manifest(server, "registry.ollama.ai/library/tiny-q8:latest")["layers"][0]
        assert model_layer["digest"] != digest and "from" not in model_layer
        assert model_layer["size"] < (tmp_path / "f32.gguf").stat().st_size / 2
        assert_store_consistent(server.models_dir)
    finally:
        client.delete("tiny-q8")


def _create(server, **body) -> httpx.Response:
    return httpx.post(f"{server.url}/api/create", json=body, timeout=30)


def test_create_refuses_bad_requests_with_ollamas_words(server, model):
    text = httpx.post(f"{server.url}/api/blobs/sha256:{_hex(b'hello')}", content=b"hello")
    assert text.status_code in (200, 201)
    cases = [
        ({"model": "x"}, "neither 'from' or 'files' was specified"),
        ({"model": "../x", "from": model}, "invalid model name"),
        ({"model": "x", "from": "../up"}, "invalid model name"),
        (
            {"model": "x", "files": {"../t.gguf": "sha256:" + "a" * 64}},
            "file path must be relative",
        ),
        ({"model": "x", "files": {"t.gguf": "sha256:zz"}}, "invalid digest format"),
        ({"model": "x", "files": {"t.gguf": "sha256:" + "a" * 64}}, "not found"),
        (
            {"model": "x", "files": {"t.txt": f"sha256:{_hex(b'hello')}"}},
            "supplied file was not in GGUF format",
        ),
        ({"model": "x", "from": model, "parameters": {"colour": 1}}, "unknown parameter 'colour'"),
        (
            {"model": "x", "from": model, "parameters": {"num_ctx": "big"}},
            'invalid int value "big"',
        ),
        (
            {"model": "x", "from": model, "parameters": {"temperature": [1]}},
            'option "temperature" must be of type float32',
        ),
        ({"model": "x", "from": model, "template": "{{ .Prompt "}, "template error"),
        ({"model": "x", "from": model, "quantize": "q3_zz"}, "unsupported quantization type"),
        (
            {"model": "x", "from": model, "quantize": "q8_0"},
            "quantization is only supported for F16, BF16 and F32 models",
        ),
    ]
    for body, message in cases:
        r = _create(server, **body)
        assert r.status_code == 400, (body, r.text)
        assert message in r.json()["error"], (body, r.text)
    assert "registry.ollama.ai/library/x:latest" not in manifest_files(server.models_dir)


def test_blob_upload_is_verified_before_it_is_kept(server):
    data = b"blob content for the upload test"
    good, bad = f"sha256:{_hex(data)}", "sha256:" + "b" * 64
    before = set((server.models_dir / "blobs").iterdir())

    r = httpx.post(f"{server.url}/api/blobs/{bad}", content=data)
    assert r.status_code == 400
    assert r.json() == {"error": f'digest mismatch, expected "{bad}", got "{good}"'}
    assert set((server.models_dir / "blobs").iterdir()) == before  # no temporary file left
    assert httpx.head(f"{server.url}/api/blobs/{bad}").status_code == 404
    assert httpx.post(f"{server.url}/api/blobs/sha256:nothex", content=data).json() == {
        "error": "invalid digest format"
    }
    assert httpx.head(f"{server.url}/api/blobs/sha256-12").status_code == 400

    assert httpx.post(f"{server.url}/api/blobs/{good}", content=data).status_code == 201
    assert httpx.post(f"{server.url}/api/blobs/{good}", content=data).status_code == 200
    assert httpx.head(f"{server.url}/api/blobs/{good}").status_code == 200
    assert _blob(server, good).read_bytes() == data


def test_copy_and_delete(server, client, model):
    assert client.copy(model, "team/copied:v2").status == "success"
    try:
        listed = {m.model: m for m in client.list().models}
        assert listed["team/copied:v2"].digest == listed[model].digest
        assert client.show("team/copied:v2").details.family == "gemma3"
    finally:
        assert client.delete("team/copied:v2").status == "success"
    assert "team/copied:v2" not in {m.model for m in client.list().models}
    with pytest.raises(ollama.ResponseError) as gone:
        client.show("team/copied:v2")  # shown before it was deleted: nothing kept outlives it
    assert gone.value.status_code == 404
    assert client.show(model).details.family == "gemma3"  # shared blobs were kept
    assert_store_consistent(server.models_dir)

    with pytest.raises(ollama.ResponseError) as missing:
        client.delete("team/copied:v2")
    assert missing.value.status_code == 404
    assert missing.value.error == "model 'team/copied:v2' not found"
    with pytest.raises(ollama.ResponseError) as no_source:
        client.copy("nothing-here", "x")
    assert (no_source.value.status_code, no_source.value.error) == (
        404,
        'model "nothing-here" not found',
    )
    for source, destination, error in [
        (model, "../../evil", 'destination "../../evil" is invalid'),
        ("/etc/passwd", "x", 'source "/etc/passwd" is invalid'),
    ]:
        with pytest.raises(ollama.ResponseError) as invalid:
            client.copy(source, destination)
        assert (invalid.value.status_code, invalid.value.error) == (400, error)
    r = httpx.request("DELETE", f"{server.url}/api/delete", json={"model": "a/../../b"})
    assert r.status_code == 400 and r.json() == {"error": 'name "a/../../b" is invalid'}


def _hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
