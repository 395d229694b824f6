"""`ollama-toolkit` (and `python -m ollama_toolkit`): parse the command line, dispatch, exit.

Exit codes: 0 success, 1 the request failed (the server refused it or none could be reached),
2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ollama_toolkit import config
from ollama_toolkit.cli import models, render
from ollama_toolkit.cli.run import run
from ollama_toolkit.client import Client, ResponseError
from ollama_toolkit.client.autostart import ensure_server
from ollama_toolkit.store.bundled import CHAT_MODEL
from ollama_toolkit.version import __version__

Handler = Callable[[Client, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama-toolkit",
        description="Large language model runner: an Ollama-compatible server and its client.",
        epilog="The server address comes from OLLAMA_HOST (default 127.0.0.1:11434).",
    )
    parser.add_argument("-v", "--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "serve",
        help="Start the server (on OLLAMA_HOST)",
        description="Start the server in the foreground.",
        epilog=config.settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    client_opts = argparse.ArgumentParser(add_help=False)
    client_opts.add_argument(
        "--no-autostart",
        action="store_true",
        help="fail instead of starting a local server when none answers",
    )

    def command(name: str, handler: Handler, help: str, **kw: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, parents=[client_opts], **kw)  # type: ignore[arg-type]
        p.set_defaults(handler=handler)
        return p

    p = command("run", run, "Run a model: answer PROMPT, or chat interactively")
    p.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        default=CHAT_MODEL,
        help=f"the model (default {CHAT_MODEL}, the bundled chat model)",
    )
    p.add_argument(
        "prompt",
        metavar="PROMPT",
        nargs="*",
        help="one-shot prompt; image files among its words (./photo.jpg) or paths in it"
        " (.jpg, .jpeg, .png, .webp) are sent with it",
    )
    p.add_argument("--format", help='response format ("json" or a JSON schema)')
    p.add_argument("--keepalive", help="how long the model stays loaded (e.g. 5m, 0, -1)")
    p.add_argument("--verbose", action="store_true", help="show timings for each response")

    command("list", models.list_models, "List models", aliases=["ls"])
    command("ps", models.ps, "List running models")

    p = command("show", models.show, "Show information for a model")
    p.add_argument("model", metavar="MODEL")
    for field in models.SHOW_FIELDS:
        p.add_argument(f"--{field}", action="store_true", help=f"show the model's {field}")

    p = command("stop", models.stop, "Stop a running model")
    p.add_argument("model", metavar="MODEL")

    p = command("rm", models.rm, "Remove models")
    p.add_argument("models", metavar="MODEL", nargs="+")

    p = command("cp", models.cp, "Copy a model")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("destination", metavar="DESTINATION")

    p = command("pull", models.pull, "Pull a model from a registry")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--insecure", action="store_true", help="use an insecure registry")

    p = command("create", models.create, "Create a model from a Modelfile")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-f", "--file", default="Modelfile", help="the Modelfile (default ./Modelfile)")
    p.add_argument("-q", "--quantize", help="quantize the model to this level (e.g. q4_K_M)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            # Before server.app imports llama.cpp, whose libgomp reads GOMP_SPINCOUNT only then.
            config.set_openmp_defaults()
            from ollama_toolkit.server.app import serve

            serve()
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        host = ensure_server(autostart=not args.no_autostart)
        with Client(host) as client:
            return args.handler(client, args)
    except ResponseError as e:
        hint = " (set OLLAMA_API_KEY to a key the server accepts)" if e.status_code == 401 else ""
        render.error(e.error + hint)
    except ConnectionError as e:
        render.error(str(e))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 1
