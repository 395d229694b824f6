"""LFM2, Cohere and Laguna's renderers and parsers, table-driven from cases ported from Ollama's
tests (tests/data/{renderers,parsers}/{lfm2,cohere,laguna}*.json; MIT, tests/data/OLLAMA_LICENSE),
each naming the file it came from. The renderers' exact cases run in tests/test_renderers.py;
here are the ones that need a renderer flag, or compare only part of the prompt. Every parser
case also runs with its output split at every position, and one character at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ollama_toolkit.parsers.builtin import BuiltinParser, ParserError
from ollama_toolkit.parsers.lfm2 import LFM2Parser, parse_tool_calls
from ollama_toolkit.parsers.registry import parser_for_name
from ollama_toolkit.renderers import render, renderer_for_name
from ollama_toolkit.renderers.lfm2 import LFM2Renderer, lfm2_json
from parser_streams import case_names, run_parser, splits

DATA = Path(__file__).parent / "data"
RENDER = DATA / "renderers"
PARSE = DATA / "parsers"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _splits(chunks: list[str]) -> list[list[str]]:
    """The chunks as given, and the ways `splits` cuts their text."""
    return [chunks, *splits("".join(chunks))]


@pytest.mark.parametrize(
    ("name", "bos"),
    [("lfm2", "<|startoftext|>"), ("lfm2-thinking", "<|startoftext|>"), ("cohere", "<BOS_TOKEN>")]
    + [("laguna", "〈|EOS|〉"), ("poolside-v1", "〈|EOS|〉")],
)
def test_leading_bos(name, bos):
    renderer = renderer_for_name(name)
    assert renderer is not None
    assert renderer.leading_bos == bos


# LFM2.

LFM2_RENDER = _load(RENDER / "lfm2_images.json")


@pytest.mark.parametrize("case", LFM2_RENDER["images"], ids=case_names(LFM2_RENDER["images"]))
def test_lfm2_images(case):
    renderer = LFM2Renderer(use_img_tags=case["use_img_tags"])
    assert renderer.render(case["messages"], case["tools"], case["think"]) == case["expected"]


@pytest.mark.parametrize(
    "case", LFM2_RENDER["json_formatting"], ids=case_names(LFM2_RENDER["json_formatting"])
)
def test_lfm2_json(case):
    from ollama_toolkit.renderers.base import go_tool

    assert lfm2_json(go_tool(case["tool"])) == case["expected"]


def test_lfm2_images_are_numbered_over_the_conversation():
    messages = [
        {"role": "system", "content": "S", "images": ["a"]},
        {"role": "user", "content": "one", "images": ["b"]},
        {"role": "user", "content": "two [img] and", "images": ["c", "d"]},
    ]
    prompt = render("lfm2", messages, None, None)
    assert "user\n[img-1] one<|im_end|>" in prompt
    assert "user\n[img-3] two [img-2] and<|im_end|>" in prompt


LFM2 = _load(PARSE / "lfm2.json")


def _lfm2(case: dict[str, Any]) -> BuiltinParser:
    parser = parser_for_name(case["parser"])
    assert parser is not None
    parser.init(case["tools"], case["last_message"], case["think"])
    return parser


@pytest.mark.parametrize("case", LFM2["cases"], ids=case_names(LFM2["cases"]))
def test_lfm2_parser(case):
    want = (case["content"], case["thinking"], case["tool_calls"])
    for pieces in _splits(case["chunks"]):
        content, thinking, calls = run_parser(_lfm2(case), pieces)
        got = (content, thinking, calls if case["tool_calls"] is not None else None)
        assert got == want, pieces


@pytest.mark.parametrize(
    "case", LFM2["tool_calls_content"], ids=case_names(LFM2["tool_calls_content"])
)
def test_lfm2_tool_calls_content(case):
    if case["error"]:
        with pytest.raises(ParserError):
            parse_tool_calls(case["content"])
        return
    calls = [c.to_wire() for c in parse_tool_calls(case["content"])]
    if case["first_only"]:
        calls = calls[:1]
    assert calls == case["want"]


def test_lfm2_parser_support_and_init():
    assert LFM2Parser().has_tool_support
    assert not LFM2Parser().has_thinking_support
    assert parser_for_name("lfm2-thinking").has_thinking_support
    assert not parser_for_name("lfm2").has_thinking_support
    tools = [{"type": "function", "function": {"name": "test_tool"}}]
    parser = LFM2Parser(thinking_support=True)
    assert parser.init(tools, None, True) == tools
    # Thinking on: the parser waits to see whether the output opens with <think>.
    assert parser.add("  <thi") == ("", "", [])
    assert parser.add("nk>x") == ("", "x", [])


def test_lfm2_parser_prefill_and_calls_counted_from_zero():
    parser = LFM2Parser(thinking_support=True)
    parser.init(None, {"role": "assistant", "content": "The answer"}, True)
    assert run_parser(parser, [" is <think>4"]) == (" is <think>4", "", [])
    text = "<|tool_call_start|>[a(x=1)]<|tool_call_end|>"
    parser.init(None, None, False)
    assert run_parser(parser, [text])[2][0]["function"]["index"] == 0
    parser.init(None, None, False)
    assert run_parser(parser, [text + text])[2][1]["function"]["index"] == 1


def test_lfm2_parser_bad_call_block_drops_the_rest():
    parser = parser_for_name("lfm2")
    parser.init(None, None, False)
    text = "Hi<|tool_call_start|>[a(oops)]<|tool_call_end|> more"
    assert run_parser(parser, [text]) == ("Hi", "", [])


def test_lfm2_bare_call_held_only_while_it_may_be_one():
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    parser = parser_for_name("lfm2")
    parser.init(tools, None, False)
    assert parser.add("[get_wea") == ("", "", [])
    assert parser.add("ther(city='Oslo'), get_weather(") == ("", "", [])
    _, _, calls = parser.add("city='Rome')]")
    assert calls == []
    _, _, calls = parser.finish()
    assert [c.function.arguments for c in calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    parser.init(tools, None, False)
    assert parser.add("The weather") == ("The weather", "", [])
    parser.init(tools, None, False)
    assert parser.add("get_weather(x) is") == ("get_weather(x) is", "", [])


# Cohere.

COHERE_RENDER = _load(RENDER / "cohere.json")


@pytest.mark.parametrize("case", COHERE_RENDER["partial"], ids=case_names(COHERE_RENDER["partial"]))
def test_cohere_renderer_parts(case):
    prompt = render("cohere", case["messages"], case["tools"], case["think"])
    assert prompt.endswith(case["suffix"])
    for part in case["contains"]:
        assert part in prompt


def test_cohere_renderer_result_without_a_known_call_keeps_its_id():
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"function": {"name": "t", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "zz", "content": "r"},
    ]
    prompt = render("cohere", messages, None, None)
    assert '"tool_call_id": "0", "tool_name": "t"' in prompt
    assert '\n        "tool_call_id": "zz",' in prompt


COHERE = _load(PARSE / "cohere.json")


def _check(got: tuple[str, str, list[dict[str, Any]]], case: dict[str, Any]) -> None:
    """The parts of the result the case gives (Ollama's tests check only some)."""
    for value, key in zip(got, ("content", "thinking", "tool_calls"), strict=True):
        if case[key] is not None:
            assert value == case[key], key


@pytest.mark.parametrize("case", COHERE["cases"], ids=case_names(COHERE["cases"]))
def test_cohere_parser(case):
    for pieces in _splits(case["chunks"]):
        parser = parser_for_name("cohere")
        assert parser is not None
        parser.init(None, case["last_message"], case["think"])
        _check(run_parser(parser, pieces), case)


@pytest.mark.parametrize(
    "case", COHERE["streams_before_done"], ids=case_names(COHERE["streams_before_done"])
)
def test_cohere_parser_streams_before_done(case):
    """Output after the thinking that is not a known block streams as it arrives."""
    parser = parser_for_name("cohere")
    assert parser is not None
    parser.init(None, None, None)
    parser.add(case["first"])
    content, _, _ = parser.add(case["chunk"])
    assert content


def test_cohere_parser_support_and_truncated_action():
    parser = parser_for_name("cohere")
    assert parser is not None
    assert parser.has_tool_support and parser.has_thinking_support
    parser.init(None, None, False)
    out = run_parser(
        parser, ['<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "a", "parameters": {}}']
    )
    assert out == ("", "", [{"id": "0", "function": {"index": 0, "name": "a", "arguments": {}}}])


# Laguna (laguna, poolside-v1).

LAGUNA_RENDER = _load(RENDER / "laguna.json")


@pytest.mark.parametrize(
    "case", LAGUNA_RENDER["differs_from_jinja"], ids=case_names(LAGUNA_RENDER["differs_from_jinja"])
)
def test_laguna_renderer_known_jinja_difference(case):
    """The v2 template closes a last assistant turn and opens another; Ollama continues it."""
    prompt = render(case["renderer"], case["messages"], case["tools"], case["think"])
    assert prompt != case["jinja"]
    assert case["jinja"].startswith(prompt)


LAGUNA = _load(PARSE / "laguna.json")


def _laguna(case: dict[str, Any]) -> BuiltinParser:
    parser = parser_for_name(case["parser"])
    assert parser is not None
    parser.init(case["tools"], case["last_message"], case["think"])
    return parser


@pytest.mark.parametrize("case", LAGUNA["cases"], ids=case_names(LAGUNA["cases"]))
def test_laguna_parser(case):
    want = (case["content"], case["thinking"], case["tool_calls"])
    for pieces in _splits(case["chunks"]):
        assert run_parser(_laguna(case), pieces) == want, pieces


STEPPED = [c for c in LAGUNA["cases"] if "steps" in c]


@pytest.mark.parametrize("case", STEPPED, ids=case_names(STEPPED))
def test_laguna_parser_steps(case):
    """What each piece gives as it arrives (the last one with the output's end)."""
    parser = _laguna(case)
    for i, (piece, step) in enumerate(zip(case["chunks"], case["steps"], strict=True)):
        content, thinking, calls = parser.add(piece)
        if i == len(case["chunks"]) - 1:
            c, t, k = parser.finish()
            content, thinking, calls = content + c, thinking + t, calls + k
        got = (content, thinking, [call.to_wire() for call in calls])
        assert got == (step["content"], step["thinking"], step["tool_calls"]), piece


@pytest.mark.parametrize("name", ["laguna", "poolside-v1"])
def test_laguna_parser_support(name):
    parser = parser_for_name(name)
    assert parser is not None
    assert parser.has_tool_support and parser.has_thinking_support


def test_laguna_parser_bad_json_call_is_an_error():
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    parser = parser_for_name("laguna")
    parser.init(tools, None, None)
    with pytest.raises(ParserError):
        run_parser(parser, ['<tool_call>{"name": "get_weather", "arguments": {oops}}</tool_call>'])
    parser.init(tools, None, None)
    with pytest.raises(ParserError):
        run_parser(parser, ['{"name": "get_weather", "arguments": {"a": '])


def test_laguna_parser_braces_that_are_no_call_are_content():
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    text = 'Use {"a": 1} here, and { this } too.\n'
    for pieces in _splits([text]):
        parser = parser_for_name("laguna")
        parser.init(tools, None, None)
        assert run_parser(parser, pieces) == (text.rstrip(), "", []), pieces


def test_lfm2_bare_call_after_thinking_split_anywhere():
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    text = "<think>Need it.</think>\n[get_weather(location='Paris', days=2)]\n"
    call = {
        "function": {
            "index": 0,
            "name": "get_weather",
            "arguments": {"location": "Paris", "days": 2},
        }
    }
    for pieces in _splits([text]):
        parser = parser_for_name("lfm2-thinking")
        assert parser is not None
        parser.init(tools, None, True)
        assert run_parser(parser, pieces) == ("", "Need it.", [call]), pieces
