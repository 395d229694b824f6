"""Tool calls parsed from model output as it streams, and the tag inferred from templates."""

from __future__ import annotations

import re

import pytest

from ollama_toolkit.api.types import Tool
from ollama_toolkit.parsers.tools import ToolCallParser, new_call_id, tool_call_tag
from ollama_toolkit.template import named_template
from ollama_toolkit.template.funcs import BUILTINS, OLLAMA_FUNCS
from ollama_toolkit.template.parser import parse_trees

TOOLS = [
    Tool.model_validate({"type": "function", "function": {"name": name}})
    for name in ("get_weather", "get_weather_forecast", "add")
]


def root(text: str):
    return parse_trees(text, set(BUILTINS) | set(OLLAMA_FUNCS))[""].root


def feed(pieces: list[str], tag: str = "<tool_call>"):
    """Feed `pieces`; return the calls per piece, all calls, and all content (with the flush)."""
    parser = ToolCallParser(tag, TOOLS)
    per_piece = []
    content = ""
    for piece in pieces:
        calls, text = parser.add(piece)
        per_piece.append(calls)
        content += text
    content += parser.finish()
    calls = [c for cs in per_piece for c in cs]
    return per_piece, calls, content


def simple(calls) -> list[tuple[int, str, dict]]:
    return [(c.function.index, c.function.name, c.function.arguments) for c in calls]


def test_tagged_calls_stream_each_as_soon_as_it_closes():
    pieces = [
        "Let me check.\n<tool",
        '_call>\n{"name": "get_weather", "arguments": {"city": "Par',
        'is"}}\n</tool_call>\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}',
        "}\n</tool_call>",
    ]
    per_piece, calls, content = feed(pieces)
    assert content == "Let me check.\n"
    assert [len(c) for c in per_piece] == [0, 0, 1, 1]
    assert simple(calls) == [(0, "get_weather", {"city": "Paris"}), (1, "add", {"a": 1, "b": 2})]
    assert all(re.fullmatch(r"call_[a-z0-9]{8}", c.id) for c in calls)


def test_bare_json_call_when_the_answer_starts_with_it():
    _, calls, content = feed(['  {"name": "get_weather", ', '"arguments": {"city": "Oslo"}}'], "{")
    assert simple(calls) == [(0, "get_weather", {"city": "Oslo"})]
    assert content.strip() == ""


def test_bare_json_after_other_text_is_content():
    text = 'Sure: {"name": "get_weather", "arguments": {"city": "Oslo"}}'
    _, calls, content = feed([text[:10], text[10:]], "{")
    assert calls == [] and content == text


def test_json_that_is_not_a_call_is_given_back_as_content():
    _, calls, content = feed(['{"answer": ', "42}"], "{")
    assert calls == [] and content == '{"answer": 42}'


def test_a_partial_tool_name_waits_for_the_longer_one():
    parser = ToolCallParser("{", TOOLS)
    assert parser.add('{"name": "get_weather') == ([], "")
    calls, _ = parser.add('_forecast", "arguments": {"days": 3}}')
    assert simple(calls) == [(0, "get_weather_forecast", {"days": 3})]


@pytest.mark.parametrize(
    "text, arguments",
    [
        ('{"name": "add", "parameters": {"a": 1}}', {"a": 1}),
        ('{"name": "add", "arguments": "{\\"a\\": 1}"}', {"a": 1}),  # arguments as a string
        ('{"add": {"a": 1}}', {"a": 1}),
        ('{"function": {"name": "add", "arguments": {"a": 1}}}', {"a": 1}),
        ('{"calls": [{"name": "add", "arguments": {"a": 1}}]}', {"a": 1}),
        ('{"name": "add"}', {}),
        ('add {"a": 1, "s": "}{"}', {"a": 1, "s": "}{"}),  # the object is the arguments
    ],
)
def test_call_shapes(text, arguments):
    _, calls, _ = feed([text], "<tool_call>" if text.startswith("add") else "{")
    if text.startswith("add"):  # untagged output: nothing is parsed without the tag
        assert calls == []
        _, calls, _ = feed(["<tool_call>" + text], "<tool_call>")
    assert simple(calls) == [(0, "add", arguments)]


def test_array_of_calls_with_bracket_tag():
    text = '[{"name": "add", "arguments": {"a": 1}}, {"name": "get_weather", "arguments": {}}]'
    per_piece, calls, _ = feed([text[:40], text[40:]], "[")
    assert [len(c) for c in per_piece] == [1, 1]
    assert simple(calls) == [(0, "add", {"a": 1}), (1, "get_weather", {})]


def test_tag_with_no_call_after_it_is_flushed_as_content():
    _, calls, content = feed(["Hello <tool_call> oops"])
    assert calls == [] and content == "Hello <tool_call> oops"


def test_partial_tag_at_the_end_is_content():
    per_piece, calls, content = feed(["a <tool"])
    assert calls == [] and content == "a <tool"


def test_call_ids_are_random():
    assert len({new_call_id() for _ in range(20)}) == 20


@pytest.mark.parametrize(
    "template, tag",
    [
        (
            "{{ range .Messages }}{{ if .ToolCalls }}<tool_call>\n{{ range .ToolCalls }}"
            '{"name": "{{ .Function.Name }}"}{{ end }}</tool_call>{{ end }}{{ end }}',
            "<tool_call>",
        ),
        (
            "{{ range .Messages }}{{ if .Content }}{{ .Content }}{{ else if .ToolCalls }}"
            '[TOOL_CALLS] [{{ range .ToolCalls }}{"name": "x"}{{ end }}]{{ end }}{{ end }}',
            "[TOOL_CALLS] [",
        ),
        (
            "{{ range .Messages }}{{ if .ToolCalls }}{{ range .ToolCalls }}"
            '{"name": "{{ .Function.Name }}"}{{ end }}{{ end }}{{ end }}',
            "{",
        ),
        ("{{ range .Messages }}{{ .Content }}{{ end }}", "{"),
        ("{{ if .ToolCalls }}{{ .ToolCalls }}<tag>{{ end }}", "{"),  # an action comes first
        ("{{ if .ToolCalls }}{{ range .ToolCalls }}{{ . }}{{ end }}]{{ end }}", "{"),
        ("{{ if .ToolCalls }}\n [ {{ range .ToolCalls }}{{ . }}{{ end }}]{{ end }}", "["),
        (
            "{{ if .ToolCalls }}\r\n{{ range .ToolCalls }}<tool_call>{}{{ end }}{{ end }}",
            "<tool_call>",
        ),
        ("{{ if .ToolCalls }}First{{ if .X }}inner{{ end }}Second{{ end }}", "First"),
        ("", "{"),
    ],
)
def test_tag_is_the_text_before_tool_calls_in_the_template(template, tag):
    assert tool_call_tag(root(template)) == tag


def test_command_r_tag():
    text, _ = named_template("command-r")
    assert tool_call_tag(root(text)) == "Action: ```json\n["


@pytest.mark.parametrize(
    "pieces, tag, content, calls",
    [
        # The first JSON value decides: an object that is not a call makes everything content.
        (['{"name": "jeff"}', '{"name": "add", "arguments": {"a": 1}}'], "{", None, []),
        (['for { fmt.Println("hello") }'], "{", None, []),
        (["[special", " del", "ivery]"], "[", None, []),
        (
            ["[", '{"name": "add", "arguments": {"a": 1}}', "]", "]"],
            "[",
            "",
            [(0, "add", {"a": 1})],
        ),
        (
            ['<tool_call>{"arguments": {"a": 5}, "name": "add"}</tool_call>'],
            "<tool_call>",
            "",
            [(0, "add", {"a": 5})],
        ),
    ],
)
def test_streams_like_ollama(pieces, tag, content, calls):
    _, got, text = feed(pieces, tag)
    assert text == ("".join(pieces) if content is None else content)
    assert simple(got) == calls
