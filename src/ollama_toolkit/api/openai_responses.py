"""Wire types of Ollama's OpenAI Responses API (POST /v1/responses).

Requests decode as Ollama's `openai.ResponsesRequest` does: strictly typed, unknown fields
ignored, `null` leaves a field unset. `input` is a string or a list of items whose kind is named
by `type` (a message may leave it out and name only its `role`); the items are decoded one by
one when the request is translated (translate/openai_responses.py), with Ollama's wording for
what is wrong, into the item types below.

Responses serialise as the other OpenAI objects do (`OpenAIObject.to_json()`): None fields are
left out unless a class names them in `_nullable`, which the Response object does for every
field that OpenAI's clients expect to find as `null`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ollama_toolkit.api.openai import OpenAIObject

# --- requests ---------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class ResponsesReasoning(_Request):
    effort: str | None = None  # "none", "minimal", "low", "medium", "high", "xhigh", "max"
    generate_summary: str | None = None  # deprecated: `summary`
    summary: str | None = None


class ResponsesTextFormat(_Request):
    type: str | None = None  # "text", "json_schema" or "json_object"
    name: str | None = None
    schema_: Any = Field(None, alias="schema")
    strict: bool | None = None


class ResponsesText(_Request):
    format: ResponsesTextFormat | None = None


class ResponsesTool(_Request):
    """A tool as the Responses API declares it: the function's fields at the top (not nested
    under `function` as in chat completions); a `namespace` groups member tools."""

    type: str | None = None  # "function" or "namespace"
    name: str | None = None
    description: str | None = None
    strict: bool | None = None
    parameters: dict[str, Any] | None = None
    tools: list[ResponsesTool] | None = None


_INPUT_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "array",
            "items": {
                "type": "object",
                "description": "a `message` (the default when only `role` is given), "
                "`function_call`, `function_call_output`, `reasoning` or `web_search_call`",
            },
        },
        {"type": "null"},
    ]
}


class ResponsesRequest(_Request):
    model: str | None = None
    # A string (one user message) or a list of input items: decoded when translated.
    input: Annotated[Any, WithJsonSchema(_INPUT_SCHEMA)] = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    reasoning: ResponsesReasoning | None = None
    temperature: float | None = None
    top_p: float | None = None
    text: ResponsesText | None = None
    tools: list[ResponsesTool] | None = None
    stream: bool | None = None
    truncation: str | None = None
    # Read and echoed, or read and ignored, as in Ollama.
    background: bool | None = None
    conversation: Any = None
    include: list[str] | None = None


# --- input items (decoded from `input` one by one) --------------------------------------------


class InputText(_Request):
    """`input_text`, or `output_text` replayed from an earlier response: text either way."""

    type: str
    text: str | None = None


class InputImage(_Request):
    type: str
    detail: str | None = None
    file_id: str | None = None
    image_url: str | None = None


class InputFile(_Request):
    type: str
    file_data: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None


ContentPart = InputText | InputImage | InputFile


class InputMessage(_Request):
    type: str | None = None
    role: str | None = None
    content: list[ContentPart] = Field(default_factory=list)


class FunctionCallItem(_Request):
    id: str | None = None
    type: str
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class FunctionCallOutputItem(_Request):
    type: str
    call_id: str | None = None
    output: str = ""
    output_parts: list[ContentPart] | None = None  # when `output` was a list of content parts


class ReasoningSummaryIn(_Request):
    type: str | None = None
    text: str | None = None


class ReasoningItem(_Request):
    id: str | None = None
    type: str
    summary: list[ReasoningSummaryIn] | None = None
    encrypted_content: str | None = None


class WebSearchAction(_Request):
    type: str | None = None
    query: str | None = None


class WebSearchCallItem(_Request):
    """A built-in search of an earlier response, replayed: history only, as in Ollama."""

    id: str | None = None
    type: str
    status: str | None = None
    action: WebSearchAction | None = None


InputItem = (
    InputMessage | FunctionCallItem | FunctionCallOutputItem | ReasoningItem | WebSearchCallItem
)


# --- responses --------------------------------------------------------------------------------


class OutputText(OpenAIObject):
    type: str = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class ReasoningSummary(OpenAIObject):
    type: str = "summary_text"
    text: str


class OutputItem(OpenAIObject):
    """One item of `output`: a `message`, a `function_call` or a `reasoning` item; the fields
    of the other kinds are left out."""

    id: str
    type: str
    status: str | None = None
    role: str | None = None  # message
    content: list[OutputText] | None = None  # message
    call_id: str | None = None  # function_call
    name: str | None = None  # function_call
    arguments: str | None = None  # function_call
    summary: list[ReasoningSummary] | None = None  # reasoning
    encrypted_content: str | None = None  # reasoning: the thinking itself, not encrypted


class InputTokensDetails(OpenAIObject):
    cached_tokens: int = 0
    # Not in Ollama's object; OpenAI's current one requires it (its SDK's types do).
    cache_write_tokens: int = 0


class OutputTokensDetails(OpenAIObject):
    reasoning_tokens: int = 0


class ResponsesUsage(OpenAIObject):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)


class ResponsesError(OpenAIObject):
    code: str
    message: str


class IncompleteDetails(OpenAIObject):
    reason: str


class ReasoningConfig(OpenAIObject):
    _nullable = frozenset({"effort", "summary"})
    effort: str | None = None
    summary: str | None = None


class ToolEcho(OpenAIObject):
    """A request's tool as the response echoes it."""

    _nullable = frozenset({"description", "strict", "parameters"})
    type: str
    name: str
    description: str | None = None
    strict: bool | None = None
    parameters: dict[str, Any] | None = None
    tools: list[ToolEcho] | None = None


class TextFormatEcho(OpenAIObject):
    type: str = "text"
    name: str | None = None
    schema_: Any = Field(None, alias="schema")
    strict: bool | None = None


class TextConfig(OpenAIObject):
    format: TextFormatEcho = Field(default_factory=TextFormatEcho)


class Response(OpenAIObject):
    """The Response object, whole or inside a stream's lifecycle events."""

    _nullable = frozenset(
        {
            "completed_at",
            "incomplete_details",
            "previous_response_id",
            "instructions",
            "error",
            "reasoning",
            "usage",
            "max_output_tokens",
            "max_tool_calls",
            "safety_identifier",
            "prompt_cache_key",
        }
    )
    id: str
    object: str = "response"
    created_at: int
    completed_at: int | None = None
    status: str  # "in_progress", "completed", "incomplete" or "failed"
    incomplete_details: IncompleteDetails | None = None
    model: str
    previous_response_id: str | None = None
    instructions: str | None = None
    output: list[OutputItem] = Field(default_factory=list)
    error: ResponsesError | None = None
    tools: list[ToolEcho] = Field(default_factory=list)
    tool_choice: str = "auto"
    truncation: str = "disabled"
    parallel_tool_calls: bool = True
    text: TextConfig = Field(default_factory=TextConfig)
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    top_logprobs: int = 0
    temperature: float = 1.0
    reasoning: ReasoningConfig | None = None
    usage: ResponsesUsage | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    store: bool = False
    background: bool = False
    service_tier: str = "default"
    metadata: dict[str, Any] = Field(default_factory=dict)
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None


class ResponseStreamEvent(OpenAIObject):
    """One server-sent event of a streamed response (`event: <type>`, then `data: <this>`):
    `type` names it and decides which of the other fields it carries."""

    type: str
    sequence_number: int
    response: Response | None = None  # response.created, .in_progress, .completed, …
    output_index: int | None = None
    item: OutputItem | None = None  # response.output_item.added / .done
    item_id: str | None = None
    content_index: int | None = None
    summary_index: int | None = None
    part: OutputText | None = None  # response.content_part.added / .done
    delta: str | None = None  # *.delta
    text: str | None = None  # response.output_text.done, response.reasoning_summary_text.done
    arguments: str | None = None  # response.function_call_arguments.done
    logprobs: list[Any] | None = None


__all__ = [
    "ResponsesReasoning",
    "ResponsesTextFormat",
    "ResponsesText",
    "ResponsesTool",
    "ResponsesRequest",
    "InputText",
    "InputImage",
    "InputFile",
    "ContentPart",
    "InputMessage",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "ReasoningSummaryIn",
    "ReasoningItem",
    "WebSearchAction",
    "WebSearchCallItem",
    "InputItem",
    "OutputText",
    "ReasoningSummary",
    "OutputItem",
    "InputTokensDetails",
    "OutputTokensDetails",
    "ResponsesUsage",
    "ResponsesError",
    "IncompleteDetails",
    "ReasoningConfig",
    "ToolEcho",
    "TextFormatEcho",
    "TextConfig",
    "Response",
    "ResponseStreamEvent",
]
