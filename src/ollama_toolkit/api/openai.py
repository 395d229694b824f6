"""Wire types of Ollama's OpenAI-compatible API (/v1/chat/completions, /v1/completions,
/v1/models, /v1/embeddings).

Requests decode the way Go's JSON decoder does into Ollama's structs: strictly typed (a string is
no number), unknown fields ignored, `null` leaves a field unset. Responses serialise with
`to_json()`: a field that is None is left out (Go's `omitempty`), except those a class names in
`_nullable`, which OpenAI clients expect to find as `null` (`finish_reason`, an error's `param`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from ollama_toolkit.api.types import Tool, WireModel

# --- requests ---------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class StreamOptions(_Request):
    include_usage: bool | None = None


class FunctionCallIn(_Request):
    name: str | None = None
    arguments: str | None = None


class ToolCallIn(_Request):
    id: str | None = None
    index: int | None = None
    type: str | None = None
    function: FunctionCallIn | None = None


class ChatMessage(_Request):
    role: str | None = None
    # A string, a list of content parts, or null beside tool calls: checked when translated.
    content: Any = None
    reasoning: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    name: str | None = None
    tool_call_id: str | None = None


class JsonSchema(_Request):
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class ResponseFormat(_Request):
    type: str | None = None
    json_schema: JsonSchema | None = None


class Reasoning(_Request):
    effort: str | None = None


class ChatCompletionRequest(_Request):
    model: str | None = None
    messages: list[ChatMessage] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    seed: int | None = None
    stop: Any = None
    temperature: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    top_p: float | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    reasoning: Reasoning | None = None
    reasoning_effort: str | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    debug_render_only: bool | None = Field(None, alias="_debug_render_only")


class CompletionRequest(_Request):
    model: str | None = None
    prompt: str | None = None
    frequency_penalty: float | None = None
    max_tokens: int | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: Any = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    suffix: str | None = None
    logprobs: int | None = None
    debug_render_only: bool | None = Field(None, alias="_debug_render_only")


# --- responses --------------------------------------------------------------------------------


class OpenAIObject(BaseModel):
    """Base of every response object: None fields are omitted unless listed in `_nullable`."""

    _nullable: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None or k in self._nullable}

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class Error(OpenAIObject):
    _nullable = frozenset({"param", "code"})
    message: str
    type: str
    param: Any = None
    code: str | None = None


class ErrorResponse(OpenAIObject):
    error: Error


class FunctionCall(OpenAIObject):
    name: str
    arguments: str


class ToolCall(OpenAIObject):
    id: str
    index: int
    type: str = "function"
    function: FunctionCall


class ChoiceLogprobs(OpenAIObject):
    content: list[dict[str, Any]]


class Usage(OpenAIObject):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Message(OpenAIObject):
    role: str
    content: str
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(OpenAIObject):
    _nullable = frozenset({"finish_reason"})
    index: int = 0
    message: Message
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(OpenAIObject):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    system_fingerprint: str = "fp_ollama"
    choices: list[Choice]
    usage: Usage
    debug_info: dict[str, Any] | None = Field(None, alias="_debug_info")


class Delta(OpenAIObject):
    """A stream's increment; the finish chunk's is `{}`."""

    role: str | None = None
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None


class ChunkChoice(OpenAIObject):
    _nullable = frozenset({"finish_reason"})
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(OpenAIObject):
    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str = "fp_ollama"
    choices: list[ChunkChoice]
    usage: Usage | None = None


class CompletionChoice(OpenAIObject):
    _nullable = frozenset({"finish_reason"})
    text: str
    index: int = 0
    finish_reason: str | None = None


class Completion(OpenAIObject):
    id: str
    object: str = "text_completion"
    created: int
    model: str
    system_fingerprint: str = "fp_ollama"
    choices: list[CompletionChoice]
    usage: Usage


class CompletionChunk(OpenAIObject):
    # Field order as Ollama sends it: choices before model.
    id: str
    object: str = "text_completion"
    created: int
    choices: list[CompletionChoice]
    model: str
    system_fingerprint: str = "fp_ollama"
    usage: Usage | None = None


class Model(OpenAIObject):
    id: str
    object: str = "model"
    created: int
    owned_by: str


class ModelList(OpenAIObject):
    # Ollama's list is a Go nil slice when there are no models: `"data": null`.
    _nullable = frozenset({"data"})
    object: str = "list"
    data: list[Model] | None = None


# --- embeddings -------------------------------------------------------------------------------
# /v1/embeddings is /api/embed underneath: these decode and encode like the /api types.


class OpenAIEmbedRequest(WireModel):
    input: Any = None  # a string or an array of strings; checked by /api/embed's rules
    model: str = ""
    dimensions: int = 0
    encoding_format: str = ""  # "float" (the default) or "base64", in any letter case


class Embedding(WireModel):
    object: str = "embedding"
    embedding: list[float] | str  # base64: the float32 values, little-endian
    index: int


class EmbeddingUsage(WireModel):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingList(WireModel):
    object: str = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


__all__ = [
    "StreamOptions",
    "FunctionCallIn",
    "ToolCallIn",
    "ChatMessage",
    "JsonSchema",
    "ResponseFormat",
    "Reasoning",
    "ChatCompletionRequest",
    "CompletionRequest",
    "OpenAIObject",
    "Error",
    "ErrorResponse",
    "FunctionCall",
    "ToolCall",
    "ChoiceLogprobs",
    "Usage",
    "Message",
    "Choice",
    "ChatCompletion",
    "Delta",
    "ChunkChoice",
    "ChatCompletionChunk",
    "CompletionChoice",
    "Completion",
    "CompletionChunk",
    "Model",
    "ModelList",
    "OpenAIEmbedRequest",
    "Embedding",
    "EmbeddingUsage",
    "EmbeddingList",
]
