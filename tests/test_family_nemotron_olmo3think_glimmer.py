"""Nemotron 3 Nano (`nemotron-3-nano`, `nemotron-3.5-nano`), OLMo 3 Think (`olmo3-think`,
`olmo3-32b-think`) and Glimmer (`glimmer`): their renderers and parsers, table-driven from
cases ported from Ollama's tests (tests/data/{renderers,parsers}/*.json; MIT,
tests/data/OLLAMA_LICENSE), each naming the file it came from. The renderer tables that name a
renderer also run in tests/test_renderers.py; every parser stream is also split at every
position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ollama_toolkit.parsers.builtin import BuiltinParser, ParserError
from ollama_toolkit.parsers.glimmer import GlimmerParser, resolve_tool_name, tools_by_name
from ollama_toolkit.parsers.nemotron3nano import Nemotron3NanoParser
from ollama_toolkit.parsers.olmo3_think import Olmo3ThinkParser
from ollama_toolkit.parsers.registry import parser_for_name
from ollama_toolkit.renderers import render, renderer_for_name
from ollama_toolkit.renderers.glimmer import BOS, GlimmerRenderer
from ollama_toolkit.renderers.nemotron3nano import Nemotron3NanoRenderer, Nemotron35NanoRenderer
from ollama_toolkit.renderers.olmo3_think import Olmo3ThinkRenderer, Olmo332BThinkRenderer
from parser_streams import case_names, run_parser, splits

DATA = Path(__file__).parent / "data"


def _load(kind: str, name: str) -> dict[str, Any]:
    table: dict[str, Any] = json.loads((DATA / kind / f"{name}.json").read_text())
    return table


# Renderers.

RENDER_TABLES = [
    _load("renderers", name)
    for name in ("nemotron3nano", "nemotron35nano", "olmo3_think", "olmo3_32b_think")
]
RENDER_CASES = [(t["renderer"], c) for t in RENDER_TABLES for c in t["cases"]]


def test_the_registry_builds_each_flavour():
    cases = {
        "nemotron-3-nano": (Nemotron3NanoRenderer, False),
        "nemotron-3.5-nano": (Nemotron35NanoRenderer, True),
    }
    for name, (cls, v35) in cases.items():
        renderer = renderer_for_name(name)
        assert type(renderer) is cls and renderer.v35 is v35 and renderer.leading_bos == ""
    assert type(renderer_for_name("olmo3-think")) is Olmo3ThinkRenderer
    assert type(renderer_for_name("olmo3-32b-think")) is Olmo332BThinkRenderer
    glimmer = renderer_for_name("glimmer")
    assert isinstance(glimmer, GlimmerRenderer) and glimmer.use_img_tags
    assert glimmer.leading_bos == BOS == "<|begin_of_text|>"


@pytest.mark.parametrize(
    ("name", "case"), RENDER_CASES, ids=[f"{n}-{c['name']}" for n, c in RENDER_CASES]
)
def test_renderer(name, case):
    assert render(name, case["messages"], case["tools"], case["think"]) == case["expected"]


def test_cases_left_out_are_named():
    """The Go cases that hand the renderer in-process values the wire cannot carry are
    listed with the reason, and none of them is among the ported cases."""
    for table in RENDER_TABLES[:2]:
        ported = set(case_names(table["cases"]))
        for case in table["not_ported"]:
            assert case["reason"] and case["name"] not in ported


GLIMMER = _load("renderers", "glimmer")


def _glimmer(case: dict[str, Any]) -> GlimmerRenderer:
    return GlimmerRenderer(use_img_tags=case["use_img_tags"], current_date=GLIMMER["current_date"])


@pytest.mark.parametrize(
    "case",
    GLIMMER["reference"] + GLIMMER["parity"],
    ids=case_names(GLIMMER["reference"] + GLIMMER["parity"]),
)
def test_glimmer_renderer(case):
    got = _glimmer(case).render(case["messages"], case["tools"], case["think"])
    assert got == case["expected"]


@pytest.mark.parametrize("case", GLIMMER["contains"], ids=case_names(GLIMMER["contains"]))
def test_glimmer_renderer_contains(case):
    got = _glimmer(case).render(case["messages"], case["tools"], case["think"])
    for text in case["contains"]:
        assert text in got


def test_glimmer_renderer_dates_the_default_system_message_today(monkeypatch):
    import datetime

    class Day(datetime.date):
        @classmethod
        def today(cls) -> Day:
            return cls(2027, 3, 4)

    monkeypatch.setattr(datetime, "date", Day)
    got = render("glimmer", [{"role": "user", "content": "Hi"}], None, None)
    assert "\nCurrent date: 2027-03-04.\n" in got


def test_glimmer_parser_renderer_tool_loop_round_trip():
    """Each assistant turn, parsed, goes back into the conversation, which renders as the
    publisher's template does."""
    trip = GLIMMER["round_trip"]
    renderer = GlimmerRenderer(use_img_tags=False, current_date=GLIMMER["current_date"])
    messages = list(trip["messages"])
    prompts = [renderer.render(messages, trip["tools"], None)]
    for turn in trip["turns"]:
        parser = parser_for_name("glimmer")
        assert parser is not None
        parser.init(trip["tools"], None, None)
        content, thinking, calls = run_parser(parser, [turn["raw"]])
        assert (content, thinking, calls) == (turn["content"], turn["thinking"], turn["tool_calls"])
        message: dict[str, Any] = {"role": "assistant", "content": content, "thinking": thinking}
        if calls:
            message["tool_calls"] = [{**c, "id": turn["call_id"]} for c in calls]
        messages.append(message)
        if turn.get("result"):
            messages.append(
                {"role": "tool", "tool_call_id": turn["call_id"], "content": turn["result"]}
            )
        prompts.append(renderer.render(messages, trip["tools"], None))
    assert prompts == trip["prompts"]
    assert all(p.endswith("<|start|>assistant") for p in prompts)


# Parsers.


NEMOTRON = _load("parsers", "nemotron3nano")
OLMO3_THINK = _load("parsers", "olmo3_think")
# Both Nemotron names use the one parser.
STREAM_CASES = [
    (name, case)
    for table, names in (
        (NEMOTRON, ("nemotron-3-nano", "nemotron-3.5-nano")),
        (OLMO3_THINK, ("olmo3-think",)),
    )
    for name in names
    for case in table["cases"]
]


@pytest.mark.parametrize(
    ("name", "case"), STREAM_CASES, ids=[f"{n}-{c['name']}" for n, c in STREAM_CASES]
)
def test_thinking_parser(name, case):
    def run(pieces: list[str]) -> tuple[str, str, list[dict[str, Any]]]:
        parser = parser_for_name(name)
        assert parser is not None
        parser.init(case["tools"], case["last_message"], case["think"])
        return run_parser(parser, pieces)

    want = (case["content"], case["thinking"], case["tool_calls"])
    assert run(case["chunks"]) == want
    for pieces in splits("".join(case["chunks"])):
        assert run(pieces) == want, pieces


def test_parser_capabilities():
    nemotron, olmo, glimmer = Nemotron3NanoParser(), Olmo3ThinkParser(), GlimmerParser()
    assert (nemotron.has_tool_support, nemotron.has_thinking_support) == (True, True)
    assert nemotron.preserved_tokens == ("<think>", "</think>", "<tool_call>", "</tool_call>")
    assert (olmo.has_tool_support, olmo.has_thinking_support) == (False, True)
    assert olmo.preserved_tokens == ("</think>",)
    assert (glimmer.has_tool_support, glimmer.has_thinking_support) == (True, True)
    assert glimmer.preserved_tokens == ("<|start|>", "<|message|>", "<|eom|>", "<|eot|>")
    for name, cls in (
        ("nemotron-3-nano", Nemotron3NanoParser),
        ("nemotron-3.5-nano", Nemotron3NanoParser),
        ("olmo3-think", Olmo3ThinkParser),
        ("glimmer", GlimmerParser),
    ):
        assert type(parser_for_name(name)) is cls


def test_parsers_return_the_tools_they_are_given():
    tools = [{"type": "function", "function": {"name": "test_tool"}}]
    for parser in (Nemotron3NanoParser(), Olmo3ThinkParser(), GlimmerParser()):
        assert parser.init(tools, None, None) == tools


def test_nemotron_parser_told_again_starts_over():
    """From model/parsers/nemotron3nano_test.go (reinit clears buffered state)."""
    parser = Nemotron3NanoParser()
    parser.init(None, None, True)
    parser.add("thinking in progress")
    parser.init(None, None, False)
    assert run_parser(parser, ["content only"]) == ("content only", "", [])


GLIMMER_PARSER = _load("parsers", "glimmer")
GLIMMER_CASES = GLIMMER_PARSER["cases"]


def _glimmer_parser(case: dict[str, Any]) -> BuiltinParser:
    parser = parser_for_name("glimmer")
    assert parser is not None
    parser.init(case["tools"], None, case["think"])
    return parser


@pytest.mark.parametrize("case", GLIMMER_CASES, ids=case_names(GLIMMER_CASES))
def test_glimmer_parser(case):
    text = "".join(case["chunks"])
    if "error" in case:
        for pieces in splits(text):
            with pytest.raises(ParserError, match=case["error"]):
                run_parser(_glimmer_parser(case), pieces)
        return
    want = (case["content"], case["thinking"], case["tool_calls"])
    assert run_parser(_glimmer_parser(case), case["chunks"]) == want
    for pieces in splits(text):
        assert run_parser(_glimmer_parser(case), pieces) == want, pieces


@pytest.mark.parametrize(
    "case",
    [c for c in GLIMMER_CASES if "steps" in c],
    ids=case_names([c for c in GLIMMER_CASES if "steps" in c]),
)
def test_glimmer_parser_steps(case):
    """What each piece of output sends at once (a split end tag is held back, not sent)."""
    parser = _glimmer_parser(case)
    for i, step in enumerate(case["steps"]):
        content, _, _ = parser.add(step["input"])
        if i == len(case["steps"]) - 1:
            content += parser.finish()[0]
        assert content == step["content"]


@pytest.mark.parametrize(
    "case", GLIMMER_PARSER["resolve"]["cases"], ids=case_names(GLIMMER_PARSER["resolve"]["cases"])
)
def test_glimmer_tool_name_resolution(case):
    names = GLIMMER_PARSER["resolve"]["tools"]
    tools = tools_by_name([{"type": "function", "function": {"name": n}} for n in names])
    assert resolve_tool_name(tools, case["name"]) == (case["want"], case["ok"])


@pytest.mark.parametrize("seed", GLIMMER_PARSER["fuzz"]["seeds"])
def test_glimmer_parser_fuzz_seeds(seed):
    """Ollama's fuzz property on its seeds, cut everywhere: only declared tools are called,
    with increasing indexes (output the parser rejects may raise)."""
    case = {"tools": GLIMMER_PARSER["fuzz"]["tools"], "think": None}
    for pieces in splits(seed):
        try:
            _, _, calls = run_parser(_glimmer_parser(case), pieces)
        except ParserError:
            continue
        assert all(c["function"]["name"] == "echo" for c in calls)
        indexes = [c["function"]["index"] for c in calls]
        assert indexes == sorted(set(indexes))
