"""POST /api/generate against a real server running the bundled model on llama.cpp."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

GREEDY = {"temperature": 0, "num_predict": 12}


def running(server, model: str) -> list[dict]:
    """The /api/ps entries of `model` (the session server may hold other models too)."""
    return [m for m in httpx.get(f"{server.url}/api/ps").json()["models"] if m["name"] == model]


def post(server, payload, timeout: float | httpx.Timeout = 120) -> httpx.Response:
    return httpx.post(f"{server.url}/api/generate", json=payload, timeout=timeout)


def lines(resp: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def test_non_streaming_returns_one_object_with_statistics(server, model):
    resp = post(
        server, {"model": model, "prompt": "The sky is", "stream": False, "options": GREEDY}
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["model"] == model
    assert body["done"] is True
    assert body["done_reason"] == "length"
    assert body["response"].strip()
    assert body["eval_count"] == 12
    assert body["prompt_eval_count"] >= 3
    for key in ("total_duration", "prompt_eval_duration", "eval_duration"):
        assert body[key] > 0
    assert body["total_duration"] >= body["eval_duration"]
    assert body["created_at"].endswith("Z")
    assert len(body["context"]) == body["prompt_eval_count"] + body["eval_count"]


def test_streaming_is_ndjson_one_token_per_line(server, model):
    resp = post(server, {"model": model, "prompt": "The sky is", "options": GREEDY})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-ndjson"
    assert resp.headers["x-accel-buffering"] == "no"
    chunks = lines(resp)
    assert len(chunks) >= 5
    assert all(not c["done"] for c in chunks[:-1])
    final = chunks[-1]
    assert final["done"] is True and final["response"] == ""
    assert final["eval_count"] == 12 and "context" in final
    streamed = "".join(c["response"] for c in chunks)
    whole = post(
        server, {"model": model, "prompt": "The sky is", "stream": False, "options": GREEDY}
    ).json()
    assert streamed == whole["response"]


def test_stop_string_ends_generation_and_is_never_emitted(server, model):
    base = {"model": model, "prompt": "1, 2, 3, 4,", "stream": False}
    free = post(server, {**base, "options": {"temperature": 0, "num_predict": 20}}).json()
    text = free["response"]
    assert "6" in text, text
    stop = text[text.index("6") - 1 : text.index("6") + 1]  # spans the space and the digit
    stopped = post(
        server, {**base, "options": {"temperature": 0, "num_predict": 20, "stop": [stop]}}
    ).json()
    assert stopped["done_reason"] == "stop"
    assert stopped["response"] == text[: text.index(stop)]
    assert stop not in stopped["response"]


def test_context_continues_a_conversation(server, model):
    first = post(
        server, {"model": model, "prompt": "Once upon a time", "stream": False, "options": GREEDY}
    ).json()
    second = post(
        server,
        {
            "model": model,
            "prompt": " and then",
            "context": first["context"],
            "stream": False,
            "options": GREEDY,
        },
    ).json()
    assert second["done"] is True
    assert second["context"][: len(first["context"])] == first["context"]
    assert second["prompt_eval_count"] > len(first["context"])


def test_same_seed_gives_same_sample(server, model):
    payload = {
        "model": model,
        "prompt": "My favourite food is",
        "stream": False,
        "options": {"temperature": 1.0, "seed": 42, "num_predict": 16},
    }
    a = post(server, payload).json()["response"]
    b = post(server, payload).json()["response"]
    assert a == b


def test_format_json_gives_valid_json_and_stops_when_it_closes(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "A JSON object describing a cat:",
            "format": "json",
            "stream": False,
            "options": {"temperature": 0, "num_predict": 80},
        },
    ).json()
    value = json.loads(body["response"])
    assert isinstance(value, dict)
    assert body["response"] == body["response"].rstrip() or body["done_reason"] == "stop"


def test_format_schema_constrains_the_output(server, model):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    body = post(
        server,
        {
            "model": model,
            "prompt": "A person:",
            "format": schema,
            "stream": False,
            "options": {"temperature": 0, "num_predict": 60},
        },
    ).json()
    value = json.loads(body["response"])
    assert set(value) == {"name", "age"}
    assert isinstance(value["age"], int)
    assert body["done_reason"] == "stop"


def test_template_and_system_override_the_models(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "hi",
            "system": "SYS",
            "template": "[{{ .System }}] <{{ .Prompt }}>",
            "_debug_render_only": True,
            "stream": False,
        },
    ).json()
    assert body["_debug_info"]["rendered_template"] == "[SYS] <hi>"


def test_bundled_template_prepends_system(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "hi",
            "system": "Be brief.",
            "_debug_render_only": True,
            "stream": False,
        },
    ).json()
    assert body["_debug_info"]["rendered_template"] == "Be brief.\n\nhi"


def test_raw_passes_the_prompt_through(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "<b>{{ .Prompt }}",
            "raw": True,
            "_debug_render_only": True,
            "stream": False,
        },
    ).json()
    assert body["_debug_info"]["rendered_template"] == "<b>{{ .Prompt }}"


def test_logprobs_are_reported_per_token(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "The sky is",
            "stream": False,
            "logprobs": True,
            "top_logprobs": 3,
            "options": {"temperature": 0, "num_predict": 4, "repeat_penalty": 1.0},
        },
    ).json()
    assert len(body["logprobs"]) == 4
    for entry in body["logprobs"]:
        assert entry["logprob"] <= 0
        tops = entry["top_logprobs"]
        assert len(tops) == 3
        # greedy: the chosen token is the most likely one
        assert tops[0]["token"] == entry["token"]
        assert tops[0]["logprob"] >= tops[1]["logprob"] >= tops[2]["logprob"]


def test_empty_prompt_loads_and_keep_alive_zero_unloads(server, model):
    loaded = post(server, {"model": model}).json()
    assert loaded["done"] is True and loaded["done_reason"] == "load"
    names = [m["name"] for m in httpx.get(f"{server.url}/api/ps").json()["models"]]
    assert model in names
    unloaded = post(server, {"model": model, "keep_alive": 0}).json()
    assert unloaded["done_reason"] == "unload"
    assert running(server, model) == []


def test_keep_alive_zero_unloads_after_the_request(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "Hi",
            "keep_alive": 0,
            "stream": False,
            "options": {"num_predict": 2},
        },
    ).json()
    assert body["done"] is True
    assert running(server, model) == []


def test_ps_shows_expiry_and_context_length(server, model):
    post(
        server,
        {
            "model": model,
            "prompt": "Hi",
            "keep_alive": "10m",
            "stream": False,
            "options": {"num_predict": 1},
        },
    )
    (entry,) = running(server, model)
    assert entry["name"] == model
    assert entry["size"] > 100_000_000
    assert entry["context_length"] >= 2048
    assert entry["expires_at"].endswith("Z")


def test_truncate_false_refuses_a_prompt_longer_than_the_context(server, model):
    resp = post(
        server,
        {
            "model": model,
            "prompt": "word " * 600,
            "truncate": False,
            "options": {"num_ctx": 256},
            "stream": False,
        },
    )
    assert resp.status_code == 400
    assert "exceeds the available context size (256 tokens)" in resp.json()["error"]


def test_long_prompt_is_truncated_by_default(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "word " * 600,
            "stream": False,
            "options": {"num_ctx": 256, "num_predict": 2},
        },
    ).json()
    assert body["done"] is True
    assert body["prompt_eval_count"] <= 256


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"model": "no-such-model", "prompt": "x"}, 404, "model 'no-such-model' not found"),
        ({"prompt": "x"}, 400, "model is required"),
        ({"model": "M", "prompt": 5}, 400, "GenerateRequest.prompt"),
        ({"model": "M", "prompt": "x", "keep_alive": "soon"}, 400, "invalid duration"),
        (
            {"model": "M", "prompt": "x", "options": {"temperature": "hot"}},
            400,
            'option "temperature" must be of type float32',
        ),
        (
            {"model": "M", "prompt": "x", "options": {"num_predict": True}},
            400,
            'option "num_predict" must be of type integer',
        ),
        (
            {"model": "M", "prompt": "x", "raw": True, "system": "s"},
            400,
            "raw mode does not support template, system, or context",
        ),
        ({"model": "M", "prompt": "x", "suffix": "y"}, 400, "does not support insert"),
        ({"model": "M", "prompt": "x", "images": ["aGVsbG8="]}, 400, "does not support images"),
        ({"model": "M", "prompt": "x", "images": ["not base64!"]}, 400, "base64"),
        ({"model": "M", "prompt": "x", "think": True}, 400, "does not support thinking"),
        (
            {"model": "M", "prompt": "x", "top_logprobs": 21},
            400,
            "top_logprobs must be between 0 and 20",
        ),
        ({"model": "M", "prompt": "x", "format": "xml"}, 400, "invalid format"),
        ({"model": "M", "prompt": "x", "template": "{{ .Prompt"}, 400, "template error"),
    ],
)
def test_bad_requests_get_ollamas_errors(server, model, payload, status, message):
    if payload.get("model") == "M":
        payload = {**payload, "model": model}
    resp = post(server, payload)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "missing request body"), (b"{not json", "invalid JSON"), (b"[1]", "cannot unmarshal")],
)
def test_malformed_bodies_are_400(server, body, message):
    resp = httpx.post(f"{server.url}/api/generate", content=body, timeout=30)
    assert resp.status_code == 400
    assert message in resp.json()["error"]


def test_unknown_options_are_ignored(server, model):
    body = post(
        server,
        {
            "model": model,
            "prompt": "Hi",
            "stream": False,
            "options": {"num_predict": 1, "mirostat": 2, "bogus": 1},
        },
    ).json()
    assert body["done"] is True


def _start_endless_stream(server, model) -> tuple[httpx.Client, httpx.Response, Iterator]:
    """A stream that does not end by itself: greedy counting, num_predict -1, context shift."""
    client = httpx.Client(timeout=60)
    resp = client.send(
        client.build_request(
            "POST",
            f"{server.url}/api/generate",
            json={
                "model": model,
                "prompt": "1, 2, 3, 4, 5, 6,",
                "options": {"num_predict": -1, "num_ctx": 512, "temperature": 0},
            },
        ),
        stream=True,
    )
    # Read the first line from the raw byte stream: closing a half-consumed httpx line
    # iterator would close the connection, which is a disconnect to the server.
    chunks = resp.iter_raw()
    while not next(chunks).strip():
        pass
    return client, resp, chunks


def test_client_that_vanishes_mid_stream_frees_its_slot(make_server, model):
    server = make_server(OLLAMA_NUM_PARALLEL="1")
    client, resp, _chunks = _start_endless_stream(server, model)
    resp.close()
    client.close()
    # With one slot, this only completes if the vanished client's slot was freed.
    body = post(
        server, {"model": model, "prompt": "Hi", "stream": False, "options": {"num_predict": 3}}
    ).json()
    assert body["done"] is True and body["eval_count"] == 3


def test_full_queue_answers_503_with_retry_after(make_server, model):
    server = make_server(OLLAMA_NUM_PARALLEL="1", OLLAMA_MAX_QUEUE="1")
    client, resp, _chunks = _start_endless_stream(server, model)
    try:
        busy = post(server, {"model": model, "prompt": "Hi", "stream": False})
        assert busy.status_code == 503
        assert busy.json()["error"] == (
            "server busy, please try again.  maximum pending requests exceeded"
        )
        assert busy.headers["retry-after"]
    finally:
        resp.close()
        client.close()


def test_non_streaming_client_that_gives_up_frees_its_slot(make_server, model):
    server = make_server(OLLAMA_NUM_PARALLEL="1")
    endless = {
        "model": model,
        "prompt": "1, 2, 3, 4, 5, 6,",
        "stream": False,
        "options": {"num_predict": -1, "num_ctx": 512, "temperature": 0},
    }
    with pytest.raises(httpx.ReadTimeout):
        post(server, endless, timeout=httpx.Timeout(60, read=5))
    body = post(
        server, {"model": model, "prompt": "Hi", "stream": False, "options": {"num_predict": 3}}
    ).json()
    assert body["done"] is True and body["eval_count"] == 3
