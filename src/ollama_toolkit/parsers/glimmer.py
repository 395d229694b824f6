"""Glimmer's output (`glimmer`; Ollama's `model/parsers/glimmer.go`): messages, each a header
(`<|start|>assistant` — left out for the first, which the prompt opened — then ` to=<recipient>`)
and `<|message|>` and a body ended by `<|eom|>`, `<|eot|>` or the next assistant header.
A body to `self` is thinking; to a declared tool, an `<atem:function_calls>` block that is the
call; to anyone else, content.

The model sometimes fumbles a call's header (no recipient, the namespace, `user`): a content
body that is nothing but a well-formed block calling a declared tool is held back until it
ends and becomes that call, never raw XML."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.api.types import ToolCall, ToolCallFunction
from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, ParserError, overlap
from ollama_toolkit.parsers.qwen3coder import parse_value, property_types

START = "<|start|>"
MESSAGE = "<|message|>"
END_MESSAGE = "<|eom|>"
END_TURN = "<|eot|>"
ASSISTANT_HEADER = START + "assistant"

CALLS_OPEN = "<atem:function_calls>"
CALLS_CLOSE = "</atem:function_calls>"
INVOKE_OPEN = '<atem:invoke name="'
INVOKE_CLOSE = "</atem:invoke>"
PARAM_OPEN = '<atem:parameter name="'
PARAM_CLOSE = "</atem:parameter>"

# What an assistant header after `<|start|>` may turn out to be, as far as it has arrived.
VALID, PENDING, INVALID = "valid", "pending", "invalid"


def resolve_tool_name(tools: dict[str, dict[str, Any]], name: str) -> tuple[str, bool]:
    """The declared tool a recipient or invoke name means: itself, or `fn` for `ns.fn` when
    `ns` is `fn`'s own namespace (the template offers the model `<ns>.*`, so an undotted
    `read` may be called as `read.read`)."""
    if name in tools:
        return name, True
    ns, dot, fn = name.partition(".")
    if dot and fn in tools and ns == fn.partition(".")[0]:
        return fn, True
    return name, False


def tools_by_name(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    by_name = {}
    for tool in tools or ():
        name = ((tool.get("function") or {}).get("name") or "").strip()
        if name:
            by_name[name] = tool
    return by_name


def cut_invoke_name(text: str) -> tuple[str, str] | None:
    """An invoke's name and the text after its `">`; None when it has no end. A `<|message|>`
    the model fumbles into the name (`read<|message|>">`), or writes in place of the `">`
    (`read<|message|><atem:parameter …`), is dropped: names never hold one."""
    parts = []
    rest = text
    while True:
        end, tag = rest.find('">'), rest.find(MESSAGE)
        if tag >= 0 and (end < 0 or tag < end):
            parts.append(rest[:tag])
            rest = rest[tag + len(MESSAGE) :]
            if rest.startswith(PARAM_OPEN):
                return "".join(parts), rest
            continue
        if end < 0:
            return None
        parts.append(rest[:end])
        return "".join(parts), rest[end + 2 :]


def invoke_name(body: str) -> str:
    """The invoke's name in a body known to be wrapped in `<atem:function_calls>`; "" when the
    invoke is malformed."""
    inner = body[len(CALLS_OPEN) : len(body) - len(CALLS_CLOSE)].strip()
    if not inner.startswith(INVOKE_OPEN):
        return ""
    cut = cut_invoke_name(inner[len(INVOKE_OPEN) :])
    return cut[0] if cut is not None else ""


def parse_atem(body: str, tool: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An `<atem:function_calls>` block's invoke name and arguments, each value typed by the
    tool's schema (as Qwen3-Coder's are)."""
    body = body.strip()
    if not (body.startswith(CALLS_OPEN) and body.endswith(CALLS_CLOSE)):
        raise ParserError("missing ATEM function_calls wrapper")
    invoke = body[len(CALLS_OPEN) : len(body) - len(CALLS_CLOSE)].strip()
    if not (invoke.startswith(INVOKE_OPEN) and invoke.endswith(INVOKE_CLOSE)):
        raise ParserError("missing ATEM invoke wrapper")
    cut = cut_invoke_name(invoke[len(INVOKE_OPEN) :])
    if cut is None or len(cut[1]) < len(INVOKE_CLOSE):
        raise ParserError("malformed ATEM invoke name")
    name, rest = cut
    params = rest[: len(rest) - len(INVOKE_CLOSE)].removeprefix("\n").removesuffix("\n")
    properties = ((tool.get("function") or {}).get("parameters") or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    while params:
        if not params.startswith(PARAM_OPEN):
            raise ParserError("malformed ATEM parameter")
        params = params[len(PARAM_OPEN) :]
        end = params.find('">')
        if end < 0:
            raise ParserError("malformed ATEM parameter name")
        key, params = params[:end], params[end + 2 :]
        end = params.find(PARAM_CLOSE)
        if end < 0:
            raise ParserError(f"unterminated ATEM parameter {key!r}")
        value, params = params[:end], params[end + len(PARAM_CLOSE) :].removeprefix("\n")
        # An ATEM value is read as it is (Qwen3-Coder's lose a newline at each end).
        types = property_types(properties.get(key))
        arguments[key] = parse_value(value, types, trim_newlines=False)
    return name, arguments


def body_end(text: str) -> tuple[int, int]:
    """Where the first `<|eom|>` or `<|eot|>` is in `text`, and its length; (-1, 0) if none."""
    found = [(text.find(tag), len(tag)) for tag in (END_MESSAGE, END_TURN) if tag in text]
    return min(found) if found else (-1, 0)


class GlimmerParser(BuiltinParser):
    has_tool_support = True
    has_thinking_support = True
    preserved_tokens = (START, MESSAGE, END_MESSAGE, END_TURN)

    def init(
        self,
        tools: list[dict[str, Any]] | None,
        last_message: dict[str, Any] | None,
        think: bool | str | None,
    ) -> list[dict[str, Any]] | None:
        self.state = "header"  # "header", "content", "thinking" or "tool"
        self.buffer = ""
        self.recipient = ""
        self.tools = tools_by_name(tools)
        self.index = 0
        self.emit_thinking = think is None or bool(think)
        # Whether any of this message's body went out as content: a message is either a
        # call or content, never half of each.
        self.content_streamed = False
        return tools

    def add(self, text: str) -> Parsed:
        return self._add(text, False)

    def finish(self) -> Parsed:
        return self._add("", True)

    def _add(self, text: str, done: bool) -> Parsed:
        self.buffer += text
        content: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        while True:
            if self.state == "header":
                progress, fallback = self._header(done)
                content.append(fallback)
                if not progress:
                    break
                continue
            progress, body, complete = self._body(done)
            if self.state == "content":
                call = self._content_call(body, complete)
                if call is not None:
                    calls.append(call)
                elif body:
                    content.append(body)
                    self.content_streamed = True
            elif self.state == "thinking":
                if self.emit_thinking:
                    thinking.append(body)
            elif complete:
                calls.append(self._tool_call(body))
            if complete:
                self.state, self.recipient, self.content_streamed = "header", "", False
            if not progress:
                break
        return "".join(content), "".join(thinking), calls

    def _header(self, done: bool) -> tuple[bool, str]:
        """Read a header up to `<|message|>`; at the end, text that never got one is content."""
        acc = self.buffer
        if acc.startswith(ASSISTANT_HEADER):
            acc = self.buffer = acc[len(ASSISTANT_HEADER) :]
        elif ASSISTANT_HEADER.startswith(acc) and acc.startswith("<") and not done:
            return False, ""
        at = acc.find(MESSAGE)
        if at < 0:
            if not done:
                return False, ""
            self.buffer = ""
            return acc != "", acc
        self.buffer = acc[at + len(MESSAGE) :]
        self.recipient = acc[:at].strip().removeprefix("to=").strip()
        _, is_tool = resolve_tool_name(self.tools, self.recipient)
        if self.recipient == "self":
            self.state = "thinking"
        elif is_tool:
            self.state = "tool"
        else:
            self.state = "content"
        return True, ""

    def _body(self, done: bool) -> tuple[bool, str, bool]:
        """(progress, body text, whether the body is complete). A call's block (and content
        that may be one) is read whole: the end tags inside it are its text."""
        acc = self.buffer
        hold = self.state == "tool" or self._hold_content(acc)
        control = 0
        if hold:
            close = acc.find(CALLS_CLOSE)
            control = close + len(CALLS_CLOSE) if close >= 0 else len(acc)
        at, length = body_end(acc[control:])
        if at >= 0:
            at += control
        implicit, wait = self._implicit_header(acc, control, done)
        if implicit >= 0 and not wait and (at < 0 or implicit < at):
            self.buffer = acc[implicit:]
            return True, acc[:implicit], True
        if at >= 0:
            self.buffer = acc[at + length :]
            return True, acc[:at], True
        if done:
            self.buffer = ""
            return acc != "" or self.state == "tool", acc, True
        if hold:
            return False, "", False
        if wait:
            self.buffer = acc[implicit:]
            return implicit > 0, acc[:implicit], False
        keep = max(overlap(acc, END_MESSAGE), overlap(acc, END_TURN))
        if keep == len(acc):
            return False, "", False
        self.buffer = acc[len(acc) - keep :]
        return True, acc[: len(acc) - keep], False

    def _implicit_header(self, text: str, search: int, done: bool) -> tuple[int, bool]:
        """Where the next assistant header starts a message without an end tag before it, and
        whether it is still arriving (so the text from there is held back)."""
        while True:
            at = text.find(START, search)
            if at < 0:
                break
            status = self._header_status(text[at:], done)
            if status == VALID:
                return at, False
            if status == PENDING:
                return at, True
            search = at + len(START)
        if done:
            return -1, False
        keep = overlap(text[search:], ASSISTANT_HEADER)
        if keep > 0:
            return len(text) - keep, True
        return -1, False

    def _header_status(self, text: str, done: bool) -> str:
        """Whether `text`, from a `<|start|>`, is a well-formed assistant header (to self, the
        user or a declared tool), may still become one, or is not one (a literal `<|start|>`
        in the text)."""
        if len(text) < len(ASSISTANT_HEADER):
            return PENDING if not done and ASSISTANT_HEADER.startswith(text) else INVALID
        if not text.startswith(ASSISTANT_HEADER):
            return INVALID
        rest = text[len(ASSISTANT_HEADER) :]
        if rest.startswith(MESSAGE):
            return VALID
        if not done and MESSAGE.startswith(rest):
            return PENDING
        if rest == "":
            return INVALID if done else PENDING
        to = " to="
        if len(rest) < len(to):
            return PENDING if not done and to.startswith(rest) else INVALID
        if not rest.startswith(to):
            return INVALID
        recipient = rest[len(to) :]
        at = recipient.find(MESSAGE)
        if at >= 0:
            name = recipient[:at]
            return VALID if name in ("self", "user") or name in self.tools else INVALID
        if done:
            return INVALID
        if recipient == "":
            return PENDING
        if any(c in recipient for c in " \t\r\n"):
            return INVALID
        lt = recipient.find("<")
        if lt >= 0:
            return PENDING if MESSAGE.startswith(recipient[lt:]) else INVALID
        return PENDING

    def _hold_content(self, acc: str) -> bool:
        """Whether content so far may be a fumbled call: a message opening with the ATEM
        wrapper. It is held back until the message ends; anything else streams."""
        if self.state != "content" or self.content_streamed or not self.tools:
            return False
        trimmed = acc.lstrip(" \t\r\n")
        return CALLS_OPEN.startswith(trimmed) or trimmed.startswith(CALLS_OPEN)

    def _content_call(self, body: str, complete: bool) -> ToolCall | None:
        """The call a complete content message is, when it is nothing but a well-formed block
        invoking a declared tool (named by the invoke, not the header)."""
        if not complete or self.content_streamed or not self.tools:
            return None
        trimmed = body.strip()
        if not (trimmed.startswith(CALLS_OPEN) and trimmed.endswith(CALLS_CLOSE)):
            return None
        name, ok = resolve_tool_name(self.tools, invoke_name(trimmed))
        if not ok:
            return None
        try:
            _, arguments = parse_atem(trimmed, self.tools[name])
        except ParserError:
            return None
        return self._call(name, arguments)

    def _tool_call(self, body: str) -> ToolCall:
        if not self.recipient:
            raise ParserError("empty Glimmer function name")
        name, ok = resolve_tool_name(self.tools, self.recipient)
        if not ok:
            raise ParserError(f"undeclared Glimmer function {self.recipient!r}")
        try:
            invoked, arguments = parse_atem(body, self.tools[name])
        except ParserError as e:
            raise ParserError(f"parse Glimmer call to {self.recipient}: {e}") from e
        resolved, ok = resolve_tool_name(self.tools, invoked)
        if not ok or resolved != name:
            raise ParserError(
                f"Glimmer recipient {self.recipient!r} does not match ATEM invoke {invoked!r}"
            )
        return self._call(name, arguments)

    def _call(self, name: str, arguments: dict[str, Any]) -> ToolCall:
        call = ToolCall(function=ToolCallFunction(index=self.index, name=name, arguments=arguments))
        self.index += 1
        return call
