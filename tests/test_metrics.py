"""GET /metrics and the request log (OLLAMA_REQUEST_LOG), on real servers running the bundled
model: the counters match what was sent, the gauges what is running, the log has one JSON line
per request, bodies only when asked, and rotates."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

FOUR = {"num_predict": 4, "temperature": 0}


def scrape(server) -> Samples:
    resp = httpx.get(f"{server.url}/metrics", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def generate(server, payload: dict, **kw) -> httpx.Response:
    return httpx.post(f"{server.url}/api/generate", json=payload, timeout=300, **kw)


def log_entries(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_metrics_count_what_was_sent_and_the_log_has_a_line_per_request(
    make_server, model, tmp_path
):
    log_path = tmp_path / "logs" / "requests.log"
    server = make_server(OLLAMA_NUM_PARALLEL="2", OLLAMA_REQUEST_LOG=str(log_path))
    finals = []
    for _ in range(2):  # the same prompt twice: the second reuses the first's KV cells
        payload = {"model": model, "prompt": "The sky is", "stream": False, "options": FOUR}
        resp = generate(server, payload)
        assert resp.status_code == 200
        finals.append(resp.json())
    chat = httpx.post(
        f"{server.url}/api/chat",
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}], "options": FOUR},
        timeout=300,
    )
    assert chat.status_code == 200
    finals.append(json.loads(chat.text.splitlines()[-1]))
    assert generate(server, {"model": "nope", "prompt": "hi"}).status_code == 404
    bad = httpx.post(f"{server.url}/api/generate", content=b'{"model": ', timeout=30)
    assert bad.status_code == 400

    m = scrape(server)
    requests = "ollama_http_requests_total"
    assert value(m, requests, route="/api/generate", method="POST", status="200") == 2
    assert value(m, requests, route="/api/chat", method="POST", status="200") == 1
    assert value(m, requests, route="/api/generate", method="POST", status="404") == 1
    assert value(m, requests, route="/api/generate", method="POST", status="400") == 1
    latency = "ollama_http_request_duration_seconds_count"
    assert value(m, latency, route="/api/generate") == 4
    ttft = "ollama_time_to_first_token_seconds_count"
    assert value(m, ttft, route="/api/generate") == 2  # not the refused ones
    assert value(m, ttft, route="/api/chat") == 1

    assert all(f["eval_count"] == 4 for f in finals)
    generated = value(m, "ollama_generated_tokens_total", model=model)
    assert generated == sum(f["eval_count"] for f in finals)
    prompt = value(m, "ollama_prompt_tokens_total", model=model)
    assert prompt == sum(f["prompt_eval_count"] for f in finals)
    assert 0 < value(m, "ollama_prompt_cached_tokens_total", model=model) < prompt
    assert value(m, "ollama_generation_tokens_per_second_count", model=model) == 3

    assert value(m, "ollama_models_loaded") == 1
    assert value(m, "ollama_model_load_duration_seconds_count", model=model) == 1
    assert value(m, "ollama_slots_total", model=model) == 2
    assert value(m, "ollama_slots_busy", model=model) == 0
    cells = value(m, "ollama_kv_cells_total", model=model)
    used = value(m, "ollama_kv_cells_used", model=model)
    assert cells > 0 and cells % 2 == 0  # two slots of num_ctx cells
    assert 0 < used <= cells  # idle slots keep their cached prompts for reuse
    assert value(m, "ollama_kv_cache_usage_perc") == used / cells
    for idle in (
        "ollama_queue_depth",
        "ollama_num_requests_waiting",
        "ollama_num_requests_running",
    ):
        assert value(m, idle) == 0
    assert value(m, "ollama_queue_rejections_total") == 0
    assert value(m, "ollama_model_unloads_total", model=model, reason="lru") == 0

    # The log: the start-up probe of `/`, the five requests above, then the scrape.
    wait_until(lambda: len(log_entries(log_path)) == 7, lambda: log_path.read_text())
    # In the order they arrived (a line is written when its response has ended).
    probe, *sent, scraped = sorted(log_entries(log_path), key=lambda e: e["time"])
    assert (probe["route"], probe["status"]) == ("/", 200)
    assert (scraped["method"], scraped["route"], scraped["status"]) == ("GET", "/metrics", 200)
    routes = [(e["method"], e["route"], e.get("model"), e["status"]) for e in sent]
    assert routes == [
        ("POST", "/api/generate", model, 200),
        ("POST", "/api/generate", model, 200),
        ("POST", "/api/chat", model, 200),
        ("POST", "/api/generate", "nope", 404),
        ("POST", "/api/generate", None, 400),  # the body never said
    ]
    for entry, final in zip(sent, finals, strict=False):
        assert entry["prompt_tokens"] == final["prompt_eval_count"]
        assert entry["generated_tokens"] == final["eval_count"]
        assert entry["prompt_duration"] >= 0 and entry["generate_duration"] >= 0
        assert 0 <= entry["cached_tokens"] < entry["prompt_tokens"]
    assert sent[1]["cached_tokens"] > 0
    for entry in [probe, *sent, scraped]:
        assert entry["time"].endswith("Z")
        datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
        assert entry["client"].startswith("127.0.0.1:")
        assert entry["cancelled"] is False
        assert entry["duration"] >= 0
        assert "input" not in entry and "output" not in entry  # no bodies unless asked
    for refused in sent[3:]:
        assert "prompt_tokens" not in refused and "generated_tokens" not in refused


def test_unloads_are_counted_by_reason(make_server, model):
    server = make_server()
    loaded = generate(server, {"model": model, "stream": False})  # no prompt: just load
    assert loaded.json()["done_reason"] == "load"
    generate(server, {"model": model, "keep_alive": 0})  # no prompt, keep_alive 0: unload
    wait_until(lambda: value(scrape(server), "ollama_models_loaded") == 0, "model not unloaded")

    # A generation with keep_alive 0: the model is unloaded as soon as it is idle.
    once = {"model": model, "prompt": "Hi", "stream": False, "keep_alive": 0, "options": FOUR}
    assert generate(server, once).status_code == 200
    unloads = "ollama_model_unloads_total"
    wait_until(
        lambda: value(scrape(server), unloads, model=model, reason="keep_alive") == 1,
        "no keep_alive unload",
    )
    m = scrape(server)
    assert value(m, unloads, model=model, reason="unload_request") == 1
    assert value(m, "ollama_model_load_duration_seconds_count", model=model) == 2
    assert value(m, "ollama_models_loaded") == 0
    assert "ollama_slots_total" not in m  # nothing loaded: no per-model gauges


def test_busy_gauges_rejections_cancellation_bodies_and_rotation(make_server, model, tmp_path):
    log_path = tmp_path / "requests.log"
    server = make_server(
        OLLAMA_NUM_PARALLEL="1",
        OLLAMA_MAX_QUEUE="1",
        OLLAMA_REQUEST_LOG=str(log_path),
        OLLAMA_REQUEST_LOG_BODIES="1",
        OLLAMA_REQUEST_LOG_MAX_BYTES="4000",
    )
    # Bodies: the prompt and options as sent, the text generated, escaped into one line.
    prompt = 'Say "hi"\nthen ünïcode ✓ {"num_predict": 1}'
    options = {"num_predict": 4, "temperature": 0, "stop": ["\n\n", "✓"]}
    payload = {"model": model, "prompt": prompt, "stream": False, "options": options}
    answer = generate(server, payload)
    assert answer.status_code == 200
    wait_until(lambda: len(log_entries(log_path)) == 2, "no line for the generation")
    raw = log_path.read_text()
    assert raw.isascii() and raw.count("\n") == 2
    entry = log_entries(log_path)[1]
    assert entry["input"] == {"prompt": prompt, "options": options}
    assert entry["output"] == answer.json()["response"]
    assert entry["generated_tokens"] == answer.json()["eval_count"]

    # An endless stream holds the only slot: the gauges see it, a second request is refused.
    forever = {"num_predict": -1, "num_ctx": 512, "temperature": 0}
    endless = {"model": model, "prompt": "1, 2, 3, 4,", "options": forever}
    with httpx.Client(timeout=60) as client:
        request = client.build_request("POST", f"{server.url}/api/generate", json=endless)
        resp = client.send(request, stream=True)
        chunks = resp.iter_raw()
        while not next(chunks).strip():
            pass
        m = scrape(server)
        assert value(m, "ollama_slots_busy", model=model) == 1
        assert value(m, "ollama_num_requests_running") == 1
        assert value(m, "ollama_queue_depth") == 1
        assert value(m, "ollama_num_requests_waiting") == 0
        assert 0 < value(m, "ollama_kv_cache_usage_perc") <= 1
        busy = generate(server, {"model": model, "prompt": "Hi", "options": FOUR})
        assert busy.status_code == 503
        resp.close()  # the client goes away mid-stream

    def cancelled() -> list[dict]:
        return [e for e in log_entries(log_path) if e["cancelled"]]

    wait_until(lambda: len(cancelled()) == 1, lambda: log_path.read_text())
    (gone,) = cancelled()
    assert (gone["route"], gone["status"], gone["model"]) == ("/api/generate", 200, model)
    assert gone["input"]["prompt"] == endless["prompt"] and gone["output"]
    wait_until(lambda: value(scrape(server), "ollama_slots_busy", model=model) == 0, "slot held")
    m = scrape(server)
    assert value(m, "ollama_queue_rejections_total") == 1
    refused = value(
        m, "ollama_http_requests_total", route="/api/generate", method="POST", status="503"
    )
    assert refused == 1

    # Rotation: past 4000 bytes the log moves to .1 (and on, up to .3); no line is lost or split.
    for _ in range(20):
        assert httpx.get(f"{server.url}/api/version", timeout=30).status_code == 200
    files = [log_path, *(log_path.with_name(f"{log_path.name}.{i}") for i in (1, 2, 3))]

    def lines() -> list[dict]:
        return [e for f in files if f.exists() for e in log_entries(f)]

    wait_until(lambda: sum(e["route"] == "/api/version" for e in lines()) == 20, "lines lost")
    assert files[1].exists()
    assert sum(e["route"] == "/api/generate" for e in lines()) == 3


def _sse_data(resp: httpx.Response) -> list[dict]:
    return [json.loads(line[5:]) for line in resp.text.splitlines() if line.startswith("data:")]


def test_anthropic_and_responses_generations_are_timed_and_their_text_logged(
    make_server, chat_model, tmp_path
):
    log_path = tmp_path / "requests.log"
    server = make_server(OLLAMA_REQUEST_LOG=str(log_path), OLLAMA_REQUEST_LOG_BODIES="1")
    texts: list[str] = []  # what each answer carried, in the order sent

    messages = {
        "model": chat_model,
        "max_tokens": 4,
        "temperature": 0,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    whole = httpx.post(f"{server.url}/v1/messages", json=messages, timeout=300)
    assert whole.status_code == 200, whole.text
    blocks = whole.json()["content"] or []
    texts.append("".join(b["text"] for b in blocks if b["type"] == "text"))
    streamed = httpx.post(
        f"{server.url}/v1/messages", json={**messages, "stream": True}, timeout=300
    )
    assert streamed.status_code == 200, streamed.text
    texts.append(
        "".join(
            e["delta"]["text"]
            for e in _sse_data(streamed)
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
        )
    )

    responses = {
        "model": chat_model,
        "input": "Hi",
        "instructions": "Be brief.",
        "max_output_tokens": 4,
        "temperature": 0,
    }
    whole = httpx.post(f"{server.url}/v1/responses", json=responses, timeout=300)
    assert whole.status_code == 200, whole.text
    texts.append(
        "".join(
            part["text"]
            for item in whole.json()["output"]
            if item["type"] == "message"
            for part in item["content"]
            if part["type"] == "output_text"
        )
    )
    streamed = httpx.post(
        f"{server.url}/v1/responses", json={**responses, "stream": True}, timeout=300
    )
    assert streamed.status_code == 200, streamed.text
    events = _sse_data(streamed)
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    texts.append("".join(e["delta"] for e in events if e["type"] == "response.output_text.delta"))
    assert all(texts), texts  # each answer carried text, or the log's copy would prove little

    # Each of the four generations is timed to its first token, as /api/chat's are.
    m = scrape(server)
    ttft = "ollama_time_to_first_token_seconds_count"
    assert value(m, ttft, route="/v1/messages") == 2
    assert value(m, ttft, route="/v1/responses") == 2

    # The log has their input and the text they answered: once, not repeated by the events
    # that close a stream (`response.output_text.done`, `response.completed`).
    routes = ("/v1/messages", "/v1/responses")

    def generations() -> list[dict]:
        entries = sorted(log_entries(log_path), key=lambda e: e["time"])
        return [e for e in entries if e["route"] in routes]

    wait_until(lambda: len(generations()) == 4, lambda: log_path.read_text())
    logged = generations()
    assert [(e["route"], e["status"]) for e in logged] == [
        ("/v1/messages", 200),
        ("/v1/messages", 200),
        ("/v1/responses", 200),
        ("/v1/responses", 200),
    ]
    assert [e["output"] for e in logged] == texts
    for entry in logged[:2]:
        assert entry["input"] == {"system": "Be brief.", "messages": messages["messages"]}
    for entry in logged[2:]:
        assert entry["input"] == {"input": "Hi", "instructions": "Be brief."}
