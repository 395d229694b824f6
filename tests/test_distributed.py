"""`ollama-toolkit serve --ray`: the server's replicas on a real local Ray cluster (the `ray`
extra), started by the command itself, 2 replicas of 1 thread each, on the bundled models.

The cluster gets more logical CPUs than replicas (the command reserves one per thread, plus
room for a replacement) and a small object store. Nothing is skipped: if Ray cannot start, the
fixture fails with the command's log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import ollama
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ServerProcess, copy_store, launch, wait_until
from ollama_toolkit.distributed.keys import prefix_chain, route_keys
from ollama_toolkit.store.bundled import BUNDLED_MODEL, CHAT_MODEL

RAY_START_TIMEOUT_S = 240
REPLICA_HEADER = "x-ollama-replica"
SYSTEM = " ".join(
    f"Rule {i}: answer politely, briefly and precisely, citing rule {i} when it applies."
    for i in range(40)
)  # about 800 tokens: a long shared system prompt


def start_ray_server(models: Path, log_path: Path, *flags: str) -> ServerProcess:
    """`serve --ray` with 2 replicas, once the ingress knows of both (Serve tells its handles
    of new replicas a moment after the application is up)."""
    server = launch(
        ["-m", "ollama_toolkit", "serve", "--ray", "--replicas", "2", *flags],
        models,
        log_path,
        {"OLLAMA_NUM_PARALLEL": "2", "RAY_USAGE_STATS_ENABLED": "0"},
        RAY_START_TIMEOUT_S,
    )
    wait_until(
        lambda: len(replicas_alive(server.url)) == 2,
        lambda: f"the ingress does not reach 2 replicas: {replicas_alive(server.url)}",
        timeout_s=RAY_START_TIMEOUT_S,
    )
    return server


def stop(server: ServerProcess) -> None:
    """SIGTERM: the command deletes its Serve application and stops the cluster it started."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def cluster(
    seeded_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("ray")
    models = copy_store(seeded_store, root / "models")
    server = start_ray_server(models, root / "serve.log", "--threads-per-replica", "1")
    yield server
    stop(server)


def chat(url: str, user: str, system: str = SYSTEM) -> httpx.Response:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    body = {"model": CHAT_MODEL, "messages": messages, "stream": False}
    response = httpx.post(
        f"{url}/api/chat", json={**body, "options": {"num_predict": 2}}, timeout=120
    )
    assert response.status_code == 200, response.text
    return response


def replica_metrics(url: str, family: str) -> dict[str, float]:
    """A counter's total per replica (summed over its other labels), from the ingress."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    totals: dict[str, float] = {}
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    replica = sample.labels["replica"]
                    totals[replica] = totals.get(replica, 0) + sample.value
    return totals


def replicas_alive(url: str) -> set[str]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        s.labels["replica"]
        for m in text_string_to_metric_families(text)
        for s in m.samples
        if s.labels.get("replica", "ingress") != "ingress"
    }


def test_route_keys_share_a_prefix_for_a_shared_system_prompt():
    a = route_keys("/api/chat", json.dumps(chat_body("first question")).encode())
    b = route_keys("/api/chat", json.dumps(chat_body("another one " * 60)).encode())
    assert a.model == b.model != ""
    assert len(b.prefix) > len(a.prefix) > 4 and b.prefix[: len(a.prefix)] == a.prefix
    c = route_keys("/api/chat", json.dumps(chat_body("a different one " * 60)).encode())
    assert c.prefix[: len(a.prefix)] == a.prefix and c.prefix[-1] != b.prefix[-1]
    assert (
        route_keys("/api/generate", b'{"model": "gemma3"}').model
        == route_keys("/api/generate", b'{"model": "Gemma3:latest"}').model
    )
    assert route_keys("/api/chat", b'{"model": "x", "messages": []}').everywhere
    assert not route_keys("/api/chat", b'{"model": "x", "messages": [], "keep_alive": 0}').load
    assert prefix_chain("x" * 100) == []  # only whole blocks


def chat_body(user: str) -> dict:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return {"model": CHAT_MODEL, "messages": messages}


def test_two_models_land_on_different_replicas_and_stay(cluster: ServerProcess):
    seen: dict[str, set[str]] = {BUNDLED_MODEL: set(), CHAT_MODEL: set()}
    for i in range(3):
        r = httpx.post(
            f"{cluster.url}/api/generate",
            json={"model": BUNDLED_MODEL, "prompt": f"Count {i}", "options": {"num_predict": 2}},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        seen[BUNDLED_MODEL].add(r.headers[REPLICA_HEADER])
        r = chat(cluster.url, f"question {i}", system="Be brief.")
        seen[CHAT_MODEL].add(r.headers[REPLICA_HEADER])
    assert len(seen[BUNDLED_MODEL]) == 1 and len(seen[CHAT_MODEL]) == 1, seen
    assert seen[BUNDLED_MODEL] != seen[CHAT_MODEL], seen
    ps = httpx.get(f"{cluster.url}/api/ps", timeout=30).json()["models"]
    assert {(m["name"], m["replica"]) for m in ps} == {
        (BUNDLED_MODEL, *seen[BUNDLED_MODEL]),
        (CHAT_MODEL, *seen[CHAT_MODEL]),
    }


def test_official_clients_work_through_the_ingress(cluster: ServerProcess):
    client = ollama.Client(host=cluster.url, timeout=120)
    assert {m.model for m in client.list().models} >= {BUNDLED_MODEL, CHAT_MODEL}
    pieces = [
        c.response or ""
        for c in client.generate(
            model=BUNDLED_MODEL, prompt="The sky is", stream=True, options={"num_predict": 5}
        )
    ]
    assert len(pieces) >= 2 and "".join(pieces)
    answer = client.chat(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Say hi"}],
        options={"num_predict": 5},
    )
    assert answer.message.content and answer.done
    assert {m.model for m in client.ps().models} >= {BUNDLED_MODEL, CHAT_MODEL}

    oai = openai.OpenAI(base_url=f"{cluster.url}/v1", api_key="unused", timeout=120)
    stream = oai.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Say hi"}],
        max_tokens=5,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    completion = oai.completions.create(model=BUNDLED_MODEL, prompt="One, two,", max_tokens=3)
    assert completion.choices[0].text and completion.usage and completion.usage.prompt_tokens > 0
    assert [m.id for m in oai.models.list().data]


def affinity_run(url: str, tag: str) -> tuple[list[str], dict[str, float]]:
    """Load the chat model on every replica, then 1 + 4 pairs of requests sharing SYSTEM (each
    pair at once): the replicas that served them, and each replica's cached prompt tokens."""

    def loaded_on_both() -> bool:
        # A load request reaches the replicas the ingress knows of: just after the start, Serve
        # may not have told it of the second one yet, so it is sent again until both have it.
        load = {"model": CHAT_MODEL, "messages": []}
        r = httpx.post(f"{url}/api/chat", json=load, timeout=120)
        assert r.status_code == 200, r.text
        return len({m["replica"] for m in httpx.get(f"{url}/api/ps").json()["models"]}) == 2

    wait_until(
        loaded_on_both,
        lambda: f"the chat model is not loaded on both replicas: {httpx.get(f'{url}/api/ps').text}",
        timeout_s=120,
    )
    time.sleep(1)  # replicas report the models they hold every 0.1 s; the router hears of it
    before = replica_metrics(url, "ollama_prompt_cached_tokens")
    served = [chat(url, f"{tag} warm-up").headers[REPLICA_HEADER]]
    with ThreadPoolExecutor(2) as pool:
        for i in range(4):
            pair = pool.map(lambda q: chat(url, q), [f"{tag} q{i}a", f"{tag} q{i}b"])
            served += [r.headers[REPLICA_HEADER] for r in pair]
    after = replica_metrics(url, "ollama_prompt_cached_tokens")
    cached = {k: v - before.get(k, 0) for k, v in after.items()}
    return served, cached


def test_a_shared_system_prompt_lands_on_the_replica_that_holds_it(cluster: ServerProcess):
    served, cached = affinity_run(cluster.url, "prefix")
    assert len(set(served)) == 1, served
    # Every request after the first reused the system prompt's KV entries (about 800 tokens).
    assert cached[served[0]] >= 8 * 500, cached


def test_a_replica_killed_mid_stream_ends_the_stream_with_an_error_and_comes_back(
    cluster: ServerProcess,
):
    body = {"model": BUNDLED_MODEL, "prompt": "Once upon a time", "options": {"num_predict": 3000}}
    lines: list[dict] = []
    with httpx.stream("POST", f"{cluster.url}/api/generate", json=body, timeout=120) as r:
        assert r.status_code == 200
        killed = r.headers[REPLICA_HEADER]
        pid = int(killed.rsplit("pid=", 1)[1])
        for line in r.iter_lines():
            lines.append(json.loads(line))
            if len(lines) == 3:
                os.kill(pid, signal.SIGKILL)
    assert "error" in lines[-1], lines[-3:]
    assert all("error" not in x for x in lines[:-1])
    # The next request succeeds (on the surviving replica or the replacement)...
    r = httpx.post(
        f"{cluster.url}/api/generate",
        json={"model": BUNDLED_MODEL, "prompt": "Hello", "stream": False},
        timeout=120,
    )
    assert r.status_code == 200 and r.json()["done"], r.text
    # ...and Serve replaces the replica.
    wait_until(
        lambda: len(alive := replicas_alive(cluster.url)) == 2 and killed not in alive,
        lambda: f"the killed replica was not replaced: {replicas_alive(cluster.url)}",
        timeout_s=180,
    )


def test_control_ray_default_router_spreads_a_shared_prompt(
    seeded_store: Path, tmp_path: Path, cluster: ServerProcess
):
    stop(cluster)  # one cluster at a time on this machine
    models = copy_store(seeded_store, tmp_path / "models")
    server = start_ray_server(
        models,
        tmp_path / "serve.log",
        "--threads-per-replica",
        "1",
        "--router",
        "pow2",
    )
    try:
        served, _ = affinity_run(server.url, "control")
        assert len(set(served)) == 2, served
    finally:
        stop(server)


def test_the_serve_application_builder_takes_scale_out_arguments():
    from ray.serve import Application

    from ollama_toolkit.distributed.app import ScaleOut, build

    assert isinstance(build({"replicas": "3", "router": "pow2", "max_replicas": "4"}), Application)
    with pytest.raises(ValueError, match="unknown argument"):
        build({"replica": "3"})
    with pytest.raises(ValueError, match="router"):
        ScaleOut(router="random")
