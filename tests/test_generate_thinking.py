"""`think` on POST /api/generate, as Ollama's GenerateHandler has it: on by default for a model
that can think, the reasoning streamed in `thinking` and never in `response`, Ollama's wording
for a bad value and for a model that cannot think, and `think` given to Jinja chat templates
(`enable_thinking`, `reasoning_effort`).

Neither bundled model thinks, so the thinking model is made here: the bundled Gemma GGUF with
a template that writes `.Thinking` back between `<think>` tags and opens `<think>` when `.Think`
is on, and a few-shot conversation in its MESSAGEs that the model, decoding greedily, repeats.
"""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from ollama_toolkit.server.prompt import jinja_think_kwargs
from ollama_toolkit.template import render_jinja
from test_chat import THINK_TEMPLATE  # the Gemma-style thinking template of the chat tests
from test_store import write_tiny_gguf

THINKER = "gen-think:latest"
JINJA = "gen-jinja:latest"
JINJA_THINKER = "gen-jinja-think:latest"  # its Jinja template writes thinking between tags
READS_THINK = "gen-reads-think:latest"  # its Go template reads .Think, writes no thinking back


# The model repeats the pattern it was shown: thinking first, then the answer.
FEW_SHOT = [
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "thinking": "France is a country in Europe.", "content": "Paris."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "thinking": "France is a country in Europe.", "content": "Paris."},
]
QUESTION = "Capital of France?"
THOUGHT = "France is a country in Europe."
GREEDY = {"temperature": 0, "num_predict": 16}
# The thought (9 tokens) and "Paris." (2): the model is sure of each of these tokens (by 3 nats
# or more), and of none after them, so longer answers go on differently at a near-tie (with
# speculative drafts, a reused prefix, another batch) and may write a tag of their own.
ANSWER = {"temperature": 0, "num_predict": 11}

# Shows what a Jinja chat template is given: the kwargs when set, then the conversation.
JINJA_TEMPLATE = (
    "{% if enable_thinking is defined %}[enable_thinking={{ enable_thinking }}]{% endif %}"
    "{% if reasoning_effort is defined %}[reasoning_effort={{ reasoning_effort }}]{% endif %}"
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
)

# A Jinja template Ollama marks as thinking: `<think>` and `</think>` both in it.
JINJA_THINK_TEMPLATE = (
    "{% if enable_thinking is defined %}[enable_thinking={{ enable_thinking }}]{% endif %}"
    "{% for m in messages %}<{{ m.role }}>"
    "{% if m.thinking %}<think>{{ m.thinking }}</think>{% endif %}{{ m.content }}{% endfor %}"
    "{% if enable_thinking %}<think>{% endif %}"
)
READS_THINK_TEMPLATE = "{{ if .Think }}<think>{{ end }}{{ .Prompt }}"

THINK_CHOICES = '("high", "medium", "low", "max", true, or false)'


@pytest.fixture(scope="module")
def client(private_server) -> ollama.Client:
    return ollama.Client(host=private_server.url)


@pytest.fixture(scope="module", autouse=True)
def models(client, tmp_path_factory) -> None:
    """The thinking model, created with the official client (`/api/create`), and a model whose
    prompt is rendered by its GGUF's own Jinja chat template (no built-in one matches it)."""
    done = client.create(
        model=THINKER,
        from_="gemma3:270m-pt",
        template=THINK_TEMPLATE,
        messages=FEW_SHOT,
        stream=False,
    )
    assert done.status == "success"
    gguf = write_tiny_gguf(
        tmp_path_factory.mktemp("jinja") / "jinja.gguf", chat_template=JINJA_TEMPLATE
    )
    digest = client.create_blob(gguf)
    done = client.create(model=JINJA, files={"jinja.gguf": digest}, stream=False)
    assert done.status == "success"
    gguf = write_tiny_gguf(
        tmp_path_factory.mktemp("jinja-think") / "jinja.gguf", chat_template=JINJA_THINK_TEMPLATE
    )
    digest = client.create_blob(gguf)
    done = client.create(model=JINJA_THINKER, files={"jinja.gguf": digest}, stream=False)
    assert done.status == "success"
    done = client.create(
        model=READS_THINK, from_="gemma3:270m-pt", template=READS_THINK_TEMPLATE, stream=False
    )
    assert done.status == "success"


def post(server, payload: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/api/generate", json=payload, timeout=300)


def lines(resp: httpx.Response) -> list[dict]:
    assert resp.status_code == 200, resp.text
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def rendered(server, payload: dict) -> str:
    resp = post(server, {**payload, "_debug_render_only": True, "stream": False})
    assert resp.status_code == 200, resp.text
    return resp.json()["_debug_info"]["rendered_template"]


# --- thinking split from the response ----------------------------------------------------------


def test_a_thinking_model_thinks_by_default_and_its_reasoning_streams_in_thinking(
    private_server,
):
    payload = {"model": THINKER, "prompt": QUESTION, "options": ANSWER}
    assert rendered(private_server, payload).endswith("<start_of_turn>model\n<think>")
    parts = lines(post(private_server, payload))
    thinking = "".join(p.get("thinking", "") for p in parts)
    response = "".join(p["response"] for p in parts)
    assert THOUGHT in thinking and "</think>" not in thinking
    assert response == "Paris."  # no tag and no reasoning leak into the response
    assert THOUGHT not in response
    # Streamed: the thinking comes in chunks of its own, before the first piece of response.
    first = next(i for i, p in enumerate(parts) if p["response"])
    assert sum("thinking" in p for p in parts[:first]) > 1
    assert all("thinking" not in p for p in parts[first:])
    assert parts[-1]["done"] is True and "context" in parts[-1]


def test_a_non_streamed_answer_carries_all_the_thinking(private_server):
    payload = {"model": THINKER, "prompt": QUESTION, "options": ANSWER, "stream": False}
    body = post(private_server, payload).json()
    assert body["thinking"].startswith(THOUGHT)
    assert body["response"] == "Paris."


def test_official_client_reads_thinking(client):
    r = client.generate(THINKER, QUESTION, think=True, options=GREEDY)
    assert r.thinking.startswith(THOUGHT)
    assert r.response.startswith("Paris.")
    parts = list(client.generate(THINKER, QUESTION, think=True, options=GREEDY, stream=True))
    assert "".join(p.thinking or "" for p in parts) == r.thinking
    assert "".join(p.response for p in parts) == r.response


def test_think_false_renders_without_thinking_and_answers_without_it(private_server):
    payload = {"model": THINKER, "prompt": QUESTION, "think": False}
    assert rendered(private_server, payload).endswith("<start_of_turn>model\n")
    body = post(private_server, {**payload, "stream": False, "options": GREEDY}).json()
    assert "thinking" not in body and body["response"]


@pytest.mark.parametrize(
    ("think", "shown"),
    [
        (None, "true medium true"),  # on by default for a model that thinks
        (True, "true medium true"),
        (False, "false  true"),
        ("high", "true high true"),
        ("low", "true low true"),
    ],
)
def test_the_template_sees_think_as_ollama_sets_it(private_server, think, shown):
    # A template over .Messages (a legacy one would be run once per turn).
    template = "{{ range .Messages }}{{ end }}{{ .Think }} {{ .ThinkLevel }} {{ .IsThinkSet }}"
    payload = {"model": THINKER, "prompt": QUESTION, "template": template}
    if think is not None:
        payload["think"] = think
    assert rendered(private_server, payload) == shown


def test_think_is_unset_for_a_model_that_cannot_think(private_server, model):
    template = "{{ range .Messages }}{{ end }}{{ .Think }}|{{ .IsThinkSet }}"
    payload = {"model": model, "prompt": "x", "template": template}
    assert rendered(private_server, payload) == "false|false"
    assert rendered(private_server, {**payload, "think": False}) == "false|true"


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("think", "error"),
    [
        ("extreme", f'invalid think value: "extreme" (must be {THINK_CHOICES[1:-1]})'),
        ("true", f'invalid think value: "true" (must be {THINK_CHOICES[1:-1]})'),
        ("", f'invalid think value: "" (must be {THINK_CHOICES[1:-1]})'),
        (1, f"think must be a boolean or string {THINK_CHOICES}"),
        ({"level": "high"}, f"think must be a boolean or string {THINK_CHOICES}"),
    ],
)
@pytest.mark.parametrize("route", ["/api/generate", "/api/chat"])
def test_an_invalid_think_value_is_refused_with_ollamas_wording(
    private_server, route, think, error
):
    payload = {"model": THINKER, "think": think, "stream": False}
    if route == "/api/generate":
        payload["prompt"] = QUESTION
    else:
        payload["messages"] = [{"role": "user", "content": QUESTION}]
    resp = httpx.post(private_server.url + route, json=payload, timeout=60)
    assert resp.status_code == 400
    assert resp.json() == {"error": error}


@pytest.mark.parametrize("think", [True, "high", "low", "medium", "max"])
def test_a_model_that_cannot_think_refuses_think(private_server, model, think):
    resp = post(private_server, {"model": model, "prompt": "x", "think": think})
    assert resp.status_code == 400
    assert resp.json() == {"error": f'"{model}" does not support thinking'}


def test_official_client_gets_the_refusal(client, model):
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model, "x", think=True)
    assert e.value.status_code == 400
    assert e.value.error == f'"{model}" does not support thinking'


# --- Jinja chat templates ----------------------------------------------------------------------


def test_think_reaches_a_jinja_chat_template(private_server):
    payload = {"model": JINJA, "prompt": "hi"}
    # Not set: the template's own default (no kwargs).
    assert rendered(private_server, payload) == "<user>hi"
    assert rendered(private_server, {**payload, "think": False}) == (
        "[enable_thinking=False]<user>hi"
    )
    shown = httpx.post(f"{private_server.url}/api/show", json={"model": JINJA}, timeout=60).json()
    assert "thinking" not in shown["capabilities"]  # so think=true is refused, as above
    assert post(private_server, {**payload, "think": True}).status_code == 400


@pytest.mark.parametrize(
    ("think", "kwargs", "text"),
    [
        (None, {}, "<user>hi"),
        (False, {"enable_thinking": False}, "[enable_thinking=False]<user>hi"),
        (True, {"enable_thinking": True}, "[enable_thinking=True]<user>hi"),
        (
            "low",
            {"enable_thinking": True, "reasoning_effort": "low"},
            "[enable_thinking=True][reasoning_effort=low]<user>hi",
        ),
    ],
)
def test_jinja_kwargs_are_ollamas_chat_template_kwargs(think, kwargs, text):
    assert jinja_think_kwargs(think) == kwargs
    messages = [{"role": "user", "content": "hi"}]
    assert render_jinja(JINJA_TEMPLATE, messages, None, template_kwargs=kwargs) == text


def test_jinja_kwargs_cannot_replace_the_conversation():
    text = render_jinja(
        "{% for m in messages %}{{ m.content }}{% endfor %}",
        [{"role": "user", "content": "kept"}],
        None,
        template_kwargs={"messages": [{"role": "user", "content": "replaced"}]},
    )
    assert text == "kept"


# --- which models think ------------------------------------------------------------------------


def capabilities(server, model: str) -> list[str]:
    resp = httpx.post(f"{server.url}/api/show", json={"model": model}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()["capabilities"]


def test_a_jinja_template_with_think_tags_makes_a_thinking_model(private_server):
    # Ollama's rule for a GGUF's chat template: `<think>` and `</think>` both in it.
    assert "thinking" in capabilities(private_server, JINJA_THINKER)
    tags = httpx.get(f"{private_server.url}/api/tags", timeout=60).json()["models"]
    (entry,) = [m for m in tags if m["name"] == JINJA_THINKER]
    assert "thinking" in entry["capabilities"]
    payload = {"model": JINJA_THINKER, "prompt": "hi"}
    # On by default, as for any thinking model; think=true and a level are accepted.
    assert rendered(private_server, payload) == "[enable_thinking=True]<user>hi<think>"
    assert rendered(private_server, {**payload, "think": True}).startswith("[enable_thinking=True]")
    assert rendered(private_server, {**payload, "think": "low"}).startswith(
        "[enable_thinking=True]"
    )
    assert rendered(private_server, {**payload, "think": False}) == (
        "[enable_thinking=False]<user>hi"
    )


def test_a_go_template_that_only_reads_think_is_no_thinking_model(private_server):
    # Ollama infers thinking from `.Thinking` written back between tags in the messages; a
    # template that reads `.Think` alone does not make a thinking model, so think is refused.
    assert "thinking" not in capabilities(private_server, READS_THINK)
    resp = post(private_server, {"model": READS_THINK, "prompt": "x", "think": True})
    assert resp.status_code == 400
    assert resp.json() == {"error": f'"{READS_THINK}" does not support thinking'}
    # Not set, it stays unset: the template sees false.
    assert rendered(private_server, {"model": READS_THINK, "prompt": "x"}) == "x"


def test_the_go_thinking_model_is_a_thinking_model(private_server):
    assert capabilities(private_server, THINKER) == ["completion", "thinking"]
