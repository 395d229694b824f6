"""Domain errors, worded as Ollama words them, in one place.

Everything below the routes (engine, store, request preparation) raises one of these kinds;
it knows nothing of HTTP. The server maps each kind to its status code and body shape in one
place (`server/errors.py`): Ollama's `{"error": ...}` on /api, OpenAI's error object on /v1.
"""

from __future__ import annotations

import json


class OllamaError(Exception):
    """A failure a client is told about, with Ollama's wording in `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(OllamaError):
    """The request cannot be served as sent (a bad field, option, name or input)."""


class InvalidOption(InvalidRequest):
    """An option of the wrong type or out of its range."""


class InvalidFormat(InvalidRequest):
    """A `format` that is neither "json" nor a JSON schema the grammar converter accepts."""


class InputTooLong(InvalidRequest):
    """A prompt or input longer than the context, where truncating was not allowed."""


class NotFound(OllamaError):
    """A model or blob that the store does not hold."""


class QueueFull(OllamaError):
    """More requests wait for models than OLLAMA_MAX_QUEUE allows; the client may retry."""


class ShuttingDown(OllamaError):
    """The server is stopping: a request still running when its grace ran out is ended."""


class ModelLoadFailed(OllamaError):
    """llama.cpp could not load a model."""


class InternalError(OllamaError):
    """A failure of the engine or the store that the client could not have avoided."""


def model_not_found(name: str) -> OllamaError:
    return NotFound(f"model '{name}' not found")


def missing_body() -> OllamaError:
    return InvalidRequest("missing request body")


def model_required() -> OllamaError:
    return InvalidRequest("model is required")


def does_not_support(name: str, capability: str) -> OllamaError:
    # Ollama: `"name" does not support insert` (capabilities error) and friends.
    return InvalidRequest(f'"{name}" does not support {capability}')


def lacks_capability(full_name: str, capability: str) -> OllamaError:
    # Ollama's CheckCapabilities error for a capability a request needs (`insert` for a
    # suffix, `tools`): the model's full name, unquoted, as the scheduler words it.
    return InvalidRequest(f"{full_name} does not support {capability}")


def invalid_think_value(value: str) -> OllamaError:
    # api.ThinkValue.UnmarshalJSON, for a string that is not a level (Go's %q, near enough).
    return InvalidRequest(
        f"invalid think value: {json.dumps(value, ensure_ascii=False)} "
        '(must be "high", "medium", "low", "max", true, or false)'
    )


def invalid_think_type() -> OllamaError:
    # api.ThinkValue.UnmarshalJSON, for a JSON value that is neither a bool nor a string.
    return InvalidRequest(
        'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'
    )


def raw_with_template() -> OllamaError:
    return InvalidRequest("raw mode does not support template, system, or context")


def top_logprobs_range() -> OllamaError:
    return InvalidRequest("top_logprobs must be between 0 and 20")


def server_busy() -> OllamaError:
    return QueueFull("server busy, please try again.  maximum pending requests exceeded")


def server_shutting_down() -> OllamaError:
    return ShuttingDown("server shutting down")


def too_many_stops(count: int, limit: int) -> OllamaError:
    return InvalidRequest(f"too many stop sequences: {count} (limit {limit})")


def image_too_large(index: int, size: int, limit: int) -> OllamaError:
    return InvalidRequest(f"images[{index}] is too large: {size} bytes (limit {limit} bytes)")


def images_too_large(size: int, limit: int) -> OllamaError:
    return InvalidRequest(f"images are too large: {size} bytes in all (limit {limit} bytes)")


def option_type(key: str, type_name: str) -> OllamaError:
    return InvalidOption(f'option "{key}" must be of type {type_name}')


def option_range(key: str, least: int, most: int) -> OllamaError:
    return InvalidOption(f'option "{key}" must be between {least} and {most}')


def context_exceeded(n_tokens: int, num_ctx: int) -> OllamaError:
    # With truncate=false Ollama hands the prompt to llama-server, which refuses it; Ollama
    # relays llama-server's error body as its message, verbatim: clients read the counts
    # (`n_prompt_tokens`, `n_ctx`) and the type out of it.
    error = {
        "code": 400,
        "message": f"request ({n_tokens} tokens) exceeds the available context size "
        f"({num_ctx} tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": n_tokens,
        "n_ctx": num_ctx,
    }
    return InputTooLong(json.dumps({"error": error}, separators=(",", ":")))


# --- model management -------------------------------------------------------------------------


def invalid_model_name() -> OllamaError:
    return InvalidRequest("invalid model name")


def invalid_name(kind: str, name: str) -> OllamaError:
    # Ollama: `source "x" is invalid`, `destination "x" is invalid`, `name "x" is invalid`.
    return InvalidRequest(f'{kind} "{name}" is invalid')


def model_not_found_quoted(name: str) -> OllamaError:
    # /api/copy words it with Go's %q.
    return NotFound(f'model "{name}" not found')


def invalid_digest() -> OllamaError:
    return InvalidRequest("invalid digest format")


def blob_not_found(digest: str) -> OllamaError:
    return NotFound(f'blob "{digest}" not found')


def blob_not_uploaded(digest: str) -> OllamaError:
    # /api/create names a blob that was never uploaded: Ollama answers 400, not 404.
    return InvalidRequest(f'blob "{digest}" not found')


def file_path_not_relative() -> OllamaError:
    return InvalidRequest("file path must be relative")


def neither_from_nor_files() -> OllamaError:
    return InvalidRequest("neither 'from' or 'files' was specified")


def not_gguf() -> OllamaError:
    return InvalidRequest("supplied file was not in GGUF format")


def only_one_adapter() -> OllamaError:
    return InvalidRequest("only one adapter is currently supported")


def template_error(detail: str) -> OllamaError:
    return InvalidRequest(f"template error: {detail}")


def unknown_parameter(key: str) -> OllamaError:
    return InvalidRequest(f"unknown parameter '{key}'")


def unsupported_quantization(name: str, supported: list[str]) -> OllamaError:
    return InvalidRequest(
        f"unsupported quantization type {name} - supported types are {', '.join(supported)}"
    )


def quantize_needs_float_model() -> OllamaError:
    return InvalidRequest("quantization is only supported for F16, BF16 and F32 models")


def insecure_protocol() -> OllamaError:
    return InvalidRequest("insecure protocol http")


def pull_manifest_failed(reason: str) -> OllamaError:
    return InternalError(f"pull model manifest: {reason}")
