"""OpenAI's Responses API (POST /v1/responses) as Ollama serves it: the official `openai`
client against a real server for text, and the translation's pure functions for what neither
bundled model can produce (tool calls, thinking, images)."""

from __future__ import annotations

import json
import signal
import typing
from typing import Any

import httpx
import openai
import pytest
import zstandard
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseStreamEvent as SDKStreamEvent

from ollama_toolkit.api import openai_responses as r
from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.api.types import ChatResponse, Message, ToolCall, ToolCallFunction
from ollama_toolkit.translate import openai as openai_translation
from ollama_toolkit.translate.openai_responses import (
    ResponsesStream,
    from_responses_request,
    parse_input,
    to_response,
)
from scripted_model import WEATHER_CALL, create_scripted_model, write_scripted_gguf

QUESTION = "What is the capital of France?"
PROMPT = "The capital of France is"
IMAGE_URL = "data:image/png;base64,eHg="  # "xx"

# Every field of Ollama's Response object, in its order.
RESPONSE_FIELDS = [
    "id",
    "object",
    "created_at",
    "completed_at",
    "status",
    "incomplete_details",
    "model",
    "previous_response_id",
    "instructions",
    "output",
    "error",
    "tools",
    "tool_choice",
    "truncation",
    "parallel_tool_calls",
    "text",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "temperature",
    "reasoning",
    "usage",
    "max_output_tokens",
    "max_tool_calls",
    "store",
    "background",
    "service_tier",
    "metadata",
    "safety_identifier",
    "prompt_cache_key",
]

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)


def _event_classes() -> dict[str, Any]:
    union = typing.get_args(SDKStreamEvent)[0]
    return {typing.get_args(cls.model_fields["type"].annotation)[0]: cls for cls in union.__args__}


SDK_EVENTS = _event_classes()


def sdk_event(data: dict[str, Any]) -> Any:
    """A streamed event validated (not merely constructed) as the SDK's type of its kind."""
    return SDK_EVENTS[data["type"]].model_validate(data)


def collapse(types: list[str]) -> list[str]:
    """Event types with runs of deltas counted once."""
    out: list[str] = []
    for t in types:
        if not (t.endswith(".delta") and out and out[-1] == t):
            out.append(t)
    return out


def sse(resp: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of each server-sent event; every one has both lines."""
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in resp.text.split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: "), block
        events.append((event_line.removeprefix("event: "), json.loads(data_line[6:])))
    return events


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- end to end ------------------------------------------------------------------------------


def test_create_answers_with_a_response(client, chat_model):
    resp = client.responses.create(
        model=chat_model, input=QUESTION, temperature=0, max_output_tokens=48
    )
    assert resp.id.startswith("resp_")
    assert resp.object == "response"
    assert resp.status == "completed" and resp.incomplete_details is None
    assert resp.model == chat_model
    assert isinstance(resp.created_at, int | float) and resp.created_at > 0
    assert "Paris" in resp.output_text
    [message] = resp.output
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.status == "completed"
    assert [c.type for c in message.content] == ["output_text"]
    assert resp.usage.input_tokens > 0 and 0 < resp.usage.output_tokens < 48
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.max_output_tokens == 48 and resp.temperature == 0


def test_the_response_object_has_ollamas_fields(server, chat_model):
    resp = httpx.post(
        f"{server.url}/v1/responses",
        json={"model": chat_model, "input": QUESTION, "max_output_tokens": 4},
        timeout=120,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == RESPONSE_FIELDS
    assert body["completed_at"] >= body["created_at"]
    for field in ("previous_response_id", "instructions", "error", "reasoning"):
        assert body[field] is None, field
    assert (body["tools"], body["tool_choice"], body["truncation"]) == ([], "auto", "disabled")
    assert body["text"] == {"format": {"type": "text"}}
    assert (body["top_p"], body["temperature"]) == (1, 1)  # OpenAI's defaults, echoed
    assert (body["store"], body["background"], body["service_tier"]) == (False, False, "default")
    assert body["metadata"] == {} and body["parallel_tool_calls"] is True
    assert body["usage"]["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert body["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}
    assert set(body["output"][0]["content"][0]) == {"type", "text", "annotations", "logprobs"}
    SDKResponse.model_validate(body)  # the SDK's own types, validated


def test_max_output_tokens_leaves_the_response_incomplete(client, model):
    resp = client.responses.create(model=model, input=PROMPT, temperature=0, max_output_tokens=3)
    assert resp.status == "incomplete"
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage.output_tokens == 3
    assert resp.max_output_tokens == 3
    assert resp.output_text


def test_instructions_become_the_system_message(client, chat_model):
    args = dict(model=chat_model, input=QUESTION, temperature=0, max_output_tokens=4)
    plain = client.responses.create(**args)
    instructed = client.responses.create(**args, instructions="Answer in French, in one word.")
    assert plain.instructions is None
    assert instructed.instructions == "Answer in French, in one word."
    # The instructions are part of the prompt.
    assert instructed.usage.input_tokens > plain.usage.input_tokens + 5


def test_input_items_are_a_conversation(client, server, chat_model):
    items = [
        {"type": "message", "role": "system", "content": "You answer questions about France."},
        {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "The capital of France is Paris."}],
        },
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "And what river runs "},
                {"type": "input_text", "text": "through it?"},
            ],
        },
    ]
    resp = client.responses.create(
        model=chat_model, input=items, temperature=0, max_output_tokens=8
    )
    assert resp.output_text and resp.output[0].type == "message"
    # The same conversation on /api/chat has the same prompt, to the token.
    messages = [
        {"role": "system", "content": "You answer questions about France."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "The capital of France is Paris."},
        {"role": "user", "content": "And what river runs through it?"},
    ]
    chat = httpx.post(
        f"{server.url}/api/chat",
        json={
            "model": chat_model,
            "messages": messages,
            "stream": False,
            "options": {"num_predict": 1},
        },
        timeout=120,
    ).json()
    assert resp.usage.input_tokens == chat["prompt_eval_count"] > 40


def test_stream_events_in_order(client, chat_model):
    args = dict(model=chat_model, input=QUESTION, temperature=0, max_output_tokens=48)
    whole = client.responses.create(**args)
    events = list(client.responses.create(**args, stream=True))
    types = [e.type for e in events]
    assert collapse(types) == [*TEXT_EVENTS, "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))

    created, in_progress, added, part_added, *_ = events
    *_, text_done, part_done, item_done, completed = events
    response_id = created.response.id
    assert response_id.startswith("resp_")
    assert {created.response.status, in_progress.response.status} == {"in_progress"}
    assert created.response.output == [] and created.response.usage is None
    assert added.item.type == "message" and added.item.status == "in_progress"
    item_id = added.item.id
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert all(e.item_id == item_id and e.output_index == 0 for e in deltas)
    assert part_added.part.text == ""
    text = "".join(e.delta for e in deltas)
    assert text == text_done.text == part_done.part.text == item_done.item.content[0].text
    assert item_done.item.status == "completed" and item_done.item.id == item_id

    final = completed.response
    assert final.id == response_id and final.status == "completed"
    assert final.output_text == text == whole.output_text
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens


def test_stream_is_server_sent_events_with_event_lines(server, chat_model):
    resp = httpx.post(
        f"{server.url}/v1/responses",
        json={"model": chat_model, "input": QUESTION, "max_output_tokens": 6, "stream": True},
        timeout=120,
    )
    assert resp.status_code == 200
    events = sse(resp)
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    for _, data in events:
        sdk_event(data)  # every event is one the SDK's types accept
    name, last = events[-1]
    # Six tokens cannot answer the question: the stream ends as OpenAI ends a cut-off reply.
    assert name == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["usage"]["output_tokens"] == 6
    assert list(last["response"]) == RESPONSE_FIELDS


def test_stream_helper_gets_the_final_response(client, chat_model):
    with client.responses.stream(
        model=chat_model, input=QUESTION, temperature=0, max_output_tokens=48
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "".join(deltas)
    assert "Paris" in final.output_text


def test_json_schema_format_gives_json_that_validates(client, chat_model):
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string"}, "country": {"type": "string"}},
        "required": ["capital", "country"],
    }
    fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
    resp = client.responses.create(
        model=chat_model,
        input="What is the capital of France? Answer in JSON.",
        temperature=0,
        max_output_tokens=64,
        text={"format": fmt},
    )
    assert resp.status == "completed"
    value = json.loads(resp.output_text)
    assert set(value) == {"capital", "country"}
    assert all(isinstance(v, str) for v in value.values())
    assert resp.text.format.type == "json_schema"
    assert resp.text.format.name == "answer" and resp.text.format.schema_ == schema


def test_an_empty_input_is_an_empty_reply(server, chat_model):
    resp = httpx.post(f"{server.url}/v1/responses", json={"model": chat_model}, timeout=120)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == ""


def test_a_stream_ended_by_shutdown_ends_with_response_failed(make_server, model):
    server = make_server(OLLAMA_SHUTDOWN_GRACE="1s")
    body = {"model": model, "input": PROMPT, "stream": True, "max_output_tokens": 1_000_000}
    events: list[dict[str, Any]] = []
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=300) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "response.output_text.delta" and len(events) == 5:
                    server.proc.send_signal(signal.SIGTERM)  # the grace runs out mid-stream
    assert server.proc.wait(timeout=120) == 0
    *_, last = events
    assert last["type"] == "response.failed"
    assert last["sequence_number"] == len(events) - 1
    failed = last["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "server shutting down"}
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert failed["output"][0]["content"][0]["text"] == text
    sdk_event(last)


# --- errors ----------------------------------------------------------------------------------


WEATHER_FUNCTION = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_a_real_tool_call_is_a_function_call_item(client, server, tmp_path):
    """A model that always calls get_weather(city="Paris") (tests/scripted_model.py), through the
    SDK, whole and streamed; the call's output sent back is read as its tool result."""
    gguf = write_scripted_gguf(tmp_path / "m.gguf", WEATHER_CALL)
    caller = create_scripted_model(server.url, "scripted-responses", gguf)
    whole = client.responses.create(model=caller, input="Weather?", tools=[WEATHER_FUNCTION])
    (call,) = [item for item in whole.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    with client.responses.stream(model=caller, input="Weather?", tools=[WEATHER_FUNCTION]) as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert "response.function_call_arguments.done" in kinds
    (streamed,) = [item for item in final.output if item.type == "function_call"]
    assert streamed.arguments == call.arguments
    again = client.responses.create(
        model=caller,
        tools=[WEATHER_FUNCTION],
        input=[
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
        ],
    )
    assert [item.type for item in again.output] == ["function_call"]


def test_unknown_model_is_not_found(client, server):
    with pytest.raises(openai.NotFoundError) as exc:
        client.responses.create(model="no-such-model", input="hi")
    assert exc.value.status_code == 404
    assert "model 'no-such-model' not found" in exc.value.message
    # Streamed too: the refusal comes before the first event, as a plain error.
    resp = httpx.post(
        f"{server.url}/v1/responses",
        json={"model": "no-such-model", "input": "hi", "stream": True},
        timeout=60,
    )
    assert resp.status_code == 404
    assert error_of(resp) == {
        "message": "model 'no-such-model' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }


def test_malformed_json_is_an_openai_error(server):
    resp = httpx.post(
        f"{server.url}/v1/responses",
        content=b'{"model": ',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400
    error = error_of(resp)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("invalid JSON in request body")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"input": "hi", "max_output_tokens": "5"},
            "json: cannot unmarshal string into Go struct field "
            "ResponsesRequest.max_output_tokens of type int",
        ),
        ({"input": "hi", "stream": "yes"}, "ResponsesRequest.stream of type bool"),
        ({"input": "hi", "temperature": "hot"}, "ResponsesRequest.temperature of type float64"),
        (
            {"input": 5},
            "input must be a string or array: json: cannot unmarshal number into Go value of "
            "type []json.RawMessage",
        ),
        ({"input": [{"type": "nope"}]}, 'input[0]: unknown input item type: "nope"'),
        ({"input": [{"content": "hi"}]}, "input[0]: input item missing required 'type' field"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0]: content[0]: unknown content type: input_audio",
        ),
        (
            {"input": [{"type": "function_call", "name": "f", "call_id": 7}]},
            "input[0]: json: cannot unmarshal number into Go struct field "
            "ResponsesFunctionCall.call_id of type string",
        ),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{oops"}]},
            "failed to parse function call arguments: invalid character 'o' looking for "
            "beginning of object key string",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "file inputs are not currently supported",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [{"type": "input_image", "image_url": "https://x/cat.png"}],
                    }
                ]
            },
            "image URLs are not currently supported",
        ),
        ({"input": "hi", "reasoning": {"effort": "x"}}, 'invalid reasoning value: "x"'),
        ({"input": "hi", "tools": [{"type": "function", "name": 3}]}, "ResponsesRequest.tools"),
    ],
)
def test_bad_requests_are_openai_errors(server, model, payload, message):
    resp = httpx.post(f"{server.url}/v1/responses", json={"model": model, **payload}, timeout=60)
    assert resp.status_code == 400, resp.text
    error = error_of(resp)
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]


def test_the_server_keeps_serving_after_refusals(client, model):
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model=model, input=[{"type": "nope"}])  # type: ignore[list-item]
    assert "unknown input item type" in exc.value.message
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="", input="hi")
    assert "model is required" in exc.value.message
    resp = client.responses.create(model=model, input=PROMPT, max_output_tokens=2)
    assert resp.usage.output_tokens == 2


def test_the_openapi_document_declares_the_route(server):
    document = httpx.get(f"{server.url}/openapi.json", timeout=60).json()
    operation = document["paths"]["/v1/responses"]["post"]
    schemas = document["components"]["schemas"]

    def schema(ref: dict[str, Any]) -> dict[str, Any]:
        return schemas[ref["$ref"].removeprefix("#/components/schemas/")]

    body = schema(operation["requestBody"]["content"]["application/json"]["schema"])
    assert {"model", "input", "instructions", "max_output_tokens", "text", "tools"} <= set(
        body["properties"]
    )
    input_kinds = {s["type"] for s in body["properties"]["input"]["anyOf"]}
    assert input_kinds == {"string", "array", "null"}
    content = operation["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/event-stream"}
    answer = schema(content["application/json"]["schema"])
    assert set(RESPONSE_FIELDS) <= set(answer["properties"])
    event = schema(content["text/event-stream"]["x-event-data"])
    assert {"type", "sequence_number", "response", "item", "delta"} <= set(event["properties"])
    error = schema(operation["responses"]["4XX"]["content"]["application/json"]["schema"])
    assert error["properties"]["error"]["$ref"].endswith("/Error")


# --- translation: requests -------------------------------------------------------------------


def request(**fields: Any) -> r.ResponsesRequest:
    return r.ResponsesRequest.model_validate({"model": "m", **fields})


def wire(req: r.ResponsesRequest) -> list[dict[str, Any]]:
    return [m.to_wire() for m in from_responses_request(req).messages]


def test_request_options_and_defaults():
    chat = from_responses_request(
        request(input="hi", instructions="be brief", max_output_tokens=7, stream=True)
    )
    assert [m.to_wire() for m in chat.messages] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    # temperature defaults to OpenAI's 1; top_p is left to the model, as in Ollama.
    assert chat.options == {"temperature": 1.0, "num_predict": 7}
    assert (chat.stream, chat.think, chat.format, chat.tools) == (True, None, None, None)

    chat = from_responses_request(request(input="hi", temperature=0.2, top_p=0.5))
    assert chat.options == {"temperature": 0.2, "top_p": 0.5}
    assert chat.stream is False


@pytest.mark.parametrize(
    ("effort", "think"),
    [("none", False), ("minimal", "low"), ("medium", "medium"), ("xhigh", "max"), ("", None)],
)
def test_reasoning_effort_is_think(effort, think):
    chat = from_responses_request(request(input="hi", reasoning={"effort": effort}))
    assert chat.think == think


def test_text_format_is_ollamas_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "name": "x", "schema": schema}
    assert from_responses_request(request(text={"format": fmt})).format == schema
    json_object = request(text={"format": {"type": "json_object"}})
    assert from_responses_request(json_object).format == "json"
    assert from_responses_request(request(text={"format": {"type": "text"}})).format is None


def test_tools_become_ollama_tools_and_namespaces_expand():
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    chat = from_responses_request(
        request(
            input="hi",
            tools=[
                {"type": "web_search"},  # Ollama's hosted search: not offered to the model
                {"type": "function", "name": "weather", "description": "w", "parameters": params},
                {
                    "type": "namespace",
                    "name": "files",
                    "tools": [
                        {"type": "function", "name": "read", "parameters": None},
                        {"type": "function", "name": "files.write"},
                    ],
                },
            ],
        )
    )
    assert [t.to_wire() for t in chat.tools] == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "w", "parameters": params},
        },
        {"type": "function", "function": {"name": "files.read", "parameters": {}}},
        {"type": "function", "function": {"name": "files.write", "parameters": {}}},
    ]


def test_function_call_round_trip_is_a_tool_call_and_its_result():
    messages = wire(
        request(
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "weather",
                    "arguments": '{"city": "Paris"}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {"type": "message", "role": "user", "content": "Thanks"},
            ]
        )
    )
    assert messages == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "function": {"name": "weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        {"role": "user", "content": "Thanks"},
    ]


def test_function_calls_join_the_assistant_message_and_replayed_text_stays_with_them():
    messages = wire(
        request(
            input=[
                {"role": "user", "content": "go"},
                {"type": "reasoning", "summary": [], "encrypted_content": "plan"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking."}],
                },
                {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "b", "name": "g", "arguments": ""},
                # replayed between a call and its output: merged into the calling message
                {"role": "assistant", "content": [{"type": "output_text", "text": "Wait."}]},
                {
                    "type": "function_call_output",
                    "call_id": "b",
                    "output": [
                        {"type": "input_text", "text": "one "},
                        {"type": "input_image", "image_url": IMAGE_URL},
                        {"type": "output_text", "text": "two"},
                    ],
                },
                {"type": "web_search_call", "id": "ws", "status": "completed"},
                {"type": "reasoning", "encrypted_content": "more"},
            ]
        )
    )
    assert messages == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "Checking.\nWait.",
            "thinking": "plan",
            "tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": {}}},
                {"id": "b", "function": {"name": "g", "arguments": {}}},
            ],
        },
        {"role": "tool", "content": "one two", "images": ["eHg="], "tool_call_id": "b"},
        {"role": "assistant", "content": "", "thinking": "more"},  # trailing reasoning
    ]


def test_images_and_text_parts_make_one_message():
    messages = wire(
        request(
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is "},
                        {"type": "input_image", "detail": "auto", "image_url": IMAGE_URL},
                        {"type": "input_image", "file_id": "file-1"},  # no URL: skipped
                        {"type": "input_text", "text": "this?"},
                    ],
                },
                {"role": "developer", "content": "Be kind."},
            ]
        )
    )
    assert messages == [
        {"role": "user", "content": "What is this?", "images": ["eHg="]},
        {"role": "developer", "content": "Be kind."},
    ]


def test_images_and_efforts_are_read_by_chat_completions_public_helpers():
    # The Responses API reads image URLs and reasoning efforts as /v1/chat/completions does,
    # through the public helpers of its translation (no private name crosses modules).
    assert openai_translation.image_from_url(IMAGE_URL) == "eHg="
    assert openai_translation.think("xhigh") == "max"
    assert openai_translation.think("") is None
    with pytest.raises(InvalidRequest) as exc:
        openai_translation.image_from_url("https://example.com/a.png")
    assert "image URLs are not currently supported" in exc.value.message
    with pytest.raises(InvalidRequest) as exc:
        from_responses_request(request(input="hi", reasoning={"effort": "huge"}))
    assert exc.value.message.startswith('invalid reasoning value: "huge"')


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "input must be a string or array: json: cannot unmarshal object"),
        (["hi"], "input[0]: json: cannot unmarshal string into Go value of type struct { Type"),
        ([None], "input[0]: input item missing required 'type' field"),
        ([{"role": "user", "content": [None]}], "input[0]: content[0]: unknown content type: "),
        ([{"type": 1}], "input[0]: json: cannot unmarshal number into Go struct field .type"),
        ([{"role": "user", "content": 3}], "input[0]: content must be a string or array"),
        ([{"role": "user", "content": [5]}], "input[0]: content[0]: json: cannot unmarshal"),
        (
            [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": 1}]}],
            "input[0]: content[0]: json: cannot unmarshal number into Go struct field "
            "ResponsesTextContent.text of type string",
        ),
        (
            [{"role": "assistant", "content": "ok"}, {"type": "function_call_output", "output": 1}],
            "input[1]: output must be a string or array",
        ),
        ([{"type": "reasoning", "encrypted_content": []}], "ResponsesReasoningInput"),
    ],
)
def test_input_errors_are_worded_as_ollamas(value, message):
    with pytest.raises(InvalidRequest) as exc:
        parse_input(value)
    assert message in exc.value.message


def test_function_call_arguments_must_be_an_object():
    bad = [{"type": "function_call", "name": "f", "arguments": "[1]"}]
    with pytest.raises(InvalidRequest) as exc:
        from_responses_request(request(input=bad))
    assert exc.value.message == (
        "failed to parse function call arguments: json: cannot unmarshal array into Go value "
        "of type api.ToolCallFunctionArguments"
    )
    truncated = [{"type": "function_call", "name": "f", "arguments": '{"a": '}]
    with pytest.raises(InvalidRequest) as exc:
        from_responses_request(request(input=truncated))
    assert exc.value.message.endswith("unexpected end of JSON input")


# --- translation: responses ------------------------------------------------------------------

CALL = ToolCall(id="call_x", function=ToolCallFunction(name="weather", arguments={"city": "Paris"}))


def chunk(
    content: str = "",
    thinking: str | None = None,
    calls: list[ToolCall] | None = None,
    done: bool = False,
    reason: str | None = None,
) -> ChatResponse:
    return ChatResponse(
        model="m",
        created_at="2025-01-02T03:04:05Z",
        message=Message(role="assistant", content=content, thinking=thinking, tool_calls=calls),
        done=done,
        done_reason=reason,
        prompt_eval_count=10 if done else None,
        eval_count=5 if done else None,
    )


def test_whole_reply_with_thinking_and_a_tool_call():
    req = request(
        input="hi", reasoning={"effort": "high"}, tools=[{"type": "function", "name": "weather"}]
    )
    resp = to_response(chunk("ignored", "hmm", [CALL], True, "stop"), req, "resp_1", "msg_1")
    body = json.loads(resp.to_json())
    assert list(body) == RESPONSE_FIELDS
    # Ollama leaves the text out of a reply that calls tools.
    assert body["output"] == [
        {
            "id": "rs_resp_1",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "hmm"}],
            "encrypted_content": "hmm",
        },
        {
            "id": "fc_resp_1_0",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_x",
            "name": "weather",
            "arguments": '{"city":"Paris"}',
        },
    ]
    assert body["created_at"] == 1735787045
    assert body["reasoning"] == {"effort": "high", "summary": None}
    assert body["tools"] == [
        {
            "type": "function",
            "name": "weather",
            "description": None,
            "strict": None,
            "parameters": None,
        }
    ]
    assert body["usage"]["total_tokens"] == 15
    sdk = SDKResponse.model_validate(body)
    assert sdk.output[1].type == "function_call" and sdk.output[1].call_id == "call_x"


def test_whole_reply_cut_short_is_incomplete():
    resp = to_response(chunk("Par", done=True, reason="length"), request(), "resp_2", "msg_2")
    assert resp.status == "incomplete"
    assert resp.incomplete_details == r.IncompleteDetails(reason="max_output_tokens")
    assert resp.output == [
        r.OutputItem(
            id="msg_2",
            type="message",
            status="completed",
            role="assistant",
            content=[r.OutputText(text="Par")],
        )
    ]


def run_stream(chunks: list[ChatResponse]) -> list[dict[str, Any]]:
    """The stream's events as JSON, each validated as the SDK's type and fed to the SDK's own
    accumulator (which refuses reused output indexes and unfinished items)."""
    stream = ResponsesStream(request(input="hi"), "resp_3", "msg_3")
    state = ResponseStreamState(input_tools=openai.omit, text_format=openai.omit)
    events = []
    for c in chunks:
        for event in stream.process(c):
            data = json.loads(event.to_json())
            state.handle_event(sdk_event(data))
            events.append(data)
    return events


def test_stream_of_thinking_then_text():
    events = run_stream(
        [
            chunk(thinking="let me "),
            chunk(thinking="see"),
            chunk("Par"),
            chunk("is", done=True, reason="stop"),
        ]
    )
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.output_item.done",
        *TEXT_EVENTS[2:5],
        "response.output_text.delta",
        *TEXT_EVENTS[5:],
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    reasoning_done = events[6]
    assert reasoning_done["output_index"] == 0
    assert reasoning_done["item"]["summary"] == [{"type": "summary_text", "text": "let me see"}]
    assert reasoning_done["item"]["encrypted_content"] == "let me see"
    assert events[7]["output_index"] == 1 and events[7]["item"]["id"] == "msg_3"
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert final["output"][1]["content"][0]["text"] == "Paris"
    assert final["usage"]["total_tokens"] == 15


def test_stream_of_a_tool_call_closes_the_text_before_it():
    events = run_stream(
        [
            chunk("Let me check."),
            chunk(calls=[CALL]),
            chunk("dropped"),
            chunk(done=True, reason="stop"),
        ]
    )
    types = [e["type"] for e in events]
    assert types == [
        *TEXT_EVENTS[:5],
        *TEXT_EVENTS[5:],
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, delta, done_args, done = events[-5:-1]
    assert added["output_index"] == 1
    assert added["item"] == {
        "id": added["item"]["id"],
        "type": "function_call",
        "status": "in_progress",
        "call_id": "call_x",
        "name": "weather",
        "arguments": "",
    }
    assert delta["delta"] == done_args["arguments"] == '{"city":"Paris"}'
    assert done["item"]["status"] == "completed"
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "Let me check."  # text after: dropped


def test_a_failure_after_the_start_ends_the_stream_with_response_failed():
    stream = ResponsesStream(request(input="hi"), "resp_4", "msg_4")
    started = stream.process(chunk("Hel"))
    [failed] = stream.failed("server shutting down")
    data = json.loads(failed.to_json())
    assert data["type"] == "response.failed"
    assert data["sequence_number"] == len(started)
    assert data["response"]["status"] == "failed"
    assert data["response"]["error"] == {"code": "server_error", "message": "server shutting down"}
    assert data["response"]["output"][0]["status"] == "incomplete"
    sdk_event(data)


# --- zstd bodies, as Ollama's middleware reads them ---------------------------------------------


def test_a_zstd_body_is_read_as_the_plain_one(server, chat_model):
    body = {"model": chat_model, "input": QUESTION, "max_output_tokens": 6, "temperature": 0}
    plain = httpx.post(f"{server.url}/v1/responses", json=body, timeout=120)
    packed = httpx.post(
        f"{server.url}/v1/responses",
        content=zstandard.ZstdCompressor().compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "zstd"},
        timeout=120,
    )
    assert plain.status_code == packed.status_code == 200, packed.text
    assert packed.json()["output"][0]["content"] == plain.json()["output"][0]["content"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not zstd at all", "failed to decompress zstd body"),
        (
            zstandard.ZstdCompressor().compress(b"A" * (9 << 20)),
            "decompressed size exceeds configured limit",
        ),
    ],
)
def test_bad_zstd_bodies_are_400(server, content, message):
    r = httpx.post(
        f"{server.url}/v1/responses",
        content=content,
        headers={"Content-Type": "application/json", "Content-Encoding": "zstd"},
        timeout=120,
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == message
    assert httpx.get(f"{server.url}/api/version").status_code == 200


def test_streams_are_not_cached(server, chat_model):
    body = {"model": chat_model, "input": QUESTION, "max_output_tokens": 2, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=120) as r:
        assert r.headers["cache-control"] == "no-cache"
        r.read()
