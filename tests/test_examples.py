"""The runnable examples, run as users run them (`python -m ...`) against a real server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from conftest import copy_store, free_port

SHORT = ("--num-predict", "8", "--temperature", "0")


def example(
    name: str, env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"ollama_toolkit.examples.{name}", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def at(server) -> tuple[str, ...]:
    return ("--host", server.host, "--no-autostart")


def test_generate_example_prints_the_answer_and_a_statistics_table(server, model):
    result = example("generate_example", server.env, "--prompt", "The sky is", *SHORT, *at(server))
    assert result.returncode == 0, result.stderr
    answer, _, stats = result.stdout.partition("Statistics")
    assert answer.strip()
    assert re.search(r"generated tokens\W+8\W", stats)
    for row in ("total duration", "prompt tokens", "eval rate"):
        assert row in stats
    assert re.search(r"\d+\.\d{3} s", stats) and "tokens/s" in stats
    assert result.stderr == ""


def test_streaming_prints_the_same_answer_as_one_piece(server, model):
    args = ("--prompt", "The sky is", "--system", "Be brief.", "--seed", "3", *SHORT, *at(server))
    whole = example("generate_example", server.env, *args)
    streamed = example("generate_example", server.env, *args, "--stream")
    assert whole.returncode == streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.partition("Statistics")[0] == whole.stdout.partition("Statistics")[0]


def test_generate_example_json_format(server):
    args = ("--prompt", "A JSON object:", "--format", "json", "--num-predict", "24")
    result = example("generate_example", server.env, *args, *at(server))
    assert result.returncode == 0, result.stderr


def test_generate_example_falls_back_to_the_bundled_chat_model(server, chat_model):
    result = example("generate_example", server.env, "--model", "nope:1b", *SHORT, *at(server))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"note: 'nope:1b' is not available; '{chat_model}' answered"


def test_generate_example_falls_back_to_gemma_without_the_chat_model(
    make_server, chat_model, model
):
    server = make_server(OLLAMA_TOOLKIT_NO_BUNDLED_MODEL="1")  # a deleted model stays deleted
    deleted = httpx.request("DELETE", f"{server.url}/api/delete", json={"model": chat_model})
    assert deleted.status_code == 200
    result = example("generate_example", server.env, *SHORT, *at(server))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"note: '{chat_model}' is not available; '{model}' answered"
    assert "generated tokens" in result.stdout


def test_no_fallback_fails_with_one_line(server):
    args = ("--model", "nope:1b", "--no-fallback", *SHORT, *at(server))
    result = example("generate_example", server.env, *args)
    assert result.returncode == 1
    assert result.stderr == "error: model 'nope:1b' not found\n"


def test_no_server_with_no_autostart_fails_with_one_line():
    env = dict(os.environ)
    result = example(
        "generate_example", env, "--host", f"127.0.0.1:{free_port()}", "--no-autostart"
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "could not connect" in result.stderr and "ollama-toolkit serve" in result.stderr


def test_the_documented_command_starts_a_server_when_none_runs(seeded_store, tmp_path):
    """`python -m ollama_toolkit.examples.generate_example --prompt "Explain AI ethics."`,
    verbatim, with nothing listening at OLLAMA_HOST."""
    host = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "OLLAMA_HOST": host,
        "OLLAMA_MODELS": str(copy_store(seeded_store, tmp_path / "models")),
    }
    result = example("generate_example", env, "--prompt", "Explain AI ethics.")
    try:
        assert result.returncode == 0, result.stderr
        assert "starting one in the background" in result.stderr
        assert "Statistics" in result.stdout and "generated tokens" in result.stdout
        assert httpx.get(f"http://{host}/", timeout=5).status_code == 200
    finally:
        pid = int(re.search(r"pid (\d+)", result.stderr).group(1))
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)


def test_structured_output_example_parses_into_the_schema(server):
    result = example("structured_output_example", server.env, *at(server))
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert set(parsed) == {"name", "capital", "languages"}
    assert isinstance(parsed["languages"], list)


def test_async_example_answers_every_prompt(server):
    args = ("Why is the sky blue?", "What is water?", "--num-predict", "4", *at(server))
    result = example("async_example", server.env, *args)
    assert result.returncode == 0, result.stderr
    assert "--- Why is the sky blue?" in result.stdout and "--- What is water?" in result.stdout
    assert "2 answers, 8 tokens" in result.stdout


def test_list_models_example(server, model, chat_model):
    result = example("list_models_example", server.env, *at(server))
    assert result.returncode == 0, result.stderr
    assert "Models" in result.stdout and model in result.stdout and chat_model in result.stdout


def test_chat_example_answers_piped_messages(server):
    result = example("chat_example", server.env, *SHORT, *at(server), stdin="Hello\nHow are you?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("assistant> ") == 2
