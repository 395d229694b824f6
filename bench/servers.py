"""The three servers under test, each started as a subprocess on a loopback port.

- ours: `ollama_toolkit.server.app.serve()` with OLLAMA_NUM_PARALLEL slots;
- llama.cpp's C++ `llama-server -np N`;
- llama-cpp-python's bundled server (`python -m llama_cpp.server`).

All use the same GGUF, the same thread count and no extra buffer types (see baselines.py).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.build import BUILD_DIR, LLAMA_CPP_PYTHON_VERSION, command, pairs

LOG_DIR = BUILD_DIR / "logs"
NUM_CTX = 4096  # per sequence, everywhere (Ollama's default context length)

# llama-cpp-python's Llama class has no switch for extra buffer types: its server runs under
# this shim, which makes the default model parameters carry use_extra_bufts = False.
_LLAMA_CPP_PYTHON_SERVER = """
import runpy, sys
import llama_cpp.llama_cpp as lc
_default = lc.llama_model_default_params
def _params():
    p = _default()
    p.use_extra_bufts = False
    return p
lc.llama_model_default_params = _params
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Memory:
    rss: int  # bytes resident now
    peak: int  # bytes, the process's high-water mark of resident memory


@dataclass
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def memory(self) -> Memory:
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
        return Memory(rss=fields["VmRSS"], peak=fields["VmHWM"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _running(
    name: str, cmd: list[str], port: int, ready_path: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, ready_path, timeout=180)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}; see {server.log}"
            )
        try:
            if httpx.get(server.base_url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s; see {server.log}")


def ours(
    models_dir: Path,
    threads: int,
    parallel: int,
    env: dict[str, str] | None = None,
    name: str = "ours",
) -> AbstractContextManager[Server]:
    """`env`: more settings (OLLAMA_KV_CACHE_TYPE, …); `name`: of the log, for servers side by
    side."""
    port = free_port()
    settings = {
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODELS": str(models_dir),
        "OLLAMA_NUM_PARALLEL": str(parallel),
        "OLLAMA_NUM_THREAD": str(threads),
        "OLLAMA_CONTEXT_LENGTH": str(NUM_CTX),
        "OLLAMA_KEEP_ALIVE": "-1",
        **(env or {}),
    }
    cmd = [sys.executable, "-c", "from ollama_toolkit.server.app import serve; serve()"]
    return _running(name, cmd, port, "/api/version", settings)


def llama_server(
    gguf: Path,
    threads: int,
    parallel: int,
    extra: tuple[str, ...] = (),
    name: str = "llama-server",
) -> AbstractContextManager[Server]:
    """`extra`: more arguments (speculative decoding's, …); `name`: of the log."""
    port = free_port()
    flags = {"-m": gguf, "--host": "127.0.0.1", "--port": port, "-t": threads, "-tb": threads}
    cmd = command("llama-server", {**flags, "-np": parallel, "-c": NUM_CTX * parallel}, "-nr")
    return _running(name, [*cmd, *extra], port, "/health")


def ensure_llama_cpp_python_server() -> None:
    """Install llama-cpp-python's `server` extras into this environment when they are missing."""
    needed = ("sse_starlette", "starlette_context", "pydantic_settings")
    if all(importlib.util.find_spec(m) for m in needed):
        return
    package = f"llama-cpp-python[server]=={LLAMA_CPP_PYTHON_VERSION}"
    subprocess.run([sys.executable, "-m", "pip", "install", package], check=True)


def llama_cpp_python(gguf: Path, threads: int) -> AbstractContextManager[Server]:
    port = free_port()
    flags = {"--model": gguf, "--host": "127.0.0.1", "--port": port, "--n_ctx": NUM_CTX}
    # Its default keeps every layer on the CPU; -1 offloads them all where the build has a GPU
    # (as llama.cpp's tools and our server do by default) and changes nothing where it has none.
    flags["--n_gpu_layers"] = -1
    threading = {"--n_threads": threads, "--n_threads_batch": threads}
    cmd = [sys.executable, "-c", _LLAMA_CPP_PYTHON_SERVER, *pairs({**flags, **threading})]
    return _running("llama-cpp-python", cmd, port, "/v1/models")
