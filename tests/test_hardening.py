"""Defects found by probing a running server, each pinned down: request bodies Go's decoder
refuses (non-finite numbers, deep nesting, lone surrogates, loosely typed flags), names with
whitespace or over-long parts, templates that would run forever, DNS rebinding and cross-site
requests, 405 answers without `Allow`, and blobs orphaned across restarts."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import httpx
import pytest

from conftest import copy_store, start_server
from ollama_toolkit.server.guard import LocalGuard, is_loopback_bind
from ollama_toolkit.store.names import InvalidNameError, ModelName
from ollama_toolkit.store.store import Store
from ollama_toolkit.template import TemplateError, parse
from ollama_toolkit.template.exec import MAX_EXEC_DEPTH

TIMEOUT = httpx.Timeout(120)


def _post(server, path: str, raw: bytes | str, **kwargs) -> httpx.Response:
    content = raw.encode() if isinstance(raw, str) else raw
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=TIMEOUT)


def _error(response: httpx.Response) -> str:
    """The error message of an Ollama (`{"error": "..."}`) or OpenAI (`{"error": {...}}`) body."""
    body = response.json()
    error = body["error"]
    return error["message"] if isinstance(error, dict) else error


def _tags(server) -> set[str]:
    return {m["model"] for m in httpx.get(server.url + "/api/tags").json()["models"]}


def _copy(server, source: str, destination: str) -> None:
    body = {"source": source, "destination": destination}
    assert httpx.post(server.url + "/api/copy", json=body).status_code == 200


def _delete(server, name: str) -> None:
    httpx.request("DELETE", server.url + "/api/delete", json={"model": name})


def _generates(server, model: str) -> None:
    body = {"model": model, "prompt": "Hello", "stream": False, "options": {"num_predict": 2}}
    r = httpx.post(server.url + "/api/generate", json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["done"] is True


# --- 1. bodies Go's JSON decoder refuses ------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_400_and_the_server_lives_on(server, model, literal):
    """Non-finite numbers are not JSON, and Go's decoder refuses them: a NaN temperature must
    never reach llama.cpp's sampler (a GGML_ASSERT aborts the process), and a NaN keep_alive
    must not quietly unload the model or a NaN bound slip into a grammar."""
    m = json.dumps(model)
    chat = '[{"role": "user", "content": "Hi"}]'
    bodies = [
        (
            "/api/generate",
            f'{{"model": {m}, "prompt": "Hi", "options": {{"temperature": {literal}}}}}',
        ),
        (
            "/api/chat",
            f'{{"model": {m}, "messages": {chat}, "options": {{"temperature": {literal}}}}}',
        ),
        ("/v1/chat/completions", f'{{"model": {m}, "messages": {chat}, "temperature": {literal}}}'),
        (
            "/api/generate",
            f'{{"model": {m}, "prompt": "Hi", "stream": false, "keep_alive": {literal}}}',
        ),
        (
            "/api/chat",
            f'{{"model": {m}, "messages": {chat}, "stream": false, "keep_alive": {literal}}}',
        ),
        ("/api/embed", f'{{"model": {m}, "input": "Hi", "keep_alive": {literal}}}'),
        (
            "/api/generate",
            f'{{"model": {m}, "prompt": "Hi", "stream": false, '
            f'"format": {{"type": "number", "minimum": {literal}}}}}',
        ),
    ]
    for path, raw in bodies:
        r = _post(server, path, raw)
        assert r.status_code == 400, (path, raw, r.status_code, r.text)
        assert _error(r), r.text
    _generates(server, model)


def test_go_wording_for_nan(server, model):
    raw = f'{{"model": {json.dumps(model)}, "options": {{"temperature": NaN}}}}'
    r = _post(server, "/api/generate", raw)
    assert r.status_code == 400
    assert _error(r) == "invalid character 'N' looking for beginning of value"


def test_deeply_nested_json_is_400_not_500(server, model):
    depth = 10_000
    raw = f'{{"model": {json.dumps(model)}, "options": {{"x": {"[" * depth}{"]" * depth}}}}}'
    for path in ("/api/generate", "/api/chat", "/api/show", "/v1/chat/completions"):
        r = _post(server, path, raw)
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert "depth" in _error(r)
    # Nesting Python's decoder handles stays accepted (the options are simply unknown).
    shallow = f'{{"model": {json.dumps(model)}, "options": {{"x": {"[" * 50}{"]" * 50}}}}}'
    assert _post(server, "/api/show", shallow).status_code == 200


@pytest.mark.parametrize(
    "string",
    [r"\ud800", r"\udfff", r"x\ud83dy", r"\ude00\ud83d"],
    ids=["high", "low", "high-then-text", "reversed-pair"],
)
def test_lone_surrogates_are_400(server, model, string):
    m = json.dumps(model)
    for path, raw in [
        ("/api/generate", f'{{"model": {m}, "prompt": "{string}", "stream": false}}'),
        ("/api/show", f'{{"model": {m}, "system": "{string}"}}'),
        ("/api/chat", f'{{"model": {m}, "messages": [{{"role": "user", "content": "{string}"}}]}}'),
        ("/api/generate", f'{{"model": {m}, "options": {{"{string}": 1}}}}'),  # a key
    ]:
        r = _post(server, path, raw)
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert "surrogate" in _error(r)


def test_surrogate_pairs_and_utf8_still_pass(server, model):
    m = json.dumps(model)
    raw = f'{{"model": {m}, "system": "\\ud83d\\ude00 caf\u00e9 \u65e5\u672c"}}'
    r = _post(server, "/api/show", raw.encode("utf-8"))
    assert r.status_code == 200, r.text


def test_an_integer_of_thousands_of_digits_is_400(server, model):
    raw = f'{{"model": {json.dumps(model)}, "options": {{"seed": {"9" * 5000}}}}}'
    r = _post(server, "/api/generate", raw)
    assert r.status_code == 400, r.text


# --- 2. strict types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        (
            "/api/generate",
            {"stream": "yes"},
            "json: cannot unmarshal string into Go struct field GenerateRequest.stream "
            "of type bool",
        ),
        (
            "/api/chat",
            {"stream": 1},
            "json: cannot unmarshal number into Go struct field ChatRequest.stream of type bool",
        ),
        (
            "/api/generate",
            {"raw": "true"},
            "json: cannot unmarshal string into Go struct field GenerateRequest.raw of type bool",
        ),
        (
            "/api/generate",
            {"truncate": "false"},
            "json: cannot unmarshal string into Go struct field GenerateRequest.truncate "
            "of type bool",
        ),
        (
            "/api/chat",
            {"shift": 0},
            "json: cannot unmarshal number into Go struct field ChatRequest.shift of type bool",
        ),
        (
            "/api/generate",
            {"logprobs": "yes"},
            "json: cannot unmarshal string into Go struct field GenerateRequest.logprobs "
            "of type bool",
        ),
        (
            "/api/generate",
            {"top_logprobs": "3"},
            "json: cannot unmarshal string into Go struct field GenerateRequest.top_logprobs "
            "of type int",
        ),
        (
            "/api/generate",
            {"top_logprobs": 2.5},
            "json: cannot unmarshal number into Go struct field GenerateRequest.top_logprobs "
            "of type int",
        ),
        (
            "/api/show",
            {"verbose": "yes"},
            "json: cannot unmarshal string into Go struct field ShowRequest.verbose of type bool",
        ),
        (
            "/api/embed",
            {"input": "x", "truncate": "no"},
            "json: cannot unmarshal string into Go struct field EmbedRequest.truncate of type bool",
        ),
        (
            "/api/pull",
            {"insecure": "yes"},
            "json: cannot unmarshal string into Go struct field PullRequest.insecure of type bool",
        ),
        (
            "/api/create",
            {"stream": "no"},
            "json: cannot unmarshal string into Go struct field CreateRequest.stream of type bool",
        ),
    ],
)
def test_flags_and_counts_are_strictly_typed(server, model, path, fields, message):
    r = httpx.post(server.url + path, json={"model": model, **fields}, timeout=TIMEOUT)
    assert r.status_code == 400, r.text
    assert _error(r) == message


def test_real_booleans_still_pass(server, model):
    r = httpx.post(server.url + "/api/show", json={"model": model, "verbose": False})
    assert r.status_code == 200, r.text


# --- 3. names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["victim\n", " victim", "victim ", "\tvictim", "vic tim", "victim\x00", "victim:la test"],
)
def test_names_with_whitespace_or_controls_are_invalid(text):
    with pytest.raises(InvalidNameError):
        ModelName.parse(text)


def test_deleting_a_name_with_a_trailing_newline_deletes_nothing(server, model):
    _copy(server, model, "victim-nl")
    try:
        for text in ("victim-nl\n", " victim-nl", "victim-nl\r\n"):
            r = httpx.request("DELETE", server.url + "/api/delete", json={"model": text})
            assert r.status_code == 400, r.text
            assert _error(r) == f'name "{text}" is invalid'
            assert "victim-nl:latest" in _tags(server)
    finally:
        _delete(server, "victim-nl")


def test_over_long_name_parts_are_invalid_not_500(server, model):
    host = "h" * 350
    r = httpx.request(
        "DELETE", server.url + "/api/delete", json={"model": f"{host}/library/x:latest"}
    )
    assert r.status_code == 400, r.text
    assert "is invalid" in _error(r)

    # A copy to a host part longer than a file name can be: refused, and nothing written.
    r = httpx.post(
        server.url + "/api/copy", json={"source": model, "destination": f"{'h' * 256}/ns/m:t"}
    )
    assert r.status_code == 400, r.text
    assert all(len(p.name) < 256 for p in (server.models_dir / "manifests").iterdir())
    # The longest host a store can hold is still a name (not found, not invalid).
    r = httpx.request(
        "DELETE", server.url + "/api/delete", json={"model": f"{'h' * 255}/library/x:latest"}
    )
    assert r.status_code == 404, r.text
    for part in ("m" * 81, "m:" + "t" * 81, "n" * 81 + "/m"):
        with pytest.raises(InvalidNameError):
            ModelName.parse(part)


# --- 4. template execution is bounded ---------------------------------------------------------


def test_nested_ranges_stop_at_the_step_limit():
    template = parse("{{range 100000}}{{range 100000}}{{end}}{{end}}{{.Prompt}}")
    with pytest.raises(TemplateError, match="execution exceeded the step limit"):
        template.execute_raw({"Prompt": "x"})


def test_recursive_templates_stop_at_the_depth_limit():
    """Go's wording, and where it can be, Go's location: the limit is reached before Python's
    recursion limit (which, for blocks nested in each call, reports the same error)."""
    limit = rf"exceeded maximum template depth \({MAX_EXEC_DEPTH}\)"
    with pytest.raises(TemplateError, match=r'at <\{\{template "a" \.\}\}>: ' + limit):
        parse('{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}').execute_raw({})
    nested = (
        '{{define "a"}}{{if true}}{{with 1}}{{range 1}}{{template "a" .}}{{end}}{{end}}{{end}}'
        '{{end}}{{template "a" .}}'
    )
    with pytest.raises(TemplateError, match=limit):
        parse(nested).execute_raw({})
    # Recursion that ends is fine.
    countdown = '{{define "a"}}{{if .}}{{len .}} {{template "a" (slice . 1)}}{{end}}{{end}}'
    assert parse(countdown + '{{template "a" .}}').execute_raw("x" * 50).startswith("50 49 ")


def test_exponential_recursion_stops_at_the_step_limit():
    # 40 levels deep, well within the depth limit, but 2**40 calls.
    text = (
        '{{define "a"}}{{if lt (len .) 40}}{{template "a" (print . "x")}}'
        '{{template "a" (print . "x")}}{{end}}{{end}}{{template "a" ""}}'
    )
    with pytest.raises(TemplateError, match="execution exceeded the step limit"):
        parse(text).execute_raw({})


def test_doubling_a_string_stops_at_the_output_limit():
    text = '{{$s := "ab"}}{{range 64}}{{$s = print $s $s}}{{end}}{{$s}}'
    with pytest.raises(TemplateError, match="output limit"):
        parse(text).execute_raw({})


def test_ordinary_large_templates_fit_the_budget():
    items = [f"item {i}" for i in range(20_000)]
    out = parse("{{range $i, $x := .}}{{if $i}}, {{end}}{{$x}}{{end}}").execute_raw(items)
    assert out.startswith("item 0, item 1") and out.endswith("item 19999")


def test_a_runaway_template_on_the_api_is_an_error_not_a_hang(server, model):
    body = {
        "model": model,
        "prompt": "Hi",
        "stream": False,
        "template": "{{range 100000}}{{range 100000}}{{end}}{{end}}{{.Prompt}}",
    }
    r = httpx.post(server.url + "/api/generate", json=body, timeout=httpx.Timeout(60))
    assert r.status_code in (400, 500), r.text
    assert "execution exceeded the step limit" in _error(r)
    _generates(server, model)


# --- 5. DNS rebinding and cross-site requests --------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example", "8.8.8.8", "evil.example:80"]
)
def test_a_foreign_host_header_is_403(server, model, host):
    r = httpx.get(server.url + "/api/tags", headers={"Host": host})
    assert r.status_code == 403

    _copy(server, model, "victim-host")
    try:
        r = httpx.request(
            "DELETE",
            server.url + "/api/delete",
            json={"model": "victim-host"},
            headers={"Host": host},
        )
        assert r.status_code == 403
        assert "victim-host:latest" in _tags(server)
    finally:
        _delete(server, "victim-host")


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST:1",
        "app.localhost",
        "box.local",
        "svc.internal",
        "127.0.0.1",
        "127.1.2.3:9",
        "[::1]:11434",
        "[::1]",
        "10.1.2.3",
        "192.168.0.9:80",
        "0.0.0.0",
    ],
)
def test_local_host_headers_pass(server, host):
    r = httpx.get(server.url + "/api/tags", headers={"Host": host})
    assert r.status_code == 200, (host, r.status_code)


def test_a_foreign_origin_is_403_even_for_a_simple_post(server, model):
    body = json.dumps({"source": model, "destination": "csrf-copy"})
    r = httpx.post(
        server.url + "/api/copy",
        content=body,
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
    )
    assert r.status_code == 403
    assert "csrf-copy:latest" not in _tags(server)

    # Its preflight is refused too.
    r = httpx.options(
        server.url + "/api/copy",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 403


def test_allowed_origins_pass_and_get_cors_headers(server, model):
    body = json.dumps({"source": model, "destination": "cors-copy"})
    try:
        r = httpx.post(
            server.url + "/api/copy",
            content=body,
            headers={"Origin": "http://localhost:3000", "Content-Type": "text/plain"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "cors-copy:latest" in _tags(server)
    finally:
        _delete(server, "cors-copy")

    r = httpx.options(
        server.url + "/api/chat",
        headers={
            "Origin": "http://127.0.0.1:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204, r.text  # as Ollama's CORS layer answers a preflight
    assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"

    # Browser extensions are local software the user installed.
    for origin in ("chrome-extension://abcdefgh", "moz-extension://1234-5678"):
        r = httpx.get(server.url + "/api/tags", headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin

    # The server's own origin is not cross-site.
    host = server.url.removeprefix("http://")
    r = httpx.get(server.url + "/api/tags", headers={"Origin": f"http://{host}"})
    assert r.status_code == 200


def test_origins_from_ollama_origins_are_allowed(make_server):
    srv = make_server(OLLAMA_ORIGINS="https://*.example.org,vscode-webview2://abc")
    ok = ["https://app.example.org", "vscode-webview2://abc", "http://localhost"]
    for origin in ok:
        r = httpx.get(srv.url + "/api/tags", headers={"Origin": origin})
        assert r.status_code == 200, origin
    for origin in ["https://example.org.evil.com", "vscode-webview2://xyz", "null"]:
        r = httpx.get(srv.url + "/api/tags", headers={"Origin": origin})
        assert r.status_code == 403, origin


def test_the_host_check_applies_only_to_loopback_binds():
    assert is_loopback_bind("127.0.0.1") and is_loopback_bind("::1")
    assert is_loopback_bind("localhost") and is_loopback_bind("[::1]")
    assert not is_loopback_bind("0.0.0.0") and not is_loopback_bind("::")
    assert not is_loopback_bind("192.168.1.10")
    guard = LocalGuard(None, bind_host="0.0.0.0", origins=[])  # type: ignore[arg-type]
    assert not guard.check_host
    guard = LocalGuard(None, bind_host="127.0.0.1", origins=[])  # type: ignore[arg-type]
    assert guard.check_host
    assert guard.allowed_host("::ffff:127.0.0.1") and guard.allowed_host("")
    assert not guard.allowed_host("localhost.evil.example")
    assert not guard.allowed_host("evil.localhost.example")


# --- 6. 405 answers carry Allow ---------------------------------------------------------------


def test_method_not_allowed_says_what_is(server):
    r = httpx.get(server.url + "/api/generate")
    assert r.status_code == 405
    assert "POST" in r.headers["allow"]
    r = httpx.post(server.url + "/api/tags")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]


# --- 7. orphan blobs are pruned at start-up ---------------------------------------------------


def _write_blob(blobs: Path, data: bytes, age_s: float = 0) -> Path:
    path = blobs / f"sha256-{hashlib.sha256(data).hexdigest()}"
    path.write_bytes(data)
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_orphan_blobs_are_pruned_at_start_up(seeded_store, tmp_path: Path):
    models = copy_store(seeded_store, tmp_path / "models")
    blobs = models / "blobs"
    referenced = sorted(blobs.iterdir())
    for path in referenced:  # old, but referenced: kept
        os.utime(path, (time.time() - 86400, time.time() - 86400))
    stray = _write_blob(blobs, b"an orphan", age_s=7200)
    recent = _write_blob(blobs, b"just uploaded, its create still to come")
    hexdigest = "ab" * 32
    leave = [
        blobs / f"sha256-{hexdigest}-partial",
        blobs / f"sha256-{hexdigest}-partial-0",
        blobs / ".tmp-upload",
        blobs / "not-a-blob",
    ]
    for path in leave:
        path.write_bytes(b"in progress")
        os.utime(path, (time.time() - 7200, time.time() - 7200))

    server = start_server(models, tmp_path / "server.log")
    try:
        assert not stray.exists()
        assert recent.exists()
        assert all(p.exists() for p in leave)
        assert all(p.exists() for p in referenced)
        assert httpx.get(server.url + "/api/tags").json()["models"]
    finally:
        server.stop()


def test_ollama_noprune_keeps_orphans(seeded_store, tmp_path: Path):
    models = copy_store(seeded_store, tmp_path / "models")
    stray = _write_blob(models / "blobs", b"an orphan", age_s=7200)
    server = start_server(models, tmp_path / "server.log", OLLAMA_NOPRUNE="1")
    try:
        assert stray.exists()
    finally:
        server.stop()


def test_prune_reads_every_manifest_and_stops_at_a_corrupt_one(tmp_path: Path):
    store = Store(tmp_path)
    kept = store.write_blob_bytes(b"named by a manifests-v2 manifest")
    config = store.write_blob_bytes(b"{}")
    orphan = store.write_blob_bytes(b"named by nothing")
    old = time.time() - 7200
    for layer in (kept, config, orphan):
        os.utime(store.blob_path(layer.digest), (old, old))
    v2 = tmp_path / "manifests-v2" / "ollama.com" / "library" / "m" / "latest"
    v2.parent.mkdir(parents=True)
    doc = {"config": {"digest": config.digest}, "layers": [{"digest": kept.digest}]}
    v2.write_text(json.dumps(doc))

    corrupt = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "bad" / "latest"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{not json")
    assert store.prune_orphan_blobs() == []  # nothing is removed while a manifest is unreadable
    assert store.has_blob(orphan.digest)

    corrupt.unlink()
    assert store.prune_orphan_blobs() == [orphan.digest]
    assert store.has_blob(kept.digest) and store.has_blob(config.digest)
    assert not store.has_blob(orphan.digest)


def test_a_batch_smaller_than_the_slots_is_served_not_a_crash(make_server, model):
    # llama.cpp aborts the whole process on a context whose batch is smaller than its sequences.
    proc = make_server(OLLAMA_NUM_PARALLEL="4")
    r = httpx.post(
        proc.url + "/api/generate",
        json={
            "model": model,
            "prompt": "Hello",
            "options": {"num_batch": 1, "num_predict": 2},
            "stream": False,
        },
        timeout=300,
    )
    assert r.status_code == 200, r.text
    assert r.json()["eval_count"] == 2
    assert proc.proc.poll() is None
