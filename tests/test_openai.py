"""Ollama's OpenAI-compatible API, driven by the official `openai` client against a real server."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from ollama_toolkit.api import openai as oai
from ollama_toolkit.api.types import ChatResponse, Message, ToolCall, ToolCallFunction
from ollama_toolkit.translate.openai import (
    finish_chunk,
    from_chat_request,
    to_chat_completion,
    to_chunks,
)

PROMPT = "The capital of France is"  # for the pretrained model: text to continue
QUESTION = "What is the capital of France?"  # for the chat model
IMAGE_PART = {"type": "image_url", "image_url": {"url": "data:image/png;base64,eHg="}}
TOOL_FUNCTION = {"name": "get", "arguments": '{"a": 1}'}


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="ollama", max_retries=0)


def chat_messages(text: str = PROMPT) -> list[dict]:
    return [{"role": "user", "content": text}]


def error_body(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] is None and body["error"]["code"] is None
    return body["error"]


def sse_events(resp: httpx.Response) -> list[str]:
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [e for e in resp.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e.removeprefix("data: ") for e in events]


# --- chat ------------------------------------------------------------------------------------


def test_chat_completion(client, chat_model):
    r = client.chat.completions.create(
        model=chat_model, messages=chat_messages(QUESTION), max_tokens=8, temperature=0
    )
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == chat_model
    assert r.system_fingerprint == "fp_ollama"
    assert isinstance(r.created, int)
    [choice] = r.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert "Paris" in choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 8
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_stream_with_usage_matches_the_whole_reply(client, model):
    args = dict(model=model, messages=chat_messages(), max_tokens=8, temperature=0)
    whole = client.chat.completions.create(**args)
    chunks = list(
        client.chat.completions.create(**args, stream=True, stream_options={"include_usage": True})
    )
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("chatcmpl-")
    assert {c.created for c in chunks} == {chunks[0].created}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)

    *content, finish, usage = chunks
    assert finish.choices[0].finish_reason == whole.choices[0].finish_reason
    assert finish.choices[0].delta.content is None
    assert all(c.choices[0].finish_reason is None for c in content)
    assert "".join(c.choices[0].delta.content or "" for c in content) == (
        whole.choices[0].message.content
    )
    assert usage.choices == []
    assert usage.usage.completion_tokens == whole.usage.completion_tokens
    assert usage.usage.prompt_tokens == whole.usage.prompt_tokens


def test_chat_stream_is_server_sent_events_ending_in_done(server, model):
    resp = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": model, "messages": chat_messages(), "max_tokens": 4, "stream": True},
        timeout=120,
    )
    assert resp.status_code == 200
    events = sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    # The finish chunk has an empty delta; no usage unless asked for.
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_max_tokens_ends_with_length(client, model):
    r = client.chat.completions.create(
        model=model, messages=chat_messages(), max_tokens=3, temperature=0
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3


def test_max_completion_tokens_limits_too(client, model):
    r = client.chat.completions.create(
        model=model, messages=chat_messages(), max_completion_tokens=2, temperature=0
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 2


def test_seed_and_temperature_reproduce(client, model):
    args = dict(model=model, messages=chat_messages(), max_tokens=12, temperature=1.0, seed=7)
    a = client.chat.completions.create(**args).choices[0].message.content
    b = client.chat.completions.create(**args).choices[0].message.content
    assert a == b


def test_response_format_json_schema_gives_valid_json(client, chat_model):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    }
    r = client.chat.completions.create(
        model=chat_model,
        messages=chat_messages("Is the sky blue? Answer in JSON."),
        max_tokens=16,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    value = json.loads(r.choices[0].message.content)
    assert set(value) == {"ok"} and isinstance(value["ok"], bool)
    assert r.choices[0].finish_reason == "stop"


def test_response_format_json_object_gives_json(client, chat_model):
    r = client.chat.completions.create(
        model=chat_model,
        messages=chat_messages("Describe Paris as a JSON object."),
        max_tokens=16,
        temperature=0,
        response_format={"type": "json_object"},
    )
    content = r.choices[0].message.content.strip()
    assert content.startswith("{")


# --- completions -----------------------------------------------------------------------------


def test_completion(client, model):
    r = client.completions.create(model=model, prompt=PROMPT, max_tokens=6, temperature=0)
    assert r.id.startswith("cmpl-")
    assert r.object == "text_completion"
    assert r.model == model
    assert r.system_fingerprint == "fp_ollama"
    [choice] = r.choices
    assert choice.index == 0 and isinstance(choice.text, str) and choice.text
    assert choice.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 6
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_completion_stream_with_usage(client, model):
    args = dict(model=model, prompt=PROMPT, max_tokens=6, temperature=0)
    whole = client.completions.create(**args)
    chunks = list(
        client.completions.create(**args, stream=True, stream_options={"include_usage": True})
    )
    *text_chunks, usage = chunks
    assert all(c.object == "text_completion" and c.id.startswith("cmpl-") for c in chunks)
    assert "".join(c.choices[0].text for c in text_chunks) == whole.choices[0].text
    assert text_chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in text_chunks[:-1])
    # As Ollama: every chunk carries a zero usage, the real one comes after the last.
    assert all(c.usage.total_tokens == 0 for c in text_chunks)
    assert usage.choices == []
    assert usage.usage.completion_tokens == whole.usage.completion_tokens


def test_completion_stream_ends_in_done(server, model):
    resp = httpx.post(
        f"{server.url}/v1/completions",
        json={"model": model, "prompt": PROMPT, "max_tokens": 3, "stream": True},
        timeout=120,
    )
    events = sse_events(resp)
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"][0]["finish_reason"] == "length"
    assert "usage" not in last


def test_completion_stop(client, model):
    r = client.completions.create(
        model=model, prompt="1, 2, 3, 4, 5,", max_tokens=16, temperature=0, stop=[","]
    )
    assert "," not in r.choices[0].text
    assert r.choices[0].finish_reason == "stop"


def test_chat_stop_as_a_string(client, model):
    r = client.chat.completions.create(
        model=model,
        messages=chat_messages("Count: 1, 2, 3, 4, 5,"),
        max_tokens=16,
        temperature=0,
        stop=" ",
    )
    assert " " not in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"


# --- models ----------------------------------------------------------------------------------


def test_models_list_and_retrieve(client, model):
    listed = {m.id: m for m in client.models.list()}
    assert model in listed
    entry = listed[model]
    assert entry.object == "model"
    assert entry.owned_by == "library"
    assert isinstance(entry.created, int) and entry.created > 0

    retrieved = client.models.retrieve(model)
    assert (retrieved.id, retrieved.object, retrieved.owned_by, retrieved.created) == (
        model,
        "model",
        "library",
        entry.created,
    )


def test_models_list_shape(server, model):
    body = httpx.get(f"{server.url}/v1/models").json()
    assert body["object"] == "list"
    assert set(body["data"][0]) == {"id", "object", "created", "owned_by"}


# --- errors ----------------------------------------------------------------------------------


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="no-such-model", messages=chat_messages())
    assert exc.value.status_code == 404
    assert "model 'no-such-model' not found" in exc.value.message
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="hi")
    with pytest.raises(openai.NotFoundError) as exc:
        client.models.retrieve("no-such-model")
    assert "model 'no-such-model' not found" in exc.value.message


def test_unknown_model_error_shape(server):
    resp = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "no-such-model", "messages": chat_messages(), "stream": True},
    )
    assert resp.status_code == 404
    assert error_body(resp) == {
        "message": "model 'no-such-model' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/completions"])
def test_malformed_json_is_an_openai_error(server, route):
    resp = httpx.post(
        f"{server.url}{route}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert error_body(resp)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("route", "payload", "field"),
    [
        ("/v1/chat/completions", {"messages": chat_messages(), "max_tokens": "5"}, "max_tokens"),
        ("/v1/chat/completions", {"messages": chat_messages(), "stream": "yes"}, "stream"),
        ("/v1/chat/completions", {"messages": "hi"}, "messages"),
        ("/v1/completions", {"prompt": ["a", "b"]}, "prompt"),
        ("/v1/completions", {"prompt": "a", "temperature": "hot"}, "temperature"),
    ],
)
def test_wrong_types_are_openai_errors(server, model, route, payload, field):
    resp = httpx.post(f"{server.url}{route}", json={"model": model, **payload})
    assert resp.status_code == 400
    error = error_body(resp)
    assert error["type"] == "invalid_request_error"
    assert field in error["message"]


def test_bad_requests_raise_bad_request_error(client, model):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=[])
    assert "[] is too short - 'messages'" in exc.value.message
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=chat_messages(), reasoning_effort="x")
    assert 'invalid reasoning value: "x"' in exc.value.message
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": [image]}])
    assert "image URLs are not currently supported" in exc.value.message
    with pytest.raises(openai.BadRequestError) as exc:
        client.completions.create(model=model, prompt="a", stop=["x", 1])  # type: ignore[list-item]
    assert "invalid type for 'stop' field: float64" in exc.value.message


# --- translation (paths neither bundled model can take: tools, thinking, images) ---


def test_chat_request_translation():
    req = oai.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "look"}, IMAGE_PART]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": TOOL_FUNCTION},
                    ],
                },
                {"role": "tool", "content": "42", "tool_call_id": "c1"},
            ],
            "stop": ["a", 1],
            "max_tokens": 5,
            "reasoning_effort": "xhigh",
            "response_format": {"type": "json_object"},
        }
    )
    chat = from_chat_request(req)
    assert [m.to_wire() for m in chat.messages] == [
        {"role": "user", "content": "look"},
        {"role": "user", "content": "", "images": ["eHg="]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "function": {"name": "get", "arguments": {"a": 1}}}],
        },
        {"role": "tool", "content": "42", "tool_name": "get", "tool_call_id": "c1"},
    ]
    assert chat.options == {"stop": ["a"], "num_predict": 5, "temperature": 1.0, "top_p": 1.0}
    assert (chat.think, chat.format, chat.stream) == ("max", "json", False)


def test_thinking_and_answer_stream_as_two_chunks_and_tool_calls_finish():
    call = ToolCall(function=ToolCallFunction(name="f", arguments={"x": 1}))
    r = ChatResponse(
        model="m",
        message=Message(role="assistant", content="hi", thinking="hmm", tool_calls=[call]),
        done=True,
        done_reason="stop",
    )
    first, second = to_chunks("chatcmpl-1", r, 7, include_role=True)
    assert first.choices[0].delta.model_dump(exclude_none=True) == {
        "role": "assistant",
        "reasoning": "hmm",
    }
    delta = json.loads(second.to_json())["choices"][0]["delta"]
    assert delta == {
        "content": "hi",
        "tool_calls": [
            {
                "id": "",
                "index": 0,
                "type": "function",
                "function": {"name": "f", "arguments": '{"x":1}'},
            }
        ],
    }
    assert finish_chunk("chatcmpl-1", r, 7, True).choices[0].finish_reason == "tool_calls"
    assert to_chat_completion("chatcmpl-1", r).choices[0].finish_reason == "tool_calls"
