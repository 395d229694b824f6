"""The bundled chat model out of the box: `smollm2:135m` answers, as a new user meets it.

Greedy answers (`temperature: 0`) to "Explain AI ethics." must be about the ethics of AI, not a
continuation of the prompt, whichever way they are asked: `ollama-toolkit run` with no model,
`/api/generate` (the prompt goes through the model's ChatML template) and `/api/chat` with the
official `ollama` client. The checks are on topic words, never on an exact text.
"""

from __future__ import annotations

import re
import sys

import httpx
import ollama
import pytest

from conftest import start_server
from ollama_toolkit.store.bundled import BUNDLED_MODEL, CHAT_MODEL
from ollama_toolkit.template import named_template
from test_cli import Terminal
from test_examples import at, example

PROMPT = "Explain AI ethics."
GREEDY = {"temperature": 0, "num_predict": 48}
ON_TOPIC = ("ethic", "artificial intelligence", "fair", "bias", "responsib")


def assert_answers_about_ai_ethics(answer: str) -> None:
    text = answer.strip()
    assert text, "no answer"
    assert not text.casefold().startswith(PROMPT.casefold().rstrip(".")), text
    lowered = text.casefold()
    assert re.search(r"\bAI\b", text) or any(word in lowered for word in ON_TOPIC), text


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url)


def test_tags_list_both_bundled_models(client):
    names = {m.model for m in client.list().models}
    assert {CHAT_MODEL, BUNDLED_MODEL} <= names


def test_show_has_the_chatml_template_and_its_stop_parameters(client):
    shown = client.show(CHAT_MODEL)
    chatml, chatml_params = named_template("chatml")
    assert shown.template == chatml
    assert chatml_params["stop"] == ["<|im_start|>", "<|im_end|>"]
    stops = re.findall(r'^stop\s+"(.*)"$', shown.parameters, re.MULTILINE)
    assert stops == chatml_params["stop"]
    # Ollama's chatml template has no .Tools: no tools capability.
    assert shown.capabilities == ["completion"]
    assert shown.details.family == "llama"
    assert shown.details.quantization_level == "Q4_1"
    assert shown.modelinfo["general.architecture"] == "llama"


def test_generate_renders_the_prompt_through_the_chatml_template(server):
    body = {"model": CHAT_MODEL, "prompt": PROMPT, "_debug_render_only": True, "stream": False}
    resp = httpx.post(f"{server.url}/api/generate", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    assert resp.json()["_debug_info"]["rendered_template"] == (
        f"<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    )


def test_generate_answers_greedily_on_topic(client):
    response = client.generate(CHAT_MODEL, PROMPT, options=GREEDY)
    assert response.done and response.eval_count <= GREEDY["num_predict"]
    assert_answers_about_ai_ethics(response.response)


def test_official_client_chat_answers_greedily_on_topic(client):
    response = client.chat(
        CHAT_MODEL, messages=[{"role": "user", "content": PROMPT}], options=GREEDY
    )
    assert response.message.role == "assistant"
    assert_answers_about_ai_ethics(response.message.content)
    # The same answer through /api/generate: both render the same ChatML prompt.
    assert response.message.content == client.generate(CHAT_MODEL, PROMPT, options=GREEDY).response


def test_the_documented_example_answers_greedily_on_topic(server):
    args = ("--prompt", PROMPT, "--temperature", "0", "--num-predict", "48", *at(server))
    result = example("generate_example", server.env, *args)
    assert result.returncode == 0, result.stderr
    assert_answers_about_ai_ethics(result.stdout.partition("Statistics")[0])
    assert result.stderr == ""  # smollm2:135m answered itself: no fallback note


def test_run_with_no_model_chats_with_the_bundled_chat_model(server):
    term = Terminal([sys.executable, "-m", "ollama_toolkit", "run"], server.env)
    try:
        term.expect(">>> ")
        info = term.command("/show info")
        assert "architecture" in info and "llama" in info and "134.52M" in info
        term.command("/set parameter temperature 0")
        term.command(f"/set parameter num_predict {GREEDY['num_predict']}")
        shown = term.command(PROMPT)
        echoed, _, answer = shown.partition("\n")  # the terminal echoes the typed line first
        assert PROMPT in echoed
        assert_answers_about_ai_ethics(answer)
        term.type("/bye")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


def test_no_bundled_model_registers_neither(tmp_path):
    server = start_server(
        tmp_path / "models", tmp_path / "server.log", OLLAMA_TOOLKIT_NO_BUNDLED_MODEL="1"
    )
    try:
        assert httpx.get(f"{server.url}/api/tags").json() == {"models": []}
    finally:
        server.stop()
