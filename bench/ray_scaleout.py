"""Scaling out on Ray Serve: 8 clients against 1 and 2 engine replicas in the same run (the
ratio reported), and the per-token overhead of the Ray path against plain `serve`.

    .venv/bin/python -m bench.ray_scaleout [--threads-per-replica 1] [--rounds 3]
    .venv/bin/python -m bench.run --only ray [--quick]   # the same (--quick: 1 round)

Needs the `ray` extra. Each server runs on a temporary store of the bundled models, one after
another (one Ray cluster at a time); every figure is measured on this machine in this run. On a
machine with fewer cores than replicas × threads, two replicas share the cores and the ratio
shows the Ray path's cost more than its gain.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from ollama_toolkit.store.bundled import BUNDLED_MODEL, ensure_bundled
from ollama_toolkit.store.store import Store

CLIENTS = 8
GEN_TOKENS = 64
STREAM_TOKENS = 128
PROMPT = "Write a story about a lighthouse keeper who"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(models: Path, *args: str, **env_overrides: str) -> Iterator[str]:
    host = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "OLLAMA_HOST": host,
        "OLLAMA_MODELS": str(models),
        "OLLAMA_NUM_PARALLEL": "4",
        "RAY_USAGE_STATS_ENABLED": "0",
        **env_overrides,
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the process writes it until it exits
    command = [sys.executable, "-m", "ollama_toolkit", "serve", *args]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{host}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{' '.join(args)}: did not start:\n{log.read().decode()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def warm(url: str) -> None:
    """The model loaded (on every replica: an empty generate is broadcast)."""
    r = httpx.post(f"{url}/api/generate", json={"model": BUNDLED_MODEL}, timeout=300)
    r.raise_for_status()


def load_test(url: str, rounds: int) -> float:
    """Generated tokens per second, 8 clients each sending `rounds` requests in turn."""

    def client(i: int) -> int:
        tokens = 0
        for j in range(rounds):
            body = {
                "model": BUNDLED_MODEL,
                "prompt": f"{PROMPT} (client {i}, turn {j})",
                "stream": False,
                "options": {"num_predict": GEN_TOKENS, "temperature": 0.7, "seed": i * 100 + j},
            }
            r = httpx.post(f"{url}/api/generate", json=body, timeout=600)
            r.raise_for_status()
            tokens += int(r.json()["eval_count"])
        return tokens

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        total = sum(pool.map(client, range(CLIENTS)))
    return total / (time.perf_counter() - t0)


def per_token_ms(url: str, reps: int = 3) -> float:
    """Median milliseconds between streamed tokens of one request, as the client sees them."""
    gaps: list[float] = []
    for rep in range(reps):
        body = {
            "model": BUNDLED_MODEL,
            "prompt": f"{PROMPT} ({rep})",
            "options": {"num_predict": STREAM_TOKENS, "temperature": 0},
        }
        with httpx.stream("POST", f"{url}/api/generate", json=body, timeout=600) as r:
            times = [time.perf_counter() for line in r.iter_lines() if line]
        gaps.append((times[-1] - times[1]) / max(1, len(times) - 2) * 1000)
    return statistics.median(gaps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads-per-replica", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="requests per client")
    args = parser.parse_args(argv)
    t = str(args.threads_per_replica)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        ensure_bundled(Store(models))
        with server(models, OLLAMA_NUM_THREAD=t) as url:  # plain `serve`, as many threads
            warm(url)
            results["plain ms/token"] = per_token_ms(url)
        for replicas in (1, 2):
            flags = ["--ray", "--replicas", str(replicas), "--threads-per-replica", t]
            with server(models, *flags) as url:
                warm(url)
                if replicas == 1:
                    results["ray ms/token"] = per_token_ms(url)
                results[f"ray {replicas} replica tok/s"] = load_test(url, args.rounds)
    ratio = results["ray 2 replica tok/s"] / results["ray 1 replica tok/s"]
    overhead = results["ray ms/token"] - results["plain ms/token"]
    print(f"8 clients, {GEN_TOKENS} tokens each request, {args.rounds} requests per client")
    for name, value in results.items():
        print(f"  {name:24} {value:8.2f}")
    print(f"  2 replicas / 1 replica   {ratio:8.2f}x")
    print(f"  Ray path per token      {overhead:+8.2f} ms (single stream, 1 replica vs plain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
