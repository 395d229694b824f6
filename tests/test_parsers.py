"""The built-in output parsers (parsers/builtin.py and its modules), table-driven from cases
ported from Ollama's tests (tests/data/parsers/*.json; MIT, tests/data/OLLAMA_LICENSE), each
naming the file it came from; every stream also split at every position."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ollama_toolkit.parsers.builtin import BuiltinParser, ParserError
from ollama_toolkit.parsers.cogito import parse_call as parse_cogito_call
from ollama_toolkit.parsers.deepseek3 import parse_call as parse_deepseek3_call
from ollama_toolkit.parsers.glm47 import parse_glm_call
from ollama_toolkit.parsers.harmony import (
    FunctionNameMap,
    HarmonyStream,
    Header,
    parse_header,
    valid_chars,
)
from ollama_toolkit.parsers.ministral import MinistralParser
from ollama_toolkit.parsers.ministral import json_end as ministral_json_end
from ollama_toolkit.parsers.olmo3 import parse_calls as olmo3_calls
from ollama_toolkit.parsers.olmo3 import parse_value as olmo3_value
from ollama_toolkit.parsers.qwen3coder import Qwen3CoderParser, parse_tool_call, parse_value
from ollama_toolkit.parsers.registry import parser_for_name, parser_names
from parser_streams import case_names, run_parser


def _named(
    name: str,
    tools: list[dict[str, Any]] | None = None,
    last_message: dict[str, Any] | None = None,
    think: bool | str | None = None,
) -> Callable[[], BuiltinParser]:
    """A maker of fresh `name` parsers, each set up with `init(tools, last_message, think)`."""

    def fresh() -> BuiltinParser:
        parser = parser_for_name(name)
        assert parser is not None
        parser.init(tools, last_message, think)
        return parser

    return fresh


def _assert_chunks_and_splits(
    fresh: Callable[[], BuiltinParser],
    chunks: list[str],
    want: tuple[str, str, list[dict[str, Any]]],
    whole: bool = False,
) -> None:
    """`chunks` as they are, their text a character at a time (with `whole`, in one piece) and
    cut in two at every position, each fed to a fresh parser, all parse to `want`."""
    assert run_parser(fresh(), chunks) == want
    text = "".join(chunks)
    assert run_parser(fresh(), [text] if whole else list(text)) == want
    for i in range(len(text) + 1):
        assert run_parser(fresh(), [text[:i], text[i:]]) == want, i


DATA = Path(__file__).parent / "data" / "parsers"
HARMONY = json.loads((DATA / "harmony.json").read_text())


def _ids(cases: list[dict[str, Any]], key: str = "in") -> list[str]:
    return [f"{i}-{str(c.get('desc', c.get(key)))[:40]}" for i, c in enumerate(cases)]


def _events(raw: list[list[Any]]) -> list[tuple[Any, ...]]:
    return [("header", Header(*e[1:])) if e[0] == "header" else tuple(e) for e in raw]


def _tools(names: list[str]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": n}} for n in names]


def test_the_registry_knows_ollamas_names():
    assert {"harmony", "passthrough"} <= set(parser_names())
    assert parser_for_name("no-such-parser") is None
    assert parser_for_name("passthrough").add("<|x|>") == ("<|x|>", "", [])


@pytest.mark.parametrize("case", HARMONY["header"], ids=_ids(HARMONY["header"]))
def test_harmony_header(case):
    assert parse_header(case["in"]) == Header(*case["want"])


@pytest.mark.parametrize("case", HARMONY["first_header"], ids=_ids(HARMONY["first_header"]))
def test_harmony_first_header_event(case):
    stream = HarmonyStream()
    if case["implicit_start"]:
        stream.add_implicit_start()
    headers = [e[1] for e in stream.add(case["in"]) if e[0] == "header"]
    assert headers[0] == Header(*case["want"])


@pytest.mark.parametrize("case", HARMONY["events"], ids=_ids(HARMONY["events"]))
def test_harmony_events(case):
    stream = HarmonyStream()
    if case["implicit_start"]:
        stream.add_implicit_start()
    assert stream.add(case["in"]) == _events(case["want"])


@pytest.mark.parametrize("case", HARMONY["event_streams"], ids=_ids(HARMONY["event_streams"]))
def test_harmony_event_streams(case):
    stream = HarmonyStream()
    if case["implicit_start"]:
        stream.add_implicit_start()
    for piece, want in case["steps"]:
        assert stream.add(piece) == _events(want), piece


@pytest.mark.parametrize("case", HARMONY["event_streams"], ids=_ids(HARMONY["event_streams"]))
def test_harmony_events_split_anywhere(case):
    """The events of a stream, merged, are the same wherever the text is cut."""
    text = "".join(piece for piece, _ in case["steps"])

    def merged(pieces: list[str]) -> list[tuple[Any, ...]]:
        stream = HarmonyStream()
        if case["implicit_start"]:
            stream.add_implicit_start()
        out: list[tuple[Any, ...]] = []
        for piece in pieces:
            for event in stream.add(piece):
                if event[0] == "content" and out and out[-1][0] == "content":
                    out[-1] = ("content", out[-1][1] + event[1])
                else:
                    out.append(event)
        return out

    whole = merged([text])
    for i in range(len(text) + 1):
        assert merged([text[:i], text[i:]]) == whole, i
    assert merged(list(text)) == whole


@pytest.mark.parametrize("case", HARMONY["valid_chars"], ids=_ids(HARMONY["valid_chars"]))
def test_harmony_function_name_valid_chars(case):
    assert valid_chars(case["in"]) == case["want"]


@pytest.mark.parametrize("case", HARMONY["convert_and_add"], ids=_ids(HARMONY["convert_and_add"]))
def test_harmony_function_names_made_unique(case):
    names = FunctionNameMap()
    for name, want in zip(case["in"], case["want"], strict=True):
        assert names.convert_and_add(name) == want
        assert names.to_harmony[name] == want
        assert names.to_user[want] == name


@pytest.mark.parametrize("case", HARMONY["handler_streams"], ids=_ids(HARMONY["handler_streams"]))
def test_harmony_parser_steps(case):
    parser = parser_for_name("harmony")
    assert parser is not None
    parser.init(_tools(case["tools"]), {"role": "user", "content": "Hello"}, None)
    calls: list[dict[str, Any]] = []
    for step in case["steps"]:
        content, thinking, got = parser.add(step["input"])
        if step["done"]:
            c, t, more = parser.finish()
            content, thinking, got = content + c, thinking + t, got + more
        assert (content, thinking) == (step.get("content", ""), step.get("thinking", ""))
        calls += [call.to_wire() for call in got]
        if step["done"]:
            want = [c for s in case["steps"] for c in s.get("tool_calls", [])]
            assert calls == want


@pytest.mark.parametrize("case", HARMONY["handler_streams"], ids=_ids(HARMONY["handler_streams"]))
def test_harmony_parser_split_at_every_position(case):
    text = "".join(step["input"] for step in case["steps"])
    want = (
        "".join(s.get("content", "") for s in case["steps"]),
        "".join(s.get("thinking", "") for s in case["steps"]),
        [c for s in case["steps"] for c in s.get("tool_calls", [])],
    )

    fresh = _named("harmony", _tools(case["tools"]))

    assert run_parser(fresh(), [text]) == want
    assert run_parser(fresh(), list(text)) == want
    for i in range(len(text) + 1):
        assert run_parser(fresh(), [text[:i], text[i:]]) == want, i
        for j in range(i, len(text) + 1, 7):
            assert run_parser(fresh(), [text[:i], text[i:j], text[j:]]) == want, (i, j)


def test_harmony_renamed_tools_map_back():
    parser = parser_for_name("harmony")
    assert parser is not None
    shown = parser.init(_tools(["get-weather", "get weather"]), None, None)
    assert [t["function"]["name"] for t in shown or ()] == ["get_weather", "get_weather_2"]
    out = run_parser(
        parser,
        ['<|channel|>commentary to=functions.get_weather_2 <|constrain|>json<|message|>{"a":1}'],
    )
    assert out == ("", "", [{"function": {"name": "get weather", "arguments": {"a": 1}}}])


def test_harmony_prefill_continues_the_last_assistant_message():
    parser = parser_for_name("harmony")
    assert parser is not None
    parser.init(None, {"role": "assistant", "content": "The answer"}, None)
    assert run_parser(parser, [" is 4<|end|>"]) == (" is 4", "", [])
    parser = parser_for_name("harmony")
    assert parser is not None
    parser.init(None, {"role": "assistant", "thinking": "Hmm"}, None)
    out = run_parser(parser, [", 2+2<|end|><|start|>assistant<|channel|>final<|message|>4"])
    assert out == ("4", ", 2+2", [])


def test_harmony_calls_end_at_call_and_several_are_read():
    parser = parser_for_name("harmony")
    assert parser is not None
    parser.init(_tools(["a", "b"]), None, None)
    text = (
        "<|channel|>commentary to=functions.a <|constrain|>json<|message|>{}<|call|>"
        '<|start|>assistant<|channel|>commentary to=functions.b<|message|>{"x":[1]}<|call|>'
    )
    calls = [
        {"function": {"name": "a", "arguments": {}}},
        {"function": {"name": "b", "arguments": {"x": [1]}}},
    ]
    assert run_parser(parser, [text]) == ("", "", calls)


def test_harmony_bad_tool_json_is_an_error():

    parser = parser_for_name("harmony")
    assert parser is not None
    parser.init(_tools(["a"]), None, None)
    parser.add("<|channel|>commentary to=functions.a<|message|>{nope")
    with pytest.raises(ParserError, match="error parsing tool call"):
        parser.finish()


# Qwen3-Coder.

QWEN3CODER = json.loads((DATA / "qwen3coder.json").read_text())


def _qwen_events(raw: list[list[str]]) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in raw]


@pytest.mark.parametrize("case", QWEN3CODER["event_streams"], ids=_ids(QWEN3CODER["event_streams"]))
def test_qwen3_coder_event_streams(case):
    parser = Qwen3CoderParser()
    for piece, want in case["steps"]:
        assert parser.events(piece) == _qwen_events(want), piece


@pytest.mark.parametrize("case", QWEN3CODER["event_streams"], ids=_ids(QWEN3CODER["event_streams"]))
def test_qwen3_coder_events_split_anywhere(case):
    text = "".join(piece for piece, _ in case["steps"])

    def merged(pieces: list[str]) -> list[tuple[str, str]]:
        parser = Qwen3CoderParser()
        out: list[tuple[str, str]] = []
        for piece in pieces:
            for kind, value in parser.events(piece):
                if kind == "content" and out and out[-1][0] == "content":
                    out[-1] = ("content", out[-1][1] + value)
                else:
                    out.append((kind, value))
        return out

    whole = merged([text])
    assert merged(list(text)) == whole
    for i in range(len(text) + 1):
        assert merged([text[:i], text[i:]]) == whole, i


@pytest.mark.parametrize("case", QWEN3CODER["tool_calls"], ids=_ids(QWEN3CODER["tool_calls"]))
def test_qwen3_coder_tool_call(case):
    assert parse_tool_call(case["raw"], case["tools"]).to_wire() == case["want"]


@pytest.mark.parametrize("case", QWEN3CODER["values"], ids=_ids(QWEN3CODER["values"]))
def test_qwen3_coder_value(case):
    got = parse_value(case["raw"], case["type"])
    assert got == case["want"]
    assert type(got) is type(case["want"]) or isinstance(case["want"], float)


@pytest.mark.parametrize("case", QWEN3CODER["indexing"], ids=_ids(QWEN3CODER["indexing"]))
def test_qwen3_coder_call_indexes(case):
    parser = parser_for_name("qwen3-coder")
    assert parser is not None
    parser.init(None, None, None)
    assert run_parser(parser, case["steps"]) == ("", "", case["want"])
    # A parser told again starts counting again.
    parser.init(None, None, None)
    assert run_parser(parser, case["steps"][:1])[2][0]["function"]["index"] == 0


def test_qwen3_coder_split_at_every_position():
    text = (
        "Let me look.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n"
        "</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\nDone."
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"days": {"type": "integer"}}},
            },
        }
    ]
    call = {
        "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}
    }
    want = ("Let me look.Done.", "", [call])

    fresh = _named("qwen3-coder", tools)

    assert run_parser(fresh(), [text]) == want
    assert run_parser(fresh(), list(text)) == want
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1, 5):
            assert run_parser(fresh(), [text[:i], text[i:j], text[j:]]) == want, (i, j)


# Qwen3 (qwen3, qwen3-thinking).

QWEN3 = json.loads((DATA / "qwen3.json").read_text())["cases"]


def _steps_want(case: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    return (
        "".join(s.get("content", "") for s in case["steps"]),
        "".join(s.get("thinking", "") for s in case["steps"]),
        [c for s in case["steps"] for c in s.get("tool_calls", [])],
    )


@pytest.mark.parametrize("case", QWEN3, ids=_ids(QWEN3))
def test_qwen3_steps(case):
    parser = parser_for_name(case["parser"])
    assert parser is not None
    parser.init(None, None, case["think"])
    for step in case["steps"]:
        content, thinking, calls = parser.add(step["input"])
        if step["done"]:
            c, t, more = parser.finish()
            content, thinking, calls = content + c, thinking + t, calls + more
        assert (content, thinking) == (step.get("content", ""), step.get("thinking", ""))
        assert [call.to_wire() for call in calls] == step.get("tool_calls", [])


@pytest.mark.parametrize("case", QWEN3, ids=_ids(QWEN3))
def test_qwen3_split_at_every_position(case):
    text = "".join(step["input"] for step in case["steps"])

    fresh = _named(case["parser"], think=case["think"])

    want = _steps_want(case)
    assert run_parser(fresh(), list(text)) == want
    for i in range(len(text) + 1):
        assert run_parser(fresh(), [text[:i], text[i:]]) == want, i


def test_qwen3_parser_told_again_counts_calls_from_zero():
    parser = parser_for_name("qwen3")
    assert parser is not None
    parser.init(None, None, False)
    parser.add('<tool_call>{"name":"first","arguments":{"a":"1"}}</tool_call>')
    parser.init(None, None, False)
    _, _, calls = parser.add('<tool_call>{"name":"second","arguments":{"b":"2"}}</tool_call>')
    assert [c.to_wire() for c in calls] == [
        {"function": {"index": 0, "name": "second", "arguments": {"b": "2"}}}
    ]


# Cogito and DeepSeek-V3.1: DeepSeek's tags.

COGITO = json.loads((DATA / "cogito.json").read_text())
DEEPSEEK3 = json.loads((DATA / "deepseek3.json").read_text())
DEEPSEEK_CASES = [
    (table["parser"], case) for table in (COGITO, DEEPSEEK3) for case in table["cases"]
]
DEEPSEEK_CALLS = [
    (table["parser"], case) for table in (COGITO, DEEPSEEK3) for case in table["tool_calls"]
]
CALL_READERS = {"cogito": parse_cogito_call, "deepseek3": parse_deepseek3_call}


@pytest.mark.parametrize(
    ("name", "case"), DEEPSEEK_CASES, ids=[f"{n}-{c['name']}" for n, c in DEEPSEEK_CASES]
)
def test_deepseek_tags(name, case):
    fresh = _named(name, case["tools"], case["last_message"], case["think"])

    def run(pieces: list[str]) -> tuple[str, str, list[dict[str, Any]]]:
        content, thinking, calls = run_parser(fresh(), pieces)
        return content, thinking, calls if case.get("check_calls", True) else []

    want = (case["content"], case["thinking"], case["tool_calls"])
    assert run(case["chunks"]) == want
    text = "".join(case["chunks"])
    assert run(list(text)) == want
    for i in range(len(text) + 1):
        assert run([text[:i], text[i:]]) == want, i


@pytest.mark.parametrize(
    ("name", "case"), DEEPSEEK_CALLS, ids=[f"{n}-{c['name']}" for n, c in DEEPSEEK_CALLS]
)
def test_deepseek_tags_tool_call(name, case):
    call = CALL_READERS[name](case["content"])
    assert (call.to_wire() if call is not None else None) == case["want"]


# OLMo 3.

OLMO3 = json.loads((DATA / "olmo3.json").read_text())


@pytest.mark.parametrize("case", OLMO3["cases"], ids=case_names(OLMO3["cases"]))
def test_olmo3(case):
    want = (case["content"], case["thinking"], case["tool_calls"])
    _assert_chunks_and_splits(_named("olmo3"), case["chunks"], want)


@pytest.mark.parametrize("case", OLMO3["function_calls"], ids=case_names(OLMO3["function_calls"]))
def test_olmo3_function_calls(case):
    if case["error"]:
        with pytest.raises(ParserError):
            olmo3_calls(case["input"])
    else:
        assert [c.to_wire() for c in olmo3_calls(case["input"])] == case["want"]


@pytest.mark.parametrize("case", OLMO3["values"], ids=case_names(OLMO3["values"]))
def test_olmo3_value(case):
    got = olmo3_value(case["input"])
    assert got == case["want"]
    assert type(got) is type(case["want"])


# GLM-4.7.

GLM47 = json.loads((DATA / "glm47.json").read_text())


@pytest.mark.parametrize("case", GLM47["cases"], ids=case_names(GLM47["cases"]))
def test_glm47(case):
    want = (case["content"], case["thinking"], case["tool_calls"])
    _assert_chunks_and_splits(
        _named("glm-4.7", case["tools"], think=case["think"]), case["chunks"], want
    )


@pytest.mark.parametrize("case", GLM47["tool_calls"], ids=case_names(GLM47["tool_calls"]))
def test_glm47_tool_call(case):
    assert parse_glm_call(case["raw"], []).to_wire() == case["want"]


def test_glm47_call_the_output_ends_inside():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "required": ["city"], "properties": {}},
            },
        }
    ]
    parser = parser_for_name("glm-4.7")
    assert parser is not None
    parser.init(tools, None, False)
    text = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Oslo</arg_value></tool_"
    call = {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}}}
    assert run_parser(parser, [text]) == ("", "", [call])
    parser.init(tools, None, False)
    parser.add("<tool_call>get_weather<arg_key>town</arg_key><arg_value>Oslo</arg_value>")
    with pytest.raises(ParserError, match="required argument 'city' is missing"):
        parser.finish()


# FunctionGemma.

FUNCTIONGEMMA = json.loads((DATA / "functiongemma.json").read_text())


@pytest.mark.parametrize("case", FUNCTIONGEMMA["cases"], ids=case_names(FUNCTIONGEMMA["cases"]))
def test_functiongemma(case):
    want = (case["content"], case["thinking"], case["tool_calls"])
    _assert_chunks_and_splits(
        _named("functiongemma", case["tools"]), case["chunks"], want, whole=True
    )


# Ministral.

MINISTRAL = json.loads((DATA / "ministral.json").read_text())


def _ministral(case: dict[str, Any]) -> BuiltinParser:
    parser = MinistralParser(thinking_support=case["think"])
    parser.init(case["tools"], None, None)
    return parser


def _plain(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in calls]


@pytest.mark.parametrize("case", MINISTRAL["cases"], ids=case_names(MINISTRAL["cases"]))
def test_ministral_steps(case):
    parser = _ministral(case)
    for step in case["steps"]:
        content, thinking, calls = parser.add(step["input"])
        got = (content, thinking, _plain([c.to_wire() for c in calls]))
        assert got == (step["content"], step["thinking"], step["calls"]), step["input"]


@pytest.mark.parametrize("case", MINISTRAL["cases"], ids=case_names(MINISTRAL["cases"]))
def test_ministral_split_at_every_position(case):
    text = "".join(step["input"] for step in case["steps"])

    def run(pieces: list[str]) -> tuple[str, str, list[dict[str, Any]]]:
        content, thinking, calls = run_parser(_ministral(case), pieces)
        return content, thinking, _plain(calls)

    want = run([text])
    assert want == (
        "".join(s["content"] for s in case["steps"]),
        "".join(s["thinking"] for s in case["steps"]),
        [c for s in case["steps"] for c in s["calls"]],
    )
    assert run(list(text)) == want
    for i in range(len(text) + 1):
        assert run([text[:i], text[i:]]) == want, i


@pytest.mark.parametrize("case", MINISTRAL["json_end"], ids=case_names(MINISTRAL["json_end"]))
def test_ministral_json_end(case):
    end = ministral_json_end(case["input"])
    # Ollama's index is in bytes.
    assert (len(case["input"][:end].encode()) if end != -1 else -1) == case["want"]


def test_ministral_call_indexes_and_errors():
    tools = [{"function": {"name": "get_weather"}}, {"function": {"name": "get_time"}}]
    parser = parser_for_name("ministral")
    assert parser is not None
    parser.init(tools, None, None)
    text = (
        '[TOOL_CALLS]get_weather[ARGS]{"location":"NYC"}'
        '[TOOL_CALLS]get_time[ARGS]{"timezone":"EST"}'
    )
    assert run_parser(parser, [text]) == (
        "",
        "",
        [
            {"function": {"index": 0, "name": "get_weather", "arguments": {"location": "NYC"}}},
            {"function": {"index": 1, "name": "get_time", "arguments": {"timezone": "EST"}}},
        ],
    )
    for tools, text in (
        ([{"function": {"name": "known_tool"}}], '[TOOL_CALLS]unknown_tool[ARGS]{"a": 1}'),
        ([{"function": {"name": "test"}}], "[TOOL_CALLS]test[ARGS]{invalid json}"),
    ):
        parser.init(tools, None, None)
        with pytest.raises(ParserError):
            parser.add(text)
