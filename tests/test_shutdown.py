"""Graceful shutdown of a real server process: on SIGTERM new connections are refused, running
requests get OLLAMA_SHUTDOWN_GRACE, then open streams end with an error line, waiting requests
get 503, an upload stalled mid-body is dropped with its temporary file, and the process exits 0
with no traceback; the store is intact for the next start. A second signal ends at once."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from conftest import ServerProcess, start_server, wait_until

TIMEOUT = httpx.Timeout(300)
# Bounds for waits on the server: generous, they measure nothing.
EXIT_WAIT_S = 120
ENDLESS = {"num_predict": 1_000_000}  # runs until the server ends it


class Client(threading.Thread):
    """One request in a thread: the streamed lines (or the one body) and the status."""

    def __init__(self, server: ServerProcess, path: str, body: dict) -> None:
        super().__init__(daemon=True)
        self.url = server.url + path
        self.body = body
        self.status = 0
        self.lines: list[str] = []
        self.failure: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            with httpx.stream("POST", self.url, json=self.body, timeout=TIMEOUT) as r:
                self.status = r.status_code
                for line in r.iter_lines():
                    if line:
                        self.lines.append(line)
        except httpx.HTTPError as e:  # a stream cut short (only a forced exit may do that)
            self.failure = e

    def last(self) -> dict:
        assert self.lines, (self.status, self.failure)
        line = self.lines[-1]
        return json.loads(line.removeprefix("data: "))


def _assert_clean_exit(server: ServerProcess) -> None:
    try:
        code = server.proc.wait(timeout=EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not exit:\n{server.log()}")
    log = server.log()
    assert code == 0, log
    assert "Traceback" not in log and "CancelledError" not in log, log


def _partial_files(models: Path) -> list[str]:
    return [
        str(p.relative_to(models))
        for p in models.rglob("*")
        if p.name.startswith(".tmp-") or "-partial" in p.name
    ]


def _tags(server: ServerProcess) -> dict[str, str]:
    models = httpx.get(server.url + "/api/tags", timeout=TIMEOUT).json()["models"]
    return {m["name"]: m["digest"] for m in models}


def _send(
    server: ServerProcess, path: str, body: bytes, length: int | None = None
) -> socket.socket:
    """A request sent on a socket of its own (`length`: the Content-Length it announces)."""
    host, port = server.host.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=EXIT_WAIT_S)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def _answer(sock: socket.socket) -> tuple[str, dict]:
    """The status line and JSON body of the answer on `sock`, read until the server closes it."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), json.loads(body)


def test_sigterm_lets_requests_finish_then_ends_them_and_exits_0(make_server, model):
    server = make_server(
        OLLAMA_SHUTDOWN_GRACE="3s",
        OLLAMA_NUM_PARALLEL="5",
        OLLAMA_BODY_TIMEOUT="10m",  # the stalled upload stays until shutdown cancels it
    )
    tags = _tags(server)
    prompt = {"model": model, "prompt": "Once upon a time", "options": ENDLESS}
    streams = [Client(server, "/api/generate", prompt) for _ in range(4)]
    chat = {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "stream": True,
        "max_tokens": ENDLESS["num_predict"],
    }
    sse = Client(server, "/v1/chat/completions", chat)
    wait_until(
        lambda: all(c.lines for c in [*streams, sse]),
        lambda: f"every stream under way:\n{server.log()}",
        timeout_s=EXIT_WAIT_S,
    )
    # One more waits for a slot; an upload sends a part of its body, then nothing.
    waiting = _send(server, "/api/generate", json.dumps({**prompt, "stream": False}).encode())
    upload = _send(server, "/api/blobs/sha256:" + "0" * 64, b"x" * 100_000, length=10**8)
    # Connections are accepted in turn: once a later one is answered, those two are in.
    assert httpx.get(server.url + "/api/version").status_code == 200

    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "shutting down" in server.log(), "shutdown begins", EXIT_WAIT_S)
    with pytest.raises(httpx.ConnectError):  # no new connections
        httpx.get(server.url + "/api/version")
    for client in [*streams, sse]:
        client.join(EXIT_WAIT_S)
        assert not client.is_alive()
    _assert_clean_exit(server)

    for client in streams:
        last = client.last()
        assert last.get("done") is True or last == {"error": "server shutting down"}, last
        assert client.failure is None
    # OpenAI's stream ends with an error event (and no [DONE]).
    assert sse.last()["error"]["message"] == "server shutting down"
    # The request still waiting for a slot is refused, with its status; so is the upload, which
    # the server cancelled in the end (its temporary file removed).
    assert _answer(waiting) == (
        "HTTP/1.1 503 Service Unavailable",
        {"error": "server shutting down"},
    )
    assert _answer(upload) == (
        "HTTP/1.1 503 Service Unavailable",
        {"error": "server shutting down"},
    )
    # Nothing half-written in the store; the next server serves it as it was.
    assert not _partial_files(server.models_dir)
    again = start_server(server.models_dir, server.log_path.with_name("again.log"))
    try:
        assert _tags(again) == tags
        r = httpx.post(
            again.url + "/api/generate",
            json={"model": model, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}},
            timeout=TIMEOUT,
        )
        assert r.status_code == 200 and r.json()["done"] is True
    finally:
        again.stop()


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_during_the_grace_ends_at_once(make_server, model, second):
    server = make_server(OLLAMA_SHUTDOWN_GRACE="1h")
    prompt = {"model": model, "prompt": "Once upon a time", "options": ENDLESS}
    stream = Client(server, "/api/generate", prompt)
    wait_until(lambda: stream.lines, lambda: f"the stream under way:\n{server.log()}", 120)

    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "shutting down" in server.log(), "shutdown begins", EXIT_WAIT_S)
    server.proc.send_signal(second)
    _assert_clean_exit(server)  # long before the hour of grace
    stream.join(EXIT_WAIT_S)
    assert not stream.is_alive()
    # Ended with the error line, or (if it could not be written in time) cut short.
    if stream.failure is None:
        assert stream.last() == {"error": "server shutting down"}
