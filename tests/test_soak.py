"""A soak run on a real server: 200 requests from 16 concurrent clients, streams and whole
answers, half of the streams dropped after their first chunk, bad requests in between.
Afterwards nothing is left running or waiting, no thread or memory has leaked, and /metrics
agrees with what was sent. Bounded in count; the waits bound nothing but a hang."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until

CLIENTS = 16
REQUESTS = 200
OPTIONS = {"num_predict": 8, "temperature": 0}


@dataclass
class Outcome:
    route: str
    status: int
    eval_count: int = 0  # of a request read to its end
    dropped: bool = False


def metrics(server) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def total(samples, name: str, **labels: str) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def threads(pid: int) -> int:
    return int(proc_status(pid)["Threads"])


def rss_kib(pid: int) -> int:
    return int(proc_status(pid)["VmRSS"].split()[0])


def one_request(server, model: str, i: int) -> Outcome:
    """Request i of the run: every fifth is bad; the others alternate generate and chat,
    streamed or whole, and half of the streams are dropped after their first chunk."""
    url = server.url
    if i % 5 == 0:
        bad = [
            ("/api/generate", b'{"model": '),
            ("/api/chat", b'{"model": "no-such-model", "messages": []}'),
            ("/api/generate", b'{"model": "' + model.encode() + b'", "stream": "yes"}'),
            ("/api/embed", b"[]"),
        ][(i // 5) % 4]
        resp = httpx.post(url + bad[0], content=bad[1], timeout=300)
        return Outcome(bad[0], resp.status_code)
    chat = i % 2 == 1
    route = "/api/chat" if chat else "/api/generate"
    body = {"model": model, "options": OPTIONS}
    if chat:
        body["messages"] = [{"role": "user", "content": f"Count to {i}"}]
    else:
        body["prompt"] = f"Request {i}: the numbers after {i} are"
    stream = i % 3 != 0
    if not stream:
        resp = httpx.post(url + route, json={**body, "stream": False}, timeout=300)
        return Outcome(route, resp.status_code, resp.json().get("eval_count", 0))
    with httpx.stream("POST", url + route, json=body, timeout=300) as resp:
        lines = resp.iter_lines()
        first = json.loads(next(lines))
        if i % 4 < 2 and not first.get("done"):
            return Outcome(route, resp.status_code, dropped=True)  # the client goes away
        last = first
        for line in lines:
            last = json.loads(line)
        return Outcome(route, resp.status_code, last.get("eval_count", 0))


def run(server, model: str, count: int, offset: int = 0) -> list[Outcome]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(
            pool.map(lambda i: one_request(server, model, i), range(offset, offset + count))
        )


def test_soak(make_server, model):
    server = make_server(OLLAMA_NUM_PARALLEL="4", OLLAMA_CONTEXT_LENGTH="512")
    pid = server.proc.pid
    run(server, model, 2 * CLIENTS, offset=1000)  # warm-up: the model, the thread pools
    idle = lambda: total(metrics(server), "ollama_slots_busy") == 0  # noqa: E731
    wait_until(idle, "slots still busy after the warm-up")
    before = metrics(server)
    start_threads, start_rss = threads(pid), rss_kib(pid)

    outcomes = run(server, model, REQUESTS)

    wait_until(idle, "slots still busy after the soak")
    after = metrics(server)
    assert total(after, "ollama_queue_depth") == 0
    wait_until(
        lambda: threads(pid) <= start_threads,
        lambda: f"threads: {threads(pid)} after the soak, {start_threads} before",
    )
    assert rss_kib(pid) <= start_rss * 1.10, (rss_kib(pid), start_rss)
    print(  # the figures, for `pytest -s`
        f"soak: threads {start_threads} -> {threads(pid)}, "
        f"RSS {start_rss // 1024} -> {rss_kib(pid) // 1024} MiB"
    )

    statuses = Counter((o.route, o.status) for o in outcomes)
    assert sum(n for (_, status), n in statuses.items() if status == 200) == REQUESTS * 4 // 5
    assert sum(n for (_, status), n in statuses.items() if status >= 400) == REQUESTS // 5
    assert not [o for o in outcomes if o.status >= 500]
    assert sum(o.dropped for o in outcomes) >= REQUESTS // 5

    # /metrics counts each request once, with the status it was answered with.
    for (route, status), n in statuses.items():
        counted = total(after, "ollama_http_requests_total", route=route, status=str(status))
        counted -= total(before, "ollama_http_requests_total", route=route, status=str(status))
        assert counted == n, (route, status, counted, n)
    generated = total(after, "ollama_generated_tokens_total") - total(
        before, "ollama_generated_tokens_total"
    )
    read = sum(o.eval_count for o in outcomes)
    dropped = sum(o.dropped for o in outcomes)
    # A dropped stream may or may not have finished before it was cancelled.
    assert read <= generated <= read + dropped * OPTIONS["num_predict"]

    # And it still serves.
    resp = httpx.post(
        f"{server.url}/api/generate",
        json={"model": model, "prompt": "After the soak", "stream": False, "options": OPTIONS},
        timeout=300,
    )
    assert resp.status_code == 200 and resp.json()["done"] is True
    assert "Traceback" not in server.log()
