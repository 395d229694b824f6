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

    p = sub.add_parser(
        "serve",
        help="Start the server (on OLLAMA_HOST)",
        description="Start the server in the foreground.",
        epilog=config.settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scale = p.add_argument_group("scaling out on Ray Serve (the `ray` extra; docs/scaling-out.md)")
    scale.add_argument("--ray", action="store_true", help="run replicas on Ray Serve")
    scale.add_argument(
        "--address", help="the Ray cluster to join (`auto`: the local one); default: start one"
    )
    scale.add_argument("--replicas", type=int, default=1, help="engine replicas (default 1)")
    scale.add_argument(
        "--threads-per-replica",
        type=int,
        default=0,
        help="llama.cpp threads and logical CPUs per replica (default: OLLAMA_NUM_THREAD's)",
    )
    scale.add_argument(
        "--router",
        choices=["prefix", "pow2"],
        default="prefix",
        help="prefix: by model and prompt prefix (default); pow2: Ray's default router",
    )
    scale.add_argument(
        "--min-replicas", type=int, default=1, help="autoscaling: fewest replicas (default 1)"
    )
    scale.add_argument(
        "--max-replicas", type=int, default=0, help="autoscaling: most replicas (0: off)"
    )
    scale.add_argument(
        "--target-ongoing-requests",
        type=float,
        default=0,
        help="autoscaling: requests per replica to aim at (default OLLAMA_NUM_PARALLEL)",
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


def serve_ray(args: argparse.Namespace) -> int:
    """`serve --ray`: the server's replicas on Ray Serve (ollama_toolkit.distributed)."""
    try:
        from ollama_toolkit.distributed.app import ScaleOut
        from ollama_toolkit.distributed.app import serve_ray as run_on_ray
    except ImportError as e:
        print(f"serve --ray needs the ray extra (pip install 'ollama-toolkit[ray]'): {e}")
        return 1
    opts = ScaleOut(
        replicas=args.replicas,
        threads_per_replica=args.threads_per_replica,
        router=args.router,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        target_ongoing_requests=args.target_ongoing_requests,
    )
    run_on_ray(opts, address=args.address)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            # Before server.app imports llama.cpp, whose libgomp reads GOMP_SPINCOUNT only then.
            config.set_openmp_defaults()
            if args.ray:
                return serve_ray(args)
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
