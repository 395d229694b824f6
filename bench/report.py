"""The results table: each figure of our server next to its baseline from the same run."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, JustifyMethod
from rich.table import Table


@dataclass(frozen=True)
class Target:
    """A goal on the ratio ours / baseline, or on our figure itself when `on_ratio` is False."""

    op: str  # ">=" or "<="
    value: float
    on_ratio: bool = True
    unit: str = ""

    def met(self, ours: float, ratio: float | None) -> bool | None:
        x = ratio if self.on_ratio else ours
        if x is None:
            return None
        return x >= self.value if self.op == ">=" else x <= self.value

    def __str__(self) -> str:
        sign = "≥" if self.op == ">=" else "≤"
        return f"{sign} {self.value:g}{'×' if self.on_ratio else ' ' + self.unit}"


@dataclass(frozen=True)
class Row:
    measure: str
    unit: str
    ours: str  # key of our figure
    baseline_name: str
    baseline: str  # key of the baseline figure
    target: Target | None = None
    ratio: bool = True  # whether ours / baseline means something


ROWS = [
    Row("generation, 1 stream", "tok/s", "gen", "llama-bench tg128", "tg", Target(">=", 0.95)),
    Row(
        "prompt processing, cold", "tok/s", "pp", "llama-bench pp512", "pp_base", Target(">=", 0.9)
    ),
    Row(
        "prompt processing, shared pool",
        "tok/s",
        "pp_pool",
        "llama-server -np 8, /completion",
        "pp_pool_llama_server",
        Target(">=", 1.0),
    ),
    Row(
        "8 clients, prompt+generated",
        "tok/s",
        "load_ours",
        "llama-batched-bench, 8 seq",
        "batched",
        Target(">=", 0.85),
    ),
    Row(
        "8 clients, prompt+generated",
        "tok/s",
        "load_ours",
        "llama-server -np 8, 8 clients",
        "load_llama_server",
        Target(">=", 1.0),
    ),
    Row(
        "8 clients, prompt+generated",
        "tok/s",
        "load_ours",
        "llama-cpp-python server, 8 cl.",
        "load_lcp",
        Target(">=", 2.5),
    ),
    Row(
        "8 staggered clients",
        "tok/s",
        "stagger_ours",
        "llama-server -np 8, same clients",
        "stagger_llama_server",
    ),
    Row(
        "TTFT, 1k-token prefix cached",
        "ms",
        "ttft_warm",
        "same prefix, cold",
        "ttft_cold",
        Target("<=", 0.1),
    ),
    Row(
        "format: JSON schema",
        "tok/s",
        "fmt",
        "unconstrained, same prompt",
        "fmt_free",
        Target(">=", 0.9),
    ),
    Row(
        "HTTP+scheduling on TTFT, p50",
        "ms",
        "overhead",
        "engine prefill, p50",
        "prefill",
        Target("<=", 5, on_ratio=False, unit="ms"),
        ratio=False,
    ),
    Row(
        "peak RSS, loaded + idle",
        "MiB",
        "mem_ours",
        "llama-server -np 8",
        "mem_llama_server",
        Target("<=", 1.1),
    ),
    Row("peak RSS, loaded + idle", "MiB", "mem_ours", "llama-cpp-python server", "mem_lcp"),
]

# The image workload (bench/vision.py; `--only vision` runs these alone). A tiny projector: the
# image path's overhead, not a vision encoder's speed.
VISION_ROWS = [
    Row(
        "prompt with 1 image, prefill",
        "ms",
        "vision_ours",
        "llama-mtmd-cli, same tokens",
        "vision_base",
        Target("<=", 1.0),
    ),
    Row(
        "the image's share of it",
        "ms",
        "vision_share",
        "mtmd: encode + image decode",
        "vision_share_base",
        ratio=False,
    ),
]
ROWS += VISION_ROWS


BUSY_WARNING = 0.2  # CPUs used by other processes above which a figure is suspect


def _num(x: float | None) -> str:
    if x is None:
        return "[red]n/a[/red]"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def table(
    figures: dict[str, float],
    notes: dict[str, str],
    busy: dict[str, float],
    title: str,
    caption: str,
    rows: list[Row] = ROWS,
) -> Table:
    """`busy`: per figure, the CPUs' worth of work other processes did while it was measured."""
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    columns: list[tuple[str, JustifyMethod]] = [
        ("measure", "left"),
        ("unit", "left"),
        ("ours", "right"),
        ("baseline", "left"),
        ("value", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("result", "center"),
        ("other load", "right"),
        ("notes", "left"),
    ]
    for name, justify in columns:
        t.add_column(name, justify=justify)
    noted: set[str] = set()
    for row in rows:
        ours, base = figures.get(row.ours), figures.get(row.baseline)
        ratio = ours / base if row.ratio and ours is not None and base else None
        met = row.target.met(ours, ratio) if row.target and ours is not None else None
        result = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: ""}[met]
        if row.target and met is None:
            result = "[red]n/a[/red]"
        row_notes = [
            f"{who}: {notes[k]}"
            for who, k in (("ours", row.ours), ("base", row.baseline))
            if k in notes and k not in noted
        ]
        noted.update((row.ours, row.baseline))
        t.add_row(
            row.measure,
            row.unit,
            _num(ours),
            row.baseline_name,
            _num(base),
            f"{ratio:.3f}×" if ratio is not None else "",
            str(row.target or ""),
            result,
            _busy(busy, row.ours, row.baseline),
            "; ".join(row_notes),
        )
    return t


def _busy(busy: dict[str, float], *keys: str) -> str:
    values = [busy[k] for k in keys if k in busy]
    if not values:
        return ""
    worst = max(values)
    return f"[red]{worst:.2f}[/red]" if worst > BUSY_WARNING else f"{worst:.2f}"


def show(
    figures: dict[str, float],
    notes: dict[str, str],
    busy: dict[str, float],
    title: str,
    caption: str,
    rows: list[Row] = ROWS,
) -> None:
    Console(width=200).print(table(figures, notes, busy, title, caption, rows))
