"""The built-in renderers (renderers/), table-driven from cases ported from Ollama's tests
(tests/data/renderers/*.json; MIT, tests/data/OLLAMA_LICENSE), each naming the file it came
from; and end to end: a Modelfile's RENDERER and PARSER through /api/create, /api/chat and
/api/show of a real server."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from ollama_toolkit.renderers import render, renderer_for_name, renderer_names
from ollama_toolkit.renderers.base import content_with_image_tags, go_value
from ollama_toolkit.renderers.harmony import HarmonyRenderer
from ollama_toolkit.renderers.qwen3coder import format_argument, type_text
from ollama_toolkit.store import modelfile
from parser_streams import case_names
from scripted_model import create_scripted_model, write_scripted_gguf

DATA = Path(__file__).parent / "data" / "renderers"
QWEN3CODER = json.loads((DATA / "qwen3coder.json").read_text())
IMAGE_TAGS = json.loads((DATA / "image_tags.json").read_text())["cases"]


def test_the_registry_knows_ollamas_names():
    assert {"harmony", "qwen3-coder"} <= set(renderer_names())
    assert renderer_for_name("no-such-renderer") is None
    with pytest.raises(ValueError, match="unknown renderer 'no-such-renderer'"):
        render("no-such-renderer", [], None, None)


@pytest.mark.parametrize("case", IMAGE_TAGS, ids=case_names(IMAGE_TAGS))
def test_image_tags(case):
    got = content_with_image_tags(case["content"], case["count"], case["offset"])
    assert got == (case["want"], case["want_offset"])


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1e6, "1e+06"),
        (1000000, "1e+06"),  # a JSON number is a float64 to Ollama
        (123456, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.5, "0.5"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (-2.5, "-2.5"),
        (0.0, "0"),
        (9007199254740993, "9.007199254740992e+15"),
        (float("inf"), "+Inf"),
        (True, "true"),
        (None, "<nil>"),
        ("text", "text"),
    ],
)
def test_values_print_as_go_prints_them(value, printed):
    assert go_value(value) == printed


# Every renderer's ported cases: (renderer, case) from each data file that names a renderer.
RENDER_CASES = [
    (table["renderer"], case)
    for path in sorted(DATA.glob("*.json"))
    for table in [json.loads(path.read_text())]
    if "renderer" in table
    for case in table["cases"]
]


@pytest.mark.parametrize(
    ("name", "case"), RENDER_CASES, ids=[f"{n}-{c['name']}" for n, c in RENDER_CASES]
)
def test_renderer(name, case):
    got = render(name, case["messages"], case["tools"], case.get("think"))
    assert got == case["expected"]


@pytest.mark.parametrize(
    "case", QWEN3CODER["format_argument"], ids=case_names(QWEN3CODER["format_argument"])
)
def test_qwen3_coder_tool_call_argument(case):
    assert format_argument(case["arg"]) == case["expected"]


@pytest.mark.parametrize(
    "case", QWEN3CODER["definition_types"], ids=case_names(QWEN3CODER["definition_types"])
)
def test_qwen3_coder_definition_type(case):
    assert type_text(case["type"]) == case["expected"]


@pytest.mark.parametrize("case", QWEN3CODER["contains"], ids=case_names(QWEN3CODER["contains"]))
def test_qwen3_coder_contains(case):
    prompt = render("qwen3-coder", case["messages"], case["tools"], None)
    assert all(text in prompt for text in case["contains"])
    assert not any(text in prompt for text in case["not_contains"])


# Harmony: Ollama renders gpt-oss with a Go template, so it has no renderer tests to port;
# these cases are ours, in the format of gpt-oss's chat template.
_SYSTEM_HEAD = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: 2026-01-02"
)
_CHANNELS = (
    "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message."
)
_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "city": {"type": "string", "description": "The city"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": "integer"},
            },
        },
    },
}
HARMONY_CASES = [
    (
        "user only, default reasoning",
        [{"role": "user", "content": "Hi"}],
        None,
        None,
        _SYSTEM_HEAD + "\n\nReasoning: medium" + _CHANNELS + "<|end|>"
        "<|start|>user<|message|>Hi<|end|><|start|>assistant",
    ),
    (
        "think false drops the reasoning line; a level sets it",
        [{"role": "user", "content": "Hi"}],
        None,
        False,
        _SYSTEM_HEAD + _CHANNELS + "<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant",
    ),
    (
        "think high",
        [{"role": "user", "content": "Hi"}],
        None,
        "high",
        _SYSTEM_HEAD + "\n\nReasoning: high" + _CHANNELS + "<|end|>"
        "<|start|>user<|message|>Hi<|end|><|start|>assistant",
    ),
    (
        "system as developer instructions; old thinking dropped",
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4", "thinking": "easy"},
            {"role": "user", "content": "3+3?"},
        ],
        None,
        True,
        _SYSTEM_HEAD + "\n\nReasoning: medium" + _CHANNELS + "<|end|>"
        "<|start|>developer<|message|># Instructions\n\nBe brief.<|end|>"
        "<|start|>user<|message|>2+2?<|end|>"
        "<|start|>assistant<|channel|>final<|message|>4<|end|>"
        "<|start|>user<|message|>3+3?<|end|><|start|>assistant",
    ),
    (
        "tools, a call and its result",
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "thinking": "Need the tool.",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
                ],
            },
            {"role": "tool", "content": "sunny"},
        ],
        [_WEATHER],
        None,
        _SYSTEM_HEAD + "\n\nReasoning: medium" + _CHANNELS + "\nCalls to these tools must go "
        "to the commentary channel: 'functions'.<|end|>"
        "<|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n"
        "// Get the weather\ntype get_weather = (_: {\n// The city\ncity: string,\n"
        'unit?: "c" | "f",\ndays?: number,\n}) => any;\n\n} // namespace functions<|end|>'
        "<|start|>user<|message|>Weather?<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>Need the tool.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Oslo"}<|call|>'
        "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny<|end|>"
        "<|start|>assistant",
    ),
    (
        "a last assistant message is continued",
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        None,
        None,
        _SYSTEM_HEAD + "\n\nReasoning: medium" + _CHANNELS + "<|end|>"
        "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello",
    ),
]


@pytest.mark.parametrize(
    ("messages", "tools", "think", "expected"),
    [case[1:] for case in HARMONY_CASES],
    ids=[case[0] for case in HARMONY_CASES],
)
def test_harmony(messages, tools, think, expected):
    renderer = HarmonyRenderer(today=datetime.date(2026, 1, 2))
    assert renderer.render(messages, tools, think) == expected


def test_modelfile_renderer_and_parser():
    commands = modelfile.parse("FROM x\nRENDERER harmony\nparser harmony\n")
    assert [(c.name, c.args) for c in commands] == [
        ("model", "x"),
        ("renderer", "harmony"),
        ("parser", "harmony"),
    ]


# End to end, on a real server.


def _create(server_url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server_url}/api/create", json={"stream": False, **body}, timeout=120)


def test_create_chat_show_with_renderer_and_parser(private_server, model):
    """A Modelfile's RENDERER and PARSER, read as the CLI reads it, become /api/create's
    fields: the config stores them, /api/show reports them, /api/chat renders with them."""
    client = ollama.Client(host=private_server.url)
    base = client.show(model).modelfile or ""
    gguf = next(line[5:] for line in base.splitlines() if line.startswith("FROM /"))
    text = f"FROM {gguf}\nRENDERER harmony\nPARSER harmony\n"
    fields: dict[str, Any] = {}
    for command in modelfile.parse(text):
        if command.name == "model":
            # The GGUF is a blob of the server's store already: named by its digest, as the
            # CLI names a file it has uploaded.
            digest = "sha256:" + Path(command.args).name.removeprefix("sha256-")
            fields["files"] = {"model.gguf": digest}
        else:
            fields[command.name] = command.args
    assert (fields["renderer"], fields["parser"]) == ("harmony", "harmony")
    r = _create(private_server.url, {"model": "harmony-test", **fields})
    assert r.status_code == 200, r.text

    shown = client.show("harmony-test")
    raw = httpx.post(f"{private_server.url}/api/show", json={"model": "harmony-test"}).json()
    assert (raw["renderer"], raw["parser"]) == ("harmony", "harmony")
    assert "RENDERER harmony\nPARSER harmony" in (shown.modelfile or "")
    assert {"tools", "thinking"} <= set(shown.capabilities or ())

    r = httpx.post(
        f"{private_server.url}/api/chat",
        json={
            "model": "harmony-test",
            "messages": [{"role": "user", "content": "Hi there"}],
            "tools": [_WEATHER | {"function": {**_WEATHER["function"], "name": "get-weather"}}],
            "think": "low",
            "stream": False,
            "_debug_render_only": True,
        },
        timeout=120,
    )
    assert r.status_code == 200, r.text
    prompt = r.json()["_debug_info"]["rendered_template"]
    assert prompt.startswith("<|start|>system<|message|>You are ChatGPT")
    assert "Reasoning: low" in prompt
    assert "type get_weather = (_: {" in prompt  # renamed by the harmony parser
    assert prompt.endswith("<|start|>user<|message|>Hi there<|end|><|start|>assistant")

    # /api/generate's chat-like flow renders with it too.
    r = httpx.post(
        f"{private_server.url}/api/generate",
        json={"model": "harmony-test", "prompt": "Hi", "_debug_render_only": True},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    prompt = r.json()["_debug_info"]["rendered_template"]
    assert prompt.startswith("<|start|>system<|message|>You are ChatGPT")
    assert prompt.endswith("<|start|>user<|message|>Hi<|end|><|start|>assistant")

    # A real run through the harmony parser: this model writes no harmony, so everything it
    # says stays in the header the prompt opened; the answer ends cleanly all the same.
    reply = client.chat(
        "harmony-test",
        messages=[{"role": "user", "content": "Hi"}],
        options={"num_predict": 4, "temperature": 0},
    )
    assert reply.done and reply.message.content == ""
    assert not reply.message.tool_calls


def test_unknown_renderer_or_parser_is_refused_at_create(private_server, model):
    for field in ("renderer", "parser"):
        r = _create(private_server.url, {"model": "bad", "from": model, field: "no-such-x"})
        assert r.status_code == 400
        assert r.json() == {"error": f'unknown {field} "no-such-x"'}


def test_the_special_tokens_a_parser_reads_are_written_out(private_server, tmp_path):
    """A model whose tool-call and channel tags are control tokens (llama.cpp writes those as
    nothing) still reaches its parser whole: the parser's preserved tokens are written as text,
    as Ollama has llama-server keep them (tests/scripted_model.py writes the model)."""
    qwen = write_scripted_gguf(
        tmp_path / "qwen.gguf",
        [
            "<tool_call>",
            "\n<function=get_weather>\n",
            "<parameter=city>\nParis\n</parameter>\n",
            "</function>\n",
            "</tool_call>",
        ],
        control=frozenset({"<tool_call>", "</tool_call>"}),
    )
    name = create_scripted_model(
        private_server.url,
        "scripted-qwen3-coder",
        qwen,
        renderer="qwen3-coder",
        parser="qwen3-coder",
    )
    client = ollama.Client(host=private_server.url)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    for stream in (False, True):
        parts = client.chat(name, messages=ask, tools=[_WEATHER], stream=stream)
        parts = parts if stream else [parts]
        calls = [c for p in parts for c in p.message.tool_calls or ()]
        assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        assert "".join(p.message.content or "" for p in parts) == ""
    # /api/generate reads it with the same parser: the calls come on the final chunk.
    for stream in (False, True):
        r = httpx.post(
            f"{private_server.url}/api/generate",
            json={"model": name, "prompt": "Weather in Paris?", "stream": stream},
            timeout=120,
        )
        final = json.loads(r.text.splitlines()[-1])
        assert final["done"] and final["tool_calls"] == [
            {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
        ], r.text
        assert "".join(json.loads(line)["response"] for line in r.text.splitlines()) == ""
    # The OpenAI-compatible routes read the same calls.
    oai = openai.OpenAI(base_url=f"{private_server.url}/v1", api_key="ollama")
    completion = oai.chat.completions.create(model=name, messages=ask, tools=[_WEATHER])
    (call,) = completion.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    assert completion.choices[0].finish_reason == "tool_calls"

    harmony = write_scripted_gguf(
        tmp_path / "harmony.gguf",
        ["<|channel|>", "final", "<|message|>", "Sunny.", "<|return|>"],
        control=frozenset({"<|channel|>", "<|message|>", "<|return|>"}),
    )
    name = create_scripted_model(
        private_server.url, "scripted-harmony", harmony, renderer="harmony", parser="harmony"
    )
    reply = client.chat(name, messages=ask)
    assert reply.message.content == "Sunny."
    reply = client.generate(name, prompt="Weather in Paris?")
    assert reply.response == "Sunny."
