"""Chat interactively; the conversation's history goes with every message.

    python -m ollama_toolkit.examples.chat_example --system "You are terse."

Type a message and press Enter; an empty line, `exit` or Ctrl-D ends the chat.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ollama_toolkit.client import Client
from ollama_toolkit.examples import _common


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Chat with a local model, keeping the conversation's history.")
    p.add_argument("--system", help="system message that sets the assistant's behaviour")
    p.add_argument("--temperature", type=float, help="sampling temperature (0: greedy)")
    p.add_argument("--num-predict", type=int, help="maximum tokens per answer")
    return p


def chat(args: argparse.Namespace) -> int:
    host = _common.server(args)
    history = [{"role": "system", "content": args.system}] if args.system else []
    options = _common.options(args, temperature="temperature", num_predict="num_predict")
    with Client(host, fallback_models=_common.fallback_models(args)) as client:
        while True:
            if sys.stdin.isatty():
                print("you> ", end="", flush=True)
            text = sys.stdin.readline()
            if not text.strip() or text.strip() == "exit":
                return 0
            history.append({"role": "user", "content": text.strip()})
            print("assistant> ", end="", flush=True)
            answer = []
            for chunk in client.chat(args.model, history, options=options, stream=True):
                print(chunk.message.content, end="", flush=True)
                answer.append(chunk.message.content)
                if chunk.done:
                    _common.note_fallback(args.model, chunk.model)
            print()
            history.append({"role": "assistant", "content": "".join(answer)})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _common.run(lambda: chat(args))


if __name__ == "__main__":
    raise SystemExit(main())
