"""HTTP clients for the servers under test, and the concurrent-client driver shared by all.

Every request is greedy (temperature 0, no repeat penalty) so that all servers do the same work.
Ollama's `/api/generate` and llama-server's `/v1/completions` are streamed; llama-cpp-python's
server interrupts a stream whenever another request is waiting, and it reports token usage only
on non-streamed completions, so its clients ask for whole responses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.wire import Connection

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


@dataclass(frozen=True)
class Turn:
    """One request of a client: after `pause_s` of think time, `prompt` for `max_tokens`."""

    prompt: str
    max_tokens: int
    pause_s: float = 0.0


Call = Callable[[Connection, Turn], Result]


def ollama_generate(
    conn: Connection, prompt: str, num_predict: int, fmt: dict[str, Any] | None = None
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
    reply = conn.post("/api/generate", body)
    if reply.status != 200:
        raise RuntimeError(f"/api/generate answered {reply.status}: {reply.body.decode()}")
    lines = reply.lines()
    final = json.loads(lines[-1]) if lines else {}
    if "error" in final:
        raise RuntimeError(f"/api/generate failed: {final['error']}")
    if not final.get("done"):
        raise RuntimeError("/api/generate stream ended without a final object")
    return Result(
        ttft=reply.first_body - started,
        seconds=reply.done - started,
        prompt_tokens=final.get("prompt_eval_count", 0),
        gen_tokens=final.get("eval_count", 0),
        prompt_eval_s=final.get("prompt_eval_duration", 0) * _NS,
        eval_s=final.get("eval_duration", 0) * _NS,
    )


def openai_completion(conn: Connection, prompt: str, max_tokens: int, stream: bool) -> Result:
    """POST /v1/completions; token counts from `usage` (the last chunk of a stream)."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "repeat_penalty": 1.0,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    started = time.perf_counter()
    reply = conn.post("/v1/completions", body)
    if reply.status != 200:
        raise RuntimeError(f"/v1/completions answered {reply.status}: {reply.body.decode()}")
    if stream:
        events = [line[len(b"data: ") :] for line in reply.lines() if line.startswith(b"data: ")]
        usage = next((json.loads(e)["usage"] for e in reversed(events) if b'"usage"' in e), None)
        if usage is None:
            raise RuntimeError("/v1/completions stream reported no usage")
    else:
        usage = reply.json()["usage"]
    return Result(
        ttft=(reply.first_body if stream else reply.done) - started,
        seconds=reply.done - started,
        prompt_tokens=usage["prompt_tokens"],
        gen_tokens=usage["completion_tokens"],
    )


def llama_completion(conn: Connection, prompt: str, n_predict: int) -> Result:
    """llama-server's own POST /completion, not streamed: its `timings` give the prompt's
    evaluation as llama-server measured it (`prompt_n` tokens in `prompt_ms`), the figure its
    log prints as "prompt eval time"."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "n_predict": n_predict,
        "temperature": 0,
        "repeat_penalty": 1.0,
        "stream": False,
    }
    started = time.perf_counter()
    reply = conn.post("/completion", body)
    if reply.status != 200:
        raise RuntimeError(f"/completion answered {reply.status}: {reply.body.decode()}")
    timings = reply.json()["timings"]
    return Result(
        ttft=reply.done - started,
        seconds=reply.done - started,
        prompt_tokens=int(timings["prompt_n"]),
        gen_tokens=int(timings["predicted_n"]),
        prompt_eval_s=float(timings["prompt_ms"]) / 1000,
        eval_s=float(timings["predicted_ms"]) / 1000,
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


def run_clients(base_url: str, call: Call, clients: list[list[Turn]]) -> Load:
    """One concurrent client (a thread) per list of turns, each sending its requests one after
    another.

    Each request opens a connection of its own: reusing them raced with llama-server closing
    idle connections between two requests of a client, and a loopback connect is nothing next
    to a request of several seconds.
    """

    def one_client(turns: list[Turn]) -> list[Result]:
        results = []
        for turn in turns:
            if turn.pause_s:
                time.sleep(turn.pause_s)
            with Connection(base_url, keep_alive=False) as conn:
                results.append(call(conn, turn))
        return results

    with ThreadPoolExecutor(len(clients)) as pool:
        started = time.perf_counter()
        per_client = list(pool.map(one_client, clients))
        wall = time.perf_counter() - started
    return Load(wall, [r for results in per_client for r in results])
