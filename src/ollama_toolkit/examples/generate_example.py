"""Generate an answer and show its statistics.

python -m ollama_toolkit.examples.generate_example --prompt "Explain AI ethics." --stream

The default model is the bundled chat model, `smollm2:135m`: /api/generate renders the prompt
through its ChatML template, so it answers rather than continues. The client's fallback chain
tries `--model`, then `smollm2:135m`, then the pretrained `gemma3:270m-pt` (which continues the
prompt as text), each when the one before is missing; a note on stderr says which answered.
`--no-fallback` turns the chain off.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console

from ollama_toolkit.cli.render import stats_table
from ollama_toolkit.client import Client
from ollama_toolkit.examples import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Generate an answer with a local model and print its statistics.")
    p.add_argument("--prompt", default="Explain AI ethics.", help="the prompt")
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--format", help='"json", or a JSON schema')
    p.add_argument("--temperature", type=float, help="sampling temperature (0: greedy)")
    p.add_argument("--num-predict", type=int, help="maximum number of tokens to generate")
    p.add_argument("--seed", type=int, help="random seed, for repeatable output")
    return p


def generate(args: argparse.Namespace) -> int:
    host = _common.server(args)
    with Client(host, fallback_models=_common.fallback_models(args)) as client:
        request = {
            "system": args.system,
            "format": _common.response_format(args.format),
            "options": _common.options(
                args, temperature="temperature", num_predict="num_predict", seed="seed"
            ),
        }
        if args.stream:
            for chunk in client.generate(args.model, args.prompt, stream=True, **request):
                print(chunk.response, end="", flush=True)
                final = chunk
            print()
        else:
            final = client.generate(args.model, args.prompt, **request)
            print(final.response)
    _common.note_fallback(args.model, final.model)
    Console().print(stats_table(final))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _common.run(lambda: generate(args))


if __name__ == "__main__":
    raise SystemExit(main())
