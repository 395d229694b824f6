"""Ollama's Anthropic-compatible API (POST /v1/messages), driven by the official `anthropic`
client and raw HTTP against real servers; the translation's paths that the bundled models cannot
take (tool calls, images, thinking) as pure unit tests of translate/anthropic.py."""

from __future__ import annotations

import json
import signal
import socket
import threading

import anthropic
import httpx
import pytest

from conftest import ServerProcess, wait_until
from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.api.types import ChatResponse, Message, ToolCall, ToolCallFunction
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.translate.anthropic import (
    StreamConverter,
    estimate_input_tokens,
    from_messages_request,
    stop_reason,
    to_messages_response,
)
from scripted_model import WEATHER_CALL, create_scripted_model, write_scripted_gguf

QUESTION = "What is the capital of France?"  # for the chat model
PROMPT = "The capital of France is"  # for the pretrained model: text to continue
GREEDY = {"temperature": 0}  # the SDK no longer takes sampling parameters as arguments
KEY = "tk-anthropic-key-5d21c0"
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)


@pytest.fixture
def client(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="ollama", max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def post(server: ServerProcess, body: dict | bytes, **kwargs) -> httpx.Response:
    if isinstance(body, bytes):
        kwargs["content"] = body
    else:
        kwargs["json"] = body
    return httpx.post(f"{server.url}/v1/messages", timeout=120, **kwargs)


def error_of(resp: httpx.Response, status: int) -> dict:
    """The Anthropic error object of an answer, checked whole: `{"type": "error", "error":
    {"type", "message"}, "request_id": "req_…"}`."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error"
    assert body["request_id"].startswith("req_") and len(body["request_id"]) == 28
    assert set(body["error"]) == {"type", "message"}
    return body["error"]


def sse(resp: httpx.Response) -> list[tuple[str, dict]]:
    """A stream's events as (event name, data); each data's `type` is its event's name."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in resp.text.split("\n\n"):
        if not block:
            continue
        name_line, data_line = block.split("\n")
        name = name_line.removeprefix("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert name_line.startswith("event: ") and data["type"] == name, block
        events.append((name, data))
    return events


def still_serving(server: ServerProcess, model: str) -> None:
    r = post(server, {"model": model, "max_tokens": 2, "messages": user(PROMPT)})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["output_tokens"] == 2


# --- messages, whole and streamed --------------------------------------------------------------


def test_create_message(client, chat_model):
    m = client.messages.create(
        model=chat_model, max_tokens=16, messages=user(QUESTION), extra_body=GREEDY
    )
    assert m.id.startswith("msg_") and len(m.id) == 28
    assert (m.type, m.role, m.model) == ("message", "assistant", chat_model)
    [block] = m.content
    assert block.type == "text" and "Paris" in block.text
    assert m.stop_reason == "end_turn"
    assert m.stop_sequence is None
    assert m.usage.input_tokens > 0
    assert 0 < m.usage.output_tokens <= 16


def test_max_tokens_is_the_stop_reason_at_the_limit(client, model):
    m = client.messages.create(model=model, max_tokens=3, messages=user(PROMPT), extra_body=GREEDY)
    assert m.stop_reason == "max_tokens"
    assert m.usage.output_tokens == 3


def test_the_sdk_stream_accumulates_the_same_message(client, model):
    args = dict(model=model, max_tokens=6, messages=user(PROMPT), extra_body=GREEDY)
    whole = client.messages.create(**args)
    with client.messages.stream(**args) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(texts) > 1  # streamed piece by piece
    assert "".join(texts) == whole.content[0].text
    assert final.content[0].text == whole.content[0].text
    assert final.id.startswith("msg_") and final.id != whole.id
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 6 == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens > 0


def test_stream_true_gives_the_sdk_s_events_in_order(client, model):
    events = list(
        client.messages.create(
            model=model, max_tokens=4, messages=user(PROMPT), stream=True, extra_body=GREEDY
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert all(e.delta.type == "text_delta" for e in events[2:-3])
    assert events[1].content_block.type == "text" and events[1].content_block.text == ""
    assert events[-2].delta.stop_reason == "max_tokens"
    assert events[-2].usage.output_tokens == 4
    assert events[-2].usage.input_tokens > 0


def test_the_stream_on_the_wire(server, model):
    """Ollama's events exactly: named events, one block at index 0, the estimate of the input
    tokens in message_start (the real count comes at the end), no ping."""
    body = {"model": model, "max_tokens": 4, "messages": user(PROMPT), "stream": True, **GREEDY}
    resp = post(server, body)
    assert resp.headers["cache-control"] == "no-cache"
    events = sse(resp)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * (len(names) - 5),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    estimate = estimate_input_tokens(ant.MessagesRequest.model_validate(body))
    assert start == {
        "id": start["id"],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "usage": {"input_tokens": estimate, "output_tokens": 0},
    }
    assert estimate == len("user" + PROMPT) // 4
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert all(data["index"] == 0 for name, data in events if name.startswith("content_block"))
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens"}
    assert delta["usage"]["output_tokens"] == 4
    assert delta["usage"]["input_tokens"] > 0
    assert events[-1][1] == {"type": "message_stop"}


def test_the_whole_message_on_the_wire(server, model):
    r = post(server, {"model": model, "max_tokens": 2, "messages": user(PROMPT)})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    # Go's omitempty: no stop_sequence, and no null fields.
    assert list(body) == ["id", "type", "role", "model", "content", "stop_reason", "usage"]
    assert body["stop_reason"] == "max_tokens"
    assert body["usage"] == {"input_tokens": body["usage"]["input_tokens"], "output_tokens": 2}


def test_a_system_prompt_reaches_the_model(client, chat_model):
    """The system prompt is rendered into the prompt: it is counted in the input tokens, the
    same as a string or as text blocks."""
    args = dict(model=chat_model, max_tokens=1, messages=user(QUESTION))
    bare = client.messages.create(**args).usage.input_tokens
    system = "You are a terse geography assistant."
    as_text = client.messages.create(**args, system=system).usage.input_tokens
    as_blocks = client.messages.create(
        **args,
        system=[
            {"type": "text", "text": "You are a terse "},
            {"type": "text", "text": "geography assistant."},
        ],
    ).usage.input_tokens
    assert as_text == as_blocks > bare + 5


def test_stop_sequences_end_the_turn(client, model):
    args = dict(model=model, max_tokens=16, messages=user("Count: 1, 2, 3, 4, 5,"))
    free = client.messages.create(**args, extra_body=GREEDY)
    assert "," in free.content[0].text  # the stop string would come
    m = client.messages.create(**args, stop_sequences=[",", "STOP"], extra_body=GREEDY)
    assert free.content[0].text.startswith(m.content[0].text + ",")
    assert m.usage.output_tokens < free.usage.output_tokens
    # Ollama reports a stop sequence as the end of the turn (it does not tell which stopped it).
    assert m.stop_reason == "end_turn"
    assert m.stop_sequence is None


def test_thinking_asked_of_a_model_that_cannot_think_is_dropped(server, client, chat_model):
    m = client.messages.create(
        model=chat_model,
        max_tokens=4,
        messages=user(QUESTION),
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}},  # 0.40 lacks it
    )
    assert [b.type for b in m.content] == ["text"]
    # /api/chat refuses it; Ollama's Anthropic route relaxes it for clients like Claude Code.
    r = httpx.post(
        f"{server.url}/api/chat",
        json={"model": chat_model, "messages": user(QUESTION), "think": True, "stream": False},
        timeout=120,
    )
    assert r.status_code == 400
    assert r.json() == {"error": f'"{chat_model}" does not support thinking'}


# --- tools and images on the real server --------------------------------------------------------

TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ROUND_TRIP = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18 C and sunny"},
            {"type": "text", "text": "So, shorts?"},
        ],
    },
]


def test_a_tool_round_trip_is_rendered_in_order(server, client, chat_model):
    """The translated conversation, rendered by the model's own template on the server: the
    tool's result is a turn of its own, before the user's text that came with it."""
    req = ant.MessagesRequest.model_validate(
        {"model": chat_model, "max_tokens": 4, "system": "Be brief.", "messages": ROUND_TRIP}
    )
    chat = from_messages_request(req)
    r = httpx.post(
        f"{server.url}/api/chat",
        json={**chat.to_wire(), "_debug_render_only": True, "stream": False},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    prompt = r.json()["_debug_info"]["rendered_template"]
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\nLet me check.<|im_end|>\n"
        "<|im_start|>tool\n18 C and sunny<|im_end|>\n"
        "<|im_start|>user\nSo, shorts?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    # The same conversation through /v1/messages is answered.
    m = client.messages.create(model=chat_model, max_tokens=4, messages=ROUND_TRIP)
    assert m.content[0].type == "text" and m.usage.input_tokens > 0


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def tool_caller(server, tmp_path_factory) -> str:
    """A model whose every answer calls get_weather(city="Paris") (tests/scripted_model.py)."""
    gguf = write_scripted_gguf(tmp_path_factory.mktemp("scripted") / "m.gguf", WEATHER_CALL)
    return create_scripted_model(server.url, "scripted-caller", gguf)


def test_a_tool_call_is_a_tool_use_block(client, tool_caller):
    m = client.messages.create(
        model=tool_caller, max_tokens=64, tools=[WEATHER_TOOL], messages=user("Weather in Paris?")
    )
    assert m.stop_reason == "tool_use"
    (block,) = m.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "Paris"})
    assert block.id


def test_a_streamed_tool_call_is_accumulated_by_the_sdk(server, client, tool_caller):
    with client.messages.stream(
        model=tool_caller, max_tokens=64, tools=[WEATHER_TOOL], messages=user("Weather?")
    ) as stream:
        events = [e.type for e in stream]
        m = stream.get_final_message()
    assert m.stop_reason == "tool_use"
    (block,) = m.content
    assert (block.type, block.name, block.input) == ("tool_use", "get_weather", {"city": "Paris"})
    assert "input_json" in events and events[-1] == "message_stop"
    # The call's arguments arrive whole, in one input_json_delta, as Ollama sends them.
    r = post(
        server,
        {
            "model": tool_caller,
            "max_tokens": 64,
            "stream": True,
            "tools": [WEATHER_TOOL],
            "messages": user("Weather?"),
        },
    )
    deltas = [d["delta"] for name, d in sse(r) if name == "content_block_delta"]
    assert deltas == [{"type": "input_json_delta", "partial_json": '{"city":"Paris"}'}]
    # The call answered: the result goes back as a tool_result, and the model is asked again.
    followup = client.messages.create(
        model=tool_caller,
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=[
            *user("Weather?"),
            {"role": "assistant", "content": [b.model_dump() for b in m.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18 C"}],
            },
        ],
    )
    assert followup.stop_reason == "tool_use"


def test_tools_for_a_model_without_tools_are_refused_in_anthropic_s_shape(
    server, client, chat_model
):
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.create(
            model=chat_model,
            max_tokens=4,
            messages=ROUND_TRIP,
            tools=[TOOL],
            tool_choice={"type": "auto"},
        )
    assert exc.value.status_code == 400
    assert exc.value.body["error"] == {
        "type": "invalid_request_error",
        "message": f"{ModelName.parse(chat_model)} does not support tools",  # the full name
    }
    still_serving(server, chat_model)


def test_an_image_for_a_model_without_vision_is_refused(server, model):
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
    }
    body = {
        "model": model,
        "max_tokens": 2,
        "messages": [{"role": "user", "content": [image, {"type": "text", "text": "What is it?"}]}],
    }
    assert error_of(post(server, body), 400) == {
        "type": "invalid_request_error",
        "message": f'"{model}" does not support images',
    }
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    body["messages"][0]["content"] = [url]
    assert error_of(post(server, body), 400)["message"] == (
        "invalid image source type: url. Only base64 images are supported."
    )
    still_serving(server, model)


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_model_is_not_found(server, client, model):
    with pytest.raises(anthropic.NotFoundError) as exc:
        client.messages.create(model="no-such-model", max_tokens=4, messages=user(QUESTION))
    assert exc.value.status_code == 404
    assert exc.value.body["error"]["message"] == "model 'no-such-model' not found"
    # Streamed or not, a refusal before any output is a plain answer with its status.
    for stream in (False, True):
        body = {"model": "no-such-model", "max_tokens": 4, "messages": user("hi"), "stream": stream}
        assert error_of(post(server, body), 404) == {
            "type": "not_found_error",
            "message": "model 'no-such-model' not found",
        }
    still_serving(server, model)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "invalid JSON in request body"),
        (b"[1, 2]", "json: cannot unmarshal array into Go value of type anthropic.MessagesRequest"),
        (b"", "missing request body"),
    ],
)
def test_malformed_bodies_are_invalid_requests(server, model, raw, message):
    error = error_of(post(server, raw, headers={"content-type": "application/json"}), 400)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)
    still_serving(server, model)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"max_tokens": None}, "max_tokens is required and must be positive"),
        ({"max_tokens": 0}, "max_tokens is required and must be positive"),
        ({"model": ""}, "model is required"),
        ({"messages": []}, "messages is required"),
        ({"messages": [{"role": "user"}]}, "unexpected end of JSON input"),
        (
            {"max_tokens": "5"},
            "json: cannot unmarshal string into Go struct field MessagesRequest.max_tokens "
            "of type int",
        ),
        ({"max_tokens": 2.5}, "MessagesRequest.max_tokens of type int"),
        ({"stream": "yes"}, "MessagesRequest.stream of type bool"),
        ({"temperature": "hot"}, "MessagesRequest.temperature of type float64"),
        ({"stop_sequences": [1]}, "MessagesRequest.stop_sequences.0 of type string"),
        ({"messages": "hi"}, "MessagesRequest.messages of type array"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content of type array"),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]},
            "tool_use block missing required 'id' field",
        ),
        ({"top_k": -1.5}, "MessagesRequest.top_k of type int"),
    ],
)
def test_bad_fields_are_invalid_requests(server, model, payload, message):
    body = {"model": model, "max_tokens": 4, "messages": user(PROMPT), **payload}
    body = {k: v for k, v in body.items() if v is not None}
    error = error_of(post(server, body), 400)
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]


def test_bad_requests_raise_the_sdk_s_bad_request_error(client, server, model):
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.create(model=model, max_tokens=4, messages=[])
    assert exc.value.body["error"]["message"] == "messages is required"
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.create(
            model=model, max_tokens=4, messages=user("hi"), extra_body={"top_k": -1}
        )
    assert exc.value.body["error"]["type"] == "invalid_request_error"
    still_serving(server, model)


def test_the_openapi_document_declares_the_route(server):
    doc = httpx.get(server.url + "/openapi.json", timeout=30).json()
    operation = doc["paths"]["/v1/messages"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert {"model", "max_tokens", "messages", "system", "stream", "tools", "thinking"} <= set(
        fields
    )
    assert set(operation["responses"]["200"]["content"]) == {
        "application/json",
        "text/event-stream",
    }


# --- API keys, a full queue and shutdown, on servers of their own -------------------------------


def test_api_keys_in_x_api_key_and_anthropic_s_401(make_server, model):
    server = make_server(OLLAMA_API_KEYS=KEY)
    keyed = anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0)  # x-api-key
    assert (
        keyed.messages.create(model=model, max_tokens=1, messages=user(PROMPT)).usage.output_tokens
        == 1
    )
    bearer = anthropic.Anthropic(base_url=server.url, auth_token=KEY, max_retries=0)
    assert (
        bearer.messages.create(model=model, max_tokens=1, messages=user(PROMPT)).usage.output_tokens
        == 1
    )
    wrong = anthropic.Anthropic(base_url=server.url, api_key=KEY + "x", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as exc:
        wrong.messages.create(model=model, max_tokens=1, messages=user(PROMPT))
    assert exc.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    body = {"model": model, "max_tokens": 1, "messages": user(PROMPT)}
    r = post(server, body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    # x-api-key opens Ollama's own routes too; a wrong one does not.
    assert httpx.get(server.url + "/api/tags", headers={"x-api-key": KEY}).status_code == 200
    r = httpx.get(server.url + "/api/tags", headers={"x-api-key": KEY[:-1]})
    assert r.status_code == 401 and r.json() == {"error": "unauthorized"}


class Stream(threading.Thread):
    """A streamed request in a thread, its SSE lines kept."""

    def __init__(self, server: ServerProcess, body: dict) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.url}/v1/messages"
        self.body = body
        self.lines: list[str] = []
        self.start()

    def run(self) -> None:
        with httpx.stream("POST", self.url, json=self.body, timeout=300) as r:
            for line in r.iter_lines():
                if line:
                    self.lines.append(line)


def test_a_full_queue_is_overloaded_and_shutdown_ends_a_stream_with_an_error_event(
    make_server, model
):
    server = make_server(OLLAMA_NUM_PARALLEL="1", OLLAMA_MAX_QUEUE="1", OLLAMA_SHUTDOWN_GRACE="1s")
    endless = {"model": model, "max_tokens": 1_000_000, "messages": user(PROMPT), "stream": True}
    stream = Stream(server, endless)
    wait_until(lambda: len(stream.lines) > 4, lambda: f"the stream under way:\n{server.log()}", 120)

    busy = post(server, {"model": model, "max_tokens": 2, "messages": user(PROMPT)})
    assert error_of(busy, 503) == {
        "type": "overloaded_error",
        "message": "server busy, please try again.  maximum pending requests exceeded",
    }
    assert busy.headers["retry-after"]

    server.proc.send_signal(signal.SIGTERM)
    stream.join(120)
    assert not stream.is_alive()
    assert server.proc.wait(timeout=120) == 0
    # After the status was sent, the error is the stream's last event, as Anthropic sends one.
    assert stream.lines[-2:] == [
        "event: error",
        'data: {"type":"error","error":{"type":"overloaded_error",'
        '"message":"server shutting down"}}',
    ]
    assert "event: message_stop" not in stream.lines


def test_refusals_made_before_the_route_have_anthropic_s_shape(make_server, model):
    limit = 4096
    server = make_server(OLLAMA_MAX_BODY_BYTES=str(limit), OLLAMA_BODY_TIMEOUT="1s")
    too_large = {
        "type": "request_too_large",
        "message": f"request body too large (limit {limit} bytes)",
    }
    big = json.dumps({"model": model, "max_tokens": 1, "messages": user("x" * limit)}).encode()
    assert error_of(post(server, big), 413) == too_large  # refused by its Content-Length
    chunks = (big[i : i + 1024] for i in range(0, len(big), 1024))
    chunked = httpx.post(f"{server.url}/v1/messages", content=chunks, timeout=120)
    assert error_of(chunked, 413) == too_large  # counted as it arrives

    # A body that stops coming: 408, a 4XX Anthropic names no type for, so its documented
    # catch-all; the connection is closed.
    host, port = server.host.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        head = f"POST /v1/messages HTTP/1.1\r\nHost: {server.host}\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b'{"model": ')
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in headers.lower()
    slow = json.loads(body)
    assert set(slow) == {"type", "error", "request_id"} and slow["type"] == "error"
    assert slow["error"]["type"] == "invalid_request_error"
    assert slow["error"]["message"].startswith("request body not received in time")

    # Another method, or a path under /v1/messages that no route serves: gin's words, in
    # Anthropic's shape; a 405 still says what is allowed.
    r = httpx.get(f"{server.url}/v1/messages", timeout=30)
    assert error_of(r, 405) == {
        "type": "invalid_request_error",
        "message": "405 method not allowed",
    }
    assert "POST" in r.headers["allow"]
    r = httpx.post(f"{server.url}/v1/messages/batches", json={}, timeout=30)
    assert error_of(r, 404) == {"type": "not_found_error", "message": "404 page not found"}

    # The other routes keep their own shapes: OpenAI's error object, Ollama's, gin's text.
    r = httpx.post(f"{server.url}/v1/chat/completions", content=big, timeout=30)
    assert r.status_code == 413 and set(r.json()) == {"error"}
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(f"{server.url}/api/chat", content=big, timeout=30)
    assert r.status_code == 413 and r.json() == {"error": too_large["message"]}
    r = httpx.get(f"{server.url}/v1/chat/completions", timeout=30)
    assert (r.status_code, r.text) == (405, "405 method not allowed")
    r = httpx.get(f"{server.url}/v1/messagesx", timeout=30)
    assert (r.status_code, r.text) == (404, "404 page not found")
    still_serving(server, model)


# --- translation: requests ---------------------------------------------------------------------


def translate(**fields) -> list[dict]:
    body = {"model": "m", "max_tokens": 8, "messages": user("hi"), **fields}
    return [
        m.to_wire()
        for m in from_messages_request(ant.MessagesRequest.model_validate(body)).messages
    ]


def test_request_translation():
    req = ant.MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 100,
            "system": [
                {"type": "text", "text": "Be "},
                {"type": "image"},
                {"type": "text", "text": "kind."},
            ],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is "},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "eHg="},
                        },
                        {"type": "text", "text": "this?"},
                    ],
                },
                {
                    "role": "Assistant",
                    "content": [
                        {"type": "thinking", "thinking": "Let me look.", "signature": "sig"},
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "look",
                            "input": {"at": "it", "n": 2},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Here:"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [
                                {"type": "text", "text": "a "},
                                {"type": "image", "source": {"type": "base64", "data": "eXk="}},
                                {"type": "text", "text": "cat"},
                            ],
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": "ok",
                            "is_error": True,
                        },
                        {"type": "document", "source": {"type": "text"}},  # ignored
                    ],
                },
                {"role": "assistant", "content": None},  # an empty text: no message
            ],
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 7,
            "stop_sequences": ["\n\n", "END"],
            "tools": [TOOL],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "metadata": {"user_id": "u"},
            "stream": True,
        }
    )
    chat = from_messages_request(req)
    assert [m.to_wire() for m in chat.messages] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "What is this?", "images": ["eHg="]},
        {
            "role": "assistant",
            "content": "",
            "thinking": "Let me look.",
            "tool_calls": [
                {"id": "toolu_1", "function": {"name": "look", "arguments": {"at": "it", "n": 2}}}
            ],
        },
        # A user's tool results come first, each a message of its own, then the user's text.
        {"role": "tool", "content": "a cat", "images": ["eXk="], "tool_call_id": "toolu_1"},
        {"role": "tool", "content": "ok", "tool_call_id": "toolu_2"},
        {"role": "user", "content": "Here:"},
    ]
    assert chat.options == {
        "num_predict": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 7,
        "stop": ["\n\n", "END"],
    }
    assert [t.to_wire() for t in chat.tools or []] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": TOOL["input_schema"],
            },
        }
    ]
    assert (chat.model, chat.stream, chat.think) == ("m", True, True)


def test_request_defaults_impose_nothing_but_num_predict():
    chat = from_messages_request(
        ant.MessagesRequest.model_validate({"model": "m", "max_tokens": 8, "messages": user("hi")})
    )
    assert chat.options == {"num_predict": 8}
    assert (chat.stream, chat.think, chat.tools) == (False, None, None)
    assert chat.messages == [Message(role="user", content="hi")]


def test_an_assistant_s_tool_results_follow_its_message():
    messages = translate(
        messages=[
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": {"not": "text"}},
                    {"type": "text", "text": "done"},
                ],
            }
        ]
    )
    assert messages == [
        {"role": "assistant", "content": "done"},
        {"role": "tool", "content": "", "tool_call_id": "t"},
    ]


@pytest.mark.parametrize(
    ("fields", "think"),
    [
        ({"thinking": {"type": "disabled"}}, False),
        ({"thinking": {"type": "enabled"}, "output_config": {"effort": "low"}}, True),
        ({"output_config": {"effort": " XHigh "}}, "high"),
        ({"output_config": {"effort": "max"}}, "max"),
        ({"output_config": {"effort": "none"}}, None),
        ({"thinking": {"type": "adaptive"}}, None),
    ],
)
def test_thinking_and_effort_map_to_think(fields, think):
    body = {"model": "m", "max_tokens": 8, "messages": user("hi"), **fields}
    assert from_messages_request(ant.MessagesRequest.model_validate(body)).think == think


def test_anthropic_s_web_search_tool_takes_the_name():
    body = {
        "model": "m",
        "max_tokens": 8,
        "messages": user("news?"),
        "tools": [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            {"name": "web_search", "input_schema": {"type": "object"}},  # the client's: dropped
            {"type": "custom", "name": "other"},
        ],
    }
    tools = from_messages_request(ant.MessagesRequest.model_validate(body)).tools or []
    assert [t.function.name for t in tools] == ["web_search", "other"]
    assert tools[0].function.parameters["required"] == ["query"]
    assert tools[1].function.parameters == {}


def test_earlier_web_search_turns_become_tool_messages():
    messages = translate(
        messages=[
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "q"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [
                            {"type": "web_search_result", "title": "A", "url": "https://a.example"},
                            {"type": "web_search_result", "title": "B", "url": "https://b.example"},
                        ],
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_2",
                        "content": {
                            "type": "web_search_tool_result_error",
                            "error_code": "max_uses_exceeded",
                        },
                    },
                ],
            }
        ]
    )
    assert messages == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "srvtoolu_1",
                    "function": {"name": "web_search", "arguments": {"query": "q"}},
                }
            ],
        },
        {
            "role": "tool",
            "content": "- A: https://a.example\n- B: https://b.example\n",
            "tool_call_id": "srvtoolu_1",
        },
        {
            "role": "tool",
            "content": "web_search_tool_result_error: max_uses_exceeded",
            "tool_call_id": "srvtoolu_2",
        },
    ]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"type": "tool_use", "name": "f"}, "tool_use block missing required 'id' field"),
        ({"type": "tool_use", "id": "t"}, "tool_use block missing required 'name' field"),
        ({"type": "image"}, "invalid image source"),
        (
            {"type": "image", "source": {"type": "url", "url": "https://a.example/x.png"}},
            "invalid image source type: url. Only base64 images are supported.",
        ),
        # Go's decoder: padding required, the offset of the first byte it cannot read.
        (
            {"type": "image", "source": {"type": "base64", "data": "eHg"}},
            "invalid base64 image data: illegal base64 data at input byte 0",
        ),
        (
            {"type": "image", "source": {"type": "base64", "data": "eH!="}},
            "illegal base64 data at input byte 2",
        ),
        (
            {"type": "image", "source": {"type": "base64", "data": "eHg=eHg="}},
            "illegal base64 data at input byte 4",
        ),
        (
            {"type": "image", "source": {"type": "base64", "data": "eA="}},
            "illegal base64 data at input byte 3",
        ),
        (
            {
                "type": "tool_result",
                "tool_use_id": "t",
                "content": [{"type": "image", "source": "x"}],
            },
            "invalid tool_result image source",
        ),
    ],
)
def test_bad_blocks_are_refused_with_ollama_s_words(block, message):
    with pytest.raises(InvalidRequest) as exc:
        translate(messages=[{"role": "assistant", "content": [block]}])
    assert message in exc.value.message


def test_base64_with_line_breaks_is_read_as_go_reads_it():
    [msg] = translate(
        messages=[
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "base64", "data": "eH\r\ng="}}],
            }
        ]
    )
    assert msg["images"] == ["eHg="]


def test_a_tool_schema_that_is_no_object_is_refused():
    with pytest.raises(InvalidRequest) as exc:
        translate(tools=[{"name": "f", "input_schema": "object"}])
    assert exc.value.message == (
        'invalid input_schema for tool "f": json: cannot unmarshal string into Go value of type '
        "api.ToolFunctionParameters"
    )


def test_the_input_token_estimate_is_ollama_s():
    req = ant.MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 8,
            "system": "12345678",  # 8
            "messages": [
                {"role": "user", "content": "abcdefgh"},  # 4 + 8
                {
                    "role": "assistant",  # 9
                    "content": [
                        {"type": "thinking", "thinking": "hmm"},  # 3
                        # 3 + its JSON: {"type":"tool_use","id":"t","name":"f","input":{"a":"<"}}
                        {"type": "tool_use", "id": "t", "name": "f", "input": {"a": "<"}},
                    ],
                },
            ],
            "tools": [
                {"name": "f", "description": "d", "input_schema": {"type": "object"}}
            ],  # 2 + 17
        }
    )
    tool_use = len('{"type":"tool_use","id":"t","name":"f","input":{"a":"\\u003c"}}')
    assert estimate_input_tokens(req) == (8 + 4 + 8 + 9 + 3 + tool_use + 2 + 17) // 4
    tiny = ant.MessagesRequest.model_validate({"model": "m", "messages": user("")})
    assert estimate_input_tokens(tiny) == 1  # something, however little


# --- translation: responses --------------------------------------------------------------------


def reply(
    content: str = "", thinking: str | None = None, calls=None, done=False, reason=None, **stats
):
    return ChatResponse(
        model="m",
        message=Message(role="assistant", content=content, thinking=thinking, tool_calls=calls),
        done=done,
        done_reason=reason,
        **stats,
    )


CALL = ToolCall(id="call_1", function=ToolCallFunction(name="look", arguments={"at": "it"}))


def test_a_whole_reply_as_one_message():
    r = reply(
        "Here.",
        thinking="Hmm.",
        calls=[CALL],
        done=True,
        reason="stop",
        prompt_eval_count=9,
        eval_count=4,
    )
    assert json.loads(to_messages_response("msg_1", r).to_json()) == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [
            {"type": "thinking", "thinking": "Hmm."},
            {"type": "text", "text": "Here."},
            {"type": "tool_use", "id": "call_1", "name": "look", "input": {"at": "it"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 9, "output_tokens": 4},
    }
    # No block at all: Ollama's content is null.
    empty = json.loads(to_messages_response("msg_2", reply(done=True, reason="length")).to_json())
    assert empty["content"] is None and empty["stop_reason"] == "max_tokens"
    assert empty["usage"] == {"input_tokens": 0, "output_tokens": 0}


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("length", True, "tool_use"),
        ("unload", False, "stop_sequence"),  # any other reason, as Ollama maps it
        (None, False, None),
    ],
)
def test_stop_reasons(reason, calls, expected):
    assert stop_reason(reason, calls) == expected


def events_of(converter: StreamConverter, *chunks: ChatResponse) -> list[dict]:
    return [json.loads(e.to_json()) for chunk in chunks for e in converter.process(chunk)]


def test_thinking_text_and_a_tool_call_stream_as_three_blocks():
    converter = StreamConverter("msg_1", "m", estimated_input_tokens=12)
    events = events_of(
        converter,
        reply(thinking="Hm"),
        reply(thinking="m."),
        reply("Let me "),
        reply("look.", calls=[CALL]),
        reply(calls=[CALL]),  # a call already sent is not sent again
        reply(done=True, reason="stop", prompt_eval_count=20, eval_count=7),
    )
    assert events == [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "usage": {"input_tokens": 12, "output_tokens": 0},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Hm"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "m."},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Let me "},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "look."},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "call_1", "name": "look", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"at":"it"}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"input_tokens": 20, "output_tokens": 7},
        },
        {"type": "message_stop"},
    ]


def test_a_reply_in_one_chunk_counts_its_real_input_tokens_from_the_start():
    converter = StreamConverter("msg_1", "m", estimated_input_tokens=99)
    events = events_of(
        converter,
        reply(thinking="t", done=True, reason="length", prompt_eval_count=5, eval_count=1),
    )
    assert events[0]["message"]["usage"] == {"input_tokens": 5, "output_tokens": 0}
    # The open thinking block is closed before the end.
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[-2]["delta"] == {"stop_reason": "max_tokens"}
