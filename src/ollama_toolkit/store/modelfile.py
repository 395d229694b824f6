"""Modelfile parsing, as Ollama's `parser` package reads it, with errors that name the line.

A Modelfile is a list of instructions, one per line, case-insensitive: `FROM`, `PARAMETER`,
`TEMPLATE`, `SYSTEM`, `ADAPTER`, `LICENSE`, `MESSAGE`, and `RENDERER` and `PARSER` (the names of
a built-in renderer and output parser, `renderers/` and `parsers/builtin.py`, used in place of
the template and of the thinking and tool-call parsers); `#` starts a comment line. A value runs to
the end of its line; a value opened with a quote (one double quote, or three) runs until a line
that ends with the same quote. Commands come back in Ollama's shape: `FROM` is named `model`,
a `PARAMETER` is named after the parameter, and a `MESSAGE`'s args read `role: content`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ollama_toolkit.api.options import option_field_type

INSTRUCTIONS = (
    "from",
    "license",
    "template",
    "system",
    "adapter",
    "renderer",
    "parser",
    "parameter",
    "message",
)
MESSAGE_ROLES = ("system", "user", "assistant")

# Parameters older Ollama releases knew: accepted, then ignored with a warning, as Ollama does.
DEPRECATED_PARAMETERS = frozenset(
    {
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)

_WORD = re.compile(r"[A-Za-z]*")
_PARAMETER_NAME = re.compile(r"[A-Za-z0-9_]+")
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


@dataclass(frozen=True)
class Command:
    name: str
    args: str


class ModelfileError(ValueError):
    """A Modelfile that cannot be used; `line` is 1-based, 0 when no single line is at fault."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(f"(line {line}): {message}" if line else message)
        self.line = line


def parse(text: str) -> list[Command]:
    """The commands of a Modelfile; ModelfileError names the line and what is wrong."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    i = 0
    while i < len(lines):
        line_no = i + 1
        line = lines[i].lstrip(" \t")
        i += 1
        if not line or line.startswith("#"):
            continue
        word_match = _WORD.match(line)
        assert word_match is not None  # [A-Za-z]* matches every string, if only with ""
        word = word_match.group()
        rest = line[len(word) :]
        instruction = word.lower()
        if instruction not in INSTRUCTIONS or (rest and rest[0] not in " \t"):
            raise ModelfileError(_invalid_instruction(), line_no)
        rest = rest.lstrip(" \t")
        label = word.upper()
        if instruction == "parameter":
            name, rest = _split_word(rest, _PARAMETER_NAME, "PARAMETER needs a name", line_no)
            name = name.lower()
            label = f"PARAMETER {name}"
        elif instruction == "message":
            role, rest = _split_word(rest, _WORD, "MESSAGE needs a role", line_no)
            if role not in MESSAGE_ROLES:
                raise ModelfileError(
                    'message role must be one of "system", "user", or "assistant"', line_no
                )
            label = f"MESSAGE {role}"
        if not rest.strip():
            raise ModelfileError(f"{label} needs a value", line_no)
        value, i = _read_value(lines, i, rest, label, line_no)
        if instruction == "parameter":
            parameter_value(name, value, line_no)
            commands.append(Command(name, value))
        elif instruction == "message":
            commands.append(Command("message", f"{role}: {value}"))
        else:
            commands.append(Command("model" if instruction == "from" else instruction, value))
    if not any(c.name == "model" for c in commands):
        raise ModelfileError("no FROM line")
    return commands


def parameter_value(key: str, text: str, line: int = 0) -> Any:
    """A PARAMETER's text as the type its option needs (int, float, bool, or a stop string)."""
    if key in DEPRECATED_PARAMETERS:
        return text
    kind = option_field_type(key)
    if kind is None:
        raise ModelfileError(f"unknown parameter '{key}'", line)
    try:
        if kind == "int":
            return int(text, 10)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return _BOOLS[text]
    except (ValueError, KeyError):
        raise ModelfileError(f'invalid {kind} value "{text}" for parameter "{key}"', line) from None
    return text


def _invalid_instruction() -> str:
    names = ", ".join(f'"{n}"' for n in INSTRUCTIONS[:-1])
    return f'command must be one of {names}, or "{INSTRUCTIONS[-1]}"'


def _split_word(text: str, pattern: re.Pattern[str], missing: str, line: int) -> tuple[str, str]:
    word = pattern.match(text)
    if word is None or not word.group():
        raise ModelfileError(missing, line)
    rest = text[word.end() :]
    if rest and rest[0] not in " \t":
        raise ModelfileError(missing, line)
    return word.group(), rest.lstrip(" \t")


def _read_value(lines: list[str], i: int, first: str, label: str, line_no: int) -> tuple[str, int]:
    """The value starting with `first`, continued over the following lines while a quote is
    open; returns it and the index of the next unread line."""
    buffer = first
    while True:
        value = _unquote(buffer.strip())
        if value is not None:
            return value, i
        if i == len(lines):
            quote = '"""' if buffer.lstrip().startswith('"""') else '"'
            raise ModelfileError(f"{label} has no closing {quote}", line_no)
        buffer += "\n" + lines[i]
        i += 1


def _unquote(s: str) -> str | None:
    """The text inside triple or single double quotes, the text itself when unquoted, None when
    a quote is still open."""
    if s.startswith('"""'):
        return s[3:-3] if len(s) >= 6 and s.endswith('"""') else None
    if s.startswith('"'):
        return s[1:-1] if len(s) >= 2 and s.endswith('"') else None
    return s
