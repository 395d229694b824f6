"""POST /api/chat against a real server, on models whose chat templates these tests control.

The models are the bundled Gemma GGUF with other templates, written straight into the running
server's store (it reads manifests on every request). Gemma 3 270M *pretrained* is not
chat-tuned, so its answers are checked for shape, and tool calls and thinking are provoked
deterministically: a `format` schema forces the JSON of a tool call, and a few-shot
conversation makes the model repeat the thinking pattern it was shown. Where the answer itself
matters, the bundled chat model (`smollm2:135m`, ChatML) answers instead; too small to use a
tool's result or the earlier turns of a conversation, it is not asked to.
"""

from __future__ import annotations

import json
from typing import Literal

import httpx
import ollama
import pytest
from pydantic import BaseModel

from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import MEDIA_MODEL, MEDIA_SYSTEM, MEDIA_TEMPLATE, Layer, Store
from ollama_toolkit.template import named_template
from scripted_model import TOOLS_TEMPLATE

GEMMA = "chat-gemma3:latest"  # Ollama's gemma3-instruct template
SYSTEMATIC = "chat-system:latest"  # the same, with a SYSTEM layer
TOOLS = "chat-tools:latest"  # tools in the system turn, past calls as bare JSON objects
THINKER = "chat-think:latest"  # <think> … </think> written back, opened when .Think is on

THINK_TEMPLATE = """\
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ .Content }}<end_of_turn>
{{ else if eq .Role "assistant" }}<start_of_turn>model
{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}
{{- if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<start_of_turn>model
{{ if $.Think }}<think>{{ end }}
{{- end }}
{{- end }}"""

GREEDY = {"temperature": 0, "num_predict": 8}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class WeatherArguments(BaseModel):
    city: Literal["Paris", "London"]


class WeatherCall(BaseModel):
    """The JSON of a call as TOOLS_TEMPLATE writes it: forcing it makes the model call."""

    name: Literal["get_weather"]
    arguments: WeatherArguments


# The model repeats the pattern it was shown: thinking first, then the answer.
FEW_SHOT_THINKING = [
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "thinking": "France is a country in Europe.", "content": "Paris."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "thinking": "France is a country in Europe.", "content": "Paris."},
    {"role": "user", "content": "Capital of France?"},
]


@pytest.fixture(scope="module", autouse=True)
def chat_models(server) -> None:
    """Register the test models in the running server's store, sharing the bundled GGUF."""
    store = Store(server.models_dir)
    base = store.read_manifest(ModelName.parse(BUNDLED_MODEL))

    def add(name: str, template: str, system: str | None = None) -> None:
        layers = [base.layer(MEDIA_MODEL)]
        for media, text in ((MEDIA_TEMPLATE, template), (MEDIA_SYSTEM, system)):
            if text is not None:
                blob = store.write_blob_bytes(text.encode())
                layers.append(Layer(media, blob.digest, blob.size))
        store.write_manifest(ModelName.parse(name), base.config, layers)

    gemma3, _ = named_template("gemma3-instruct")
    add(GEMMA, gemma3)
    add(SYSTEMATIC, gemma3, system="Model system.")
    add(TOOLS, TOOLS_TEMPLATE)
    add(THINKER, THINK_TEMPLATE)


def post(server, payload: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/api/chat", json=payload, timeout=300)


def lines(resp: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def user(content: str) -> dict:
    return {"role": "user", "content": content}


def rendered(server, payload: dict) -> str:
    resp = post(server, {**payload, "_debug_render_only": True, "stream": False})
    assert resp.status_code == 200, resp.text
    return resp.json()["_debug_info"]["rendered_template"]


# --- the conversation and its prompt ---------------------------------------------------------


def test_streamed_chat_sends_assistant_chunks_then_the_statistics(server):
    payload = {"model": GEMMA, "messages": [user("Why is the sky blue?")], "options": GREEDY}
    resp = post(server, payload)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-ndjson"
    *parts, final = lines(resp)
    assert parts
    for part in parts:
        assert set(part) == {"model", "created_at", "message", "done"}
        assert part["model"] == GEMMA and part["done"] is False
        assert part["message"]["role"] == "assistant"
        assert set(part["message"]) == {"role", "content"}
    assert final["done"] is True and final["done_reason"] == "length"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["eval_count"] == 8 and final["prompt_eval_count"] > 10
    for key in ("total_duration", "prompt_eval_duration", "eval_duration"):
        assert final[key] > 0
    assert "context" not in final

    whole = post(server, {**payload, "stream": False})
    assert whole.headers["content-type"].startswith("application/json")
    body = whole.json()
    assert body["message"]["content"] == "".join(p["message"]["content"] for p in parts)
    assert body["done_reason"] == "length" and body["eval_count"] == 8


def test_debug_render_only_returns_the_prompt_exactly(server):
    messages = [
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        {"role": "assistant", "content": "Hello!"},
        user("Bye"),
    ]
    resp = post(server, {"model": GEMMA, "messages": messages, "_debug_render_only": True})
    assert resp.status_code == 200
    (body,) = lines(resp)
    assert body["_debug_info"]["rendered_template"] == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n\n"
    )


def test_the_model_system_prompt_comes_first_unless_the_request_has_one(server):
    assert rendered(server, {"model": SYSTEMATIC, "messages": [user("Hi")]}) == (
        "<start_of_turn>user\nModel system.\n\nHi<end_of_turn>\n<start_of_turn>model\n\n"
    )
    mine = [{"role": "system", "content": "Mine."}, user("Hi")]
    assert rendered(server, {"model": SYSTEMATIC, "messages": mine}).startswith(
        "<start_of_turn>user\nMine.\n\nHi"
    )


def test_tools_and_past_tool_calls_render_into_the_prompt(server):
    messages = [
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": None,  # as OpenAI-style clients send it
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "Sunny", "tool_name": "get_weather"},
        user("Thanks"),
    ]
    prompt = rendered(server, {"model": TOOLS, "messages": messages, "tools": [WEATHER_TOOL]})
    assert prompt == (
        "<start_of_turn>system\nTools:\n"
        '{"name":"get_weather","description":"The current weather in a city",'
        '"parameters":{"type":"object","required":["city"],'
        '"properties":{"city":{"type":"string"}}}}\n<end_of_turn>\n'
        "<start_of_turn>user\nWeather in Paris?<end_of_turn>\n"
        '<start_of_turn>model\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n'
        "<end_of_turn>\n"
        "<start_of_turn>tool get_weather\nSunny<end_of_turn>\n"
        "<start_of_turn>user\nThanks<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_a_long_conversation_drops_old_turns_but_keeps_the_system_message(server):
    turns = []
    for i in range(8):
        turns += [user(f"Question {i}: tell me a long story about ships."), {
            "role": "assistant", "content": f"Answer {i}: once upon a time there was a ship."
        }]  # fmt: skip
    messages = [{"role": "system", "content": "You are a pirate."}, *turns, user("Last?")]
    payload = {"model": TOOLS, "messages": messages, "options": {"num_ctx": 64}}
    prompt = rendered(server, payload)
    assert prompt.startswith("<start_of_turn>system\nYou are a pirate.<end_of_turn>\n")
    assert prompt.endswith("<start_of_turn>user\nLast?<end_of_turn>\n<start_of_turn>model\n")
    assert "Question 0" not in prompt and "Question 7" in prompt
    assert rendered(server, {**payload, "options": {"num_ctx": 4096}}).count("Question") == 8

    refused = post(server, {**payload, "truncate": False, "stream": False})
    assert refused.status_code == 400
    assert "exceeds the available context size (64 tokens)" in refused.json()["error"]

    answered = post(server, {**payload, "stream": False, "options": {"num_ctx": 64, **GREEDY}})
    assert answered.status_code == 200
    assert answered.json()["prompt_eval_count"] <= 64


def test_empty_messages_load_the_model_and_keep_alive_zero_unloads_it(server):
    def running() -> list[str]:
        return [m["model"] for m in httpx.get(f"{server.url}/api/ps").json()["models"]]

    loaded = post(server, {"model": GEMMA, "messages": [], "stream": False}).json()
    assert loaded["done"] is True and loaded["done_reason"] == "load"
    assert loaded["message"] == {"role": "assistant", "content": ""}
    assert GEMMA in running()
    unloaded = post(server, {"model": GEMMA, "messages": [], "keep_alive": 0}).json()
    assert unloaded["done_reason"] == "unload"
    assert GEMMA not in running()


@pytest.mark.parametrize(
    "payload, status, error",
    [
        ({"messages": [user("hi")]}, 400, "model is required"),
        ({"model": "nope", "messages": [user("hi")]}, 404, "model 'nope' not found"),
        (
            {"model": GEMMA, "messages": [user("hi")], "tools": [WEATHER_TOOL]},
            400,
            # Ollama's scheduler words a missing capability with the full name, unquoted.
            f"{ModelName.parse(GEMMA)} does not support tools",
        ),
        ({"model": GEMMA, "messages": [user("hi")], "think": True}, 400, "support thinking"),
        (
            {"model": GEMMA, "messages": [{"role": "user", "content": "?", "images": ["aGk="]}]},
            400,
            f'"{GEMMA}" does not support images',
        ),
        (
            {"model": GEMMA, "messages": [user("hi")], "top_logprobs": 21},
            400,
            "top_logprobs must be between 0 and 20",
        ),
        ({"model": GEMMA, "messages": "hi"}, 400, "cannot unmarshal string"),
    ],
)
def test_refusals_are_plain_errors(server, payload, status, error):
    resp = post(server, {"stream": False, **payload})
    assert resp.status_code == status
    assert error in resp.json()["error"]


def test_logprobs_come_with_the_chunks(server):
    payload = {
        "model": GEMMA,
        "messages": [user("Hi")],
        "logprobs": True,
        "top_logprobs": 2,
        "options": {"temperature": 0, "num_predict": 3},
        "stream": False,
    }
    body = post(server, payload).json()
    assert len(body["logprobs"]) == 3
    assert all(len(lp["top_logprobs"]) == 2 for lp in body["logprobs"])


def test_a_client_that_vanishes_mid_stream_frees_its_slot(make_server, model):
    server = make_server(OLLAMA_NUM_PARALLEL="1")
    endless = {
        "model": model,  # the bundled model: its legacy template serves chat too
        "messages": [user("1, 2, 3, 4, 5, 6,")],
        "options": {"num_predict": -1, "num_ctx": 512, "temperature": 0},
    }
    with httpx.Client(timeout=60) as client:
        request = client.build_request("POST", f"{server.url}/api/chat", json=endless)
        resp = client.send(request, stream=True)
        chunks = resp.iter_raw()
        while not next(chunks).strip():
            pass
        resp.close()
    # With one slot, this only completes if the vanished client's slot was freed.
    answer = {"model": model, "messages": [user("Hi")], "stream": False, "options": GREEDY}
    assert post(server, answer).json()["eval_count"] == 8


# --- tool calls and thinking in the answer ---------------------------------------------------


def test_a_tool_call_in_the_output_is_streamed_as_soon_as_it_is_complete(server):
    payload = {
        "model": TOOLS,
        "messages": [user("What is the weather in Paris?")],
        "tools": [WEATHER_TOOL],
        "format": WeatherCall.model_json_schema(),
        "options": {"temperature": 0, "num_predict": 32},
    }
    *parts, final = lines(post(server, payload))
    calls = [(i, c) for i, p in enumerate(parts) for c in p["message"].get("tool_calls", ())]
    assert len(calls) == 1
    _, call = calls[0]
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"]["city"] in {"Paris", "London"}
    assert call["function"]["index"] == 0 and call["id"].startswith("call_")
    assert all(p["message"]["content"] == "" for p in parts)  # the JSON became the call
    assert final["done"] is True and final["done_reason"] == "stop"


def test_thinking_is_split_from_the_answer_as_it_streams(server):
    payload = {
        "model": THINKER,
        "messages": FEW_SHOT_THINKING,
        "options": {"temperature": 0, "num_predict": 16},
    }
    assert rendered(server, payload).endswith("<start_of_turn>model\n<think>")
    parts = lines(post(server, payload))
    thinking = "".join(p["message"].get("thinking", "") for p in parts)
    content = "".join(p["message"]["content"] for p in parts)
    assert "France is a country in Europe." in thinking and "</think>" not in thinking
    assert content.startswith("Paris.")
    first_content = next(i for i, p in enumerate(parts) if p["message"]["content"])
    assert all("thinking" not in p["message"] for p in parts[first_content:])


def test_think_false_leaves_the_thinking_out(server):
    payload = {"model": THINKER, "messages": [user("Hi")], "think": False}
    assert rendered(server, payload).endswith("<start_of_turn>model\n")
    body = post(server, {**payload, "stream": False, "options": GREEDY}).json()
    assert "thinking" not in body["message"] and body["message"]["content"]


def test_format_after_thinking_constrains_only_the_answer(server):
    class Capital(BaseModel):
        capital: Literal["Paris", "Rome"]

    payload = {
        "model": THINKER,
        "messages": FEW_SHOT_THINKING,
        "format": Capital.model_json_schema(),
        "options": {"temperature": 0, "num_predict": 24},
        "stream": False,
    }
    message = post(server, payload).json()["message"]
    assert "France is a country in Europe." in message["thinking"]
    Capital.model_validate_json(message["content"])


# --- the official client -----------------------------------------------------------------------


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url)


def test_official_client_chats_streaming_and_not(client, chat_model):
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    whole = client.chat(chat_model, messages=messages, options=GREEDY)
    assert whole.done and whole.done_reason == "length" and whole.eval_count == 8
    assert whole.message.role == "assistant"
    assert "sky" in whole.message.content.casefold()  # an answer, not the next question
    parts = list(client.chat(chat_model, messages=messages, options=GREEDY, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content or "" for p in parts) == whole.message.content


def test_official_client_chats_with_a_python_function_as_tool(client):
    def get_weather(city: str) -> str:
        """The current weather in a city.

        Args:
            city: The city's name
        """
        return "Sunny"

    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    response = client.chat(
        TOOLS,
        messages=messages,
        tools=[get_weather],
        format=WeatherCall.model_json_schema(),
        options={"temperature": 0, "num_predict": 32},
    )
    (call,) = response.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments["city"] in {"Paris", "London"}

    # The call and its result go back into the conversation.
    messages += [response.message, {"role": "tool", "content": "Sunny", "tool_name": "get_weather"}]
    follow_up = client.chat(TOOLS, messages=messages, tools=[get_weather], options=GREEDY)
    assert follow_up.done


def test_official_client_chats_with_a_pydantic_format(client, chat_model):
    class Pet(BaseModel):
        kind: Literal["cat", "dog"]
        name: Literal["Tom", "Rex"]

    response = client.chat(
        chat_model,
        messages=[{"role": "user", "content": "Describe a pet as JSON."}],
        format=Pet.model_json_schema(),
        options={"temperature": 0, "num_predict": 32},
    )
    pet = Pet.model_validate_json(response.message.content)
    assert pet.kind in {"cat", "dog"}
    assert response.done_reason == "stop"  # the object closed, well within the limit


def test_official_client_gets_thinking(client):
    response = client.chat(
        THINKER,
        messages=FEW_SHOT_THINKING,
        think=True,
        options={"temperature": 0, "num_predict": 16},
    )
    assert "France is a country in Europe." in response.message.thinking
    assert response.message.content.startswith("Paris.")
