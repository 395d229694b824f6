"""`ollama-toolkit run [MODEL [PROMPT]]`: one answer, or an interactive session with history.

With no MODEL, the bundled chat model (`smollm2:135m`) answers. One-shot prompts (PROMPT, or
text piped in) use /api/generate, which renders them through the model's template; the
interactive session keeps its history as chat messages and uses /api/chat, as `ollama run` does.

Images go with the prompt as `ollama run` sends them: `run MODEL "describe this" ./photo.jpg`,
or a path inside the prompt (`What is in ./photo.jpg?`, also in the interactive session). See
`prompt_and_images`.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
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


# Ollama's pattern (cmd/interactive.go, extractFileNames) without its audio: a path that starts
# with `/`, `./`, `\` or a drive letter, may hold escaped or plain spaces, and ends with an image
# extension. It also matches text that is no file (the end of a URL): only files that exist are
# taken from the text.
IMAGE_PATH = re.compile(r"(?:[a-zA-Z]:)?(?:\./|/|\\)[\S\\ ]+?\.(?i:jpg|jpeg|png|webp)\b", re.ASCII)
IMAGE_NAME = re.compile(r"\.(?:jpg|jpeg|png|webp)$", re.IGNORECASE)
# The characters a shell escapes with a backslash in a path (Ollama's normalizeFilePath).
_ESCAPED = re.compile(r"\\([ ()\[\]{}$&;'\\*?~])")
MAX_IMAGE_FILE = 100 * 1024 * 1024  # Ollama's limit on a file it reads for a prompt


class ImageFileError(Exception):
    """An image the command line names that cannot be sent: missing, unreadable, not an image."""


def extract_file_names(text: str) -> list[str]:
    """What looks like an image path in `text`, as Ollama's `extractFileNames` finds it."""
    return IMAGE_PATH.findall(text)


def normalize_file_path(path: str) -> str:
    """`./my\\ photo.png` → `./my photo.png`: the shell's backslash escapes undone."""
    return _ESCAPED.sub(r"\1", path)


def read_image(path: str) -> bytes:
    """The bytes of a JPEG, PNG or WebP file, or a clear `ImageFileError`."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size > MAX_IMAGE_FILE:
                raise ImageFileError(f"image '{path}' is larger than the 100 MB limit")
            f.seek(0)
            data = f.read()
    except OSError as e:
        raise ImageFileError(f"couldn't read image '{path}': {e.strerror or e}") from None
    if not _is_image(data):
        raise ImageFileError(f"'{path}' is not a JPEG, PNG or WebP image")
    return data


def _is_image(data: bytes) -> bool:
    """The signatures of the types Ollama accepts (Go's http.DetectContentType)."""
    return (
        data.startswith(b"\xff\xd8\xff")
        or data.startswith(b"\x89PNG\r\n\x1a\n")
        or (data[:4] == b"RIFF" and data[8:14] == b"WEBPVP")
    )


def extract_images(text: str) -> tuple[str, list[bytes]]:
    """The image files whose paths `text` holds, read, and `text` without those paths (and the
    quotes around them) and trimmed, as Ollama's `extractFileData`; a match that is no file
    stays text, and a text without images is returned as it is."""
    images = []
    for found in extract_file_names(text):
        path = normalize_file_path(found)
        if not Path(path).exists():
            continue
        images.append(read_image(path))
        print(f"Added image '{path}'", file=sys.stderr)
        for quoted in (f"'{path}'", f"'{found}'", f'"{path}"', f'"{found}"', found):
            text = text.replace(quoted, "")
    return (text.strip() if images else text), images


def prompt_and_images(words: list[str], piped: str = "") -> tuple[str, list[bytes]]:
    """The prompt and its images from the command line's words and the text piped in.

    A word that is an image's file name as a whole (`./photo.jpg`, `photo.png`, `my photo.webp`;
    not a URL) is an image: read, or an `ImageFileError` when there is no such file. The piped
    text and the other words make the prompt, from which the image paths are taken as
    `extract_images` does. Unlike `ollama run`, which looks for paths only when the model has
    the vision capability, images are always sent: a model without it answers that it does not
    support images.
    """
    images = []
    text = [piped] if piped else []
    for word in words:
        if (
            IMAGE_NAME.search(word)
            and "\n" not in word
            and "://" not in word
            and (" " not in word.strip() or Path(word).exists())
        ):
            images.append(read_image(word))
            print(f"Added image '{word}'", file=sys.stderr)
        else:
            text.append(word)
    prompt, found = extract_images(" ".join(text))
    return prompt, images + found


def run(client: Client, args: argparse.Namespace) -> int:
    piped = "" if sys.stdin.isatty() else sys.stdin.read()
    try:
        prompt, images = prompt_and_images(args.prompt, piped)
    except ImageFileError as e:
        render.error(str(e))
        return 1
    if prompt or images:
        return _one_shot(client, args, prompt, images)
    client.show(args.model)  # an unknown model fails here, before the first prompt
    return Session(client, args.model, args).loop()


def _one_shot(client: Client, args: argparse.Namespace, prompt: str, images: list[bytes]) -> int:
    last = None
    for chunk in client.generate(
        args.model,
        prompt,
        images=images or None,
        format=args.format,
        keep_alive=args.keepalive,
        stream=True,
    ):
        print(chunk.response, end="", flush=True)
        last = chunk
    print()
    if args.verbose and last is not None:
        render.stderr().print(render.stats_table(last))
    return 0


def _starts_with_a_path(line: str) -> bool:
    """Whether a line that starts with `/` is a message that starts with an image file's path
    (`/home/me/cat.png what is this?`), not a command: Ollama's test, and the file must exist
    (`/set system … /tmp/a.png` stays a command)."""
    first = line.split()[0]
    return any(
        name.startswith(first) and Path(normalize_file_path(name)).exists()
        for name in extract_file_names(line)
    )


@dataclass
class Session:
    """An interactive conversation: its history, system message and options."""

    client: Client
    model: str
    args: argparse.Namespace
    messages: list[dict[str, Any]] = field(default_factory=list)
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
            if text.startswith("/") and not _starts_with_a_path(text):
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
        try:
            content, images = extract_images(text)
        except ImageFileError as e:
            render.error(str(e))
            return
        message: dict[str, Any] = {"role": "user", "content": content}
        if images:
            message["images"] = images
        self.messages.append(message)
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
