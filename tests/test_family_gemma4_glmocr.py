"""Gemma 4's and GLM-OCR's renderers and parsers, table-driven from cases ported from Ollama's
tests (tests/data/{renderers,parsers}/{gemma4,gemma4_large,glmocr}.json; MIT,
tests/data/OLLAMA_LICENSE), each naming the file it came from; every parser stream also split
at every position. tests/test_renderers.py runs the data files' `cases` tables too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ollama_toolkit.parsers import gemma4 as gemma4_parser
from ollama_toolkit.parsers.builtin import BuiltinParser, ParserError
from ollama_toolkit.parsers.registry import parser_for_name
from ollama_toolkit.renderers import render, renderer_for_name
from ollama_toolkit.renderers.glmocr import GlmOcrRenderer
from parser_streams import case_names, run_parser

DATA = Path(__file__).parent / "data"
GEMMA4 = json.loads((DATA / "renderers" / "gemma4.json").read_text())
GEMMA4_LARGE = json.loads((DATA / "renderers" / "gemma4_large.json").read_text())
GLMOCR = json.loads((DATA / "renderers" / "glmocr.json").read_text())
GEMMA4_PARSER = json.loads((DATA / "parsers" / "gemma4.json").read_text())


# Renderers.


@pytest.mark.parametrize("case", GEMMA4["cases"], ids=case_names(GEMMA4["cases"]))
def test_gemma4_small(case):
    """`gemma4-small` is `gemma4` (whose cases test_renderers.py runs) by another name."""
    got = render("gemma4-small", case["messages"], case["tools"], case["think"])
    assert got == case["expected"]


@pytest.mark.parametrize("case", GEMMA4["variants"], ids=case_names(GEMMA4["variants"]))
def test_gemma4_variants_generation_prompt(case):
    got = render(case["renderer"], case["messages"], case["tools"], case["think"])
    assert got == case["expected"]


@pytest.mark.parametrize("case", GEMMA4["contains"], ids=case_names(GEMMA4["contains"]))
def test_gemma4_contains(case):
    got = render("gemma4", case["messages"], case["tools"], case["think"])
    assert all(text in got for text in case["contains"])
    assert not any(text in got for text in case["not_contains"])


def test_gemma4_large_canonical_continuation_never_closes_a_turn_early():
    case = next(c for c in GEMMA4_LARGE["cases"] if c["name"].startswith("canonical"))
    got = render("gemma4-large", case["messages"], case["tools"], None)
    assert "First.<turn|>\n<|tool_call>" not in got
    assert "Checking.<turn|>\nDone." not in got


@pytest.mark.parametrize(
    ("name", "bos"),
    [("gemma4", "<bos>"), ("gemma4-small", "<bos>"), ("gemma4-large", "<bos>"), ("glm-ocr", "")],
)
def test_leading_bos(name, bos):
    renderer = renderer_for_name(name)
    assert renderer is not None
    assert renderer.leading_bos == bos


def test_gemma4_images_are_tagged_across_the_conversation():
    """Ours: images of user turns and of tool results are numbered in order."""
    messages = [
        {"role": "user", "content": "Look", "images": ["a"]},
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "crop", "arguments": {"x": 1.5}}}],
        },
        {"role": "tool", "tool_name": "crop", "content": "cropped", "images": ["b"]},
    ]
    assert render("gemma4", messages, None, None) == (
        "<bos><|turn>user\n[img-0] Look<turn|>\n<|turn>model\n"
        "<|tool_call>call:crop{x:1.5}<tool_call|>"
        '<|tool_response>response:crop{value:<|"|>[img-1] cropped<|"|>}<tool_response|>'
    )


@pytest.mark.parametrize(
    "case", GLMOCR["without_image_tags"], ids=case_names(GLMOCR["without_image_tags"])
)
def test_glm_ocr_without_image_tags(case):
    got = GlmOcrRenderer(use_img_tags=False).render(case["messages"], case["tools"], None)
    assert got == case["expected"]


_GLM_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string", "description": "City"}},
        },
    },
}


def test_glm_ocr_tools_calls_and_results():
    """Ours, from glmocr.go: GLM-4.7's tools block, calls and results on their own lines."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": " Checking. ",
            "thinking": " Need it. ",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}}
            ],
        },
        {"role": "tool", "content": "sunny"},
        {"role": "tool", "content": "warm"},
    ]
    got = render("glm-ocr", messages, [_GLM_TOOL], None)
    assert got.startswith("[gMASK]<sop><|system|>\n# Tools\n\n")
    assert '{"type": "function", "function": {"name": "get_weather"' in got
    assert got.endswith(
        "<tool_call>{function-name}<arg_key>{arg-key-1}</arg_key><arg_value>{arg-value-1}"
        "</arg_value><arg_key>{arg-key-2}</arg_key><arg_value>{arg-value-2}</arg_value>..."
        "</tool_call><|system|>\nBe brief.\n<|user|>\nWeather?"
        "<|assistant|>\n<think>Need it.</think>\nChecking."
        "\n<tool_call>get_weather<arg_key>city</arg_key><arg_value>Oslo</arg_value>"
        "<arg_key>days</arg_key><arg_value>2</arg_value></tool_call>\n"
        "<|observation|>\n<tool_response>\nsunny\n</tool_response>\n"
        "\n<tool_response>\nwarm\n</tool_response>\n<|assistant|>\n"
    )


@pytest.mark.parametrize(
    ("think", "want"),
    [
        (None, "[gMASK]<sop><|user|>\nHi<|user|>\nNo /nothink<|assistant|>\n"),
        (True, "[gMASK]<sop><|user|>\nHi<|user|>\nNo /nothink<|assistant|>\n"),
        (
            False,
            "[gMASK]<sop><|user|>\nHi/nothink<|user|>\nNo /nothink<|assistant|>\n<think></think>\n",
        ),
    ],
)
def test_glm_ocr_thinking_switch(think, want):
    """Ours, from glmocr.go: only an explicit `think: false` turns thinking off."""
    messages = [{"role": "user", "content": "Hi"}, {"role": "user", "content": "No /nothink"}]
    assert render("glm-ocr", messages, None, think) == want


# Parsers.


def _arg_orders(calls: list[dict[str, Any]]) -> list[list[str]]:
    return [list(c["function"]["arguments"]) for c in calls]


@pytest.mark.parametrize("case", GEMMA4_PARSER["cases"], ids=case_names(GEMMA4_PARSER["cases"]))
def test_gemma4_parser(case):
    def fresh() -> BuiltinParser:
        parser = parser_for_name(case["parser"])
        assert parser is not None
        parser.init(case["tools"], case["last_message"], case["think"])
        return parser

    want = (case["content"], case["thinking"], case["tool_calls"])
    got = run_parser(fresh(), case["chunks"])
    assert got == want
    # Arguments in the order the model wrote them, as Ollama's ordered map keeps them.
    assert _arg_orders(got[2]) == _arg_orders(case["tool_calls"])
    text = "".join(case["chunks"])
    assert run_parser(fresh(), list(text)) == want
    for i in range(len(text) + 1):
        assert run_parser(fresh(), [text[:i], text[i:]]) == want, i


CALLS = GEMMA4_PARSER["tool_calls"]


@pytest.mark.parametrize("case", CALLS, ids=case_names(CALLS))
def test_gemma4_tool_call(case):
    if case["want"] is None:
        with pytest.raises(ParserError):
            gemma4_parser.parse_tool_call(case["content"], case["tools"] or [])
        return
    call = gemma4_parser.parse_tool_call(case["content"], case["tools"] or []).to_wire()
    assert call == case["want"]
    assert list(call["function"]["arguments"]) == list(case["want"]["function"]["arguments"])


ARGS = GEMMA4_PARSER["args_to_json"]


@pytest.mark.parametrize("case", ARGS, ids=case_names(ARGS))
def test_gemma4_args_to_json(case):
    assert gemma4_parser.args_to_json(case["input"]) == case["expected"]


REPAIRS = [(kind, case) for kind, cases in GEMMA4_PARSER["repairs"].items() for case in cases]


@pytest.mark.parametrize(("kind", "case"), REPAIRS, ids=[f"{k}-{c['name']}" for k, c in REPAIRS])
def test_gemma4_repair(kind, case):
    repair = getattr(gemma4_parser, f"repair_{kind}")
    assert repair(case["input"]) == case["expected"]


RAW = GEMMA4_PARSER["raw_terminal_string_value"]


@pytest.mark.parametrize("case", RAW, ids=case_names(RAW))
def test_gemma4_repair_raw_terminal_string_value(case):
    got = gemma4_parser.repair_raw_terminal_string_value(
        case["input"], case["tool_name"], case["tools"] or []
    )
    assert got == case["expected"]


CANDIDATES = GEMMA4_PARSER["repair_candidates"]


@pytest.mark.parametrize("case", CANDIDATES, ids=case_names(CANDIDATES))
def test_gemma4_repair_candidates(case):
    got = gemma4_parser.repair_candidates(case["input"], case["tool_name"], case["tools"] or [])
    assert got == case["expected"]


@pytest.mark.parametrize("case", GEMMA4_PARSER["preserved_tokens"])
def test_gemma4_preserved_tokens(case):
    parser = parser_for_name(case["parser"])
    assert parser is not None
    assert set(case["want"]) <= set(parser.preserved_tokens)


def test_gemma4_parser_support():
    """gemma4_test.go's HasToolSupport/HasThinkingSupport, by Ollama's parser names."""
    thinking, plain = parser_for_name("gemma4"), parser_for_name("gemma4-no-thinking")
    assert thinking is not None and plain is not None
    assert thinking.has_tool_support and plain.has_tool_support
    assert thinking.has_thinking_support and not plain.has_thinking_support


def test_gemma4_parser_drops_thinking_when_off_and_counts_calls_again_after_init():
    """Ours: a channel read with thinking off is dropped; `init` restarts call indexes."""
    parser = parser_for_name("gemma4-no-thinking")
    assert parser is not None
    parser.init(None, None, True)
    call = '<|tool_call>call:f{a:<|"|>x<|"|>}<tool_call|>'
    want = {"function": {"index": 0, "name": "f", "arguments": {"a": "x"}}}
    assert run_parser(parser, ["<|channel>thought\nhmm<channel|>Hi", call]) == ("Hi", "", [want])
    parser.init(None, None, None)
    assert run_parser(parser, [call]) == ("", "", [want])


def test_gemma4_parser_drops_an_unreadable_call():
    """Ours: as Ollama (a warning, no error), a call that cannot be read is dropped."""
    parser = parser_for_name("gemma4")
    assert parser is not None
    parser.init(None, None, None)
    assert run_parser(parser, ["<|tool_call>oops{a:1}<tool_call|>Done."]) == ("Done.", "", [])


# GLM-OCR's parser (Ollama has no tests of its own for it).


def _glm_ocr(tools: list[dict[str, Any]] | None, think: bool | None) -> BuiltinParser:
    parser = parser_for_name("glm-ocr")
    assert parser is not None
    parser.init(tools, None, think)
    return parser


@pytest.mark.parametrize("think", [None, True, False])
def test_glm_ocr_parser(think):
    text = (
        "Reading.\n<tool_call>get_weather<arg_key>city</arg_key><arg_value>Oslo</arg_value>"
        "</tool_call>"
    )
    call = {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}}}
    want = ("Reading.", "", [call])
    assert run_parser(_glm_ocr([_GLM_TOOL], think), [text]) == want
    for i in range(len(text) + 1):
        assert run_parser(_glm_ocr([_GLM_TOOL], think), [text[:i], text[i:]]) == want, i


def test_glm_ocr_parser_reads_a_think_block_the_model_opens():
    text = "<think>plan</think>Answer"
    for i in range(len(text) + 1):
        assert run_parser(_glm_ocr(None, None), [text[:i], text[i:]]) == ("Answer", "plan", []), i


def test_glm_ocr_parser_support():
    parser = parser_for_name("glm-ocr")
    assert parser is not None
    assert parser.has_tool_support and not parser.has_thinking_support
    assert {"<tool_call>", "</tool_call>", "<arg_key>", "<arg_value>"} <= set(
        parser.preserved_tokens
    )
