"""The Modelfile parser: Ollama's instructions, quoting and command shape, errors with lines."""

from __future__ import annotations

import pytest

from ollama_toolkit.store.modelfile import Command, ModelfileError, parameter_value, parse


def test_every_instruction_in_ollamas_command_shape():
    text = """
# a comment, then every instruction
FROM llama3.2:1b
ADAPTER ./lora.gguf
LICENSE MIT
PARAMETER temperature 0.5
PARAMETER stop <|im_end|>
PARAMETER stop "<|eot_id|>"
TEMPLATE {{ .Prompt }}
SYSTEM You are terse.
MESSAGE user Hi there!
MESSAGE assistant Hello.
"""
    assert parse(text) == [
        Command("model", "llama3.2:1b"),
        Command("adapter", "./lora.gguf"),
        Command("license", "MIT"),
        Command("temperature", "0.5"),
        Command("stop", "<|im_end|>"),
        Command("stop", "<|eot_id|>"),
        Command("template", "{{ .Prompt }}"),
        Command("system", "You are terse."),
        Command("message", "user: Hi there!"),
        Command("message", "assistant: Hello."),
    ]


def test_instructions_are_case_insensitive_and_values_trimmed():
    assert parse("from   base model  \nParameter Num_Ctx 2048\nsystem\thi\n") == [
        Command("model", "base model"),
        Command("num_ctx", "2048"),
        Command("system", "hi"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"""\nThis is a\nmultiline system.\n"""', "\nThis is a\nmultiline system.\n"),
        ('"""This is a\nmultiline system."""', "This is a\nmultiline system."),
        ('"""one line"""', "one line"),
        ('"""\nwith "quotes" inside\n"""   ', '\nwith "quotes" inside\n'),
        ('""""""', ""),
        ('""', ""),
        ('"\'"', "'"),
        ('"  spaced  "', "  spaced  "),
        ('"two\nlines"', "two\nlines"),
    ],
)
def test_quoted_values(value: str, expected: str):
    assert parse(f"FROM foo\nSYSTEM {value}\n")[1] == Command("system", expected)


def test_multiline_message_and_crlf_line_endings():
    text = 'FROM foo\r\nMESSAGE system """\r\nYou parse files.\r\n"""\r\n\t\t\r\n'
    assert parse(text)[1] == Command("message", "system: \nYou parse files.\n")


def test_byte_order_mark_is_ignored():
    assert parse("\ufeffFROM foo") == [Command("model", "foo")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM foo\nBADCOMMAND x", '(line 2): command must be one of "from", "license"'),
        ("FROM foo\n\nFROM", "(line 3): FROM needs a value"),
        ("FROM foo\nPARAMETER num_ctx", "(line 2): PARAMETER num_ctx needs a value"),
        ("FROM foo\nPARAMETER", "(line 2): PARAMETER needs a name"),
        ("FROM foo\nPARAMETER num_ctx big", '(line 2): invalid int value "big"'),
        ("FROM foo\nPARAMETER temperature warm", '(line 2): invalid float value "warm"'),
        ("FROM foo\nPARAMETER use_mmap maybe", '(line 2): invalid bool value "maybe"'),
        ("FROM foo\nPARAMETER colour blue", "(line 2): unknown parameter 'colour'"),
        ("FROM foo\nMESSAGE badguy hi", '(line 2): message role must be one of "system"'),
        ("FROM foo\nMESSAGE system", "(line 2): MESSAGE system needs a value"),
        ('FROM foo\nSYSTEM """unclosed""\n\n', '(line 2): SYSTEM has no closing """'),
        ('FROM foo\n\nTEMPLATE "\n', '(line 3): TEMPLATE has no closing "'),
        ("PARAMETER num_ctx 1", "no FROM line"),
        ("", "no FROM line"),
    ],
)
def test_errors_name_the_line_and_the_problem(text: str, message: str):
    with pytest.raises(ModelfileError) as error:
        parse(text)
    assert str(error.value).startswith(message)


def test_deprecated_parameters_parse_and_are_left_to_the_server():
    assert parse("FROM foo\nPARAMETER mirostat 2")[1] == Command("mirostat", "2")


def test_parameter_values_take_their_option_type():
    assert parameter_value("num_ctx", "2048") == 2048
    assert parameter_value("temperature", "0.25") == 0.25
    assert parameter_value("use_mmap", "false") is False
    assert parameter_value("stop", "</s>") == "</s>"
