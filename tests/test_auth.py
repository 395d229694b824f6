"""API-key authentication (OLLAMA_API_KEYS, OLLAMA_API_KEYS_FILE, OLLAMA_API_KEY) and `/health`,
against real server processes: the official `ollama` and `openai` clients, the toolkit's own
client and command, a keys file re-read on SIGHUP, and servers without keys left open."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from conftest import ServerProcess, copy_store, start_server, wait_until
from ollama_toolkit import AsyncClient, Client, ResponseError
from ollama_toolkit.client.autostart import ensure_server
from ollama_toolkit.engine.scheduler import Scheduler
from ollama_toolkit.server.auth import ApiKeys, bearer_token, parse_keys_file
from ollama_toolkit.server.routes import health_of
from test_scheduler_state import FakeRunner, options, spec

# Distinctive, so that finding one in a log means it was logged.
KEY = "tk-auth-key-3b9f61e2"
OTHER_KEY = "tk-auth-key-second-77ad"
WRONG = "tk-auth-key-wrong-0c4e"

UNAUTHORIZED = {"error": "unauthorized"}


@pytest.fixture(scope="module")
def keyed(seeded_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with two keys, logging at debug level (so a key in any log line would show)."""
    root = tmp_path_factory.mktemp("keyed")
    models = copy_store(seeded_store, root / "models")
    proc = start_server(
        models,
        root / "server.log",
        OLLAMA_API_KEYS=f"{KEY}, {OTHER_KEY}",
        OLLAMA_DEBUG="1",
        OLLAMA_NUM_PARALLEL="2",
    )
    yield proc
    proc.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def no_client_key(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    return monkeypatch


# --- refusals -----------------------------------------------------------------------------

OLLAMA_ROUTES = [
    ("GET", "/api/tags", None),
    ("GET", "/api/ps", None),
    ("POST", "/api/show", {"model": "gemma3:270m-pt"}),
    ("POST", "/api/generate", {"model": "gemma3:270m-pt", "prompt": "hi"}),
    ("POST", "/api/chat", {"model": "gemma3:270m-pt", "messages": []}),
    ("POST", "/api/embed", {"model": "gemma3:270m-pt", "input": "hi"}),
    ("POST", "/api/pull", {"model": "nothing/such:model"}),
    ("DELETE", "/api/delete", {"model": "gemma3:270m-pt"}),
    ("POST", "/api/copy", {"source": "gemma3:270m-pt", "destination": "x"}),
    ("HEAD", "/api/blobs/sha256:" + "0" * 64, None),
]


@pytest.mark.parametrize(("method", "path", "body"), OLLAMA_ROUTES)
@pytest.mark.parametrize("key", [None, WRONG])
def test_ollama_routes_need_a_key(keyed, method, path, body, key) -> None:
    headers = bearer(key) if key else {}
    r = httpx.request(method, keyed.url + path, json=body, headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    if method != "HEAD":
        assert r.json() == UNAUTHORIZED


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/models", None),
        ("GET", "/v1/models/gemma3:270m-pt", None),
        ("POST", "/v1/chat/completions", {"model": "gemma3:270m-pt", "messages": []}),
        ("POST", "/v1/completions", {"model": "gemma3:270m-pt", "prompt": "hi"}),
        ("POST", "/v1/embeddings", {"model": "gemma3:270m-pt", "input": "hi"}),
    ],
)
@pytest.mark.parametrize("key", [None, WRONG])
def test_openai_routes_answer_with_openai_s_error_object(keyed, method, path, body, key) -> None:
    headers = bearer(key) if key else {}
    r = httpx.request(method, keyed.url + path, json=body, headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert "param" in error and error["param"] is None
    assert error["message"]


@pytest.mark.parametrize(
    "authorization",
    [f"Basic {KEY}", KEY, "Bearer", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", f"Bearer {KEY} x"],
)
def test_malformed_or_near_miss_credentials_are_refused(keyed, authorization) -> None:
    r = httpx.get(keyed.url + "/api/tags", headers={"Authorization": authorization}, timeout=30)
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_unknown_routes_are_refused_too(keyed) -> None:
    r = httpx.get(keyed.url + "/no/such/route", timeout=30)
    assert r.status_code == 401  # without a key nothing is told, not even what exists
    r = httpx.get(keyed.url + "/no/such/route", headers=bearer(KEY), timeout=30)
    assert r.status_code == 404


# --- what stays open ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", ["/", "/api/version", "/health"])
def test_probes_need_no_key(keyed, method, path) -> None:
    r = httpx.request(method, keyed.url + path, timeout=30)
    assert r.status_code == 200
    assert "www-authenticate" not in r.headers


def test_only_reading_the_open_routes_is_open(keyed) -> None:
    r = httpx.post(keyed.url + "/api/version", json={}, timeout=30)
    assert r.status_code == 401


def test_health_is_llama_cpp_s_shape(keyed, server) -> None:
    for s in (keyed, server):
        r = httpx.get(s.url + "/health", timeout=30)
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}


def test_a_cors_preflight_needs_no_key_and_a_refusal_carries_cors_headers(keyed) -> None:
    origin = "http://localhost:3000"
    preflight = httpx.options(
        keyed.url + "/api/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=30,
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = httpx.get(keyed.url + "/api/tags", headers={"Origin": origin}, timeout=30)
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == origin  # a page can read why
    # A plain OPTIONS is no preflight: it needs a key like any request.
    assert httpx.options(keyed.url + "/api/tags", timeout=30).status_code == 401


def test_a_foreign_origin_is_still_403_before_any_key_is_checked(keyed) -> None:
    r = httpx.get(
        keyed.url + "/api/tags",
        headers={"Origin": "https://evil.example", **bearer(KEY)},
        timeout=30,
    )
    assert r.status_code == 403


# --- clients that send the key --------------------------------------------------------------


def test_the_official_ollama_client_with_the_key(keyed, model, no_client_key) -> None:
    client = ollama.Client(host=keyed.url, headers=bearer(KEY))
    assert model in [m.model for m in client.list().models]
    response = client.generate(model=model, prompt="The sky is", options={"num_predict": 2})
    assert response.done and response.eval_count <= 2
    other = ollama.Client(host=keyed.url, headers=bearer(OTHER_KEY))  # every key is accepted
    assert other.ps() is not None
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=keyed.url).list()
    assert refused.value.status_code == 401
    assert refused.value.error == "unauthorized"


def test_the_official_ollama_client_reads_ollama_api_key_too(keyed, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    assert ollama.Client(host=keyed.url).list().models


def test_the_openai_client_with_the_key(keyed, model) -> None:
    client = openai.OpenAI(base_url=keyed.url + "/v1", api_key=KEY, max_retries=0)
    assert model in [m.id for m in client.models.list()]
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_the_openai_client_with_a_wrong_key_raises_authentication_error(keyed, model) -> None:
    client = openai.OpenAI(base_url=keyed.url + "/v1", api_key=WRONG, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    assert refused.value.status_code == 401
    assert refused.value.code == "invalid_api_key"
    assert refused.value.type == "invalid_request_error"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )


def test_the_toolkit_client_sends_ollama_api_key(keyed, model, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    with Client(keyed.url) as client:
        assert model in [m.model for m in client.list().models]
        assert client.generate(model, "Hi", options={"num_predict": 1}).done
    # A caller's own Authorization header (in any case) wins over the variable.
    wrong = {"authorization": f"Bearer {WRONG}"}
    with Client(keyed.url, headers=wrong) as client, pytest.raises(ResponseError) as refused:
        client.list()
    assert refused.value.status_code == 401
    assert refused.value.error == "unauthorized"

    async def main() -> None:
        async with AsyncClient(keyed.url) as client:
            assert (await client.ps()) is not None

    asyncio.run(main())


def test_the_toolkit_client_without_a_key_gets_401(keyed, no_client_key) -> None:
    with Client(keyed.url) as client, pytest.raises(ResponseError) as refused:
        client.list()
    assert refused.value.status_code == 401


def test_autostart_finds_a_keyed_server_running(keyed, no_client_key) -> None:
    """The autostart probe (`GET /`) is open: a keyed server is seen as running, and none is
    started beside it."""
    assert ensure_server(keyed.url, autostart=False).base_url == keyed.url


def test_the_command_uses_ollama_api_key(keyed, model) -> None:
    env = {**os.environ, "OLLAMA_HOST": keyed.host}
    env.pop("OLLAMA_API_KEY", None)
    command = [sys.executable, "-m", "ollama_toolkit", "list", "--no-autostart"]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "unauthorized" in refused.stderr and "OLLAMA_API_KEY" in refused.stderr
    env["OLLAMA_API_KEY"] = KEY
    listed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert model in listed.stdout


def test_no_key_reaches_the_server_log(keyed) -> None:
    """Runs after the tests above (same module, same server): refused, accepted and wrong
    keys have all been sent by now, at debug log level."""
    httpx.get(keyed.url + "/api/tags", headers=bearer(WRONG), timeout=30)
    httpx.get(keyed.url + "/api/tags", headers=bearer(KEY), timeout=30)
    log = keyed.log()
    assert "API key authentication on: 2 keys loaded" in log
    assert "OLLAMA_API_KEYS=********" in log
    for secret in (KEY, OTHER_KEY, WRONG, "tk-auth-key"):
        assert secret not in log


# --- a keys file, re-read on SIGHUP ---------------------------------------------------------


def test_keys_file_is_re_read_on_sighup(make_server, tmp_path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# the first key\n\n  {KEY}  \n# {OTHER_KEY}\n")
    s = make_server(OLLAMA_API_KEYS_FILE=str(keys_file))

    def status(key: str) -> int:
        return httpx.get(s.url + "/api/tags", headers=bearer(key), timeout=30).status_code

    assert status(KEY) == 200
    assert status(OTHER_KEY) == 401  # commented out
    assert "1 keys loaded" in s.log()

    keys_file.write_text(f"{OTHER_KEY}  # the new key\n{WRONG}\n")
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: status(OTHER_KEY) == 200, "the new key was never accepted")
    assert status(WRONG) == 200
    assert status(KEY) == 401
    assert s.proc.poll() is None  # SIGHUP did not end the server
    assert "2 keys loaded" in s.log()

    keys_file.unlink()  # unreadable: the keys stay as they were
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "cannot read the API keys file" in s.log(), s.log)
    assert status(OTHER_KEY) == 200

    keys_file.write_text("# every key revoked\n")
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: status(OTHER_KEY) == 401, "the revoked key was still accepted")
    assert httpx.get(s.url + "/health", timeout=30).json() == {"status": "ok"}
    for secret in (KEY, OTHER_KEY, WRONG):
        assert secret not in s.log()


# --- without keys, everything is open as before -------------------------------------------


def test_without_keys_every_route_is_open(server, model, no_client_key) -> None:
    assert httpx.get(server.url + "/api/tags", timeout=30).status_code == 200
    assert httpx.get(server.url + "/v1/models", timeout=30).status_code == 200
    r = httpx.post(server.url + "/api/show", json={"model": model}, timeout=30)
    assert r.status_code == 200
    # A key sent to a server that wants none is ignored.
    assert httpx.get(server.url + "/api/ps", headers=bearer(WRONG), timeout=30).status_code == 200
    assert "API key authentication" not in server.log()


# --- the pieces, in process ---------------------------------------------------------------


def test_keys_file_syntax() -> None:
    text = "# comment\n\n key-a \nkey-b # note\n   # indented comment\nkey-c\r\n"
    assert parse_keys_file(text) == ["key-a", "key-b", "key-c"]


def test_api_keys_accept_only_their_keys(tmp_path: Path) -> None:
    keys = ApiKeys(["a1", "b2", ""])
    assert keys.enabled and len(keys) == 2
    assert keys.accepts(b"a1") and keys.accepts(b"b2")
    assert not keys.accepts(b"a") and not keys.accepts(b"a1 ") and not keys.accepts(b"")
    assert not ApiKeys().enabled
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n")
    from_empty = ApiKeys(file=empty)
    assert from_empty.enabled and len(from_empty) == 0  # on, refusing all: fails closed
    assert not from_empty.accepts(b"")
    missing = ApiKeys(file=tmp_path / "missing")
    assert missing.enabled and len(missing) == 0


def test_bearer_token_parsing() -> None:
    assert bearer_token([(b"authorization", b"Bearer abc")]) == b"abc"
    assert bearer_token([(b"authorization", b"bearer   abc  ")]) == b"abc"
    assert bearer_token([(b"authorization", b"Basic abc")]) is None
    assert bearer_token([(b"authorization", b"Bearer")]) is None
    assert bearer_token([(b"x-api-key", b"abc")]) is None


def test_health_is_503_when_a_loaded_runner_died() -> None:
    async def main() -> None:
        sched = Scheduler(factory=FakeRunner)
        assert health_of(sched) == (200, {"status": "ok"})
        async with sched.lease(spec("a"), options(), 300.0) as lease:
            assert health_of(sched) == (200, {"status": "ok"})
            lease.runner.close()  # the fake's healthy() is False once closed
        status, body = health_of(sched)
        assert status == 503
        assert body["status"] == "error" and "a" in body["error"]
        await sched.shutdown()
        assert health_of(sched) == (200, {"status": "ok"})

    asyncio.run(main())
