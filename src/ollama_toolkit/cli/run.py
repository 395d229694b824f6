"""`ollama-toolkit run [MODEL [PROMPT]]`: one answer, or an interactive session with history.

With no MODEL, the bundled chat model (`smollm2:135m`) answers. One-shot prompts (PROMPT, or
text piped in) use /api/generate, which renders them through the model's template; the
interactive session keeps its history as chat messages and uses /api/chat, as `ollama run` does.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any

from ollama_toolkit.api.types import Metrics
from ollama_toolkit.cli import render
from ollama_toolkit.cli.values import parse_value
from ollama_toolkit.client import Client, ResponseError

PROMPT = ">>> "
CONTINUATION = "... "
MULTILINE = '"""'

HELP = """Available Commands:
  /set parameter NAME VALUE   Set a parameter (num_predict, temperature, seed, stop, ...)
  /set system TEXT            Set the system message
  /show info                  Show details for this model
  /clear                      Clear the session context
  /bye                        Exit
  /?, /help                   Help for a command

Use \"\"\" to begin and end a multi-line message."""


def run(client: Client, args: argparse.Namespace) -> int:
    prompt = " ".join(args.prompt)
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        prompt = f"{piped} {prompt}" if prompt else piped
    if prompt:
        return _one_shot(client, args, prompt)
    client.show(args.model)  # an unknown model fails here, before the first prompt
    return Session(client, args.model, args).loop()


def _one_shot(client: Client, args: argparse.Namespace, prompt: str) -> int:
    last = None
    for chunk in client.generate(
        args.model, prompt, format=args.format, keep_alive=args.keepalive, stream=True
    ):
        print(chunk.response, end="", flush=True)
        last = chunk
    print()
    if args.verbose and last is not None:
        render.stderr().print(render.stats_table(last))
    return 0


@dataclass
class Session:
    """An interactive conversation: its history, system message and options."""

    client: Client
    model: str
    args: argparse.Namespace
    messages: list[dict[str, str]] = field(default_factory=list)
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def loop(self) -> int:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        while True:
            try:
                text = self._read()
            except EOFError:
                print()
                return 0
            except KeyboardInterrupt:
                print("\nUse Ctrl + d or /bye to exit.")
                continue
            if text.startswith("/"):
                if self._command(text) == "bye":
                    return 0
            elif text.strip():
                self._answer(text)

    def _read(self) -> str:
        """One message: a line, or the lines between a pair of triple quotes."""
        line = input(PROMPT)
        if not line.lstrip().startswith(MULTILINE):
            return line
        body = line.lstrip()[len(MULTILINE) :]
        lines = []
        while not body.rstrip().endswith(MULTILINE):
            lines.append(body)
            body = input(CONTINUATION)
        lines.append(body.rstrip()[: -len(MULTILINE)])
        return "\n".join(lines).strip("\n")

    def _command(self, text: str) -> str | None:
        words = text.split(None, 3)
        match words:
            case ["/bye"] | ["/exit"]:
                return "bye"
            case ["/clear"]:
                self.messages.clear()
                print("Cleared session context")
            case ["/set", "parameter", name, value]:
                if name == "stop":
                    self.options.setdefault("stop", []).append(value)
                else:
                    self.options[name] = parse_value(value)
                print(f"Set parameter '{name}' to '{value}'")
            case ["/set", "system", *_]:
                self.system = text.split("system", 1)[1].strip().strip('"')
                print("Set system message.")
            case ["/show", "info"]:
                print(render.model_info(self.client.show(self.model)))
            case ["/?"] | ["/help"]:
                print(HELP)
            case _:
                print(f"Unknown command '{words[0]}'. Type /? for help")
        return None

    def _answer(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})
        system = [{"role": "system", "content": self.system}] if self.system else []
        reply: list[str] = []
        try:
            stream = self.client.chat(
                self.model,
                system + self.messages,
                options=self.options or None,
                format=self.args.format,
                keep_alive=self.args.keepalive,
                stream=True,
            )
            last: Metrics | None = None
            with contextlib.closing(stream):  # an interrupt closes the response: the server stops
                for chunk in stream:
                    reply.append(chunk.message.content)
                    print(chunk.message.content, end="", flush=True)
                    last = chunk
            print("\n")
            if self.args.verbose and last is not None:
                render.stderr().print(render.stats_table(last))
        except KeyboardInterrupt:
            print("\n")
        except ResponseError as e:
            print()
            render.error(e.error)
            self.messages.pop()
            return
        self.messages.append({"role": "assistant", "content": "".join(reply)})
