"""Limits, each with a clear error, on a real server configured with tiny ones: the size of a
JSON body (413; blob uploads unlimited), images and stop strings (400), JSON nesting, slow or
idle connections (closed; a stalled body 408), and the cap on open connections (503)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ServerProcess, copy_store, start_server, wait_until
from ollama_toolkit.server.body import MAX_JSON_DEPTH

TIMEOUT = httpx.Timeout(120)
MAX_BODY = 65536
MAX_IMAGE = 1000
MAX_IMAGES = 1500
MAX_STOPS = 4
MAX_CONNECTIONS = 8
HEADER_TIMEOUT_S = 3
# Bounds for waits on the server: generous, they measure nothing.
CLOSE_WAIT_S = 30


@pytest.fixture(scope="module")
def limited(
    seeded_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("limited")
    server = start_server(
        copy_store(seeded_store, root / "models"),
        root / "server.log",
        OLLAMA_MAX_BODY_BYTES=str(MAX_BODY),
        OLLAMA_MAX_IMAGE_BYTES=str(MAX_IMAGE),
        OLLAMA_MAX_TOTAL_IMAGE_BYTES=str(MAX_IMAGES),
        OLLAMA_MAX_STOP_SEQUENCES=str(MAX_STOPS),
        OLLAMA_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        OLLAMA_IDLE_TIMEOUT="1s",
        OLLAMA_HEADER_TIMEOUT=f"{HEADER_TIMEOUT_S}s",
        OLLAMA_BODY_TIMEOUT="1s",
    )
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def _error(response: httpx.Response) -> str:
    error = response.json()["error"]
    return error["message"] if isinstance(error, dict) else error


def _padded(body: dict, size: int) -> bytes:
    """`body` as JSON, padded with spaces to exactly `size` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def _connect(server: ServerProcess) -> socket.socket:
    host, port = server.host.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=CLOSE_WAIT_S)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# --- request body size ------------------------------------------------------------------------


def test_an_oversized_body_is_413_and_the_server_answers_the_next_request(limited, model):
    too_large = f"request body too large (limit {MAX_BODY} bytes)"
    body = {"model": model, "prompt": "hi", "stream": False, "options": {"num_predict": 1}}
    with httpx.Client(base_url=limited.url, timeout=TIMEOUT) as client:
        r = client.post("/api/generate", content=_padded(body, MAX_BODY + 1))
        assert r.status_code == 413
        assert r.json() == {"error": too_large}
        assert client.get("/api/version").status_code == 200  # the same connection, reused

        # Without a Content-Length (chunked), the body is counted as it arrives.
        def chunks() -> Iterator[bytes]:
            raw = _padded(body, 4 * MAX_BODY)
            for i in range(0, len(raw), 4096):
                yield raw[i : i + 4096]

        r = client.post("/api/chat", content=chunks())
        assert r.status_code == 413
        assert r.json() == {"error": too_large}
        assert client.get("/api/tags").status_code == 200

        # OpenAI's routes answer with OpenAI's error object.
        r = client.post("/v1/chat/completions", content=_padded({}, MAX_BODY + 1))
        assert r.status_code == 413
        assert r.json()["error"]["message"] == too_large
        assert r.json()["error"]["type"] == "invalid_request_error"

        # A body of exactly the limit is served.
        r = client.post("/api/generate", content=_padded(body, MAX_BODY))
        assert r.status_code == 200, r.text
        assert r.json()["done"] is True


def test_a_blob_upload_larger_than_the_json_limit_is_stored(limited):
    data = os.urandom(3 * MAX_BODY)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{limited.url}/api/blobs/{digest}", content=data, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    assert httpx.head(f"{limited.url}/api/blobs/{digest}").status_code == 200
    assert (limited.models_dir / "blobs" / digest.replace(":", "-")).read_bytes() == data


# --- stop strings, images, nesting ------------------------------------------------------------


def test_too_many_stop_strings_is_400(limited, model):
    stops = [f"stop{i}" for i in range(MAX_STOPS + 1)]
    body = {"model": model, "prompt": "hi", "stream": False, "options": {"stop": stops}}
    r = httpx.post(f"{limited.url}/api/generate", json=body, timeout=TIMEOUT)
    assert r.status_code == 400
    assert _error(r) == f"too many stop sequences: {MAX_STOPS + 1} (limit {MAX_STOPS})"

    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stop": stops}
    r = httpx.post(f"{limited.url}/v1/chat/completions", json=chat, timeout=TIMEOUT)
    assert r.status_code == 400
    assert _error(r) == f"too many stop sequences: {MAX_STOPS + 1} (limit {MAX_STOPS})"

    body["options"] = {"stop": stops[:MAX_STOPS], "num_predict": 1}
    r = httpx.post(f"{limited.url}/api/generate", json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def _image(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def test_an_oversized_image_is_400(limited, model):
    def generate(images: list[str]) -> httpx.Response:
        body = {"model": model, "prompt": "what is this?", "images": images, "stream": False}
        return httpx.post(f"{limited.url}/api/generate", json=body, timeout=TIMEOUT)

    r = generate([_image(10), _image(MAX_IMAGE + 1)])
    assert r.status_code == 400
    assert _error(r) == f"images[1] is too large: {MAX_IMAGE + 1} bytes (limit {MAX_IMAGE} bytes)"

    r = generate([_image(MAX_IMAGE), _image(MAX_IMAGES - MAX_IMAGE + 1)])
    assert r.status_code == 400
    assert (
        _error(r)
        == f"images are too large: {MAX_IMAGES + 1} bytes in all (limit {MAX_IMAGES} bytes)"
    )

    # Within the limits, the images pass to the next check: this model has no vision.
    r = generate([_image(MAX_IMAGE)])
    assert r.status_code == 400
    assert "does not support images" in _error(r)

    message = {"role": "user", "content": "and this?", "images": [_image(MAX_IMAGE + 1)]}
    body = {"model": model, "messages": [message], "stream": False}
    r = httpx.post(f"{limited.url}/api/chat", json=body, timeout=TIMEOUT)
    assert r.status_code == 400
    assert "is too large" in _error(r)


def test_nesting_beyond_the_depth_limit_is_400(limited, model):
    def show(depth: int) -> httpx.Response:
        inner = "[" * depth + "]" * depth  # inside {"options": {"x": ...}}: two levels more
        raw = f'{{"model": {json.dumps(model)}, "options": {{"x": {inner}}}}}'
        return httpx.post(f"{limited.url}/api/show", content=raw, timeout=TIMEOUT)

    assert show(MAX_JSON_DEPTH - 2).status_code == 200
    r = show(MAX_JSON_DEPTH - 1)
    assert r.status_code == 400
    assert _error(r) == (
        f"invalid JSON in request body: exceeded max depth (limit {MAX_JSON_DEPTH})"
    )


# --- slow and idle clients --------------------------------------------------------------------


def test_an_idle_kept_alive_connection_is_closed(limited):
    with _connect(limited) as sock:
        sock.sendall(f"GET /api/version HTTP/1.1\r\nHost: {limited.host}\r\n\r\n".encode())
        answer = _read_until_closed(sock)  # the answer, then the close after OLLAMA_IDLE_TIMEOUT
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"version"' in answer


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
    ids=["nothing", "half-a-head"],
)
def test_a_connection_that_sends_no_whole_head_is_closed(limited, sent):
    with _connect(limited) as sock:
        sock.sendall(sent)
        assert _read_until_closed(sock) == b""  # closed without an answer
    assert httpx.get(f"{limited.url}/api/version").status_code == 200


def test_a_stalled_body_is_408(limited, model):
    blobs = limited.models_dir / "blobs"
    digest = "sha256:" + hashlib.sha256(b"never sent whole").hexdigest()
    requests = [
        ("/api/show", f'{{"model": {json.dumps(model)}'.encode()),
        (f"/api/blobs/{digest}", b"never sent"),  # uploads are unlimited in size, not in time
    ]
    for path, part in requests:
        with _connect(limited) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: {limited.host}\r\nContent-Length: 1000\r\n\r\n"
            sock.sendall(head.encode() + part)
            answer = _read_until_closed(sock)
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout", answer
        error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
        assert error.startswith("request body not received in time")
    assert not [p.name for p in blobs.iterdir() if p.name.startswith(".tmp-")]
    assert httpx.head(f"{limited.url}/api/blobs/{digest}").status_code == 404


def test_a_request_beyond_the_connection_cap_is_503(limited):
    # Open connections count, idle ones too: with the cap's worth open, the next request is
    # refused; once they close, requests are served again.
    socks = [_connect(limited) for _ in range(MAX_CONNECTIONS - 1)]
    try:
        r = httpx.get(f"{limited.url}/api/version")
        assert r.status_code == 503
    finally:
        for sock in socks:
            sock.close()
    wait_until(
        lambda: httpx.get(f"{limited.url}/api/version").status_code == 200,
        "requests are served again once the connections close",
        timeout_s=CLOSE_WAIT_S,
    )
