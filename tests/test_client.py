"""`ollama_toolkit.Client` and `AsyncClient` against a real running server.

Retries, stream errors and connection failures are checked against real conditions: a port with
nothing listening, and a tiny HTTP server on loopback that answers as scripted (503, then 200).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from ollama_toolkit import AsyncClient, Client, ResponseError, RetryPolicy, ServerNotReachableError
from ollama_toolkit.api.types import (
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ShowResponse,
    VersionResponse,
)

GREEDY = {"temperature": 0, "num_predict": 8}
FAST_RETRY = RetryPolicy(max_retries=3, backoff_s=0.05, jitter=False)
MISSING = "no-such-model:1b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScriptedServer:
    """A real HTTP server on loopback that answers each request with the next scripted reply.

    A reply is `(status, lines)`: the lines are sent as a chunked NDJSON body, and a `None` line
    cuts the connection there, as a crashing server would.
    """

    def __init__(self, replies: list[tuple[int, list[bytes | None]]], port: int = 0):
        self.replies = replies
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self) -> None:
                outer.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, lines = outer.replies[min(len(outer.requests), len(outer.replies)) - 1]
                self.send_response(status)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                if status == 503:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                for line in lines:
                    if line is None:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


VERSION_OK = (200, [line({"version": "0.12.0"})])
BUSY = (503, [line({"error": "server busy, please try again.  maximum pending requests exceeded"})])


@pytest.fixture
def client(server) -> Iterator[Client]:
    with Client(server.url, timeout=120) as c:
        yield c


# --- the API against the real server --------------------------------------------------------


def test_generate_returns_a_typed_response_usable_as_object_and_mapping(client, model):
    r = client.generate(model, "The sky is", options=GREEDY)
    assert isinstance(r, GenerateResponse)
    assert r.done and r.done_reason == "length"
    assert r.response and r["response"] == r.response
    assert r.model == model
    assert r.eval_count == 8
    assert r.prompt_eval_count and r.total_duration and r.eval_duration


def test_generate_stream_yields_typed_chunks_ending_with_statistics(client, model):
    chunks = list(client.generate(model, "The sky is", options=GREEDY, stream=True))
    assert all(isinstance(c, GenerateResponse) for c in chunks)
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len(chunks) >= 8
    assert chunks[-1].eval_count == 8
    assert "".join(c.response for c in chunks).strip()


def test_options_and_system_reach_the_server(client, model):
    """Same seed and temperature give the same text: the nested options are honoured."""
    opts = {"temperature": 0.9, "seed": 42, "num_predict": 8}
    a = client.generate(model, "Once upon a time", system="A fairy tale.", options=opts)
    b = client.generate(model, "Once upon a time", system="A fairy tale.", options=opts)
    assert a.response == b.response
    assert a.eval_count == 8


def test_context_continues_a_generation(client, model):
    first = client.generate(model, "The capital of France is", options=GREEDY)
    assert first.context
    second = client.generate(model, " and", context=first.context, options=GREEDY)
    assert second.prompt_eval_count is not None
    assert len(second.context) > len(first.context)


def test_list_show_ps_and_version_are_typed(client, model):
    client.generate(model, "Hi", options={"num_predict": 1})
    listed = client.list()
    assert isinstance(listed, ListResponse)
    assert model in [m.model for m in listed.models]
    shown = client.show(model)
    assert isinstance(shown, ShowResponse)
    assert shown.details.family and "completion" in (shown.capabilities or [])
    running = client.ps()
    assert isinstance(running, ProcessResponse)
    assert model in [m.model for m in running.models]
    version = client.version()
    assert isinstance(version, VersionResponse) and version.version


def test_host_comes_from_ollama_host(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", server.host)
    with Client() as c:
        assert c.base_url == server.url
        assert c.version().version


def test_missing_model_raises_response_error_with_status_and_message(client):
    with pytest.raises(ResponseError) as info:
        client.generate(MISSING, "Hi")
    assert info.value.status_code == 404
    assert info.value.error == f"model '{MISSING}' not found"


def test_missing_model_in_a_stream_raises_before_the_first_chunk(client):
    with pytest.raises(ResponseError) as info:
        next(iter(client.generate(MISSING, "Hi", stream=True)))
    assert info.value.status_code == 404


# --- model fallback ---------------------------------------------------------------------------


def test_missing_model_falls_back_and_says_which_model_answered(server, model):
    with Client(server.url, fallback_models=["also-missing:7b", model]) as c:
        r = c.generate(MISSING, "The sky is", options=GREEDY)
    assert r.model == model
    assert r.response


def test_fallback_works_for_streams(server, model):
    with Client(server.url, fallback_models=[model]) as c:
        chunks = list(c.generate(MISSING, "The sky is", options=GREEDY, stream=True))
    assert {c.model for c in chunks} == {model}
    assert chunks[-1].done


def test_available_model_is_used_before_any_fallback(server, model):
    with Client(server.url, fallback_models=[MISSING]) as c:
        assert c.generate(model, "Hi", options={"num_predict": 1}).model == model


def test_without_a_fallback_that_works_the_last_error_is_raised(server):
    c = Client(server.url, fallback_models=["also-missing:7b"])
    with c, pytest.raises(ResponseError) as info:
        c.generate(MISSING, "Hi")
    assert info.value.error == "model 'also-missing:7b' not found"


def test_bad_requests_do_not_fall_back(server, model):
    with Client(server.url, fallback_models=[model]) as c, pytest.raises(ResponseError) as info:
        c.generate(MISSING, "Hi", top_logprobs=99)
    assert info.value.status_code == 400


# --- connection errors, retries, stream errors -------------------------------------------------


def test_nothing_listening_raises_a_connection_error_that_says_how_to_start():
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retries=0) as c, pytest.raises(ServerNotReachableError) as info:
        c.list()
    assert isinstance(info.value, ConnectionError)
    assert info.value.url == url
    assert url in str(info.value) and "ollama-toolkit serve" in str(info.value)


def test_connection_failures_are_retried_until_the_server_comes_up():
    """Nothing listens at first (the port refuses); the server binds it a moment later."""
    port = free_port()
    started: list[ScriptedServer] = []
    timer = threading.Timer(
        0.3, lambda: started.append(ScriptedServer([VERSION_OK], port).__enter__())
    )
    timer.start()
    try:
        with Client(f"127.0.0.1:{port}", retries=RetryPolicy(10, 0.05, 0.2)) as c:
            assert c.version().version == "0.12.0"
    finally:
        timer.join()
        started[0].__exit__()


def test_503_is_retried_with_backoff_then_succeeds():
    with ScriptedServer([BUSY, BUSY, VERSION_OK]) as s, Client(s.url, retries=FAST_RETRY) as c:
        assert c.version().version == "0.12.0"
        assert len(s.requests) == 3


def test_503_is_raised_once_retries_are_spent():
    policy = RetryPolicy(max_retries=2, backoff_s=0.01, jitter=False)
    with ScriptedServer([BUSY]) as s, Client(s.url, retries=policy) as c:
        with pytest.raises(ResponseError) as info:
            c.version()
        assert info.value.status_code == 503
        assert "server busy" in info.value.error
        assert len(s.requests) == 3


def test_error_line_inside_a_stream_raises_response_error_after_the_chunks():
    reply = (200, [line({"model": "m", "response": "Hel", "done": False}), line({"error": "boom"})])
    with ScriptedServer([reply]) as s, Client(s.url) as c:
        stream = c.generate("m", "Hi", stream=True)
        assert next(stream).response == "Hel"
        with pytest.raises(ResponseError) as info:
            next(stream)
    assert info.value.error == "boom" and info.value.status_code == 500


def test_a_stream_cut_after_its_first_byte_is_not_retried():
    reply = (200, [line({"model": "m", "response": "Hel", "done": False}), None])
    with ScriptedServer([reply]) as s, Client(s.url, retries=FAST_RETRY) as c:
        chunks = []
        with pytest.raises(httpx.TransportError):
            chunks.extend(c.generate("m", "Hi", stream=True))
        assert [c.response for c in chunks] == ["Hel"]
        assert len(s.requests) == 1


# --- AsyncClient: the same API, awaited ----------------------------------------------------------


def test_async_generate_and_stream(server, model):
    async def go() -> tuple[GenerateResponse, list[GenerateResponse]]:
        async with AsyncClient(server.url, timeout=120) as c:
            one = await c.generate(model, "The sky is", options=GREEDY)
            stream = await c.generate(model, "The sky is", options=GREEDY, stream=True)
            return one, [chunk async for chunk in stream]

    one, chunks = asyncio.run(go())
    assert isinstance(one, GenerateResponse) and one.eval_count == 8
    assert chunks[-1].done and chunks[-1].eval_count == 8
    assert "".join(c.response for c in chunks) == one.response


def test_async_requests_run_concurrently(server, model):
    async def go() -> list[GenerateResponse]:
        async with AsyncClient(server.url, timeout=120) as c:
            prompts = ["The sky is", "Water is", "Fire is"]
            return await asyncio.gather(*(c.generate(model, p, options=GREEDY) for p in prompts))

    results = asyncio.run(go())
    assert [r.eval_count for r in results] == [8, 8, 8]


def test_async_list_show_ps_version(server, model):
    async def go() -> tuple:
        async with AsyncClient(server.url) as c:
            return await c.list(), await c.show(model), await c.ps(), await c.version()

    listed, shown, running, version = asyncio.run(go())
    assert model in [m.model for m in listed.models]
    assert isinstance(shown, ShowResponse) and isinstance(running, ProcessResponse)
    assert version.version


def test_async_fallback_and_missing_model(server, model):
    async def go() -> tuple[str, ResponseError]:
        async with AsyncClient(server.url, fallback_models=[model]) as c:
            answered = (await c.generate(MISSING, "Hi", options={"num_predict": 1})).model
        async with AsyncClient(server.url) as c:
            try:
                await c.generate(MISSING, "Hi")
            except ResponseError as e:
                return answered, e
        raise AssertionError("a missing model must raise")

    answered, error = asyncio.run(go())
    assert answered == model
    assert error.status_code == 404


def test_async_connection_error_and_503_retry():
    async def go() -> tuple[ServerNotReachableError, str, int]:
        url = f"http://127.0.0.1:{free_port()}"
        async with AsyncClient(url, retries=1) as c:
            try:
                await c.list()
            except ServerNotReachableError as e:
                refused = e
        with ScriptedServer([BUSY, VERSION_OK]) as s:
            async with AsyncClient(s.url, retries=FAST_RETRY) as c:
                version = (await c.version()).version
            return refused, version, len(s.requests)

    refused, version, requests = asyncio.run(go())
    assert "ollama-toolkit serve" in str(refused)
    assert version == "0.12.0" and requests == 2


def test_async_error_line_inside_a_stream():
    reply = (200, [line({"model": "m", "response": "a", "done": False}), line({"error": "boom"})])

    async def go() -> list[str]:
        seen = []
        with ScriptedServer([reply]) as s:
            async with AsyncClient(s.url) as c:
                with pytest.raises(ResponseError, match="boom"):
                    async for chunk in await c.generate("m", "Hi", stream=True):
                        seen.append(chunk.response)
        return seen

    assert asyncio.run(go()) == ["a"]
