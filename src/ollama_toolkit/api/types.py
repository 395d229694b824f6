"""Wire types of Ollama's REST API: the single source of truth for field names.

Requests accept what Ollama accepts (unknown fields are ignored, as Go's JSON decoder does);
responses serialise with `to_wire()`, which drops unset optional fields the way Ollama's
`omitempty` tags do. Every model is usable as an object (`r.response`) and as a mapping
(`r["response"]`), like the official client's types.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from ollama_toolkit.api.errors import invalid_think_type, invalid_think_value


class WireModel(BaseModel):
    """Base of every wire type: attribute and mapping access, lenient about unknown fields."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        for name, info in type(self).model_fields.items():
            if info.alias == key:
                return getattr(self, name)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value

    def keys(self) -> Iterator[str]:
        return iter(self.to_wire())

    def to_wire(self) -> dict[str, Any]:
        """The JSON object Ollama would send: aliases applied, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(ts: datetime) -> str:
    """Go's RFC 3339 rendering of a UTC time: `2023-08-04T19:22:45.499127Z`."""
    return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


Duration = float | str
"""keep_alive on the wire: seconds as a number, or a Go duration string such as "5m"."""

ThinkValue = bool | Literal["high", "medium", "low", "max"]
THINK_LEVELS = ("high", "medium", "low", "max")


# --- messages and tools -----------------------------------------------------------------------


class ToolCallFunction(WireModel):
    index: int | None = None
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolCall(WireModel):
    id: str | None = None
    function: ToolCallFunction


class ToolFunction(WireModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class Tool(WireModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: str = "function"
    function: ToolFunction


class Message(WireModel):
    role: str
    content: str = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _null_content_is_empty(cls, v: Any) -> Any:
        # OpenAI-style clients send `"content": null` beside tool calls; Go reads it as "".
        return "" if v is None else v


class TokenLogprob(WireModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class Logprob(TokenLogprob):
    top_logprobs: list[TokenLogprob] | None = None


# --- generate and chat ------------------------------------------------------------------------


class _InferenceRequest(WireModel):
    model: str = ""
    # Any JSON value, as Go's json.RawMessage: "json" or a schema object is checked where it
    # becomes a grammar, with Ollama's wording for anything else.
    format: Any = None
    options: dict[str, Any] | None = None
    # Request flags and counts are strict, as Go's decoder is: `"stream": "yes"` or
    # `"top_logprobs": "3"` is a 400, not a silent coercion.
    stream: StrictBool | None = None
    keep_alive: Duration | None = None
    think: ThinkValue | None = None
    truncate: StrictBool | None = None
    shift: StrictBool | None = None
    debug_render_only: StrictBool = Field(False, alias="_debug_render_only")
    logprobs: StrictBool = False
    top_logprobs: StrictInt = 0

    @field_validator("format")
    @classmethod
    def _empty_format_is_none(cls, v: Any) -> Any:
        return None if v in ("", {}) else v

    @field_validator("think", mode="before")
    @classmethod
    def _think_as_ollama_reads_it(cls, v: Any) -> Any:
        # Ollama's ThinkValue.UnmarshalJSON: a JSON bool, or one of the levels; anything else
        # (`"true"`, `1`) is refused with its wording, not coerced. Raised as is, not as a
        # pydantic error, so the client reads Ollama's message.
        if v is None or isinstance(v, bool) or v in THINK_LEVELS:
            return v
        raise invalid_think_value(v) if isinstance(v, str) else invalid_think_type()


class GenerateRequest(_InferenceRequest):
    prompt: str = ""
    suffix: str = ""
    system: str = ""
    template: str = ""
    context: list[StrictInt] | None = None
    raw: StrictBool = False
    images: list[str] | None = None


class ChatRequest(_InferenceRequest):
    messages: list[Message] = Field(default_factory=list)
    tools: list[Tool] | None = None


class Metrics(WireModel):
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class DebugInfo(WireModel):
    rendered_template: str
    image_count: int | None = None


class _GenerateBody(WireModel):
    model: str
    created_at: str = Field(default_factory=lambda: rfc3339(now_utc()))
    response: str = ""
    thinking: str | None = None
    done: bool = False
    done_reason: str | None = None
    context: list[int] | None = None
    tool_calls: list[ToolCall] | None = None
    debug_info: DebugInfo | None = Field(None, alias="_debug_info")
    logprobs: list[Logprob] | None = None


class GenerateResponse(Metrics, _GenerateBody):
    """A generate chunk; the statistics come last, as Ollama orders them."""


class _ChatBody(WireModel):
    model: str
    created_at: str = Field(default_factory=lambda: rfc3339(now_utc()))
    message: Message = Field(default_factory=lambda: Message(role="assistant"))
    done: bool = False
    done_reason: str | None = None
    debug_info: DebugInfo | None = Field(None, alias="_debug_info")
    logprobs: list[Logprob] | None = None


class ChatResponse(Metrics, _ChatBody):
    """A chat chunk; the statistics come last, as Ollama orders them."""


# --- embeddings -------------------------------------------------------------------------------


class EmbedRequest(WireModel):
    model: str = ""
    # Any JSON, as in Ollama (`Input any`): the server answers "invalid input type" for anything
    # but a string or an array of strings, rather than a decoding error.
    input: Any = None
    truncate: StrictBool | None = None
    dimensions: StrictInt | None = None
    keep_alive: Duration | None = None
    options: dict[str, Any] | None = None


class EmbedResponse(WireModel):
    model: str
    embeddings: list[list[float]] = Field(default_factory=list)
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None


class EmbeddingsRequest(WireModel):
    model: str = ""
    prompt: str = ""
    keep_alive: Duration | None = None
    options: dict[str, Any] | None = None


class EmbeddingsResponse(WireModel):
    embedding: list[float] = Field(default_factory=list)


# --- model management -------------------------------------------------------------------------


class ModelDetails(WireModel):
    parent_model: str = ""
    format: str = ""
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""
    # Only /api/tags fills these (from the GGUF's `<arch>.context_length` and
    # `.embedding_length`), as Ollama does; omitted when unknown.
    context_length: int | None = None
    embedding_length: int | None = None


class ListModelResponse(WireModel):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: ModelDetails = Field(default_factory=ModelDetails)
    capabilities: list[str] | None = None


class ListResponse(WireModel):
    models: list[ListModelResponse] = Field(default_factory=list)


class ProcessModelResponse(WireModel):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails = Field(default_factory=ModelDetails)
    expires_at: str
    size_vram: int = 0
    context_length: int = 0


class ProcessResponse(WireModel):
    models: list[ProcessModelResponse] = Field(default_factory=list)


class ShowRequest(WireModel):
    model: str = ""
    name: str = ""  # deprecated alias of model, still sent by old clients
    system: str = ""
    template: str = ""
    verbose: StrictBool = False
    options: dict[str, Any] | None = None


class Tensor(WireModel):
    """One tensor of a model's GGUF, as /api/show lists it: its type is ggml's name (`Q4_K`)."""

    name: str
    type: str
    shape: list[int]


class ShowResponse(WireModel):
    license: str | None = None
    modelfile: str | None = None
    parameters: str | None = None
    template: str | None = None
    system: str | None = None
    renderer: str | None = None
    parser: str | None = None
    details: ModelDetails = Field(default_factory=ModelDetails)
    messages: list[Message] | None = None
    model_info: dict[str, Any] = Field(default_factory=dict)
    projector_info: dict[str, Any] | None = None
    tensors: list[Tensor] | None = None
    capabilities: list[str] | None = None
    modified_at: str | None = None


class CreateRequest(WireModel):
    model: str = ""
    name: str = ""  # deprecated alias of model
    stream: StrictBool | None = None
    quantize: str | None = None
    quantization: str | None = None  # deprecated alias of quantize
    from_: str | None = Field(None, alias="from")
    files: dict[str, str] | None = None
    adapters: dict[str, str] | None = None
    template: str | None = None
    license: str | list[str] | None = None
    system: str | None = None
    parameters: dict[str, Any] | None = None
    messages: list[Message] | None = None
    renderer: str | None = None
    parser: str | None = None


class CopyRequest(WireModel):
    source: str = ""
    destination: str = ""


class DeleteRequest(WireModel):
    model: str = ""
    name: str = ""


class PullRequest(WireModel):
    model: str = ""
    name: str = ""
    insecure: StrictBool = False
    stream: StrictBool | None = None


class PushRequest(PullRequest):
    pass


class ProgressResponse(WireModel):
    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


class VersionResponse(WireModel):
    version: str


class StatusResponse(WireModel):
    """A bare `{"status": "success"}` style answer."""

    status: str


class ErrorResponse(WireModel):
    error: str


__all__ = [
    "WireModel",
    "ToolCallFunction",
    "ToolCall",
    "ToolFunction",
    "Tool",
    "Message",
    "TokenLogprob",
    "Logprob",
    "GenerateRequest",
    "ChatRequest",
    "Metrics",
    "DebugInfo",
    "GenerateResponse",
    "ChatResponse",
    "EmbedRequest",
    "EmbedResponse",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "ModelDetails",
    "ListModelResponse",
    "ListResponse",
    "ProcessModelResponse",
    "ProcessResponse",
    "ShowRequest",
    "ShowResponse",
    "Tensor",
    "CreateRequest",
    "CopyRequest",
    "DeleteRequest",
    "PullRequest",
    "PushRequest",
    "ProgressResponse",
    "VersionResponse",
    "StatusResponse",
    "ErrorResponse",
    "Duration",
    "ThinkValue",
    "THINK_LEVELS",
    "now_utc",
    "rfc3339",
]
