"""The OpenAPI document (`GET /openapi.json`): every route's real request body and answers.

Handlers read their own bodies (server/body.py, for Go's error wording), so FastAPI sees no body
parameter and would document none. Instead the route table (routes.py) gives each route an
`Api`: the wire types (api/types.py, api/openai.py) it reads and answers. `route_options` turns
that into what FastAPI's `add_api_route` takes (`openapi_extra` with the `requestBody`,
`responses` with each answer's media types), and `install` puts the types' JSON schemas in the
document's components, one operation per method (FastAPI would give a GET and a HEAD of one
route the same operationId, and a HEAD answer a body). The schemas are pydantic's, in validation
mode for answers too: OpenAI's objects serialize through a custom serializer (None fields left
out), whose schema pydantic cannot see into; a field left out is one the schema makes optional.

A stream is declared beside the one-object answer: `application/x-ndjson` (one object a line,
each of the declared schema) or `text/event-stream`, the events' object's schema under
`x-event-data`: OpenAI's `data: <object>` events then `data: [DONE]`, or, for a route whose `Api`
names its `events` (/v1/messages, /v1/responses), named events (`event: <type>` then
`data: <object>`) that end with one of those, no `[DONE]`. Errors are Ollama's `{"error": …}`,
OpenAI's error object on /v1, Anthropic's on /v1/messages.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api import openai as oai
from ollama_toolkit.api.types import ErrorResponse
from ollama_toolkit.server.errors import is_anthropic

JSON = "application/json"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
_REF = "#/components/schemas/{model}"
_MODE: Literal["validation"] = "validation"


@dataclass(frozen=True)
class Api:
    """What a route reads and answers, for the OpenAPI document.

    `body`: the JSON request body's type; `upload`: the body is raw bytes instead (a blob).
    `answer`: the 200 answer's JSON type (none: an empty 200); `text`: a plain-text answer.
    `stream`: the media type of the answer's streamed form, NDJSON or SSE, whose pieces are
    `chunk`s (default: `answer`s). `events`: an SSE stream of named events (`event: <type>`
    lines, the chunk's `type` repeating it, no `data: [DONE]`), the events it can end with;
    without them an SSE stream is OpenAI's, `data:` lines only, then `data: [DONE]`.
    `created`: 201 is an answer too (a new blob).
    """

    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    stream: str | None = None
    chunk: type[BaseModel] | None = None
    events: tuple[str, ...] = ()
    text: bool = False
    upload: bool = False
    created: bool = False

    def models(self) -> Iterable[type[BaseModel]]:
        return (m for m in (self.body, self.answer, self.chunk) if m is not None)


def _error_type(path: str) -> type[BaseModel]:
    if is_anthropic(path):
        return ant.AnthropicErrorResponse
    return oai.ErrorResponse if path == "/v1" or path.startswith("/v1/") else ErrorResponse


def _sse_description(api: Api) -> str:
    if not api.events:
        return "`data: <chunk>` events, then `data: [DONE]`"
    names = [f"`{name}`" for name in api.events]
    last = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return (
        "Named events, each `event: <type>` then `data: <chunk>` (the chunk's `type` is the "
        f"event's name), ending with {last}; no `data: [DONE]`"
    )


class Schemas:
    """The JSON schemas of every type the routes name, made in one pass so that two types of
    one name (api.types.Message and api.openai.Message) get distinct component names."""

    def __init__(self, apis: Iterable[tuple[str, Api]]) -> None:
        wanted: dict[type[BaseModel], None] = {}
        for path, api in apis:
            wanted.update(dict.fromkeys(api.models()))
            wanted[_error_type(path)] = None
        refs, definitions = models_json_schema(
            [(model, _MODE) for model in wanted], ref_template=_REF
        )
        self._refs = refs
        self.components: dict[str, Any] = definitions.get("$defs", {})

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        return dict(self._refs[model, _MODE])

    def route_options(self, path: str, api: Api | None) -> dict[str, Any]:
        """`add_api_route`'s documentation arguments for a route."""
        if api is None:
            return {}
        options: dict[str, Any] = {
            "response_class": Response,
            "responses": self._responses(path, api),
        }
        body = self._request_body(api)
        if body is not None:
            options["openapi_extra"] = {"requestBody": body}
        return options

    def _request_body(self, api: Api) -> dict[str, Any] | None:
        if api.upload:
            raw = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
            return {"required": True, "content": {"application/octet-stream": raw}}
        if api.body is None:
            return None
        schema = self.ref(api.body)
        return {"required": True, "content": {JSON: {"schema": schema}}}

    def _responses(self, path: str, api: Api) -> dict[int | str, Any]:
        ok: dict[str, Any] = {"description": "Success"}
        content: dict[str, Any] = {}
        if api.text:
            content["text/plain"] = {"schema": {"type": "string"}}
        if api.answer is not None:
            answer = self.ref(api.answer)
            if api.stream == SSE:
                ok["description"] = "One object, or server-sent events when `stream` is true"
            elif api.stream is not None:
                ok["description"] = "A stream of objects, one a line, unless `stream` is false"
            content[JSON] = {"schema": answer}
        if api.stream is not None:
            item = api.chunk or api.answer
            assert item is not None, "a stream of what?"
            chunk = self.ref(item)
            if api.stream == SSE:
                content[SSE] = {
                    "schema": {
                        "type": "string",
                        "description": _sse_description(api),
                    },
                    "x-event-data": chunk,
                }
            else:
                content[api.stream] = {"schema": chunk}
        if content:
            ok["content"] = content
        error = {"content": {JSON: {"schema": self.ref(_error_type(path))}}}
        responses: dict[int | str, Any] = {200: ok}
        if api.created:
            responses[201] = {"description": "Stored"}
        responses["4XX"] = {"description": "Refused: the error says why", **error}
        responses["5XX"] = {"description": "Failed, or busy (503)", **error}
        return responses


def install(app: FastAPI, schemas: Schemas) -> None:
    """Make `app.openapi()` add the wire types' schemas and one operation per method."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():  # the GET and HEAD of one route: fixed below
                warnings.filterwarnings("ignore", message="Duplicate Operation ID")
                document = build()
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                schemas.components
            )
            _one_operation_per_method(document)
        return app.openapi_schema  # type: ignore[return-value]  # set by build()

    app.openapi = openapi  # type: ignore[method-assign]


def _one_operation_per_method(document: dict[str, Any]) -> None:
    """A route answering GET and HEAD is one FastAPI route with one operationId (ending in the
    name of whichever method came first): give each its own, and HEAD answers no body."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method == "head":
                for response in operation.get("responses", {}).values():
                    response.pop("content", None)
            if "operationId" in operation and len(item) > 1:
                operation["operationId"] = _METHOD_SUFFIX.sub(
                    f"_{method}", operation["operationId"]
                )


_METHOD_SUFFIX = re.compile(r"_(get|head|post|put|patch|delete|options)$")
