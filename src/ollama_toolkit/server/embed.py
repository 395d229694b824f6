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

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ollama_toolkit.api.errors import APIError, model_not_found, model_required
from ollama_toolkit.api.openai import OpenAIEmbedRequest
from ollama_toolkit.api.types import (
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    WireModel,
)
from ollama_toolkit.engine.embedder import embedder_for
from ollama_toolkit.engine.llama import LlamaModel
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.inference import (
    ServerState,
    find_model,
    keep_alive_seconds,
    request_options,
)
from ollama_toolkit.server.openai import error_response as openai_error_response
from ollama_toolkit.server.openai_translate import (
    check_encoding_format,
    embed_input,
    to_embedding_list,
)
from ollama_toolkit.server.responses import get_state

router = APIRouter()

TOO_LONG = "the input length exceeds the context length"


@router.post("/api/embed")
async def embed_route(request: Request) -> Response:
    req = parse_body(await request.body(), EmbedRequest)
    return _json(await embed(get_state(request), req))


@router.post("/api/embeddings")
async def embeddings_route(request: Request) -> Response:
    req = parse_body(await request.body(), EmbeddingsRequest)
    return _json(await embeddings(get_state(request), req))


@router.post("/v1/embeddings")
async def openai_embeddings_route(request: Request) -> Response:
    try:
        raw = await request.body()
        if not raw.strip():
            raise APIError("EOF")  # Go's JSON binding says just that for an empty body
        req = parse_body(raw, OpenAIEmbedRequest)
        check_encoding_format(req.encoding_format)
        inputs = embed_input(req.input)
        inner = EmbedRequest(model=req.model, input=inputs, dimensions=req.dimensions)
        resp = await embed(get_state(request), inner)
    except APIError as e:
        return openai_error_response(e)
    return _json(to_embedding_list(req.model, resp, req.encoding_format))


async def embed(state: ServerState, req: EmbedRequest) -> EmbedResponse:
    started = time.perf_counter()
    if not req.model:
        raise model_not_found(req.model)
    texts = _texts(req.input)
    model = find_model(state, req.model)
    keep_alive = keep_alive_seconds(req.keep_alive)
    opts = request_options(model, req.options)
    # The model is loaded even for an empty input: that is how clients preload it.
    loaded, _ = await state.scheduler.acquire(model, opts, keep_alive)
    loaded_at = time.perf_counter()
    try:
        if not texts:
            return EmbedResponse(model=req.model, embeddings=[])
        runner = loaded.runner
        num_ctx = min(opts.num_ctx or runner.num_ctx, runner.num_ctx)
        truncate = req.truncate is not False
        inputs = [_fit(runner.model, text, num_ctx, truncate) for text in texts]
        try:
            raw = await _embed_all(embedder_for(runner).submit, inputs)
        except (ValueError, RuntimeError) as e:  # InputTooLong is a ValueError
            raise APIError(str(e)) from None  # Ollama answers a failed input with a 400
    finally:
        state.scheduler.release(loaded, keep_alive)
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
        model = find_model(state, req.model)
    except APIError:
        raise APIError(f'model "{req.model}" not found, try pulling it first', 404) from None
    keep_alive = keep_alive_seconds(req.keep_alive)
    opts = request_options(model, req.options)
    loaded, _ = await state.scheduler.acquire(model, opts, keep_alive)
    try:
        if not req.prompt:
            return EmbeddingsResponse(embedding=[])
        runner = loaded.runner
        num_ctx = min(opts.num_ctx or runner.num_ctx, runner.num_ctx)
        tokens = runner.model.tokenize(req.prompt)
        # No truncation on this endpoint, and every failure is a 500 here, as in Ollama.
        if len(tokens) > num_ctx:
            raise APIError(TOO_LONG, 500)
        try:
            (vec,) = await _embed_all(embedder_for(runner).submit, [tokens])
        except (ValueError, RuntimeError) as e:
            raise APIError(str(e), 500) from None
    finally:
        state.scheduler.release(loaded, keep_alive)
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
    raise APIError("invalid input type")


def _fit(model: LlamaModel, text: str, num_ctx: int, truncate: bool) -> list[int]:
    """The tokens to embed for `text`, within num_ctx, with the model's BOS/EOS around them.

    As in Ollama, the limit keeps a cell for a BOS when the model adds one and one for an EOS
    (Ollama looks for `add_eos_token` under the architecture's prefix, finds nothing and
    assumes true), and a too-long text keeps its beginning.
    """
    tokens = model.tokenize(text, add_special=False)
    limit = num_ctx
    if tokens and model.add_bos and tokens[0] != model.bos:
        limit -= 1
    if tokens and tokens[-1] != model.eos:
        limit -= 1
    if limit <= 0:
        raise APIError("input after truncation exceeds maximum context length")
    if len(tokens) > limit:
        if not truncate:
            raise APIError(TOO_LONG)
        tokens = tokens[:limit]
    head = [model.bos] if model.add_bos and (not tokens or tokens[0] != model.bos) else []
    tail = [model.eos] if model.add_eos and (not tokens or tokens[-1] != model.eos) else []
    return head + tokens + tail


async def _embed_all(
    submit: Callable[[list[int]], Future[np.ndarray]], inputs: list[list[int]]
) -> list[np.ndarray]:
    """Run every input on the Embedder's thread; if the client goes, queued ones are dropped
    (cancelling the asyncio futures cancels the concurrent ones they wrap)."""
    return list(await asyncio.gather(*(asyncio.wrap_future(submit(t)) for t in inputs)))


def _normalize(vec: np.ndarray) -> np.ndarray:
    """Unit L2 norm, in float32 as Ollama computes it; a zero vector stays zero."""
    if not np.isfinite(vec).all():
        raise APIError("embedding contains NaN or Inf values")
    sum_sq = float(np.dot(vec, vec))
    return vec * np.float32(1.0 / max(math.sqrt(sum_sq), 1e-12))


def _float32_list(vec: np.ndarray) -> list[float]:
    # Go prints a float32 with the fewest digits that read back as the same float32
    # (0.012345679, not 0.012345678918063641): numpy's str of a float32 does the same.
    return [float(str(x)) for x in vec]


def _json(resp: WireModel) -> Response:
    return JSONResponse(resp.to_wire())
