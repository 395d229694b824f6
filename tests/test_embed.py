"""Embeddings on the real engine: /api/embed, the legacy /api/embeddings, and /v1/embeddings."""

from __future__ import annotations

import base64
import struct
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import ollama
import openai
import pytest

from conftest import wait_until
from ollama_toolkit import Client

EMBEDDING_SIZE = 640  # Gemma 3 270M's hidden size
LONG_TEXT = " ".join(f"word{i}" for i in range(200))  # far more than 64 tokens


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url, timeout=120)


def post(server, path: str, body: dict) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=120)


def norm(vec) -> float:
    return float(np.linalg.norm(np.asarray(vec, dtype=np.float64)))


def test_embed_returns_unit_vectors_of_the_model_size(client, model):
    resp = client.embed(model=model, input="Why is the sky blue?")
    assert resp.model == model
    assert len(resp.embeddings) == 1
    assert len(resp.embeddings[0]) == EMBEDDING_SIZE
    assert norm(resp.embeddings[0]) == pytest.approx(1.0, abs=1e-5)
    assert resp.prompt_eval_count > 5
    assert resp.total_duration > 0


def test_same_text_same_vector_and_other_texts_differ(client, model):
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by four percent.", ""]
    batch = client.embed(model=model, input=texts).embeddings
    assert len(batch) == 3
    for text, vec in zip(texts, batch, strict=True):
        assert client.embed(model=model, input=[text]).embeddings[0] == vec
    assert batch[0] != batch[1]
    # An empty string inside an array is embedded (as the BOS token alone), not dropped.
    assert len(batch[2]) == EMBEDDING_SIZE


def test_similar_texts_are_closer_than_unrelated_ones(client, model):
    a, b, c = client.embed(
        model=model,
        input=["I love my dog.", "I love my puppy.", "Die Steuererklärung ist fällig."],
    ).embeddings
    assert np.dot(a, b) > np.dot(a, c)


def test_dimensions_truncates_then_renormalizes(client, model):
    full = client.embed(model=model, input="hello world").embeddings[0]
    short = client.embed(model=model, input="hello world", dimensions=8).embeddings[0]
    assert len(short) == 8
    assert norm(short) == pytest.approx(1.0, abs=1e-5)
    expected = np.asarray(full[:8]) / norm(full[:8])
    assert np.allclose(short, expected, atol=1e-6)
    # A size at or past the model's leaves the vector whole.
    same = client.embed(model=model, input="hello world", dimensions=10_000).embeddings[0]
    assert same == full


def test_empty_input_loads_the_model_and_returns_no_vectors(server, model):
    for body in ({"model": model}, {"model": model, "input": ""}, {"model": model, "input": []}):
        resp = post(server, "/api/embed", body)
        assert resp.status_code == 200
        assert resp.json() == {"model": model, "embeddings": []}


def test_long_input_is_truncated_to_the_context(server, model):
    options = {"num_ctx": 64}
    resp = post(server, "/api/embed", {"model": model, "input": LONG_TEXT, "options": options})
    assert resp.status_code == 200
    body = resp.json()
    assert len(body["embeddings"][0]) == EMBEDDING_SIZE
    # 64 cells less one kept for an EOS, as Ollama counts; the BOS included.
    assert body["prompt_eval_count"] == 63
    # Truncation keeps the beginning: the same as embedding what is left of it.
    body_true = {"model": model, "input": LONG_TEXT, "options": options, "truncate": True}
    explicit = post(server, "/api/embed", body_true).json()
    assert explicit["embeddings"] == body["embeddings"]


def test_truncate_false_refuses_a_long_input(server, client, model):
    body = {"model": model, "input": LONG_TEXT, "truncate": False, "options": {"num_ctx": 64}}
    resp = post(server, "/api/embed", body)
    assert resp.status_code == 400
    assert resp.json() == {"error": "the input length exceeds the context length"}
    # A short input is fine with truncate false.
    ok = client.embed(model=model, input="short", truncate=False, options={"num_ctx": 64})
    assert len(ok.embeddings[0]) == EMBEDDING_SIZE


@pytest.mark.parametrize("bad", [[1, 2, 3], [["a"]], {"text": "a"}, 42, ["ok", 1], True])
def test_bad_input_types_are_400(server, model, bad):
    resp = post(server, "/api/embed", {"model": model, "input": bad})
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid input type"}


def test_unknown_or_missing_model_is_404(server, client):
    resp = post(server, "/api/embed", {"model": "no-such-model", "input": "x"})
    assert resp.status_code == 404
    assert resp.json() == {"error": "model 'no-such-model' not found"}
    assert post(server, "/api/embed", {"input": "x"}).json() == {"error": "model '' not found"}
    with pytest.raises(ollama.ResponseError) as err:
        client.embed(model="no-such-model", input="x")
    assert err.value.status_code == 404


def test_missing_body_is_400(server):
    resp = httpx.post(server.url + "/api/embed", content=b"", timeout=30)
    assert resp.status_code == 400
    assert resp.json() == {"error": "missing request body"}


def test_legacy_embeddings_are_raw_not_normalized(client, server, model):
    legacy = client.embeddings(model=model, prompt="Why is the sky blue?").embedding
    assert len(legacy) == EMBEDDING_SIZE
    assert norm(legacy) > 2  # the model's hidden state, as it comes
    current = client.embed(model=model, input="Why is the sky blue?").embeddings[0]
    assert np.allclose(np.asarray(legacy) / norm(legacy), current, atol=1e-6)


def test_legacy_embeddings_empty_prompt_and_errors(server, model):
    resp = post(server, "/api/embeddings", {"model": model, "prompt": ""})
    assert resp.status_code == 200
    assert resp.json() == {"embedding": []}
    missing = post(server, "/api/embeddings", {"model": "no-such-model", "prompt": "x"})
    assert missing.status_code == 404
    assert missing.json() == {"error": 'model "no-such-model" not found, try pulling it first'}
    unnamed = post(server, "/api/embeddings", {"prompt": "x"})
    assert unnamed.status_code == 400
    assert unnamed.json() == {"error": "model is required"}
    too_long = post(
        server, "/api/embeddings", {"model": model, "prompt": LONG_TEXT, "options": {"num_ctx": 64}}
    )
    # This endpoint never truncates, and answers any failure with a 500.
    assert too_long.status_code == 500
    assert too_long.json() == {"error": "the input length exceeds the context length"}


def test_our_client_embed_and_embeddings(server, model):
    with Client(server.url, timeout=120) as c:
        resp = c.embed(model=model, input=["one", "two"], dimensions=16)
        assert [len(v) for v in resp.embeddings] == [16, 16]
        assert resp["model"] == model
        legacy = c.embeddings(model=model, prompt="one")
        assert len(legacy.embedding) == EMBEDDING_SIZE


# --- /v1/embeddings ---------------------------------------------------------------------------


@pytest.fixture
def oai(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="ollama", max_retries=0)


def test_openai_embeddings_shape(oai, client, model):
    resp = oai.embeddings.create(model=model, input=["first text", "second text"])
    assert resp.object == "list"
    assert resp.model == model
    assert [d.index for d in resp.data] == [0, 1]
    assert all(d.object == "embedding" for d in resp.data)
    assert len(resp.data[0].embedding) == EMBEDDING_SIZE
    assert resp.usage.prompt_tokens == resp.usage.total_tokens > 0
    native = client.embed(model=model, input=["first text", "second text"])
    # The openai client asks for base64 and decodes float32s: equal as float32, bit for bit.
    got = np.asarray([d.embedding for d in resp.data], dtype=np.float32)
    assert np.array_equal(got, np.asarray(native.embeddings, dtype=np.float32))
    assert resp.usage.prompt_tokens == native.prompt_eval_count


def test_openai_base64_and_dimensions(server, client, model):
    body = {"model": model, "input": "hello", "encoding_format": "base64", "dimensions": 32}
    resp = post(server, "/v1/embeddings", body)
    assert resp.status_code == 200
    encoded = resp.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    raw = base64.b64decode(encoded)
    values = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(values) == 32
    native = client.embed(model=model, input="hello", dimensions=32).embeddings[0]
    assert np.allclose(values, native, atol=1e-7)


def test_openai_empty_string_is_one_embedding(server, model):
    resp = post(server, "/v1/embeddings", {"model": model, "input": ""})
    assert resp.status_code == 200
    assert len(resp.json()["data"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "message", "kind"),
    [
        ({"input": []}, 400, "invalid input", "invalid_request_error"),
        ({}, 400, "invalid input", "invalid_request_error"),
        ({"input": [1]}, 400, "invalid input type", "invalid_request_error"),
        (
            {"input": "x", "encoding_format": "hex"},
            400,
            "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64'].",
            "invalid_request_error",
        ),
        ({"input": "x", "model": "no-such-model"}, 404, "model 'no-such-model' not found", None),
    ],
)
def test_openai_errors(server, model, body, status, message, kind):
    resp = post(server, "/v1/embeddings", {"model": model, **body})
    assert resp.status_code == status
    assert resp.json() == {
        "error": {
            "message": message,
            "type": kind or "not_found_error",
            "param": None,
            "code": None,
        }
    }


def test_openai_client_raises_not_found(oai):
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="no-such-model", input="x")


# --- the engine around it ---------------------------------------------------------------------


def test_floats_are_printed_as_float32(server, model):
    text = post(server, "/api/embed", {"model": model, "input": "digits", "dimensions": 8}).text
    values = text.split("[[")[1].split("]]")[0].split(",")
    # Go's shortest float32 form: at most 9 significant digits, never a float64 tail.
    assert all(len(v.lstrip("-0.").replace(".", "").split("e")[0]) <= 9 for v in values)


def test_embedding_while_generating_on_the_same_model(client, model):
    alone = client.embed(model=model, input="parallel work").embeddings[0]
    with ThreadPoolExecutor(2) as pool:
        gen = pool.submit(
            client.generate, model=model, prompt="Once upon a time", options={"num_predict": 24}
        )
        emb = pool.submit(client.embed, model=model, input="parallel work")
        assert emb.result().embeddings[0] == alone
        assert gen.result().done


def test_unloading_closes_the_embedder_and_a_reload_gives_the_same_vector(client, model):
    first = client.embed(model=model, input="reload me").embeddings[0]
    client.embed(model=model, input=[], keep_alive=0)
    wait_until(lambda: all(m.model != model for m in client.ps().models), "never unloaded")
    assert client.embed(model=model, input="reload me").embeddings[0] == first
