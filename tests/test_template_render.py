"""Ollama's prompt rendering on top of the engine: `Template.execute(Values)` in chat, legacy and
fill-in-the-middle modes, the template data model, and the Jinja fallback."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ollama_toolkit.template import Template, TemplateError, Values, parse, render_jinja

USER_ASSISTANT_USER = [
    {"role": "user", "content": "Hello friend!"},
    {"role": "assistant", "content": "Hello human!"},
    {"role": "user", "content": "What is your name?"},
]
SYSTEM = {"role": "system", "content": "You are a helpful assistant!"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather <now>",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "unit": {"type": "string", "enum": ["c", "f"], "description": "Unit"},
                "city": {"type": ["string", "null"], "description": "City", "default": "x"},
                "days": {"type": "integer"},
            },
        },
    },
}
TOOL_CALL_TURN = [
    {"role": "user", "content": "Weather?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "function": {
                    "name": "get_weather",
                    "arguments": {"unit": "c", "city": "Paris", "days": 2},
                }
            }
        ],
    },
    {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
]


def render(text: str, **values: Any) -> str:
    return parse(text).execute(Values(**values))


# -- chat (messages) templates ---------------------------------------------------------------

MESSAGES_TEMPLATE = (
    "{{ if .System }}[SYS]{{ .System }}{{ end }}"
    "{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}<assistant>"
)


def test_messages_template_renders_once_with_all_messages() -> None:
    assert render(MESSAGES_TEMPLATE, messages=[SYSTEM, *USER_ASSISTANT_USER]) == (
        "[SYS]You are a helpful assistant!<system>You are a helpful assistant!"
        "<user>Hello friend!<assistant>Hello human!<user>What is your name?<assistant>"
    )


def test_system_messages_are_joined_and_same_role_runs_collated() -> None:
    messages = [
        {"role": "system", "content": "a"},
        {"role": "system", "content": "b"},
        {"role": "user", "content": "u1"},
        {"role": "USER", "content": "u2"},  # roles are lowercased, as Ollama's decoder does
        {"role": "tool", "content": "t1"},
        {"role": "tool", "content": "t2"},
    ]
    assert render(
        "{{ .System }}|{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}", messages=messages
    ) == ("a\n\nb|system=a\n\nb;user=u1\n\nu2;tool=t1;tool=t2;")


def test_chatml_like_template_from_ollama() -> None:
    text = (
        "\n{{- range $index, $_ := .Messages }}<|im_start|>{{ .Role }}\n"
        "{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    )
    assert render(text, messages=[SYSTEM, *USER_ASSISTANT_USER]) == (
        "<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n"
        "<|im_start|>user\nHello friend!<|im_end|>\n"
        "<|im_start|>assistant\nHello human!<|im_end|>\n"
        "<|im_start|>user\nWhat is your name?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_message_fields_have_go_zero_values() -> None:
    text = (
        "{{ range .Messages }}[{{ .Thinking }}|{{ .ToolName }}|{{ len .Images }}|"
        "{{ if .ToolCalls }}calls{{ else }}none{{ end }}|{{ json .ToolCalls }}]{{ end }}"
    )
    assert render(text, messages=[{"role": "user", "content": "x"}]) == "[||0|none|null]"


def test_unknown_message_field_is_an_error_like_a_go_struct() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ range .Messages }}{{ .Foo }}{{ end }}", messages=[{"role": "user"}])
    assert str(info.value) == (
        'template: :1:24: executing "" at <.Foo>: '
        "can't evaluate field Foo in type *template.templateMessage"
    )


def test_images_and_thinking_are_visible() -> None:
    text = (
        "{{ range .Messages }}{{ range .Images }}[img:{{ len . }}]{{ end }}{{ .Thinking }}{{ end }}"
    )
    messages = [{"role": "user", "content": "", "images": ["aGVsbG8="], "thinking": "hmm"}]
    assert render(text, messages=messages) == "[img:5]hmm"


# -- tools -----------------------------------------------------------------------------------


def test_tools_print_as_go_json() -> None:
    assert render("{{ range .Messages }}{{ end }}{{ .Tools }}", tools=[WEATHER_TOOL]) == (
        '[{"type":"function","function":{"name":"get_weather",'
        '"description":"Weather \\u003cnow\\u003e",'
        '"parameters":{"type":"object","required":["city"],"properties":{'
        '"city":{"type":["string","null"],"description":"City"},'
        '"days":{"type":"integer"},'
        '"unit":{"type":"string","description":"Unit","enum":["c","f"]}}}}}]'
    )


def test_no_tools_is_null_and_false() -> None:
    text = "{{ range .Messages }}{{ end }}{{ .Tools }}|{{ if .Tools }}yes{{ else }}no{{ end }}"
    assert render(text) == "null|no"
    assert render(text, tools=[]) == "[]|no"


def test_ranging_tool_properties_in_sorted_order() -> None:
    text = (
        "{{ range .Messages }}{{ end }}{{ range .Tools }}{{ .Function.Name }}("
        "{{ range $name, $p := .Function.Parameters.Properties }}"
        "{{ $name }}: {{ $p.Type }} = {{ toTypeScriptType $p }}; {{ end }})"
        "{{ .Function.Parameters.Required }}{{ end }}"
    )
    assert render(text, tools=[WEATHER_TOOL]) == (
        "get_weather(city: [string null] = string | null; days: integer = number; "
        "unit: string = string; )[city]"
    )


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"type": "number"}, "number"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "array"}, "any[]"),
        ({"type": "object"}, "Record<string, any>"),
        ({"type": "null"}, "null"),
        ({"type": "weird"}, "any"),
        ({}, "any"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "string | number"),
    ],
)
def test_to_typescript_type(schema: dict[str, Any], expected: str) -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "parameters": {"properties": {"p": schema}}},
    }
    text = (
        "{{ range .Messages }}{{ end }}{{ range .Tools }}"
        "{{ toTypeScriptType (index .Function.Parameters.Properties `p`) }}{{ end }}"
    )
    assert render(text, tools=[tool]) == expected
    assert (
        render("{{ range .Messages }}{{ end }}{{ toTypeScriptType .Tools }}", tools=[tool]) == "any"
    )


def test_tool_calls_arguments_print_and_marshal_as_json() -> None:
    text = (
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Name }} {{ .Function.Arguments }} "
        "{{ json .Function.Arguments }} {{ .Function.Arguments.city }}|{{ end }}"
        "{{ if eq .Role `tool` }}{{ .ToolName }}={{ .Content }}{{ end }}{{ end }}"
    )
    assert render(text, messages=TOOL_CALL_TURN) == (
        'get_weather {"city":"Paris","days":2,"unit":"c"} '
        '{"city":"Paris","days":2,"unit":"c"} Paris|get_weather=sunny'
    )


def test_a_tool_call_marshals_with_go_field_names() -> None:
    text = "{{ range .Messages }}{{ range .ToolCalls }}{{ json . }}{{ end }}{{ end }}"
    assert render(text, messages=TOOL_CALL_TURN) == (
        '{"ID":"","Function":{"Index":0,"Name":"get_weather",'
        '"Arguments":{"city":"Paris","days":2,"unit":"c"}}}'
    )


def test_json_numbers_in_arguments_are_float64() -> None:
    text = (
        "{{ range .Messages }}{{ range .ToolCalls }}"
        "{{ eq .Function.Arguments.days 2.0 }}{{ end }}{{ end }}"
    )
    assert render(text, messages=TOOL_CALL_TURN) == "true"


# -- legacy (prompt/response) templates ------------------------------------------------------

MISTRAL_NO_RESPONSE = "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] "
MISTRAL_RESPONSE = MISTRAL_NO_RESPONSE + "{{ .Response }}"


@pytest.mark.parametrize("text", [MISTRAL_NO_RESPONSE, MISTRAL_RESPONSE])
def test_legacy_template_executes_once_per_turn(text: str) -> None:
    assert render(text, messages=USER_ASSISTANT_USER) == (
        "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
    )
    assert render(text, messages=[SYSTEM, *USER_ASSISTANT_USER]) == (
        "[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human!"
        "[INST] What is your name?[/INST] "
    )


def test_legacy_last_turn_is_cut_after_response() -> None:
    text = "[INST] {{ .Prompt }}[/INST] {{ .Response }}</s>"
    messages = [*USER_ASSISTANT_USER, {"role": "assistant", "content": "My name is"}]
    assert render(text, messages=messages) == (
        "[INST] Hello friend![/INST] Hello human!</s>[INST] What is your name?[/INST] My name is"
    )


def test_cut_drops_later_arguments_of_the_same_command() -> None:
    # Ollama's deleteNode removes every node visited after .Response, arguments included.
    text = '{{ printf "%s|%s" .Response .Prompt }}'
    assert render(text, messages=USER_ASSISTANT_USER) == ("Hello human!|Hello friend!|%!s(MISSING)")


def test_response_is_appended_when_template_has_neither_messages_nor_response() -> None:
    template = Template("{{ .System }}:{{ .Prompt }}")
    assert template.vars() == {"system", "prompt", "response"}
    assert template.execute(Values(messages=USER_ASSISTANT_USER)) == (
        ":Hello friend!Hello human!:What is your name?"
    )
    # execute_raw runs the template as written, without the appended node.
    assert template.execute_raw({"System": "s", "Prompt": "p", "Response": "r"}) == "s:p"


def test_force_legacy_renders_a_hybrid_template_per_turn() -> None:
    text = (
        "{{- if .Messages }}{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}"
        "{{ else }}{{ .Prompt }}>{{ .Response }}<{{ end }}"
    )
    assert render(text, messages=USER_ASSISTANT_USER) == (
        "user:Hello friend!;assistant:Hello human!;user:What is your name?;"
    )
    assert render(text, messages=USER_ASSISTANT_USER, force_legacy=True) == (
        "Hello friend!>Hello human!<What is your name?>"
    )


def test_legacy_system_after_a_turn_starts_a_new_turn() -> None:
    text = "{{ if .System }}S:{{ .System }} {{ end }}{{ .Prompt }}>{{ .Response }}<"
    messages = [
        *USER_ASSISTANT_USER,
        {"role": "system", "content": "late"},
        {"role": "user", "content": "again"},
    ]
    assert render(text, messages=messages) == (
        "Hello friend!>Hello human!<What is your name?><S:late again>"
    )


def test_legacy_last_turn_runs_without_ollama_functions() -> None:
    # Ollama executes the cut tree as a new template that has no custom functions.
    with pytest.raises(TemplateError) as info:
        render("{{ .Prompt }} {{ currentDate }}", messages=USER_ASSISTANT_USER)
    assert str(info.value).endswith('"currentDate" is not a defined function')


# -- fill-in-the-middle, thinking, functions -------------------------------------------------

SUFFIX_TEMPLATE = (
    "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n"
    "{{- else }}{{ .Prompt }}\n{{- end }}"
)


def test_prompt_and_suffix_render_fill_in_the_middle() -> None:
    assert render(SUFFIX_TEMPLATE, prompt="def add(", suffix="return x") == (
        "<PRE> def add( <SUF>return x <MID>"
    )
    assert render(SUFFIX_TEMPLATE, messages=[{"role": "user", "content": "hello"}]) == "hello"


def test_think_values_are_passed() -> None:
    text = "{{ range .Messages }}{{ end }}{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}"
    assert render(text) == "false||false"
    assert render(text, think=True, think_level="high", is_think_set=True) == "true|high|true"


def test_date_functions_in_a_messages_template() -> None:
    today = dt.date.today()
    text = "{{ range .Messages }}{{ .Content }}{{ end }} {{ currentDate }} {{ yesterdayDate }}"
    assert render(text, messages=[{"role": "user", "content": "Hi"}]) == (
        f"Hi {today.isoformat()} {(today - dt.timedelta(days=1)).isoformat()}"
    )


def test_vars_lists_lowercased_field_and_variable_names() -> None:
    template = Template(
        "{{ range $i, $m := .Messages }}{{ if eq .Role `tool` }}{{ .ToolName }}{{ end }}"
        "{{ $.Tools }}{{ end }}"
    )
    assert template.vars() == {"messages", "role", "toolname", "$", "tools"}
    assert Template("{{ .Prompt }}").text == "{{ .Prompt }}"


# -- Jinja fallback --------------------------------------------------------------------------

JINJA = (
    "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
    "{% if tools %}{{ tools | tojson }}{% endif %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def test_render_jinja() -> None:
    messages = [{"role": "user", "content": "hi <b>"}]
    assert render_jinja(JINJA, messages, [{"name": "é<"}], bos_token="<s>") == (
        '<s><user>hi <b>\n[{"name": "é<"}]<assistant>'
    )
    assert render_jinja(JINJA, messages, None, add_generation_prompt=False) == "<user>hi <b>\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ raise_exception('only user and assistant') }}", "only user and assistant"),
        (
            "{{ ''.__class__.__mro__ }}",
            "jinja: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ messages.append(1) }}",
            "jinja: access to attribute 'append' of 'list' object is unsafe.",
        ),
        ("{% if %}", "jinja: Expected an expression, got 'end of statement block'"),
    ],
)
def test_render_jinja_failures_are_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_jinja(text, [], None)
    assert str(info.value) == message


def test_render_jinja_strftime_now() -> None:
    assert render_jinja("{{ strftime_now('%Y') }}", [], None) == str(dt.date.today().year)
