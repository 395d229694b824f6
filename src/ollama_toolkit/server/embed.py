"""POST /api/embed, the legacy POST /api/embeddings, and the OpenAI-compatible /v1/embeddings.

The vectors come from the model's Embedder (engine/embedder.py), a second llama.cpp context
next to the generation one. Ollama's rules, kept here:
- /api/embed L2-normalizes each vector, then cuts it to `dimensions` and normalizes again;
  an input longer than the context is cut to fit unless `truncate` is false (then a 400);
- /api/embeddings returns the model's raw vector, not normalized (it predates /api/embed and
  Ollama keeps its output as it was);
- /v1/embeddings is /api/embed with OpenAI's request, response and error shapes.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ollama_toolkit.api.errors import (
    InputTooLong,
    InternalError,
    InvalidRequest,
    NotFound,
    OllamaError,
    model_not_found,
    model_required,
)
from ollama_toolkit.api.openai import OpenAIEmbedRequest
from ollama_toolkit.api.types import (
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    WireModel,
)
from ollama_toolkit.engine.runner import Runner
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.errors import openai_error
from ollama_toolkit.server.prepare import ServerState, off_loop, prepare
from ollama_toolkit.server.responses import get_state
from ollama_toolkit.translate.openai import (
    check_encoding_format,
    embed_input,
    to_embedding_list,
)

TOO_LONG = "the input length exceeds the context length"


async def embed_route(request: Request) -> Response:
    req = parse_body(await request.body(), EmbedRequest)
    return _json(await embed(get_state(request), req))


async def embeddings_route(request: Request) -> Response:
    req = parse_body(await request.body(), EmbeddingsRequest)
    return _json(await embeddings(get_state(request), req))


async def openai_embeddings_route(request: Request) -> Response:
    try:
        raw = await request.body()
        if not raw.strip():
            raise InvalidRequest("EOF")  # Go's JSON binding says just that for an empty body
        req = parse_body(raw, OpenAIEmbedRequest)
        check_encoding_format(req.encoding_format)
        inputs = embed_input(req.input)
        inner = EmbedRequest(model=req.model, input=inputs, dimensions=req.dimensions)
        resp = await embed(get_state(request), inner)
    except OllamaError as e:
        return openai_error(e)
    return _json(to_embedding_list(req.model, resp, req.encoding_format))


async def embed(state: ServerState, req: EmbedRequest) -> EmbedResponse:
    started = time.perf_counter()
    if not req.model:
        raise model_not_found(req.model)
    texts = _texts(req.input)
    job = prepare(state, req.model, req.options, req.keep_alive)
    # The model is loaded even for an empty input: that is how clients preload it.
    async with state.scheduler.lease(job.spec, job.options, job.keep_alive) as lease:
        loaded_at = time.perf_counter()
        if not texts:
            return EmbedResponse(model=req.model, embeddings=[])
        runner = lease.runner
        num_ctx = runner.context_size(job.options)
        truncate = req.truncate is not False
        inputs = await off_loop(lambda: [_fit(runner, text, num_ctx, truncate) for text in texts])
        try:
            raw = await runner.embed(inputs)
        except OllamaError as e:
            raise InvalidRequest(e.message) from None  # Ollama answers a failed input with a 400
    vectors = []
    for vec in raw:
        vec = _normalize(vec)
        if 0 < (req.dimensions or 0) < len(vec):
            vec = _normalize(vec[: req.dimensions])
        vectors.append(_float32_list(vec))
    now = time.perf_counter()
    return EmbedResponse(
        model=req.model,
        embeddings=vectors,
        total_duration=int((now - started) * 1e9),
        load_duration=int((loaded_at - started) * 1e9),
        prompt_eval_count=sum(len(t) for t in inputs),
    )


async def embeddings(state: ServerState, req: EmbeddingsRequest) -> EmbeddingsResponse:
    if not req.model:
        raise model_required()
    try:
        job = prepare(state, req.model, req.options, req.keep_alive)
    except NotFound:
        raise NotFound(f'model "{req.model}" not found, try pulling it first') from None
    async with state.scheduler.lease(job.spec, job.options, job.keep_alive) as lease:
        if not req.prompt:
            return EmbeddingsResponse(embedding=[])
        runner = lease.runner
        num_ctx = runner.context_size(job.options)
        tokens = await off_loop(runner.tokenize, req.prompt)
        # No truncation on this endpoint, and every failure is a 500 here, as in Ollama.
        if len(tokens) > num_ctx:
            raise InternalError(TOO_LONG)
        try:
            (vec,) = await runner.embed([tokens])
        except OllamaError as e:
            raise InternalError(e.message) from None
    # Ollama widens the float32 values to float64 here, and prints them as such.
    return EmbeddingsResponse(embedding=vec.astype(np.float64).tolist())


def _texts(value: Any) -> list[str]:
    """The strings to embed: one non-empty string, or an array of strings (empty ones kept)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidRequest("invalid input type")


def _fit(runner: Runner, text: str, num_ctx: int, truncate: bool) -> list[int]:
    """The tokens to embed for `text`, within num_ctx, with the model's BOS/EOS around them.

    As in Ollama, the limit keeps a cell for a BOS when the model adds one and one for an EOS
    (Ollama looks for `add_eos_token` under the architecture's prefix, finds nothing and
    assumes true), and a too-long text keeps its beginning.
    """
    vocab = runner.vocab
    tokens = runner.tokenize(text, add_special=False)
    limit = num_ctx
    if tokens and vocab.add_bos and tokens[0] != vocab.bos:
        limit -= 1
    if tokens and tokens[-1] != vocab.eos:
        limit -= 1
    if limit <= 0:
        raise InvalidRequest("input after truncation exceeds maximum context length")
    if len(tokens) > limit:
        if not truncate:
            raise InputTooLong(TOO_LONG)
        tokens = tokens[:limit]
    head = [vocab.bos] if vocab.add_bos and (not tokens or tokens[0] != vocab.bos) else []
    tail = [vocab.eos] if vocab.add_eos and (not tokens or tokens[-1] != vocab.eos) else []
    return head + tokens + tail


def _normalize(vec: np.ndarray) -> np.ndarray:
    """Unit L2 norm, in float32 as Ollama computes it; a zero vector stays zero."""
    if not np.isfinite(vec).all():
        raise InvalidRequest("embedding contains NaN or Inf values")
    sum_sq = float(np.dot(vec, vec))
    return vec * np.float32(1.0 / max(math.sqrt(sum_sq), 1e-12))


def _float32_list(vec: np.ndarray) -> list[float]:
    # Go prints a float32 with the fewest digits that read back as the same float32
    # (0.012345679, not 0.012345678918063641): numpy's str of a float32 does the same.
    return [float(str(x)) for x in vec]


def _json(resp: WireModel) -> Response:
    return JSONResponse(resp.to_wire())
