"""The models in the store and the ones loaded now, as tables.

python -m ollama_toolkit.examples.list_models_example
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ollama_toolkit.cli.render import ago, human_bytes, until
from ollama_toolkit.client import Client
from ollama_toolkit.examples import _common


def list_models(args: argparse.Namespace) -> int:
    host = _common.server(args)
    with Client(host) as client:
        stored, running = client.list(), client.ps()
    table = Table(title="Models")
    for column in ("name", "family", "parameters", "quantization", "size", "modified"):
        table.add_column(column)
    for m in stored.models:
        d = m.details
        table.add_row(
            m.name,
            d.family,
            d.parameter_size,
            d.quantization_level,
            human_bytes(m.size),
            ago(m.modified_at),
        )
    loaded = Table(title="Loaded now")
    for column in ("name", "size", "context", "until"):
        loaded.add_column(column)
    for p in running.models:
        loaded.add_row(p.name, human_bytes(p.size), str(p.context_length), until(p.expires_at))
    console = Console()
    console.print(table)
    console.print(loaded)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = _common.parser("List the models in the store and those loaded in memory.", model=False)
    return _common.run(lambda: list_models(p.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
