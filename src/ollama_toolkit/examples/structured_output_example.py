"""Structured output: a pydantic model's JSON schema as `format`, the answer parsed back into it.

    python -m ollama_toolkit.examples.structured_output_example --prompt "Describe Canada."

The server constrains generation to the schema, so the text parses as long as `--num-predict`
leaves room for it; a model as small as the bundled ones may give odd values, but their shape
is guaranteed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field

from ollama_toolkit.client import Client
from ollama_toolkit.examples import _common


class Country(BaseModel):
    """Bounds on lengths become part of the grammar: the answer cannot ramble past them."""

    name: str = Field(max_length=40)
    capital: str = Field(max_length=40)
    languages: list[Annotated[str, Field(max_length=20)]] = Field(max_length=3)


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Ask for JSON that fits a pydantic model, and parse the answer into it.")
    p.add_argument("--prompt", default="Describe Canada as JSON.", help="the question")
    p.add_argument("--num-predict", type=int, default=256, help="maximum tokens (default 256)")
    return p


def structured(args: argparse.Namespace) -> int:
    host = _common.server(args)
    with Client(host, fallback_models=_common.fallback_models(args)) as client:
        response = client.generate(
            args.model,
            args.prompt,
            format=Country.model_json_schema(),
            options={"temperature": 0, "num_predict": args.num_predict},
        )
    _common.note_fallback(args.model, response.model)
    country = Country.model_validate_json(response.response)
    print(country.model_dump_json(indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _common.run(lambda: structured(args))


if __name__ == "__main__":
    raise SystemExit(main())
