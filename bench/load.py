"""HTTP clients for the servers under test, and the concurrent-client driver shared by all.

Every request is greedy (temperature 0, no repeat penalty) so that all servers do the same work.
Ollama's `/api/generate` and llama-server's `/v1/completions` are streamed; llama-cpp-python's
server interrupts a stream whenever another request is waiting, and it reports token usage only
on non-streamed completions, so its clients ask for whole responses.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

MODEL = "gemma3:270m-pt"
_NS = 1e-9


@dataclass(frozen=True)
class Result:
    """One request as the client saw it, plus the server's own timings where it gives them."""

    ttft: float  # seconds to the first token (to the whole response when not streamed)
    seconds: float  # seconds to the end of the response
    prompt_tokens: int
    gen_tokens: int
    prompt_eval_s: float | None = None  # prompt_eval_duration (Ollama API only)
    eval_s: float | None = None  # eval_duration (Ollama API only)

    @property
    def gen_rate(self) -> float:
        """Generated tokens/s by the server's clock."""
        if not self.eval_s:
            raise RuntimeError("the server reported no eval_duration")
        return self.gen_tokens / self.eval_s

    @property
    def prompt_rate(self) -> float:
        """Prompt tokens/s by the server's clock."""
        if not self.prompt_eval_s:
            raise RuntimeError("the server reported no prompt_eval_duration")
        return self.prompt_tokens / self.prompt_eval_s


Call = Callable[[httpx.AsyncClient, str], Awaitable[Result]]


def new_client(connections: int = 1, keep_alive: bool = True) -> httpx.AsyncClient:
    """An HTTP client; without keep_alive it opens a fresh connection per request.

    One request after another reuses the connection, as the official clients do. Concurrent
    clients do not: reusing races with servers that close idle connections (llama-server's
    cpp-httplib did, between two requests of a client, failing the run), and a loopback connect
    is nothing next to a request of several seconds.
    """
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections if keep_alive else 0
    )
    return httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits)


async def ollama_generate(
    client: httpx.AsyncClient,
    base_url: str,
    prompt: str,
    num_predict: int,
    fmt: dict[str, Any] | None = None,
) -> Result:
    """Streamed POST /api/generate; token counts and durations from the final object."""
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": prompt,
        "stream": True,
        "options": {"temperature": 0, "repeat_penalty": 1.0, "num_predict": num_predict},
    }
    if fmt is not None:
        body["format"] = fmt
    started = time.perf_counter()
    ttft = None
    final: dict[str, Any] = {}
    async with client.stream("POST", base_url + "/api/generate", json=body) as resp:
        if resp.status_code != 200:
            await resp.aread()
            raise RuntimeError(f"/api/generate answered {resp.status_code}: {resp.text}")
        async for line in resp.aiter_lines():
            if not line:
                continue
            if ttft is None:
                ttft = time.perf_counter() - started
            final = json.loads(line)
            if "error" in final:
                raise RuntimeError(f"/api/generate failed: {final['error']}")
    seconds = time.perf_counter() - started
    if not final.get("done"):
        raise RuntimeError("/api/generate stream ended without a final object")
    return Result(
        ttft=seconds if ttft is None else ttft,
        seconds=seconds,
        prompt_tokens=final.get("prompt_eval_count", 0),
        gen_tokens=final.get("eval_count", 0),
        prompt_eval_s=final.get("prompt_eval_duration", 0) * _NS,
        eval_s=final.get("eval_duration", 0) * _NS,
    )


async def openai_completion(
    client: httpx.AsyncClient, base_url: str, prompt: str, max_tokens: int, stream: bool
) -> Result:
    """POST /v1/completions; token counts from `usage` (the last chunk of a stream)."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "repeat_penalty": 1.0,
        "stream": stream,
    }
    started = time.perf_counter()
    if not stream:
        resp = await client.post(base_url + "/v1/completions", json=body)
        resp.raise_for_status()
        seconds = time.perf_counter() - started
        usage = resp.json()["usage"]
        return Result(seconds, seconds, usage["prompt_tokens"], usage["completion_tokens"])
    body["stream_options"] = {"include_usage": True}
    ttft = None
    usage = None
    async with client.stream("POST", base_url + "/v1/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            if ttft is None and any(c.get("text") for c in chunk.get("choices", [])):
                ttft = time.perf_counter() - started
            usage = chunk.get("usage") or usage
    seconds = time.perf_counter() - started
    if usage is None:
        raise RuntimeError("/v1/completions stream reported no usage")
    return Result(
        ttft=seconds if ttft is None else ttft,
        seconds=seconds,
        prompt_tokens=usage["prompt_tokens"],
        gen_tokens=usage["completion_tokens"],
    )


@dataclass(frozen=True)
class Load:
    wall: float  # seconds from the first request sent to the last response received
    results: list[Result]

    @property
    def total_rate(self) -> float:
        """(prompt + generated) tokens per second of wall time."""
        tokens = sum(r.prompt_tokens + r.gen_tokens for r in self.results)
        return tokens / self.wall


async def run_clients(call: Call, prompts: list[list[str]]) -> Load:
    """One concurrent client per list of prompts, each sending its prompts one after another."""
    async with new_client(len(prompts), keep_alive=False) as client:

        async def one_client(queue: list[str]) -> list[Result]:
            return [await call(client, p) for p in queue]

        started = time.perf_counter()
        per_client = await asyncio.gather(*(one_client(q) for q in prompts))
        wall = time.perf_counter() - started
    return Load(wall, [r for results in per_client for r in results])
