"""Schemathesis against the server's own /openapi.json: every operation but pull, push and
create (which reach registries or write models) gets a bounded number of generated requests,
valid and invalid; none may answer 5xx, and the server is alive afterwards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import ServerProcess, copy_store, start_server

EXAMPLES_PER_OPERATION = 25
MODEL = "gemma3:270m-pt"
# Fuzzed options may ask for long generations: keep each one short and the context small.
SERVER_ENV = {"OLLAMA_CONTEXT_LENGTH": "256", "OLLAMA_NUM_PARALLEL": "2"}


@pytest.fixture(scope="module")
def fuzzed(seeded_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    root = tmp_path_factory.mktemp("fuzz")
    server = start_server(copy_store(seeded_store, root / "models"), root / "log", **SERVER_ENV)
    yield server
    server.stop()


def operations(server: ServerProcess) -> list:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    schema = schema.exclude(path_regex=r"^/api/(pull|push|create)$")
    return [result.ok() for result in schema.get_all_operations()]


# Routes that run the model: every other example names the real one, so that fuzzed options,
# formats, messages and templates reach the engine, not just the model lookup.
INFERENCE = {
    "/api/generate",
    "/api/chat",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/messages",
}
# The /v1 bodies' bounds on the tokens generated: 1 wherever a body has one. The routes in
# CAPPED get theirs whenever they name the real model, too: Anthropic's requires one, and a
# Response without one would run to the end of the context. Anthropic's examples without
# messages get one (fuzzed ones are kept), so that some reach the model.
OUTPUT_CAPS = {
    "/v1/chat/completions": "max_tokens",
    "/v1/completions": "max_tokens",
    "/v1/messages": "max_tokens",
    "/v1/responses": "max_output_tokens",
}
CAPPED = {"/v1/messages", "/v1/responses"}


def prepared(case, n: int) -> None:
    """Name the real model in every other inference example, and keep each one's work short:
    a fuzzed num_predict of millions would take hours."""
    body = case.body
    if not isinstance(body, dict):
        return
    cap = OUTPUT_CAPS.get(case.path)
    if case.path in INFERENCE and n % 2:
        body["model"] = MODEL
        if body.get("options") is None:
            body["options"] = {}
        if cap is not None and case.path in CAPPED:
            body[cap] = 1
        if case.path == "/v1/messages" and "messages" not in body:
            body["messages"] = [{"role": "user", "content": "Hi"}]
    if isinstance(body.get("options"), dict):
        body["options"]["num_predict"] = 1
    if cap is not None and cap in body:
        body[cap] = 1


def test_no_generated_request_gets_a_server_error(fuzzed):
    # Schemathesis's pytest plugin does not load under this pytest, so each operation gets a
    # Hypothesis test of its own here, from schemathesis's strategy for it.
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    ops = operations(fuzzed)
    assert len(ops) >= 20, [op.label for op in ops]
    for operation in ops:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same requests every run: a failure can be replayed
            database=None,
        )
        def check(case) -> None:
            prepared(case, sum(statuses.values()))
            response = case.call(base_url=fuzzed.url, timeout=120)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r:.300} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        check()
    assert failures == []
    # The generated requests reached the routes: some were served, most refused with a 4xx.
    assert sum(statuses.values()) >= len(ops) * 5, statuses
    assert statuses[200] > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0


def test_the_server_is_alive_after_fuzzing(fuzzed):
    assert httpx.get(f"{fuzzed.url}/api/version", timeout=30).status_code == 200
    assert "Traceback" not in fuzzed.log()
