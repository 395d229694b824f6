"""The harmony format's output parser (gpt-oss), as Ollama's `harmony` package reads it.

The model writes messages `<|start|>{header}<|message|>{content}<|end|>`; the header holds the
role, a `<|channel|>` (`analysis` is thinking, `final` and plain `commentary` are the answer)
and maybe a recipient, `to=functions.name`, which makes the content a tool call's JSON
arguments (ended by `<|call|>`, a stop token). The output starts inside an assistant message
already opened by the prompt, so the parser is fed an implicit `<|start|>assistant` first.
Tool names are given to the model in harmony's spelling (`get-weather` → `get_weather`) and
mapped back in the calls.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, ParserError, overlap

START = "<|start|>"
MESSAGE = "<|message|>"
END_TAGS = ("<|end|>", "<|call|>", "<|return|>")
CHANNEL = "<|channel|>"
CONSTRAIN = "<|constrain|>"

# Tools the model knows by these names: never renamed.
BUILTIN_TOOLS = frozenset({"browser.open", "browser.search", "browser.find", "python"})


@dataclass(frozen=True)
class Header:
    role: str = ""
    channel: str = ""
    recipient: str = ""


# Events: ("start",), ("header", Header), ("content", str), ("end",)
Event = tuple[Any, ...]


def parse_header(raw: str) -> Header:
    """The role, channel and recipient of a message's header, in any order."""
    if CONSTRAIN in raw:
        raw = raw.replace(CONSTRAIN, " " + CONSTRAIN, 1).strip()
    channel = ""
    at = raw.find(CHANNEL)
    if at != -1:
        before, after = raw[:at], raw[at + len(CHANNEL) :]
        cut = next((i for i, c in enumerate(after) if c.isspace()), len(after))
        channel = after[:cut]
        raw = (before + after[cut:]).strip()
    words = raw.split()
    if not words:
        return Header(channel=channel)
    role, rest = words[0], words[1:]
    if role.startswith("to="):
        return Header("tool", channel, role[3:])
    recipient = rest[0][3:] if rest and rest[0].startswith("to=") else ""
    return Header(role, channel, recipient)


class HarmonyStream:
    """Harmony text into events, incrementally: content is emitted as soon as it cannot be
    the beginning of an end tag."""

    def __init__(self) -> None:
        self.state = "start"  # "start": looking for <|start|>; "header"; "content"
        self.buffer = ""

    def add_implicit_start(self, last_message: dict[str, Any] | None = None) -> None:
        if last_message is not None and last_message.get("role") == "assistant":
            if last_message.get("content"):
                self.buffer += f"{START}assistant{CHANNEL}final{MESSAGE}"
                return
            if last_message.get("thinking"):
                self.buffer += f"{START}assistant{CHANNEL}analysis{MESSAGE}"
                return
        self.buffer += f"{START}assistant"

    def add(self, text: str) -> list[Event]:
        self.buffer += text
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def _step(self, events: list[Event]) -> bool:
        buf = self.buffer
        if self.state == "start":
            at = buf.find(START)
            if at == -1:
                return False
            self.buffer = buf[at + len(START) :]
            self.state = "header"
            events.append(("start",))
            return True
        if self.state == "header":
            at = buf.find(MESSAGE)
            if at == -1:
                return False
            self.buffer = buf[at + len(MESSAGE) :]
            self.state = "content"
            events.append(("header", parse_header(buf[:at])))
            return True
        ends = [(buf.find(tag), tag) for tag in END_TAGS if tag in buf]
        if ends:
            at, tag = min(ends)
            if buf[:at]:
                events.append(("content", buf[:at]))
            events.append(("end",))
            self.buffer = buf[at + len(tag) :]
            self.state = "start"
            return True
        held = max(overlap(buf, tag) for tag in END_TAGS)
        if len(buf) > held:
            events.append(("content", buf[: len(buf) - held]))
            self.buffer = buf[len(buf) - held :]
        return False


class FunctionNameMap:
    """Tool names as harmony spells them, made unique, and the way back."""

    def __init__(self) -> None:
        self.to_harmony: dict[str, str] = {}
        self.to_user: dict[str, str] = {}

    def convert_and_add(self, name: str) -> str:
        converted = name if name in BUILTIN_TOOLS else self._unique(valid_chars(name))
        self.to_harmony[name] = converted
        self.to_user[converted] = name
        return converted

    def original(self, converted: str) -> str:
        return self.to_user.get(converted, converted)

    def _unique(self, base: str) -> str:
        candidate, n = base, 2
        while candidate in self.to_user:
            candidate = f"{base}_{n}"
            n += 1
        return candidate


def valid_chars(name: str) -> str:
    """A tool name with only letters, digits, `_` and `$` (spaces, `-`, `.` become `_`)."""
    out = []
    for c in name:
        if c in " -.":
            out.append("_")
        elif c in "_$" or unicodedata.category(c)[0] == "L" or unicodedata.category(c) == "Nd":
            out.append(c)
    candidate = "".join(out)
    if not candidate:
        return "unnamed"
    return "_" + candidate if candidate[0] in "0123456789" else candidate


class HarmonyParser(BuiltinParser):
    """gpt-oss's output: `analysis` as thinking, `final` as content, calls to `functions.*`."""

    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (START, "<|end|>", MESSAGE, CHANNEL, CONSTRAIN)

    def __init__(self) -> None:
        self.stream = HarmonyStream()
        self.names = FunctionNameMap()
        self.state = "normal"  # "normal", "thinking", "tool"
        self.tool_name: str | None = None
        self.tool_args = ""
        self.started = False

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.stream.add_implicit_start(last_message)
        self.started = True
        if not tools:
            return tools
        renamed = []
        for tool in tools:
            function = dict(tool.get("function") or {})
            if function.get("name"):
                function["name"] = self.names.convert_and_add(function["name"])
            renamed.append({**tool, "function": function})
        return renamed

    def add(self, text: str) -> Parsed:
        if not self.started:
            self.init(None, None, None)
        content: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        for event in self.stream.add(text):
            kind = event[0]
            if kind == "header":
                self._header(event[1])
            elif kind == "content":
                if self.state == "normal":
                    content.append(event[1])
                elif self.state == "thinking":
                    thinking.append(event[1])
                else:
                    self.tool_args += event[1]
            elif kind == "end":
                if self.state == "tool":
                    calls += self._drain()
                self.state = "normal"
        return "".join(content), "".join(thinking), calls

    def finish(self) -> Parsed:
        return "", "", self._drain()

    def _header(self, header: Header) -> None:
        if header.channel in ("analysis", "commentary"):
            if header.recipient:
                self.state = "tool"
                self.tool_name = header.recipient
            else:
                self.state = "thinking" if header.channel == "analysis" else "normal"
        elif header.channel == "final":
            self.state = "normal"

    def _drain(self) -> list[ToolCall]:
        name, raw = self.tool_name, self.tool_args
        self.tool_name, self.tool_args = None, ""
        if name is None:
            return []
        name = self.names.original(name.removeprefix("functions."))
        try:
            arguments = json.loads(raw)
        except ValueError as e:
            raise ParserError(f"error parsing tool call: raw='{raw}', err={e}") from None
        if not isinstance(arguments, dict):
            raise ParserError(f"error parsing tool call: raw='{raw}', err=not an object")
        return [ToolCall(function=ToolCallFunction(name=name, arguments=arguments))]
