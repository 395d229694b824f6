"""Qwen3.5, Qwen3.8, Ornith and Qwen3-VL: their renderers (renderers/qwen35.py, qwen3vl.py) and
parsers (parsers/qwen35.py, qwen3vl.py), table-driven from cases ported from Ollama's tests
(tests/data/renderers/{qwen35,qwen38,ornith,qwen3vl_instruct,qwen3vl_thinking}.json and
tests/data/parsers/{qwen35,qwen38,qwen3vl}.json; MIT, tests/data/OLLAMA_LICENSE), each naming
the file it came from. The renderers' plain cases also run in tests/test_renderers.py; here are
those that need the renderer built with other flags (Ollama's tests build the structs
directly), the ones that check parts of the prompt, and the parsers, every stream also split
at every position."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from ollama_toolkit.parsers.builtin import BuiltinParser, ParserError
from ollama_toolkit.parsers.qwen3vl import Qwen3VLInstructParser, parse_json_tool_call
from ollama_toolkit.parsers.registry import parser_for_name
from ollama_toolkit.renderers import RENDERERS, render
from ollama_toolkit.renderers.base import Renderer, RendererError
from ollama_toolkit.renderers.qwen3coder import format_argument
from ollama_toolkit.renderers.qwen3vl import Qwen3VLRenderer
from ollama_toolkit.renderers.qwen35 import Qwen38Renderer, qwen38_reasoning_instructions
from parser_streams import case_names, run_parser

RENDERER_DATA = Path(__file__).parent / "data" / "renderers"
PARSER_DATA = Path(__file__).parent / "data" / "parsers"
RENDERER_TABLES = {
    name: json.loads((RENDERER_DATA / f"{name}.json").read_text())
    for name in ("qwen35", "qwen38", "ornith", "qwen3vl_instruct", "qwen3vl_thinking")
}
QWEN38 = RENDERER_TABLES["qwen38"]
QWEN3VL_THINKING = RENDERER_TABLES["qwen3vl_thinking"]
QWEN35_PARSER = json.loads((PARSER_DATA / "qwen35.json").read_text())["cases"]
QWEN38_PARSER = json.loads((PARSER_DATA / "qwen38.json").read_text())["cases"]
QWEN3VL_PARSER = json.loads((PARSER_DATA / "qwen3vl.json").read_text())


def _renderer(name: str, config: dict[str, bool]) -> Renderer:
    """The renderer registered as `name`, built with Ollama's flags in `config`."""
    module, factory = RENDERERS[name].split(":")
    make = getattr(importlib.import_module(f"ollama_toolkit.renderers.{module}"), factory)
    renderer: Renderer = make(**config)
    return renderer


# Renderers.

CONFIGURED = [
    (table["renderer"], case)
    for table in RENDERER_TABLES.values()
    for case in table.get("configured", [])
]
CHECKS = [case for table in RENDERER_TABLES.values() for case in table.get("checks", [])]


@pytest.mark.parametrize(
    ("name", "case"), CONFIGURED, ids=[f"{n}-{c['name']}" for n, c in CONFIGURED]
)
def test_configured_renderer(name, case):
    got = _renderer(name, case["config"]).render(case["messages"], case["tools"], case["think"])
    assert got == case["expected"]


@pytest.mark.parametrize("case", CHECKS, ids=case_names(CHECKS))
def test_renderer_checks(case):
    renderer = _renderer(case["renderer"], case["config"])
    got = renderer.render(case["messages"], case["tools"], case["think"])
    for text in case["contains"]:
        assert text in got
    for text in case["not_contains"]:
        assert text not in got
    if case["suffix"] is not None:
        assert got.endswith(case["suffix"])
    positions = [got.find(text) for text in case["in_order"]]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_registered_flags():
    """Ollama's registry: which renderers think, and which write an empty block for no-think."""
    hello = [{"role": "user", "content": "Hello"}]
    assert render("qwen3-vl-instruct", hello, None, None).endswith("<|im_start|>assistant\n")
    assert render("qwen3-vl-thinking", hello, None, False).endswith("<|im_start|>assistant\n")
    for name in ("qwen3.5", "qwen3.8", "ornith"):
        prompt = render(name, hello, None, False)
        assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n"), name
    # With image tags, as Ollama's server has its renderers write them.
    image = [{"role": "user", "content": "Describe.", "images": ["AQ=="]}]
    for name in ("qwen3.5", "qwen3.8", "ornith", "qwen3-vl-instruct", "qwen3-vl-thinking"):
        assert "<|im_start|>user\n[img-0] Describe.<|im_end|>" in render(name, image, None, None)


@pytest.mark.parametrize(
    "case", QWEN38["reasoning_instructions"], ids=case_names(QWEN38["reasoning_instructions"])
)
def test_qwen38_reasoning_instructions(case):
    assert qwen38_reasoning_instructions(case["think"]) == case["want"]


def test_qwen38_rejects_unknown_effort():
    with pytest.raises(RendererError, match="invalid thinking value extreme"):
        render("qwen3.8", [{"role": "user", "content": "Hello"}], None, "extreme")


@pytest.mark.parametrize("case", QWEN38["errors"], ids=case_names(QWEN38["errors"]))
def test_qwen38_rejects_invalid_transcripts(case):
    with pytest.raises(RendererError) as info:
        Qwen38Renderer().render(case["messages"], None, None)
    assert str(info.value) == case["error"]


@pytest.mark.parametrize(
    "case", QWEN3VL_THINKING["format_argument"], ids=case_names(QWEN3VL_THINKING["format_argument"])
)
def test_tool_call_argument(case):
    """Qwen3.5's calls write their arguments as Qwen3-Coder's do."""
    assert format_argument(case["arg"]) == case["expected"]


def test_qwen3vl_tool_call_arguments_with_spaces():
    """A call's arguments keep their order; objects inside them are in key order."""
    messages = [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "function": {
                        "name": "f",
                        "arguments": {"z": {"b": 1, "a": [1.5, 2.0]}, "a": "x, y: z"},
                    }
                }
            ],
        },
    ]
    got = Qwen3VLRenderer().render(messages, None, None)
    assert got.endswith(
        '<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": '
        '{"z": {"a": [1.5, 2], "b": 1}, "a": "x, y: z"}}\n</tool_call>'
    )


# Parsers: cases of add() steps, each step's content, thinking and calls (the last step is
# the end of the output).

PARSER_CASES = [
    *[("qwen3.5", c) for c in QWEN35_PARSER],
    *[("ornith", c) for c in QWEN35_PARSER],
    *[("qwen3.5", c) for c in QWEN38_PARSER],
    *[(c["parser"], c) for c in QWEN3VL_PARSER["cases"]],
]
PARSER_IDS = [f"{n}-{c['name']}" for n, c in PARSER_CASES]


def _fresh(name: str, case: dict[str, Any]) -> BuiltinParser:
    parser = parser_for_name(name)
    assert parser is not None
    parser.init(case["tools"], case["last_message"], case["think"])
    return parser


@pytest.mark.parametrize(("name", "case"), PARSER_CASES, ids=PARSER_IDS)
def test_parser_steps(name, case):
    parser = _fresh(name, case)
    for step in case["steps"]:
        content, thinking, calls = parser.add(step["input"])
        if step["done"]:
            c, t, more = parser.finish()
            content, thinking, calls = content + c, thinking + t, calls + more
        assert (content, thinking) == (step.get("content", ""), step.get("thinking", ""))
        assert [call.to_wire() for call in calls] == step.get("tool_calls", [])


@pytest.mark.parametrize(("name", "case"), PARSER_CASES, ids=PARSER_IDS)
def test_parser_split_at_every_position(name, case):
    text = "".join(step["input"] for step in case["steps"])
    want = (
        "".join(s.get("content", "") for s in case["steps"]),
        "".join(s.get("thinking", "") for s in case["steps"]),
        [c for s in case["steps"] for c in s.get("tool_calls", [])],
    )
    assert run_parser(_fresh(name, case), list(text)) == want
    for i in range(len(text) + 1):
        assert run_parser(_fresh(name, case), [text[:i], text[i:]]) == want, i


def test_parser_capabilities():
    for name in ("qwen3.5", "ornith", "qwen3-vl-thinking"):
        parser = parser_for_name(name)
        assert parser is not None and parser.has_tool_support and parser.has_thinking_support
    instruct = parser_for_name("qwen3-vl-instruct")
    assert instruct is not None and instruct.has_tool_support
    assert not instruct.has_thinking_support
    qwen35 = parser_for_name("qwen3.5")
    assert qwen35 is not None
    assert qwen35.preserved_tokens == ("<think>", "</think>", "<tool_call>", "</tool_call>")
    assert instruct.preserved_tokens == ("</think>", "<tool_call>", "</tool_call>")


def test_qwen35_think_levels_and_parse_errors():
    """A thinking level thinks; a call without a function is an error, as in Ollama."""
    parser = parser_for_name("qwen3.5")
    assert parser is not None
    parser.init(None, None, "low")
    assert parser.add("Hmm</think>Hi") == ("Hi", "Hmm", [])
    parser.init(None, None, False)
    with pytest.raises(ParserError):
        parser.add("<tool_call>no function here</tool_call>")


# Qwen3-VL's events: what each piece of output completes, as Ollama's tests check them.

EVENT_CASES = QWEN3VL_PARSER["events"]


def _vl_parser(case: dict[str, Any]) -> Qwen3VLInstructParser:
    parser = parser_for_name(case["parser"])
    assert isinstance(parser, Qwen3VLInstructParser)
    parser.init([], case["last_message"], None)
    return parser


def _merged(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Events with neighbouring text of the same kind joined (calls stay apart)."""
    out: list[tuple[str, str]] = []
    for kind, value in events:
        if out and kind != "tool_call" and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + value)
        else:
            out.append((kind, value))
    return out


@pytest.mark.parametrize("case", EVENT_CASES, ids=case_names(EVENT_CASES))
def test_qwen3vl_events(case):
    parser = _vl_parser(case)
    for step in case["steps"]:
        assert parser.events(step["input"]) == [tuple(e) for e in step["events"]], step["input"]


@pytest.mark.parametrize("case", EVENT_CASES, ids=case_names(EVENT_CASES))
def test_qwen3vl_events_split_at_every_position(case):
    text = "".join(step["input"] for step in case["steps"])
    want = _merged([tuple(e) for step in case["steps"] for e in step["events"]])

    def run(pieces: list[str]) -> list[tuple[str, str]]:
        parser = _vl_parser(case)
        return _merged([e for piece in pieces for e in parser.events(piece)])

    assert run(list(text)) == want
    for i in range(len(text) + 1):
        assert run([text[:i], text[i:]]) == want, i


@pytest.mark.parametrize(
    "case", QWEN3VL_PARSER["tool_calls"], ids=case_names(QWEN3VL_PARSER["tool_calls"])
)
def test_qwen3vl_tool_call(case):
    assert parse_json_tool_call(case["raw"]).to_wire() == case["want"]


def test_qwen3vl_tool_call_errors():
    assert parse_json_tool_call("null").to_wire() == {"function": {"name": "", "arguments": {}}}
    for raw in ("", "not json", '{"name": 1}', '{"name": "f", "arguments": [1]}', "[]"):
        with pytest.raises(ParserError):
            parse_json_tool_call(raw)


@pytest.mark.parametrize("case", QWEN3VL_PARSER["states"], ids=case_names(QWEN3VL_PARSER["states"]))
def test_qwen3vl_initial_state(case):
    assert _vl_parser(case).state == case["want"]
