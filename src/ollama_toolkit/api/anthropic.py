"""Wire types of Ollama's Anthropic-compatible API (POST /v1/messages, Anthropic's Messages API).

Requests decode as Go's JSON decoder decodes them into Ollama's `anthropic` structs: strictly
typed (a string is no number), unknown fields ignored, `null` leaves a field unset. A message's
`content` is a string or a list of content blocks; a string is one text block (and `null` an
empty one), as Ollama normalises it. Responses and stream events serialise with `to_json()`, as
OpenAI's objects do (api/openai.py): a None field is left out (Go's `omitempty`), except those a
class names in `_nullable`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from ollama_toolkit.api.openai import OpenAIObject

# --- requests ---------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class ImageSource(_Request):
    type: str = ""  # only "base64" is served
    media_type: str = ""
    data: str = ""
    url: str = ""


class ContentBlockParam(_Request):
    """A block of a request message: text, image, tool_use, tool_result, thinking (and the
    server tools' server_tool_use and web_search_tool_result); others are ignored."""

    type: str = ""
    text: str | None = None
    source: ImageSource | None = None
    id: str = ""
    name: str = ""
    input: dict[str, Any] | None = None
    tool_use_id: str = ""
    content: Any = None  # a tool result: a string or blocks of text and images
    is_error: bool = False
    thinking: str | None = None
    signature: str = ""


class MessageParam(_Request):
    role: str = ""
    # None when the field is missing: Ollama's decoder then fails ("unexpected end of JSON
    # input"), which the translation reports.
    content: list[ContentBlockParam] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_is_one_block(cls, v: Any) -> Any:
        # A string is one text block; `null` decodes as an empty string does.
        if v is None:
            return [{"type": "text", "text": ""}]
        if isinstance(v, str):
            return [{"type": "text", "text": v}]
        return v


class ToolParam(_Request):
    type: str = ""  # "custom" (or none) for the client's tools; "web_search_…" for Anthropic's
    name: str = ""
    description: str = ""
    input_schema: Any = None
    max_uses: int = 0


class ToolChoice(_Request):
    type: str = ""  # "auto", "any", "tool", "none": accepted, and not used (as in Ollama)
    name: str = ""
    disable_parallel_tool_use: bool = False


class ThinkingConfig(_Request):
    type: str = ""  # "enabled" or "disabled"
    budget_tokens: int = 0  # accepted, and not used (as in Ollama)


class Metadata(_Request):
    user_id: str = ""


class OutputConfig(_Request):
    effort: str = ""


class MessagesRequest(_Request):
    model: str = ""
    max_tokens: int = 0
    messages: list[MessageParam] | None = None
    system: Any = None  # a string, or a list of text blocks
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    metadata: Metadata | None = None
    output_config: OutputConfig | None = None


# --- responses --------------------------------------------------------------------------------


class AnthropicObject(OpenAIObject):
    """Base of every response object and event: the serialisation of OpenAI's objects."""


class ContentBlock(AnthropicObject):
    """A block of the answer: `text`, `thinking` or `tool_use`. `text` and `thinking` are sent
    whenever set, even empty (a stream's opening block), as the SDKs need to accumulate."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    thinking: str | None = None
    signature: str | None = None


class MessageUsage(AnthropicObject):
    input_tokens: int = 0
    output_tokens: int = 0


class MessagesResponse(AnthropicObject):
    # Ollama's content is a Go nil slice when there is no block: `"content": null`.
    _nullable = frozenset({"content"})
    id: str
    type: str = "message"
    role: str = "assistant"
    model: str
    content: list[ContentBlock] | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: MessageUsage


class BlockDelta(AnthropicObject):
    type: str  # "text_delta", "thinking_delta", "input_json_delta"
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None


class MessageDelta(AnthropicObject):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageStartEvent(AnthropicObject):
    type: Literal["message_start"] = "message_start"
    message: MessagesResponse


class ContentBlockStartEvent(AnthropicObject):
    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(AnthropicObject):
    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: BlockDelta


class ContentBlockStopEvent(AnthropicObject):
    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class MessageDeltaEvent(AnthropicObject):
    type: Literal["message_delta"] = "message_delta"
    delta: MessageDelta
    usage: MessageUsage


class MessageStopEvent(AnthropicObject):
    type: Literal["message_stop"] = "message_stop"


class ErrorObject(AnthropicObject):
    type: str  # invalid_request_error, not_found_error, overloaded_error, api_error, …
    message: str


class AnthropicErrorResponse(AnthropicObject):
    """An error answer; in a stream, the `error` event's data, without a request id."""

    type: Literal["error"] = "error"
    error: ErrorObject
    request_id: str | None = None


Event = (
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | AnthropicErrorResponse
)


class StreamEvent(RootModel[Annotated[Event, Field(discriminator="type")]]):
    """One server-sent event of a stream, `event: <type>` then `data: <this object>`; an error
    after the stream began is its last event, `error`."""


__all__ = [
    "ImageSource",
    "ContentBlockParam",
    "MessageParam",
    "ToolParam",
    "ToolChoice",
    "ThinkingConfig",
    "Metadata",
    "OutputConfig",
    "MessagesRequest",
    "AnthropicObject",
    "ContentBlock",
    "MessageUsage",
    "MessagesResponse",
    "BlockDelta",
    "MessageDelta",
    "MessageStartEvent",
    "ContentBlockStartEvent",
    "ContentBlockDeltaEvent",
    "ContentBlockStopEvent",
    "MessageDeltaEvent",
    "MessageStopEvent",
    "ErrorObject",
    "AnthropicErrorResponse",
    "Event",
    "StreamEvent",
]
