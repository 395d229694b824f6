"""What /api/generate, /api/chat and the embedding routes share before running: the model
lookup, options, keep-alive, context fitting, and the work that must stay off the
event loop (templates and tokenizing, which can take seconds on a huge input).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ollama_toolkit import config
from ollama_toolkit.api.errors import (
    InvalidRequest,
    context_exceeded,
    model_not_found,
    too_many_stops,
)
from ollama_toolkit.api.options import Options, resolve_options
from ollama_toolkit.api.types import ThinkValue
from ollama_toolkit.engine.runner import ModelSpec, PromptChunk, TokenChunk
from ollama_toolkit.engine.scheduler import Scheduler
from ollama_toolkit.server.metrics import note_model
from ollama_toolkit.store.model import Model, ModelCache
from ollama_toolkit.store.store import Store

R = TypeVar("R")


@dataclass
class ServerState:
    store: Store
    scheduler: Scheduler
    models: ModelCache


@dataclass
class Prepared:
    """A request's model and the settings it runs with."""

    model: Model
    options: Options
    keep_alive: float

    @property
    def spec(self) -> ModelSpec:
        return model_spec(self.model)


def prepare(
    state: ServerState,
    name: str,
    options: dict[str, Any] | None,
    keep_alive: float | str | None,
) -> Prepared:
    """Look the model up and resolve the request's options (model params under the request's)
    and keep_alive; whatever is wrong is refused here, before any work."""
    model = find_model(state, name)
    resolved = resolve_options(model.params, options)
    check_stops(options)
    return Prepared(model, resolved, keep_alive_seconds(keep_alive))


def check_stops(options: dict[str, Any] | None) -> None:
    """A request sets at most OLLAMA_MAX_STOP_SEQUENCES stop strings: each is matched against
    the text of every generated token. (A model's own, from its Modelfile, are not counted.)"""
    stop = options.get("stop") if isinstance(options, dict) else None
    limit = config.max_stop_sequences()
    if isinstance(stop, list) and len(stop) > limit:
        raise too_many_stops(len(stop), limit)


def model_spec(model: Model) -> ModelSpec:
    return ModelSpec(
        path=model.model_path, name=model.short_name, projector=model.projector, info=model
    )


def find_model(state: ServerState, name: str) -> Model:
    note_model(name)  # for the request log, found or not
    resolved = state.store.resolve_name(name) if name else None
    if resolved is None:
        raise model_not_found(name)
    try:
        return state.models.get(resolved)
    except FileNotFoundError as e:
        raise model_not_found(name) from e


def keep_alive_seconds(value: float | str | None) -> float:
    """A request's keep_alive as seconds: numbers are seconds, strings Go durations; <0 is inf."""
    if value is None:
        return config.keep_alive_seconds()
    if isinstance(value, bool):
        raise InvalidRequest("Unsupported type: 'bool'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = config.parse_go_duration(value)
        except ValueError as e:
            raise InvalidRequest(str(e)) from None
    return math.inf if seconds < 0 else seconds


def think_level(think: ThinkValue | None) -> str:
    """Ollama's `ThinkValue.String()`, the template's `.ThinkLevel`: `true` means medium."""
    if isinstance(think, str):
        return think
    return "medium" if think else ""


def fit_context(
    prompt: list[PromptChunk], opts: Options, num_ctx: int, truncate: bool
) -> list[PromptChunk]:
    """Truncate a prompt that leaves no room in num_ctx for a generated token, keeping its
    first num_keep tokens (Ollama's rule). An image in the part cut out goes whole.

    The bound is llama-server's: a prompt of num_ctx tokens or more is refused there (Ollama
    truncates one of more than num_ctx - 1 tokens before it gets there, or with truncate=false
    relays the refusal)."""
    length = sum(len(chunk.tokens) for chunk in prompt)
    if length < num_ctx:
        return prompt
    if not truncate:
        raise context_exceeded(length, num_ctx)
    keep = max(0, min(opts.num_keep, num_ctx - 1))
    cut_end = keep + length - num_ctx + 1  # leave one cell for the first generated token
    fitted: list[PromptChunk] = []
    start = 0
    for chunk in prompt:
        end = start + len(chunk.tokens)
        if end <= keep or start >= cut_end:
            fitted.append(chunk)
        elif isinstance(chunk, TokenChunk):
            kept = chunk.tokens[: max(0, keep - start)] + chunk.tokens[max(0, cut_end - start) :]
            if kept:
                fitted.append(TokenChunk(kept))
        start = end
    return fitted


async def off_loop(work: Callable[..., R], *args: Any) -> R:
    """Run template or tokenizer work on a worker thread, so that a huge prompt or a costly
    template never stalls other clients. Templates carry their own work budget, so the thread
    ends even when the client that asked has gone."""
    return await asyncio.to_thread(work, *args)
