"""The Go text/template engine on its own: each construct and Go's edge cases, exact output."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from ollama_toolkit.template import TemplateError, parse


def run(text: str, data: Any = None) -> str:
    return parse(text).execute_raw(data)


def error(text: str, data: Any = None) -> str:
    with pytest.raises(TemplateError) as info:
        run(text, data)
    return str(info.value)


# -- text, actions, trimming, comments -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("a {{ .X }} b", "a 1 b"),
        ("a  \n\t {{- .X }}", "a1"),
        ("{{ .X -}} \n\n  b", "1b"),
        ("line1\n  {{- .X -}}\n  line2", "line11line2"),
        ("{{-3}}", "-3"),  # "{{-3" is a negative number, not a trim marker
        ("a{{/* a comment */}}b", "ab"),
        ("a \n{{- /* trimmed comment */ -}}\n b", "ab"),
        ("{{ .X }}{{/* multi\nline */}}", "1"),
    ],
)
def test_text_actions_and_trimming(text: str, expected: str) -> None:
    assert run(text, {"X": 1}) == expected


# -- fields, maps, missing values ------------------------------------------------------------


def test_nested_fields_and_map_keys() -> None:
    data = {"User": {"Name": "ann", "Tags": ["a", "b"]}, "n": 3}
    assert run("{{ .User.Name }} {{ .User.Tags }} {{ .n }}", data) == "ann [a b] 3"


def test_missing_key_prints_no_value_and_is_nil_in_functions() -> None:
    assert run("{{ .Missing }}|{{ printf `%v` .Missing }}|{{ print .Missing }}", {}) == (
        "<no value>|<nil>|<nil>"
    )


def test_field_of_missing_key_is_an_error_under_missingkey_zero() -> None:
    assert error("a\n{{ .A.B }}", {}) == (
        'template: :2:5: executing "" at <.A.B>: nil pointer evaluating interface {}.B'
    )


def test_field_on_a_scalar_is_an_error() -> None:
    assert error("{{ .S.Len }}", {"S": "x"}) == (
        'template: :1:5: executing "" at <.S.Len>: can\'t evaluate field Len in type string'
    )


def test_map_entry_cannot_take_arguments() -> None:
    assert error("{{ .x 1 }}", {"x": 1}) == (
        'template: :1:3: executing "" at <.x>: x is not a method but has arguments'
    )


# -- values as Go prints them ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "1"),
        (1.0, "1"),
        (2.5, "2.5"),
        (100000.0, "100000"),
        (1000000.0, "1e+06"),
        (123456789.0, "1.23456789e+08"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (True, "true"),
        ("s", "s"),
        ([1, "a", None, [2]], "[1 a <nil> [2]]"),
        ({"b": 2, "a": [1]}, "map[a:[1] b:2]"),
        ([], "[]"),
        ({}, "map[]"),
    ],
)
def test_printing_follows_go_fmt(value: Any, expected: str) -> None:
    assert run("{{ .V }}", {"V": value}) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ "a\\tb\\u00e9\\x41" }}', "a\tb\u00e9A"),
        ("{{ `raw\\n` }}", "raw\\n"),
        ("{{ 'a' }} {{ '\\n' }}", "97 10"),
        ("{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }}", "31 15 15 5 1000"),
        ("{{ 1.5 }} {{ 1e3 }} {{ -2 }} {{ +3 }}", "1.5 1000 -2 3"),
        ("{{ 1+2i }} {{ 2i }}", "(1+2i) (0+2i)"),
        ("{{ true }} {{ false }}", "true false"),
    ],
)
def test_literals(text: str, expected: str) -> None:
    assert run(text) == expected


# -- conditionals and truthiness -----------------------------------------------------------


@pytest.mark.parametrize(
    "value", [None, 0, 0.0, "", [], {}, False], ids=["nil", "0", "0.0", "str", "list", "map", "f"]
)
def test_zero_values_are_false(value: Any) -> None:
    assert run("{{ if .V }}yes{{ else }}no{{ end }}", {"V": value}) == "no"


@pytest.mark.parametrize("value", [1, -1, 0.5, "x", [0], {"k": 0}, True])
def test_non_zero_values_are_true(value: Any) -> None:
    assert run("{{ if .V }}yes{{ else }}no{{ end }}", {"V": value}) == "yes"


def test_missing_key_is_false() -> None:
    assert run("{{ if .Nope }}yes{{ else }}no{{ end }}", {}) == "no"


@pytest.mark.parametrize(("a", "b", "expected"), [(1, 0, "a"), (0, 1, "b"), (0, 0, "c")])
def test_else_if_chain(a: int, b: int, expected: str) -> None:
    text = "{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}"
    assert run(text, {"A": a, "B": b}) == expected


def test_with_sets_dot_and_else_with_chains() -> None:
    text = "{{ with .A }}a={{ . }}{{ else with .B }}b={{ . }}{{ else }}none{{ end }}"
    assert run(text, {"A": "x", "B": "y"}) == "a=x"
    assert run(text, {"A": "", "B": "y"}) == "b=y"
    assert run(text, {}) == "none"


# -- range -----------------------------------------------------------------------------------


def test_range_over_list_with_index_and_element() -> None:
    text = "{{ range $i, $e := .L }}{{ $i }}:{{ $e }},{{ end }}"
    assert run(text, {"L": ["a", "b"]}) == "0:a,1:b,"


def test_range_over_map_is_in_sorted_key_order() -> None:
    text = "{{ range $k, $v := .M }}{{ $k }}={{ $v }};{{ end }}"
    assert run(text, {"M": {"b": 2, "c": 3, "a": 1}}) == "a=1;b=2;c=3;"


def test_range_sets_dot_and_else_runs_when_empty() -> None:
    text = "{{ range .L }}<{{ . }}>{{ else }}empty{{ end }}"
    assert run(text, {"L": [1, 2]}) == "<1><2>"
    assert run(text, {"L": []}) == "empty"
    assert run(text, {}) == "empty"


def test_range_over_integer() -> None:
    assert run("{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}") == "012|01"


def test_range_over_integer_with_two_variables_is_an_error() -> None:
    assert "can't use 3 to iterate over more than one variable" in error(
        "{{ range $i, $e := 3 }}{{ end }}"
    )


def test_range_over_a_string_is_an_error() -> None:
    assert error("{{ range .S }}{{ end }}", {"S": "abc"}).endswith("range can't iterate over abc")


def test_break_and_continue() -> None:
    text = (
        "{{ range .L }}{{ if eq . 2 }}{{ continue }}{{ end }}"
        "{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}"
    )
    assert run(text, {"L": [1, 2, 3, 4, 5]}) == "13"


def test_break_outside_range_is_a_parse_error() -> None:
    assert error("{{ break }}") == "template: :1: {{break}} outside {{range}}"


# -- variables -------------------------------------------------------------------------------


def test_variable_declaration_and_assignment() -> None:
    assert run("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}") == "2"


def test_declaration_in_a_block_shadows_until_end() -> None:
    assert run("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}") == "21"


def test_assignment_in_a_block_updates_the_outer_variable() -> None:
    assert run("{{ $x := 1 }}{{ range .L }}{{ $x = . }}{{ end }}{{ $x }}", {"L": [7, 8]}) == "8"


def test_dollar_is_the_root_inside_range() -> None:
    assert run("{{ range .L }}{{ $.N }}{{ . }}{{ end }}", {"L": [1, 2], "N": "n"}) == "n1n2"


def test_range_variables_do_not_outlive_the_range() -> None:
    assert error("{{ range $i, $e := .L }}{{ end }}{{ $i }}") == (
        'template: :1: undefined variable "$i"'
    )


def test_if_pipeline_variable_is_scoped_to_the_if() -> None:
    assert error('{{ with $x := "v" }}{{ $x }}{{ end }}{{ $x }}') == (
        'template: :1: undefined variable "$x"'
    )


# -- define / template / block ---------------------------------------------------------------


def test_define_and_template_with_pipeline() -> None:
    text = '{{ define "item" }}[{{ . }}]{{ end }}{{ range .L }}{{ template "item" . }}{{ end }}'
    assert run(text, {"L": ["a", "b"]}) == "[a][b]"


def test_block_defines_and_runs_in_place() -> None:
    assert run('{{ block "b" .X }}<{{ . }}>{{ end }}!', {"X": 5}) == "<5>!"


def test_templates_do_not_see_callers_variables() -> None:
    assert error('{{ define "t" }}{{ $x }}{{ end }}') == 'template: :1: undefined variable "$x"'


def test_template_without_pipeline_is_rejected_like_ollama() -> None:
    # Ollama's Parse runs Vars(), whose Identifiers walk refuses a nil template pipeline.
    assert error('{{ define "x" }}X{{ end }}{{ template "x" }}') == "undefined template specified"


def test_undefined_template_is_an_execution_error() -> None:
    assert error('{{ template "nope" . }}') == (
        'template: :1:12: executing "" at <{{template "nope" .}}>: template "nope" not defined'
    )


def test_duplicate_definition_is_a_parse_error() -> None:
    assert error('{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}') == (
        'template: :1: template: multiple definition of template "a"'
    )


# -- pipelines and function calls ------------------------------------------------------------


def test_pipeline_passes_value_as_last_argument() -> None:
    assert run('{{ 3 | printf "%d-%d" 4 }}|{{ .S | len }}', {"S": "abc"}) == "4-3|3"


def test_parenthesised_calls_and_chained_fields() -> None:
    data = {"L": [{"Name": "first"}], "M": {"k": ["x", "y"]}}
    assert run('{{ (index .L 0).Name }} {{ index .M "k" 1 }} {{ len (index .M "k") }}', data) == (
        "first y 2"
    )


def test_undefined_function_is_a_parse_error() -> None:
    assert error("line one\n{{ nope .X }}") == 'template: :2: function "nope" not defined'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ json }}", "wrong number of args for json: want 1 got 0"),
        ("{{ len 1 2 }}", "wrong number of args for len: want 1 got 2"),
        ("{{ printf 3 }}", "expected string; found 3"),
        ("{{ nil }}", "nil is not a command"),
        ('{{ "x" 1 }}', 'can\'t give argument to non-function "x"'),
    ],
)
def test_call_errors(text: str, message: str) -> None:
    assert error(text).endswith(message)


# -- builtin functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ len "héllo" }}', "6"),  # bytes, like Go
        ("{{ len .L }} {{ len .M }}", "3 1"),
        ("{{ index .L 1 }} {{ index .M `k` }}", "2 v"),
        ('{{ index "abc" 1 }}', "98"),
        ('{{ index .M "missing" }}', "<no value>"),
        ("{{ slice .L 1 }} {{ slice .L 0 2 }} {{ slice `hello` 1 3 }}", "[2 3] [1 2] el"),
        ("{{ not 0 }} {{ not `x` }}", "true false"),
        ("{{ and 1 0 2 }}|{{ and 1 `a` }}|{{ or 0 `` `x` }}|{{ or 0 `` }}", "0|a|x|"),
        ("{{ and false (index .L 99) }} {{ or true (index .L 99) }}", "false true"),
        ("{{ eq 2 1 2 3 }} {{ eq 5 1 2 3 }} {{ eq `a` `a` }}", "true false true"),
        (
            "{{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt `b` `a` }} {{ ge 1.5 2.5 }}",
            "true true true true false",
        ),
        ("{{ eq .Nope `x` }}", "false"),
        ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
        ('{{ println "a" 1 }}', "a 1\n"),
        ("{{ html `<a href='x'>&\"` }}", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"),
        ("{{ js `a'b<\\n=` }}", "a\\'b\\u003C\\\\n\\u003D"),
        ('{{ js "\\n" }}', "\\u000A"),
        ("{{ urlquery `a b&c/é` }}", "a+b%26c%2F%C3%A9"),
    ],
)
def test_builtins(text: str, expected: str) -> None:
    assert run(text, {"L": [1, 2, 3], "M": {"k": "v"}}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ index .L 5 }}", "error calling index: index out of range: 5"),
        ("{{ index .L 3 }}", "error calling index: reflect: slice index out of range"),
        ("{{ index .L -1 }}", "error calling index: index out of range: -1"),
        ("{{ index .L `a` }}", "error calling index: cannot index slice/array with type string"),
        ("{{ index .Nope 0 }}", "error calling index: index of untyped nil"),
        ("{{ index 3 0 }}", "error calling index: can't index item of type int"),
        ("{{ slice .L 2 1 }}", "error calling slice: invalid slice index: 2 > 1"),
        ("{{ len 3 }}", "error calling len: len of type int"),
        ("{{ eq 1 1.0 }}", "error calling eq: incompatible types for comparison: int and float64"),
        ("{{ lt true false }}", "error calling lt: invalid type for comparison"),
        ("{{ eq 1 }}", "error calling eq: missing argument for comparison"),
    ],
)
def test_builtin_errors(text: str, message: str) -> None:
    assert error(text, {"L": [1, 2, 3]}).endswith(message)


def test_index_error_names_line_column_and_node() -> None:
    assert error("a\n  {{ index .L 5 }}", {"L": [1]}) == (
        'template: :2:5: executing "" at <index .L 5>: error calling index: index out of range: 5'
    )


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s|%d|%v", ["a", 42, [1, 2]], "a|42|[1 2]"),
        ("%5.2f|%-5s|%05d|%+d|% d", [3.14159, "ab", 42, 5, 7], " 3.14|ab   |00042|+5| 7"),
        (
            "%x|%X|%#x|%o|%b|%c|%U",
            [255, "hi", 255, 8, 5, 65, 0x1F600],
            "ff|6869|0xff|10|101|A|U+1F600",
        ),
        ("%q|%q|%t|%%", ["hi\n", 97, True], "\"hi\\n\"|'a'|true|%"),
        (
            "%e|%g|%G|%.3g|%.1f",
            [1234.5678, 0.000012345, 1e21, 3.14159, 2.25],
            "1.234568e+03|1.2345e-05|1E+21|3.14|2.2",
        ),
        (
            "%T %T %T %T %T",
            [1, 1.5, "s", [1], {"a": 1}],
            "int float64 string []interface {} map[string]interface {}",
        ),
        ("%6s|%-6d|%.2s", ["ab", 12, "abcdef"], "    ab|12    |ab"),
        ("%[2]d %[1]d", [1, 2], "2 1"),
        ("%d", ["s"], "%!d(string=s)"),
        ("%s %s", ["only"], "only %!s(MISSING)"),
        ("%s", ["a", 1], "a%!(EXTRA int=1)"),
        ("%!", [], "%!!(MISSING)"),
        ("%", [], "%!(NOVERB)"),
        ("%v|%+v|%#v", [{"a": 1}, [1], "q"], 'map[a:1]|[1]|"q"'),
    ],
)
def test_printf_verbs(fmt: str, args: list[Any], expected: str) -> None:
    text = "{{ printf .F " + " ".join(f"(index .A {i})" for i in range(len(args))) + " }}"
    assert run(text, {"F": fmt, "A": args}) == expected


def test_printf_float_from_json_number() -> None:
    assert run('{{ printf "%d|%v|%.1f" .I .F .F }}', {"I": 7, "F": 1.0}) == "7|1|1.0"


# -- parse errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .Prompt ", "template: :1: unclosed action"),
        ("{{ .X\n\n", "template: :3: unclosed action started at :1"),
        ("{{ if }}{{ end }}", "template: :1: missing value for if"),
        ("{{ end }}", "template: :1: unexpected {{end}}"),
        ("{{ else }}", "template: :1: unexpected {{else}}"),
        ("a\n{{ range .X }}", "template: :2: unexpected EOF"),
        ("{{ 3 | 4 }}", "template: :1: non executable command in pipeline stage 2"),
        ("{{ (1 }}", "template: :1: unclosed left paren"),
        ("{{ ) }}", "template: :1: unexpected right paren"),
        ('{{ "abc }}', "template: :1: unterminated quoted string"),
        ("{{/* x", "template: :1: unclosed comment"),
        ("{{/* x */ }}", "template: :1: comment ends before closing delimiter"),
        ("{{ 08 }}", 'template: :1: integer overflow: "08"'),
        ("{{ 3.X }}", 'template: :1: bad number syntax: "3.X"'),
        ("{{ 'ab' }}", "template: :1: malformed character constant: 'ab'"),
        ('{{ "\\q" }}', "template: :1: invalid syntax"),
        ("{{ a! }}", "template: :1: bad character U+0021 '!'"),
        ("{{ .X , }}", 'template: :1: unexpected "," in operand'),
        ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "template: :1: expected end; found {{else}}"),
        ("{{ range $a, $b, $c := .X }}{{ end }}", "template: :1: too many declarations in range"),
        ('{{ "x".Y }}', 'template: :1: unexpected . after term "\\"x\\""'),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(text)
    assert str(info.value) == message


def test_never_a_python_crash_on_odd_input() -> None:
    for text in ["{{", "}}", "{{{{", "{{ $ }}", "{{ . . }}", "{{ .X.Y.Z }}", "{{-}}", "{{ ( }}"]:
        with contextlib.suppress(TemplateError):
            run(text, {"X": {"Y": None}})


def test_invalid_utf8_from_byte_slicing_becomes_replacement_char() -> None:
    assert run('{{ slice "é" 0 1 }}|{{ slice "é" 0 1 }}{{ slice "é" 1 }}') == "\ufffd|é"
