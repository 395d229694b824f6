"""Chat messages into prompt text, as Ollama's `chatPrompt` makes them.

A model whose config names a built-in renderer (`RENDERER`, `renderers/`) is rendered by it;
otherwise the model's Go template renders the conversation, and a GGUF with no built-in
template matching its Jinja `tokenizer.chat_template` is rendered with that Jinja template.
A model whose config names a built-in parser (`PARSER`) has its output read by it, in place of
the thinking and tool-call parsers; the parser may rename the tools the prompt shows.
When the prompt is longer than the context, the oldest messages are dropped (system messages
are kept, and the last message always is).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ollama_toolkit.api.errors import InternalError
from ollama_toolkit.api.types import Message, ThinkValue, Tool, ToolCall
from ollama_toolkit.engine.runner import Runner
from ollama_toolkit.parsers.builtin import BuiltinParser, Parsed, ParserError
from ollama_toolkit.parsers.registry import parser_for_name
from ollama_toolkit.parsers.thinking import DEFAULT_TAGS, ThinkingParser
from ollama_toolkit.parsers.tools import JSON_TAG, tool_call_tag
from ollama_toolkit.renderers import renderer_for_name
from ollama_toolkit.renderers.base import RendererError
from ollama_toolkit.server.prepare import think_level
from ollama_toolkit.store.model import Model
from ollama_toolkit.template import TemplateError, Values, render_jinja
from ollama_toolkit.template.funcs import BUILTINS, OLLAMA_FUNCS
from ollama_toolkit.template.nodes import ListNode
from ollama_toolkit.template.parser import parse_trees

_FUNC_NAMES = frozenset(BUILTINS) | frozenset(OLLAMA_FUNCS)

# Jinja chat templates that write tool calls this way (Qwen, Hermes and their kin).
_JINJA_TOOL_TAG = "<tool_call>"


class ChatTemplate:
    """How one model turns a conversation into a prompt, and how it writes tool calls and
    thinking in its answers."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.jinja = model.jinja_template
        # The tools as the prompt shows them, once a built-in parser has renamed them.
        self.processed_tools: list[dict[str, Any]] | None = None

    def capabilities(self) -> list[str]:
        """The model's capabilities (store/model.py), with those of the template that renders
        its prompts: its GGUF's Jinja chat template, or its Go template."""
        return self.model.capabilities()

    def render(
        self, messages: list[dict[str, Any]], tools: list[Tool] | None, think: ThinkValue | None
    ) -> str:
        wire_tools = self._wire_tools(tools)
        if self.model.renderer:
            renderer = renderer_for_name(self.model.renderer)
            if renderer is None:
                raise InternalError(f'unknown renderer "{self.model.renderer}"')
            try:
                return renderer.render(messages, wire_tools, think)
            except RendererError as e:
                raise InternalError(str(e)) from None
        try:
            if self.jinja is not None:
                return render_jinja(
                    self.jinja,
                    messages,
                    wire_tools or None,
                    bos_token=self._bos_text(),
                    eos_token=self._token_text("tokenizer.ggml.eos_token_id"),
                    template_kwargs=jinja_think_kwargs(think),
                )
            values = Values(
                messages=messages,
                tools=wire_tools,
                think=bool(think),
                think_level=think_level(think),
                is_think_set=think is not None,
            )
            return self.model.parsed_template.execute(values)
        except TemplateError as e:
            raise InternalError(f"template error: {e}") from None

    def _wire_tools(self, tools: list[Tool] | None) -> list[dict[str, Any]] | None:
        if tools is None:
            return None
        if self.processed_tools is not None:
            return self.processed_tools
        return [t.to_wire() for t in tools]

    def builtin_parser(
        self,
        messages: list[dict[str, Any]],
        tools: list[Tool] | None,
        think: ThinkValue | None,
    ) -> BuiltinParser | None:
        """The model's built-in output parser, told the tools, the conversation's last message
        (an assistant's is continued) and `think`; None when the model names none (or one not
        built in, as Ollama falls back). The tools it renames are the ones rendered."""
        if not self.model.parser:
            return None
        parser = parser_for_name(self.model.parser)
        if parser is None:
            return None
        wire = [t.to_wire() for t in tools] if tools is not None else None
        processed = parser.init(wire, messages[-1] if messages else None, think)
        if tools is not None:
            self.processed_tools = processed
        return parser

    def tool_call_tag(self) -> str:
        if self.jinja is not None:
            return _JINJA_TOOL_TAG if _JINJA_TOOL_TAG in self.jinja else JSON_TAG
        return tool_call_tag(self._root())

    def thinking_parser(self, prompt: str) -> ThinkingParser:
        """A parser for the answer to `prompt`, already inside the thinking when the prompt
        ends by opening it. The tags are the template's, or `<think>` `</think>`."""
        opening, closing = self.model.thinking_tags
        if not (opening and closing):
            opening, closing = DEFAULT_TAGS
        parser = ThinkingParser(opening, closing)
        if prompt.strip().endswith(opening):
            parser.add(opening)
        return parser

    def _root(self) -> ListNode:
        return _template_root(self.model.template)

    def _bos_text(self) -> str:
        # When the tokenizer adds BOS itself, a BOS written by the template would be a second one.
        if self.model.metadata.get("tokenizer.ggml.add_bos_token", True):
            return ""
        return self._token_text("tokenizer.ggml.bos_token_id")

    def _token_text(self, key: str) -> str:
        token = self.model.metadata.get(key)
        tokens = self.model.metadata.get("tokenizer.ggml.tokens") or []
        return str(tokens[token]) if isinstance(token, int) and 0 <= token < len(tokens) else ""


class BuiltinReader:
    """A model's built-in parser as the routes read it: (thinking, content) of each piece of
    output, its tool calls kept until taken; output it cannot read fails the request (500,
    the parser's words)."""

    def __init__(self, parser: BuiltinParser) -> None:
        self.parser = parser
        self.calls: list[ToolCall] = []

    def add(self, text: str) -> tuple[str, str]:
        return self._read(self.parser.add, text)

    def finish(self) -> tuple[str, str]:
        return self._read(self.parser.finish)

    def take_calls(self) -> list[ToolCall]:
        calls, self.calls = self.calls, []
        return calls

    def _read(self, step: Callable[..., Parsed], *text: str) -> tuple[str, str]:
        try:
            content, thinking, calls = step(*text)
        except ParserError as e:
            raise InternalError(str(e)) from None
        self.calls += calls
        return thinking, content


def preserved_tokens(runner: Runner, parser: BuiltinParser | None) -> frozenset[int]:
    """The ids of the special tokens `parser` reads, so the engine writes them out as text: each
    of its `preserved_tokens` that is one token of this model's vocabulary."""
    if parser is None:
        return frozenset()
    ids = (runner.tokenize(text, add_special=False) for text in parser.preserved_tokens)
    return frozenset(t[0] for t in ids if len(t) == 1)


def jinja_think_kwargs(think: ThinkValue | None) -> dict[str, Any]:
    """`think` as a Jinja chat template reads it, the `chat_template_kwargs` Ollama gives
    llama.cpp: `enable_thinking` (so `think: false` turns a template's thinking off) and, for a
    level, `reasoning_effort`; nothing when `think` is not set."""
    if think is None:
        return {}
    kwargs: dict[str, Any] = {"enable_thinking": bool(think)}
    if isinstance(think, str):
        kwargs["reasoning_effort"] = think
    return kwargs


@functools.lru_cache(maxsize=32)
def _template_root(text: str) -> ListNode:
    return parse_trees(text, _FUNC_NAMES)[""].root


def conversation(model: Model, messages: list[Message]) -> list[dict[str, Any]]:
    """The messages a prompt is rendered from: the model's own (its Modelfile MESSAGEs and
    SYSTEM) before the request's, as plain wire dicts."""
    msgs = [*(dict(m) for m in model.messages), *(m.to_wire() for m in messages)]
    for m in msgs:
        m["role"] = str(m.get("role", "")).lower()
    if model.system and messages[0].role.lower() != "system":
        msgs.insert(0, {"role": "system", "content": model.system})
    if model.config.get("model_family") == "qwen3" or model.name.model == "deepseek-r1":
        _drop_old_thinking(msgs)
    return msgs


def _drop_old_thinking(msgs: list[dict[str, Any]]) -> None:
    """Ollama strips `<think>` blocks from assistant turns before the last user message of
    qwen3 and deepseek-r1 conversations: old reasoning only costs context."""
    last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=-1)
    for m in msgs[:last_user]:
        if m["role"] == "assistant":
            parser = ThinkingParser(*DEFAULT_TAGS)
            _, content = parser.add(m.get("content", ""))
            m["content"] = content + parser.finish()[1]


def chat_prompt(
    render: Callable[[list[dict[str, Any]]], str],
    messages: list[dict[str, Any]],
    count_tokens: Callable[[str], int],
    num_ctx: int,
    truncate: bool,
) -> str:
    """Render `messages`; when `truncate` and the prompt exceeds `num_ctx` tokens, drop the
    oldest messages until it fits, keeping every system message and at least the last one."""
    if not truncate:
        return render(messages)
    for start in range(len(messages)):
        kept = [m for m in messages[:start] if m["role"] == "system"] + messages[start:]
        prompt = render(kept)
        if start == len(messages) - 1 or count_tokens(prompt) <= num_ctx:
            return prompt
    return render(messages)
