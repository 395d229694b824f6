"""What /api/generate and /api/chat share: model lookup, options, keep-alive, running a request
on a Runner and turning its events into an async stream, with cancellation when the client goes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ollama_toolkit import config
from ollama_toolkit.api.errors import APIError, context_exceeded, model_not_found
from ollama_toolkit.api.types import ThinkValue
from ollama_toolkit.engine.options import Options, resolve_options
from ollama_toolkit.engine.runner import DoneEvent, ErrorEvent, Event, GenerationRequest
from ollama_toolkit.engine.scheduler import Loaded, Scheduler
from ollama_toolkit.store.model import Model, ModelCache
from ollama_toolkit.store.store import Store


@dataclass
class ServerState:
    store: Store
    scheduler: Scheduler
    models: ModelCache


def find_model(state: ServerState, name: str) -> Model:
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
        raise APIError("Unsupported type: 'bool'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = config.parse_go_duration(value)
        except ValueError as e:
            raise APIError(str(e)) from None
    return math.inf if seconds < 0 else seconds


def think_level(think: ThinkValue | None) -> str:
    """Ollama's `ThinkValue.String()`, the template's `.ThinkLevel`: `true` means medium."""
    if isinstance(think, str):
        return think
    return "medium" if think else ""


def request_options(model: Model, options: dict[str, Any] | None) -> Options:
    return resolve_options(model.params, options)


def check_images(images: list[str] | None) -> None:
    for i, image in enumerate(images or []):
        try:
            base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise APIError(f"images[{i}] is not valid base64 data") from None


def fit_context(tokens: list[int], opts: Options, num_ctx: int, truncate: bool) -> list[int]:
    """Truncate a prompt longer than num_ctx, keeping its first num_keep tokens (Ollama's rule)."""
    if len(tokens) <= num_ctx:
        return tokens
    if not truncate:
        raise context_exceeded(len(tokens), num_ctx)
    keep = max(0, min(opts.num_keep, num_ctx - 1))
    discard = len(tokens) - num_ctx + 1  # leave one cell for the first generated token
    return tokens[:keep] + tokens[keep + discard :]


async def stream_events(
    state: ServerState, loaded: Loaded, req: GenerationRequest, keep_alive: float
) -> AsyncIterator[Event]:
    """Submit `req` and yield its events until done. Releases the model however it ends; if the
    consumer stops early (client gone), the slot is cancelled and freed within one step."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Event] = asyncio.Queue()
    req.emit = events.put_nowait
    req.post = loop.call_soon_threadsafe
    runner = loaded.runner
    finished = False
    try:
        runner.submit(req)
        while True:
            event = await events.get()
            yield event
            if isinstance(event, DoneEvent | ErrorEvent):
                finished = True
                return
    finally:
        if not finished:
            req.cancelled = True
            runner.wake()
        state.scheduler.release(loaded, keep_alive)
