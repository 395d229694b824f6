"""Ollama's prompt templates: `Template` and `Values`, the Python side of `template/template.go`.

A template is parsed once (with Ollama's functions and `missingkey=zero`) and executed for
each request. `execute` picks Ollama's rendering mode: fill-in-the-middle (prompt + suffix),
chat (the template uses `.Messages`), or legacy (one execution per user turn with
`.System`/`.Prompt`/`.Response`, the last one cut after `.Response`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from .errors import TemplateError
from .exec import Program, execute
from .funcs import BUILTINS, OLLAMA_FUNCS
from .nodes import ActionNode, CommandNode, FieldNode, ListNode, PipeNode, Tree
from .parser import parse_trees
from .treeops import cut_after_response, identifiers
from .values import GoList
from .wire import TemplateMessage, convert_message, convert_tools

_FUNC_NAMES = frozenset(BUILTINS) | frozenset(OLLAMA_FUNCS)


@dataclass
class Values:
    """What a request contributes to a prompt (Ollama's `template.Values`).

    `messages` and `tools` are in Ollama's wire shape (what a client POSTs to /api/chat).
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    prompt: str = ""
    suffix: str = ""
    think: bool = False
    think_level: str = ""
    is_think_set: bool = False
    force_legacy: bool = False


def _response_action() -> ActionNode:
    """`{{ .Response }}`, which Ollama appends to templates that render neither messages nor
    a response, so that legacy rendering has a place to stop."""
    pipe = PipeNode(0, 0)
    command = CommandNode(0)
    command.args.append(FieldNode(0, ".Response"))
    pipe.cmds.append(command)
    return ActionNode(0, 0, pipe)


def collate(messages: list[TemplateMessage]) -> tuple[str, list[TemplateMessage]]:
    """Ollama's `collate`: all system contents joined by blank lines, and consecutive messages
    of one role merged into the first (its content extended; tool messages never merge)."""
    system: list[str] = []
    collated: list[TemplateMessage] = []
    for m in messages:
        if m.Role == "system":
            system.append(m.Content)
        if collated and collated[-1].Role == m.Role and m.Role != "tool":
            collated[-1].Content += "\n\n" + m.Content
        else:
            collated.append(m)
    return "\n\n".join(system), collated


class Template:
    """A parsed Ollama prompt template. Parse once, execute per request; thread-safe to share."""

    def __init__(self, text: str) -> None:
        self._text = text
        trees = parse_trees(text, _FUNC_NAMES)
        self._raw = Program(text, trees, OLLAMA_FUNCS)
        try:
            names = self._identifiers(trees)
        except RecursionError:
            raise TemplateError("template: : max expression depth exceeded") from None
        if "messages" not in names and "response" not in names:
            main = trees[""]
            trees = {
                **trees,
                "": Tree("", ListNode(main.root.pos, [*main.root.nodes, _response_action()])),
            }
            names.add("response")
        self._program = Program(text, trees, OLLAMA_FUNCS)
        self._vars = frozenset(names)

    @staticmethod
    def _identifiers(trees: dict[str, Tree]) -> set[str]:
        return {name.lower() for tree in trees.values() for name in identifiers(tree.root)}

    @functools.cached_property
    def _legacy_last(self) -> Program:
        """The last legacy turn's program: the tree cut after `.Response`, executed (as Ollama
        does) as a fresh template with no custom functions, no `{{define}}`d templates and the
        default missingkey option. Built on first use; chat templates never need it."""
        cut = cut_after_response(self._program.trees[""].root)
        return Program(self._text, {"": Tree("", cut)}, {}, missingkey_zero=False)

    @property
    def text(self) -> str:
        return self._text

    def vars(self) -> set[str]:
        """Lowercased field and variable names the template uses (Ollama's `Vars`)."""
        return set(self._vars)

    def execute_raw(self, data: Any) -> str:
        """Plain `text/template` execution of the template as written, on arbitrary data."""
        return execute(self._raw, data)

    def execute(self, values: Values) -> str:
        """Render a prompt the way Ollama's `Template.Execute` does."""
        system, messages = collate([convert_message(m) for m in values.messages])
        think = {
            "Think": values.think,
            "ThinkLevel": values.think_level,
            "IsThinkSet": values.is_think_set,
        }
        if values.prompt and values.suffix:
            data = {"Prompt": values.prompt, "Suffix": values.suffix, "Response": "", **think}
            return execute(self._program, data)
        if not values.force_legacy and "messages" in self._vars:
            data = {
                "System": system,
                "Messages": GoList(
                    messages, go_type="[]*template.templateMessage", nil=not messages
                ),
                "Tools": convert_tools(values.tools),
                "Response": "",
                **think,
            }
            return execute(self._program, data)
        return self._execute_legacy(messages, think)

    def _execute_legacy(self, messages: list[TemplateMessage], think: dict[str, Any]) -> str:
        """One execution per user turn; the last turn is cut right after `.Response`."""
        out: list[str] = []
        turn = {"System": "", "Prompt": "", "Response": ""}

        def flush() -> None:
            out.append(execute(self._program, {**turn, **think}))
            turn.update(System="", Prompt="", Response="")

        for m in messages:
            if m.Role == "system":
                if turn["Prompt"] or turn["Response"]:
                    flush()
                turn["System"] = m.Content
            elif m.Role == "user":
                if turn["Response"]:
                    flush()
                turn["Prompt"] = m.Content
            elif m.Role == "assistant":
                turn["Response"] = m.Content
        out.append(execute(self._legacy_last, {**turn, **think}))
        return "".join(out)


@functools.lru_cache(maxsize=64)
def parse(text: str) -> Template:
    """Parse an Ollama prompt template; raises TemplateError with Go's message if invalid.

    Cached: a template is parsed once, not on every request (parsing costs milliseconds,
    executing a fraction of that), and a parsed Template is safe to share between threads."""
    return Template(text)
