"""The official `ollama` Python client, unchanged, against our running server."""

from __future__ import annotations

import json

import ollama
import pytest


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url)


def test_generate_non_streaming_with_every_seed_parameter(client, model):
    first = client.generate(
        model=model, prompt="The sky is", options={"temperature": 0, "num_predict": 6}
    )
    r = client.generate(
        model=model,
        prompt=" and the grass is",
        system="Answer plainly.",
        template="{{ .System }} {{ .Prompt }}",
        context=first.context,
        format="json",
        options={"temperature": 0.5, "seed": 7, "num_predict": 40, "top_k": 20},
        keep_alive="1m",
        stream=False,
        raw=False,
    )
    assert r.done and r.done_reason in {"stop", "length"}
    assert isinstance(r.response, str)
    assert r.eval_count and r.prompt_eval_count and r.total_duration
    if r.done_reason == "stop":
        json.loads(r.response)


def test_generate_streaming(client, model):
    parts = list(
        client.generate(
            model=model,
            prompt="Why is the sky blue?",
            stream=True,
            options={"temperature": 0, "num_predict": 10},
        )
    )
    assert len(parts) > 2
    assert parts[-1].done and parts[-1].eval_count == 10
    assert "".join(p.response for p in parts).strip()


def test_raw_generate(client, model):
    r = client.generate(
        model=model, prompt="<start>", raw=True, options={"temperature": 0, "num_predict": 3}
    )
    assert r.done


def test_suffix_and_images_are_refused_on_a_plain_text_model(client, model):
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model=model, prompt="def f(", suffix="return 1")
    assert e.value.status_code == 400
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model=model, prompt="What is this?", images=[b"\x89PNG fake"])
    assert e.value.status_code == 400


def test_unknown_model_is_404(client):
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model="missing:latest", prompt="x")
    assert e.value.status_code == 404
    assert "not found" in e.value.error


def test_list_show_ps_version(client, model):
    names = [m.model for m in client.list().models]
    assert model in names
    shown = client.show(model)
    assert shown.modelinfo["general.architecture"] == "gemma3"
    assert "completion" in shown.capabilities
    assert shown.details.family == "gemma3"
    client.generate(model=model, prompt="", keep_alive="1m")
    assert model in [m.model for m in client.ps().models]
