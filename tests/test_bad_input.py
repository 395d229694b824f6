"""Bad input on every route: each gets its documented 4xx, nothing is lost, the server keeps
serving; and a huge input is worked on off the event loop, so other clients are not stalled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ServerProcess, copy_store, start_server

MODEL = "gemma3:270m-pt"
DEEP = b'{"model":"' + MODEL.encode() + b'","options":' + b"[" * 10_000 + b"]" * 10_000 + b"}"

# name → body. None of them names an existing model for a destructive route.
BODIES: dict[str, bytes] = {
    "malformed JSON": b'{"model": ',
    "an array": b"[]",
    "a number for a string": b'{"model": 5, "name": 5, "source": 5, "destination": 5}',
    "a NUL in the name": b'{"model": "x\\u0000y", "name": "x\\u0000y", "source": "x\\u0000y",'
    b' "destination": "z", "prompt": "hi", "input": "hi",'
    b' "messages": [{"role": "user", "content": "hi"}]}',
    "a lone surrogate": b'{"model": "\\ud800"}',
    "10,000-deep nesting": DEEP,
    "a path-traversal name": b'{"model": "../../etc/passwd", "name": "../../etc/passwd",'
    b' "source": "../../x", "destination": "../../y", "prompt": "hi", "input": "hi",'
    b' "messages": [{"role": "user", "content": "hi"}]}',
}

_GO_SHAPES = {"malformed JSON", "an array", "a number for a string", "a lone surrogate"}


def expected(route: str, case: str) -> int:
    """Ollama's status for `case` on `route`."""
    if case in _GO_SHAPES or case == "10,000-deep nesting":
        return 400
    if route in ("/api/copy", "/api/delete", "/api/create", "/api/pull", "/api/push"):
        return 400  # names are parsed first: an invalid one is a 400 there
    if route == "/v1/chat/completions" and case == "a NUL in the name":
        return 404
    # Inference routes look the model up: a name that cannot exist is "not found", as Ollama.
    return 404


ROUTES = [
    ("POST", "/api/generate"),
    ("POST", "/api/chat"),
    ("POST", "/api/embed"),
    ("POST", "/api/embeddings"),
    ("POST", "/api/show"),
    ("POST", "/api/create"),
    ("POST", "/api/copy"),
    ("DELETE", "/api/delete"),
    ("POST", "/api/pull"),
    ("POST", "/api/push"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
]


@pytest.fixture(scope="module")
def target(seeded_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    root = tmp_path_factory.mktemp("bad-input")
    server = start_server(copy_store(seeded_store, root / "models"), root / "server.log")
    yield server
    server.stop()


def alive(server: ServerProcess) -> None:
    resp = httpx.get(f"{server.url}/api/version", timeout=30)
    assert resp.status_code == 200
    assert MODEL in {m["name"] for m in httpx.get(f"{server.url}/api/tags").json()["models"]}


@pytest.mark.parametrize(("method", "route"), ROUTES)
@pytest.mark.parametrize("case", list(BODIES))
def test_bad_bodies_get_their_4xx_and_the_server_serves_on(target, method, route, case):
    resp = httpx.request(method, f"{target.url}{route}", content=BODIES[case], timeout=120)
    assert resp.status_code == expected(route, case), resp.text
    error = resp.json()["error"]
    # Ollama's shape on /api, OpenAI's on /v1: a message the user can act on, never a trace.
    message = error["message"] if route.startswith("/v1/") else error
    assert message and "Traceback" not in message
    alive(target)


@pytest.mark.parametrize(
    ("route", "body", "status", "error"),
    [
        ("/api/generate", {"prompt": "hi", "images": ["!!not base64"]}, 400, "images[0]"),
        (
            "/api/chat",
            {"messages": [{"role": "user", "content": "hi", "images": ["!!"]}]},
            400,
            "images[0]",
        ),
        ("/api/generate", {"prompt": "hi", "options": {"num_batch": -1}}, 400, "num_batch"),
        ("/api/generate", {"prompt": "hi", "options": {"num_ctx": -1}}, 400, "num_ctx"),
        ("/api/generate", {"prompt": "hi", "options": {"num_thread": -2}}, 400, "num_thread"),
        ("/api/generate", {"prompt": "hi", "options": {"seed": 1e30}}, 400, "seed"),
        ("/api/generate", {"prompt": "hi", "format": 42}, 400, "invalid format"),
        ("/api/generate", {"prompt": "hi", "keep_alive": "soon"}, 400, "invalid duration"),
        ("/api/generate", {"prompt": "hi", "stream": "yes"}, 400, "stream"),
        (
            "/api/generate",
            {
                "prompt": "hi",
                # Over .Messages: a legacy template's last turn runs without its {{define}}s.
                "template": '{{define "a"}}{{template "a" .}}{{end}}{{template "a" .Messages}}',
            },
            400,
            "maximum template depth",
        ),
        (
            "/api/generate",
            {"prompt": "hi", "template": "{{range 100000}}{{range 100000}}{{end}}{{end}}"},
            400,
            "step limit",
        ),
        (
            "/api/create",
            {"model": "x", "from": MODEL, "parameters": {"num_batch": -1}},
            400,
            "num_batch",
        ),
    ],
)
def test_bad_fields_are_named_in_the_error(target, route, body, status, error):
    resp = httpx.post(f"{target.url}{route}", json={"model": MODEL, **body}, timeout=120)
    assert resp.status_code == status, resp.text
    assert error in resp.json()["error"]
    alive(target)


def test_bad_digests_are_400_and_nothing_is_written(target):
    for digest in ("sha256:zzz", "sha256:" + "g" * 64, "md5:" + "a" * 32):
        resp = httpx.post(f"{target.url}/api/blobs/{digest}", content=b"x", timeout=30)
        assert resp.status_code == 400, resp.text
        assert httpx.head(f"{target.url}/api/blobs/{digest}").status_code == 400
    blobs = target.models_dir / "blobs"
    assert not [p for p in blobs.iterdir() if "partial" in p.name or ".tmp" in p.name]
    alive(target)


def test_text_with_nul_bytes_and_any_unicode_is_just_text(target):
    resp = httpx.post(
        f"{target.url}/api/generate",
        json={
            "model": MODEL,
            "prompt": "a\u0000b \U0001f600 \u202e",
            "stream": False,
            "options": {"num_predict": 2},
        },
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["done"] is True


def test_a_huge_prompt_does_not_stall_other_clients(target):
    """A 10 MB prompt is tokenized off the event loop (seconds of work): other clients are
    answered meanwhile. With tokenizing on the loop, probes answer only before it starts and
    in the moment after it ends (the context is tiny and one token is generated): a few, not
    ten in a row."""
    finished: list[int] = []

    def big() -> None:
        resp = httpx.post(
            f"{target.url}/api/generate",
            json={
                "model": MODEL,
                "prompt": "lorem ipsum " * 900_000,
                "stream": False,
                "options": {"num_predict": 1, "num_ctx": 32},
            },
            timeout=600,
        )
        finished.append(resp.status_code)

    httpx.post(f"{target.url}/api/generate", json={"model": MODEL}, timeout=120)  # loaded
    worker = threading.Thread(target=big)
    worker.start()
    answered_while_busy = 0
    try:
        while worker.is_alive() and answered_while_busy < 10:
            assert httpx.get(f"{target.url}/api/version", timeout=600).status_code == 200
            answered_while_busy = answered_while_busy + 1 if worker.is_alive() else 0
            time.sleep(0.2)
    finally:
        worker.join()
    assert answered_while_busy == 10, "other clients waited for the huge prompt"
    assert finished == [200]
    alive(target)
