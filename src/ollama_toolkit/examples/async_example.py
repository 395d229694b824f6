"""Several prompts at once with `AsyncClient`: the server decodes them together.

python -m ollama_toolkit.examples.async_example "Why is the sky blue?" "What is water?"
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from ollama_toolkit.api.types import GenerateResponse
from ollama_toolkit.client import AsyncClient
from ollama_toolkit.config import HostURL
from ollama_toolkit.examples import _common

DEFAULT_PROMPTS = ["Why is the sky blue?", "What is water made of?", "Why does fire burn?"]


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Answer several prompts concurrently.")
    p.add_argument("prompts", nargs="*", default=DEFAULT_PROMPTS, help="prompts to answer")
    p.add_argument("--num-predict", type=int, default=32, help="maximum tokens per answer")
    return p


async def complete_all(host: HostURL, args: argparse.Namespace) -> list[GenerateResponse]:
    options = {"num_predict": args.num_predict}
    async with AsyncClient(host, fallback_models=_common.fallback_models(args)) as client:
        return await asyncio.gather(
            *(client.generate(args.model, prompt, options=options) for prompt in args.prompts)
        )


def run_all(args: argparse.Namespace) -> int:
    host = _common.server(args)
    started = time.perf_counter()
    responses = asyncio.run(complete_all(host, args))
    elapsed = time.perf_counter() - started
    for prompt, response in zip(args.prompts, responses, strict=True):
        print(f"--- {prompt}\n{response.response.strip()}\n")
    tokens = sum(r.eval_count or 0 for r in responses)
    print(f"{len(responses)} answers, {tokens} tokens in {elapsed:.2f} s")
    _common.note_fallback(args.model, responses[0].model)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _common.run(lambda: run_all(args))


if __name__ == "__main__":
    raise SystemExit(main())
