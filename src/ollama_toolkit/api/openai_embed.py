"""Wire types of the OpenAI-compatible `POST /v1/embeddings`, as Ollama speaks it.

Ollama answers it by turning the request into an `/api/embed` one and the response into an
OpenAI embedding list; errors take the shape of `api.openai.ErrorResponse`.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from ollama_toolkit.api.errors import APIError
from ollama_toolkit.api.types import EmbedResponse, WireModel

ENCODING_FORMATS = ("float", "base64")


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


def check_encoding_format(value: str) -> None:
    if value and value.lower() not in ENCODING_FORMATS:
        raise APIError(
            f"Invalid value for 'encoding_format' = {value}. Supported values: ['float', 'base64']."
        )


def embed_input(value: Any) -> Any:
    """The `/api/embed` input for an OpenAI one: "" embeds one empty string (not nothing),
    and a missing or empty input is refused, as Ollama's middleware does."""
    if isinstance(value, str) and value == "":
        return [""]
    if value is None or (isinstance(value, list) and not value):
        raise APIError("invalid input")
    return value


def to_embedding_list(model: str, resp: EmbedResponse, encoding_format: str) -> EmbeddingList:
    as_base64 = encoding_format.lower() == "base64"
    data = [
        Embedding(embedding=_base64(vec) if as_base64 else vec, index=i)
        for i, vec in enumerate(resp.embeddings)
    ]
    tokens = resp.prompt_eval_count or 0
    return EmbeddingList(
        data=data,
        model=model,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


def _base64(vec: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
