"""Ollama's error wording, in one place, and the exception that carries a status code.

The server raises `APIError` anywhere below the routes; one handler turns it into
`{"error": message}` with its status. The client raises `ResponseError` from the same shapes.
"""

from __future__ import annotations


class APIError(Exception):
    """An error with the HTTP status Ollama answers for it."""

    def __init__(self, message: str, status_code: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.headers = headers or {}


def model_not_found(name: str) -> APIError:
    return APIError(f"model '{name}' not found", 404)


def missing_body() -> APIError:
    return APIError("missing request body", 400)


def model_required() -> APIError:
    return APIError("model is required", 400)


def does_not_support(name: str, capability: str) -> APIError:
    # Ollama: `"name" does not support insert` (capabilities error) and friends.
    return APIError(f'"{name}" does not support {capability}', 400)


def raw_with_template() -> APIError:
    return APIError("raw mode does not support template, system, or context", 400)


def top_logprobs_range() -> APIError:
    return APIError("top_logprobs must be between 0 and 20", 400)


def server_busy() -> APIError:
    return APIError(
        "server busy, please try again.  maximum pending requests exceeded",
        503,
        {"Retry-After": "1"},
    )


def option_type(key: str, type_name: str) -> APIError:
    return APIError(f'option "{key}" must be of type {type_name}', 400)


def context_exceeded(n_tokens: int, num_ctx: int) -> APIError:
    return APIError(
        f"the input length ({n_tokens} tokens) exceeds the context length ({num_ctx} tokens)", 400
    )


# --- model management -------------------------------------------------------------------------


def invalid_model_name() -> APIError:
    return APIError("invalid model name", 400)


def invalid_name(kind: str, name: str) -> APIError:
    # Ollama: `source "x" is invalid`, `destination "x" is invalid`, `name "x" is invalid`.
    return APIError(f'{kind} "{name}" is invalid', 400)


def model_not_found_quoted(name: str) -> APIError:
    # /api/copy words it with Go's %q.
    return APIError(f'model "{name}" not found', 404)


def invalid_digest() -> APIError:
    return APIError("invalid digest format", 400)


def blob_not_found(digest: str, status: int = 404) -> APIError:
    return APIError(f'blob "{digest}" not found', status)


def file_path_not_relative() -> APIError:
    return APIError("file path must be relative", 400)


def neither_from_nor_files() -> APIError:
    return APIError("neither 'from' or 'files' was specified", 400)


def not_gguf() -> APIError:
    return APIError("supplied file was not in GGUF format", 400)


def only_one_adapter() -> APIError:
    return APIError("only one adapter is currently supported", 400)


def template_error(detail: str) -> APIError:
    return APIError(f"template error: {detail}", 400)


def unknown_parameter(key: str) -> APIError:
    return APIError(f"unknown parameter '{key}'", 400)


def unsupported_quantization(name: str, supported: list[str]) -> APIError:
    return APIError(
        f"unsupported quantization type {name} - supported types are {', '.join(supported)}", 400
    )


def quantize_needs_float_model() -> APIError:
    return APIError("quantization is only supported for F16, BF16 and F32 models", 400)


def insecure_protocol() -> APIError:
    return APIError("insecure protocol http", 400)


def pull_manifest_failed(reason: str) -> APIError:
    return APIError(f"pull model manifest: {reason}", 500)
