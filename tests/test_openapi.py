"""`GET /openapi.json` is a valid OpenAPI 3.1 document that declares what each route really
reads and answers: the request bodies the handlers parse themselves, streams beside one-object
answers, errors in their shapes, one operation per method."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import openapi_spec_validator
import pytest

from ollama_toolkit.server.routes import ROUTES

STREAMS = {
    "/api/generate": "application/x-ndjson",
    "/api/chat": "application/x-ndjson",
    "/api/create": "application/x-ndjson",
    "/api/pull": "application/x-ndjson",
    "/api/push": "application/x-ndjson",
    "/v1/chat/completions": "text/event-stream",
    "/v1/completions": "text/event-stream",
    "/v1/responses": "text/event-stream",
    "/v1/messages": "text/event-stream",
}
# The SSE streams of named events (`event: <type>` lines, no `data: [DONE]`), and their ends.
NAMED_EVENTS = {
    "/v1/responses": ("response.completed", "response.incomplete", "response.failed"),
    "/v1/messages": ("message_stop", "error"),
}


@pytest.fixture(scope="module")
def document(server) -> dict[str, Any]:
    r = httpx.get(server.url + "/openapi.json")
    assert r.status_code == 200
    return r.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _schema(document: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].removeprefix("#/components/schemas/")
    return document["components"]["schemas"][name]


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    openapi_spec_validator.validate(document)


def test_every_route_is_documented_once_per_method(document):
    declared = {(path, method.lower()) for path, methods, *_ in ROUTES for method in methods}
    operations = _operations(document)
    assert declared <= {(path, method) for path, method, _ in operations}
    ids = Counter(operation["operationId"] for _, _, operation in operations)
    assert [i for i, n in ids.items() if n > 1] == []
    for _, method, operation in operations:
        if method == "head":  # a HEAD answer has no body
            assert all("content" not in r for r in operation["responses"].values())


def test_every_post_and_delete_route_declares_its_request_body(document):
    for path, method, operation in _operations(document):
        if method not in ("post", "delete") or path == "/api/blobs/{digest}":
            continue
        body = operation.get("requestBody")
        assert body and body["required"], (method, path)
        schema = _schema(document, body["content"]["application/json"]["schema"])
        assert schema["type"] == "object" and schema["properties"], (method, path)
    blob = document["paths"]["/api/blobs/{digest}"]["post"]
    assert "application/octet-stream" in blob["requestBody"]["content"]
    assert {"200", "201"} <= set(blob["responses"])


def test_request_schemas_name_the_fields_the_server_reads(document):
    def body_schema(path: str, method: str = "post") -> dict[str, Any]:
        operation = document["paths"][path][method]
        return _schema(document, operation["requestBody"]["content"]["application/json"]["schema"])

    generate = body_schema("/api/generate")["properties"]
    assert {"model", "prompt", "images", "options", "stream", "format", "keep_alive"} <= set(
        generate
    )
    assert generate["stream"]["anyOf"][0]["type"] == "boolean"
    assert "_debug_render_only" in generate  # the wire name, not the Python one
    chat = body_schema("/api/chat")["properties"]
    assert {"model", "messages", "tools", "think"} <= set(chat)
    assert "from" in body_schema("/api/create")["properties"]
    assert {"model", "name"} <= set(body_schema("/api/delete", "delete")["properties"])
    openai = body_schema("/v1/chat/completions")
    assert {"model", "messages", "stream", "max_tokens", "stop"} <= set(openai["properties"])


def test_answers_declare_their_streams_and_errors(document):
    for path, method, operation in _operations(document):
        if (path, method) not in {(p, "post") for p in STREAMS}:
            continue
        content = operation["responses"]["200"]["content"]
        assert set(content) == {"application/json", STREAMS[path]}, path
    generate = document["paths"]["/api/generate"]["post"]["responses"]
    answer = _schema(document, generate["200"]["content"]["application/json"]["schema"])
    assert {"model", "response", "done", "done_reason", "eval_count"} <= set(answer["properties"])
    error = _schema(document, generate["4XX"]["content"]["application/json"]["schema"])
    assert set(error["properties"]) == {"error"}
    completions = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    error = _schema(document, completions["4XX"]["content"]["application/json"]["schema"])
    assert set(error["properties"]) == {"error"}
    assert error["properties"]["error"]["$ref"].endswith("/Error")
    tags = document["paths"]["/api/tags"]["get"]["responses"]["200"]["content"]
    assert "models" in _schema(document, tags["application/json"]["schema"])["properties"]


def test_each_event_stream_is_described_as_it_is_framed(document):
    for path, media in STREAMS.items():
        if media != "text/event-stream":
            continue
        sse = document["paths"][path]["post"]["responses"]["200"]["content"][media]
        description = sse["schema"]["description"]
        if path in NAMED_EVENTS:
            assert "then `data: [DONE]`" not in description, path
            assert description.endswith("no `data: [DONE]`"), path
            assert "`event: <type>`" in description, path
            for name in NAMED_EVENTS[path]:
                assert f"`{name}`" in description, (path, name)
        else:  # OpenAI's chat and completions streams: data lines, then [DONE]
            assert description == "`data: <chunk>` events, then `data: [DONE]`", path
        event = _schema(document, sse["x-event-data"])
        assert event, path


def test_anthropic_s_route_documents_anthropic_s_errors(document):
    responses = document["paths"]["/v1/messages"]["post"]["responses"]
    for status in ("4XX", "5XX"):
        error = _schema(document, responses[status]["content"]["application/json"]["schema"])
        assert {"type", "error", "request_id"} <= set(error["properties"]), status
        assert error["properties"]["type"]["const"] == "error"
        inner = _schema(document, error["properties"]["error"])
        assert set(inner["properties"]) == {"type", "message"}
    # Its neighbours under /v1 keep OpenAI's error object.
    for path in ("/v1/responses", "/v1/chat/completions"):
        responses = document["paths"][path]["post"]["responses"]
        error = _schema(document, responses["4XX"]["content"]["application/json"]["schema"])
        assert set(error["properties"]) == {"error"}, path
        assert error["properties"]["error"]["$ref"].endswith("/Error"), path
