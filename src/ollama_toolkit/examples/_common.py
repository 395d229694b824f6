"""What every example shares: the connection flags, connecting, and failing with one line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ollama_toolkit.client import ResponseError
from ollama_toolkit.client.autostart import ensure_server
from ollama_toolkit.config import HostURL
from ollama_toolkit.store.bundled import BUNDLED_MODELS, CHAT_MODEL


def parser(description: str, *, model: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the connection flags, and the model flags unless `model=False`."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    prog = f"python -m {spec.name}" if spec else None
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", help="server address (default OLLAMA_HOST, else 127.0.0.1:11434)")
    p.add_argument(
        "--no-autostart",
        action="store_true",
        help="fail instead of starting a local server when none answers",
    )
    if not model:
        return p
    p.add_argument("--model", default=CHAT_MODEL, help=f"model to use (default {CHAT_MODEL})")
    p.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail when the model is missing instead of falling back to the bundled models "
        f"({', then '.join(BUNDLED_MODELS)})",
    )
    return p


def server(args: argparse.Namespace) -> HostURL:
    """The server's address, once one answers there (started in the background if need be)."""
    return ensure_server(args.host, autostart=not args.no_autostart)


def fallback_models(args: argparse.Namespace) -> list[str]:
    """The client's fallback chain: the bundled chat model, then the pretrained one."""
    return [] if args.no_fallback else list(BUNDLED_MODELS)


def options(args: argparse.Namespace, **names: str) -> dict[str, Any]:
    """Model options from the flags that were given: `options(args, temperature="temperature")`."""
    chosen = {option: getattr(args, flag) for option, flag in names.items()}
    return {k: v for k, v in chosen.items() if v is not None}


def response_format(text: str | None) -> str | dict[str, Any] | None:
    """`--format json`, or a JSON schema given inline."""
    return json.loads(text) if text and text.lstrip().startswith("{") else text


def note_fallback(requested: str, answered: str) -> None:
    if answered.casefold() != requested.casefold():
        print(f"note: '{requested}' is not available; '{answered}' answered", file=sys.stderr)


def run(example: Callable[[], int]) -> int:
    """Run an example; any failure becomes one line on stderr and exit code 1."""
    try:
        return example()
    except ResponseError as e:
        print(f"error: {e.error}", file=sys.stderr)
    except (ConnectionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1
