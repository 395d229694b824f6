"""Requests to a running server: one at a time, or from concurrent clients."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.load import Load, Result, new_client, ollama_generate, openai_completion, run_clients
from bench.servers import Memory, Server

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


async def _sequential(base_url: str, asks: list[Ask]) -> list[Result]:
    async with new_client() as client:
        return [
            await ollama_generate(client, base_url, a.prompt, a.num_predict, a.fmt) for a in asks
        ]


def sequential(server: Server, asks: list[Ask]) -> list[Result]:
    """Send /api/generate requests one after another."""
    return asyncio.run(_sequential(server.base_url, asks))


async def _round_trips(base_url: str, path: str, n: int) -> list[float]:
    async with new_client() as client:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            (await client.get(base_url + path)).raise_for_status()
            times.append(time.perf_counter() - started)
        return times


def round_trips(server: Server, path: str, n: int) -> list[float]:
    """Seconds each of n GET requests took: the HTTP floor under the figures above it."""
    return asyncio.run(_round_trips(server.base_url, path, n))


async def _openai_once(base_url: str, prompt: str) -> None:
    async with new_client() as client:
        await openai_completion(client, base_url, prompt, 8, stream=False)


def warm_up(server: Server, prompt: str, openai: bool, idle_s: float = 2.0) -> Memory:
    """Load the model with one short request, let the server go idle, and read its memory."""
    if openai:
        asyncio.run(_openai_once(server.base_url, prompt))
    else:
        sequential(server, [Ask(prompt, 8)])
    time.sleep(idle_s)
    return server.memory()


def ollama_load(server: Server, prompts: list[list[str]], num_predict: int) -> Load:
    """Concurrent clients on /api/generate (streamed)."""

    async def call(client: httpx.AsyncClient, prompt: str) -> Result:
        return await ollama_generate(client, server.base_url, prompt, num_predict)

    return asyncio.run(run_clients(call, prompts))


def openai_load(server: Server, prompts: list[list[str]], max_tokens: int, stream: bool) -> Load:
    """Concurrent clients on /v1/completions."""

    async def call(client: httpx.AsyncClient, prompt: str) -> Result:
        return await openai_completion(client, server.base_url, prompt, max_tokens, stream)

    return asyncio.run(run_clients(call, prompts))
