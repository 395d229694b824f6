"""The scheduler through a real server: reloads, keep_alive expiry, eviction of loaded models."""

from __future__ import annotations

import shutil

import httpx
import ollama

from conftest import wait_until


def generate(server, model: str, **fields) -> dict:
    payload = {"model": model, "prompt": "Hi", "stream": False, "options": {"num_predict": 1}}
    payload.update(fields)
    resp = httpx.post(f"{server.url}/api/generate", json=payload, timeout=120)
    assert resp.status_code == 200, resp.text
    return resp.json()


def loaded(server) -> dict[str, dict]:
    return {m["name"]: m for m in httpx.get(f"{server.url}/api/ps").json()["models"]}


def distinct_copy(server, name: str) -> None:
    """Register a model whose GGUF is a file of its own (the bundled one plus trailing bytes
    that llama.cpp ignores), so the scheduler must load it separately."""
    client = ollama.Client(host=server.url)
    blob = next(server.models_dir.joinpath("blobs").glob("sha256-a5fd*"))
    copy = server.models_dir.parent / f"{name}.gguf"
    shutil.copyfile(blob, copy)
    with copy.open("ab") as f:
        f.write(name.encode())
    digest = client.create_blob(copy)
    client.create(model=name, files={"model.gguf": digest})


def wait_for_log(server, text: str) -> None:
    wait_until(lambda: text in server.log(), lambda: f"{text!r} never logged:\n{server.log()}", 10)


def test_a_smaller_num_ctx_is_served_without_a_reload(make_server, model):
    server = make_server()
    first = generate(server, model, options={"num_predict": 1, "num_ctx": 4096})
    assert first["load_duration"] > 0
    smaller = generate(server, model, options={"num_predict": 1, "num_ctx": 1024})
    assert smaller.get("load_duration", 0) == 0
    assert loaded(server)[model]["context_length"] == 4096
    larger = generate(server, model, options={"num_predict": 1, "num_ctx": 8192})
    assert larger["load_duration"] > 0
    assert loaded(server)[model]["context_length"] == 8192
    log = server.log()
    assert log.count("reloading") == 1


def test_keep_alive_expires_and_unloads(make_server, model):
    server = make_server()
    generate(server, model, keep_alive="1s")
    assert model in loaded(server)
    wait_until(lambda: model not in loaded(server), "model still loaded long after keep_alive")
    wait_for_log(server, "keep_alive expired")


def test_least_recently_used_model_is_evicted_and_pinned_ones_stay(make_server, model):
    server = make_server(OLLAMA_MAX_LOADED_MODELS="2")
    distinct_copy(server, "second")
    distinct_copy(server, "third")
    generate(server, model, keep_alive=-1)  # pinned
    generate(server, "second")
    assert set(loaded(server)) == {model, "second:latest"}
    generate(server, "third")
    # "second" was the least recently used unpinned model: it made room.
    assert set(loaded(server)) == {model, "third:latest"}
    wait_for_log(server, "evicting second:latest")
    assert loaded(server)[model]["expires_at"].startswith("2318")
