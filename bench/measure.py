"""Requests to a running server: one at a time, or from concurrent clients."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.load import Load, Result, Turn, ollama_generate, openai_completion, run_clients
from bench.servers import Memory, Server
from bench.wire import Connection

# `format` for the constrained-generation figure: long enough to outlast num_predict.
CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "country": {"type": "string"},
        "landmarks": {"type": "array", "items": {"type": "string"}, "minItems": 12},
    },
    "required": ["name", "country", "landmarks"],
}
CITY_PROMPT = (
    "\nA JSON record describing a famous city, with its name, its country and a long list of"
    " its landmarks:\n"
)


@dataclass(frozen=True)
class Ask:
    """One /api/generate request."""

    prompt: str
    num_predict: int
    fmt: dict[str, Any] | None = None


def sequential(server: Server, asks: list[Ask]) -> list[Result]:
    """Send /api/generate requests one after another, on one connection."""
    with Connection(server.base_url) as conn:
        return [ollama_generate(conn, a.prompt, a.num_predict, a.fmt) for a in asks]


def round_trips(server: Server, path: str, n: int) -> list[float]:
    """Seconds each of n GET requests took: the HTTP floor under the figures above it."""
    with Connection(server.base_url) as conn:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            reply = conn.get(path)
            if reply.status != 200:
                raise RuntimeError(f"GET {path} answered {reply.status}")
            times.append(reply.done - started)
        return times


def warm_up(server: Server, prompt: str, openai: bool, idle_s: float = 2.0) -> Memory:
    """Load the model with one short request, let the server go idle, and read its memory."""
    if openai:
        with Connection(server.base_url) as conn:
            openai_completion(conn, prompt, 8, stream=False)
    else:
        sequential(server, [Ask(prompt, 8)])
    time.sleep(idle_s)
    return server.memory()


def ollama_load(server: Server, clients: list[list[Turn]]) -> Load:
    """Concurrent clients on /api/generate (streamed)."""

    def call(conn: Connection, turn: Turn) -> Result:
        return ollama_generate(conn, turn.prompt, turn.max_tokens)

    return run_clients(server.base_url, call, clients)


def openai_load(server: Server, clients: list[list[Turn]], stream: bool) -> Load:
    """Concurrent clients on /v1/completions."""

    def call(conn: Connection, turn: Turn) -> Result:
        return openai_completion(conn, turn.prompt, turn.max_tokens, stream)

    return run_clients(server.base_url, call, clients)
