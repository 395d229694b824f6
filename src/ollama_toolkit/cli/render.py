"""How the CLI and the examples show things: sizes, times, tables, statistics, errors.

Colours and rich formatting appear only on a terminal; piped output is plain text that scripts
can parse (tables are aligned columns, never wrapped).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from rich.console import Console
from rich.table import Table

from ollama_toolkit.api.types import Metrics, ShowResponse

_UNITS = (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000))


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """`Error: message` on stderr, red on a terminal: Ollama's wording for every failure."""
    stderr().print(f"[bold red]Error:[/] {message}" if sys.stderr.isatty() else f"Error: {message}")


def human_bytes(n: int) -> str:
    """Decimal units as Ollama prints them: `291 MB`, `1.5 GB`, `512 B`."""
    for unit, size in _UNITS:
        if n >= size:
            value = n / size
            if value >= 10 or value == math.trunc(value):
                return f"{int(value)} {unit}"
            return f"{value:.1f} {unit}"
    return f"{n} B"


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (Go writes nanoseconds and `Z`; Python 3.10 reads neither)."""
    text = text.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text)


def _span(seconds: float) -> str:
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("week", 7 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds" if seconds >= 1 else "less than a second"


def ago(text: str) -> str:
    """`3 days ago` for a past timestamp."""
    seconds = (datetime.now(timezone.utc) - parse_time(text)).total_seconds()
    return f"{_span(max(seconds, 0))} ago".capitalize()


def until(text: str) -> str:
    """`4 minutes from now` for an expiry; `Forever` for a pinned model, `Stopping...` when past."""
    seconds = (parse_time(text) - datetime.now(timezone.utc)).total_seconds()
    if seconds > 100 * 365 * 86400:
        return "Forever"
    if seconds <= 0:
        return "Stopping..."
    return f"{_span(seconds)} from now".capitalize()


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by spaces, like Ollama's tabwriter output."""
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "    ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    return "\n".join(lines)


def stats_table(metrics: Metrics) -> Table:
    """The final statistics of a generation: durations in seconds, token counts and rates."""
    table = Table(title="Statistics", title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")

    def seconds(ns: int | None) -> str:
        return f"{(ns or 0) / 1e9:.3f} s"

    def rate(count: int | None, ns: int | None) -> str:
        return f"{(count or 0) / (ns / 1e9):.2f} tokens/s" if ns else "-"

    table.add_row("total duration", seconds(metrics.total_duration))
    table.add_row("load duration", seconds(metrics.load_duration))
    table.add_row("prompt tokens", str(metrics.prompt_eval_count or 0))
    table.add_row("prompt eval duration", seconds(metrics.prompt_eval_duration))
    table.add_row("prompt eval rate", rate(metrics.prompt_eval_count, metrics.prompt_eval_duration))
    table.add_row("generated tokens", str(metrics.eval_count or 0))
    table.add_row("eval duration", seconds(metrics.eval_duration))
    table.add_row("eval rate", rate(metrics.eval_count, metrics.eval_duration))
    return table


def model_info(show: ShowResponse) -> str:
    """`ollama show MODEL`: architecture, size, context, capabilities, parameters, license."""
    info = show.model_info or {}
    arch = str(info.get("general.architecture") or show.details.family or "")
    model_rows = [
        ("architecture", arch),
        ("parameters", show.details.parameter_size),
        ("context length", str(info.get(f"{arch}.context_length", ""))),
        ("embedding length", str(info.get(f"{arch}.embedding_length", ""))),
        ("quantization", show.details.quantization_level),
    ]
    sections = [("Model", [(k, v) for k, v in model_rows if v])]
    if show.capabilities:
        sections.append(("Capabilities", [(c, "") for c in show.capabilities]))
    if show.projector_info:
        sections.append(("Projector", _projector_rows(show.projector_info)))
    if show.parameters:
        params = [line.split(None, 1) for line in show.parameters.splitlines() if line.strip()]
        sections.append(("Parameters", [(p[0], p[1] if len(p) > 1 else "") for p in params]))
    if show.system:
        sections.append(("System", [(line, "") for line in show.system.splitlines()[:2]]))
    if show.license:
        sections.append(("License", [(line, "") for line in show.license.splitlines()[:2]]))
    out = []
    for title, rows in sections:
        width = max((len(k) for k, _ in rows), default=0)
        out.append(f"  {title}")
        out += [f"    {k.ljust(width)}    {v}".rstrip() for k, v in rows]
        out.append("")
    return "\n".join(out)


def _projector_rows(info: dict) -> list[tuple[str, str]]:
    """Ollama's Projector table: architecture, parameters, and the vision (or audio) encoder's
    embedding length and projection dimensions."""
    from ollama_toolkit.store.gguf_meta import parameter_size

    arch = str(info.get("general.architecture") or "")
    rows = [("architecture", arch)] if arch else []
    count = info.get("general.parameter_count")
    if isinstance(count, int | float):
        rows.append(("parameters", parameter_size(int(count))))
    for key, label in (("embedding_length", "embedding length"), ("projection_dim", "dimensions")):
        value = next(
            (info[k] for m in ("vision", "audio") if (k := f"{arch}.{m}.{key}") in info), None
        )
        if value is not None:
            rows.append((label, str(value)))
    return rows
