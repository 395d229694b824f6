"""Copy-heavy generation: speculative decoding with prompt lookup, against our own decoding
without it and against llama-server's own n-gram speculative modes.

Two workloads whose output copies from the prompt, one stream, greedy:

- rewrite: a 60-line Python file to be written out again with one change. The bundled model is
  a 270M *pretrained* model: asked once, it drifts off after a few lines, so the prompt shows the
  file in two versions (the second with one change) and asks for a third with one more change,
  the way a few-shot prompt sets a pattern; it then writes the file out, line for line, with
  the change;
- quotes: a 200-word text, a question answered with a quote from it, and a second question:
  the model answers (and goes on asking and answering) with sentences quoted from the text.

Servers, all up at once with the requests going round them, so each sees the same machine (an
idle server takes no CPU): ours as bench/servers.py starts it (8 slots), with
`OLLAMA_SPECULATIVE=auto` and again with `off` (the default); llama-server (`-np 8`, as the
main run) with each `--spec-type` of `LLAMA_SERVER_MODES`: every mode this llama.cpp has that
drafts from the context without a draft model, at its defaults. Every figure is tokens/s of the
generation by the client's clock (generated tokens after the first over the time from the first
to the last byte of the stream), the one measure every server gives alike; the median over the
rounds. llama-server's row is its best mode on that workload (each mode's figure in the notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from bench.load import Result, ollama_generate, openai_completion
from bench.report import Row, Target
from bench.servers import Server
from bench.wire import Connection

_FILE = '''"""A small inventory of items in a shop, with prices and stock counts."""

from __future__ import annotations

from dataclasses import dataclass, field

TAX_RATE = 0.2
LOW_STOCK = 5


@dataclass
class Item:
    name: str
    price: float
    stock: int = 0
    tags: list[str] = field(default_factory=list)

    def value(self) -> float:
        return self.price * self.stock

    def is_low(self) -> bool:
        return self.stock < LOW_STOCK


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        if item.name in self.items:
            self.items[item.name].stock += item.stock
        else:
            self.items[item.name] = item

    def remove(self, name: str, count: int = 1) -> bool:
        item = self.items.get(name)
        if item is None or item.stock < count:
            return False
        item.stock -= count
        return True

    def total_value(self) -> float:
        return sum(item.value() for item in self.items.values())

    def low_stock(self) -> list[str]:
        return sorted(name for name, item in self.items.items() if item.is_low())

    def tagged(self, tag: str) -> list[Item]:
        return [item for item in self.items.values() if tag in item.tags]


def price_with_tax(price: float) -> float:
    return round(price * (1 + TAX_RATE), 2)


def report(inventory: Inventory) -> str:
    lines = [f"{item.name}: {item.stock} at {price_with_tax(item.price)}" for item in inventory]
    lines.sort()
    lines.append(f"total: {inventory.total_value():.2f}")
    return "\\n".join(lines)
'''
assert len(_FILE.splitlines()) == 60

REWRITE = (
    f"### inventory.py, version 1\n{_FILE}\n"
    f"### inventory.py, version 2: LOW_STOCK = 3\n{_FILE.replace('LOW_STOCK = 5', 'LOW_STOCK = 3')}"
    "\n### inventory.py, version 3: LOW_STOCK = 3 and TAX_RATE = 0.25\n"
)

_TEXT = (
    "The lighthouse stood on a rock at the mouth of the harbour, a white tower of four storeys"
    " with a lamp room at the top. It was built in 1843 by the harbour board, after two ships"
    " were lost on the rock in the same winter. The first keeper was Thomas Reed, who kept the"
    " light for thirty-one years and wrote in his log every night, even when nothing happened."
    " His daughter Mary took over the light when he died, and she kept it until the lamp was"
    " made automatic in 1921. The log books are now in the town library. They record storms,"
    " wrecks, visitors and the price of lamp oil, and they say that on the night of the great"
    " storm of 1867 the keeper rowed out twice to bring sailors in from a sinking boat. The"
    " tower was painted with a red band in 1905 so that ships could tell it from the church"
    " spire by day. Today the light is run from the mainland, and the keeper's cottage is a"
    " small museum that opens in the summer."
)
QUOTES = (
    "Read the text and answer the questions by quoting the text word for word.\n\n"
    f"Text: {_TEXT}\n\n"
    "Question: Who was the first keeper, and what did he do every night?\n"
    'Answer (quoted from the text): "The first keeper was Thomas Reed, who kept the light for'
    ' thirty-one years and wrote in his log every night, even when nothing happened."\n\n'
    "Question: What do the log books record, and what happened in the great storm?\n"
    'Answer (quoted from the text): "'
)


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    prompt: str
    tokens: int  # generated, num_predict / max_tokens


WORKLOADS = [
    Workload("rewrite", "rewrite a 60-line file, 1 stream", REWRITE, 400),
    Workload("quotes", "answer with quotes, 1 stream", QUOTES, 256),
]
OFF = {"OLLAMA_SPECULATIVE": "off"}
AUTO = {"OLLAMA_SPECULATIVE": "auto"}
# llama-server's modes that draft from the context (`--spec-type`): ngram-cache is the lookup
# decoding of llama.cpp's `lookup` example; the others are the server's own n-gram drafters.
LLAMA_SERVER_MODES = ["ngram-cache", "ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod"]

ROWS = [
    row
    for w in WORKLOADS
    for row in [
        Row(
            w.label,
            "tok/s",
            f"spec_{w.key}",
            "ours, OLLAMA_SPECULATIVE=off",
            f"spec_{w.key}_off",
            Target(">=", 1.5),
        ),
        Row(
            w.label,
            "tok/s",
            f"spec_{w.key}",
            "llama-server, best n-gram mode",
            f"spec_{w.key}_llama",
            Target(">=", 1.0),
        ),
    ]
]
"""Our figure (OLLAMA_SPECULATIVE=auto) next to ours without speculation and llama-server's."""

# Normal workloads, where speculation must cost nothing: the main run's generation (one stream,
# 128 tokens after a short prompt of words) and its 8 clients (≈110-token prompts, 64 tokens
# each), on the same two servers of ours. The ratio's noise on 2 cores is a few percent.
NORMAL_ROWS = [
    Row(
        "normal text: generation, 1 stream",
        "tok/s",
        "spec_plain",
        "ours, OLLAMA_SPECULATIVE=off",
        "spec_plain_off",
        Target(">=", 0.95),
    ),
    Row(
        "normal text: 8 clients, prompt+gen.",
        "tok/s",
        "spec_load",
        "ours, OLLAMA_SPECULATIVE=off",
        "spec_load_off",
        Target(">=", 0.95),
    ),
]
ROWS += NORMAL_ROWS


def client_rate(r: Result) -> float:
    """Generated tokens/s by the client's clock: after the first token, to the last byte."""
    return (r.gen_tokens - 1) / (r.seconds - r.ttft)


def ours(server: Server, w: Workload) -> Result:
    with Connection(server.base_url) as conn:
        return ollama_generate(conn, w.prompt, w.tokens)


def llama_server(server: Server, w: Workload) -> Result:
    with Connection(server.base_url) as conn:
        return openai_completion(conn, w.prompt, w.tokens, stream=True)


def warm(mine: Server, off: Server, peers: dict[str, Server]) -> None:
    """Load the model into every server (not measured)."""
    short = Workload("warm", "", "Hello", 4)
    for server in (mine, off):
        ours(server, short)
    for server in peers.values():
        llama_server(server, short)


def rounds(
    mine: Server, off: Server, peers: dict[str, Server], n: int
) -> tuple[dict[str, float], dict[str, str]]:
    """`n` rounds of every workload on every server, in turn; the figures and their notes."""
    results: dict[str, list[Result]] = {}
    for _ in range(n):
        for w in WORKLOADS:
            results.setdefault(f"spec_{w.key}", []).append(ours(mine, w))
            results.setdefault(f"spec_{w.key}_off", []).append(ours(off, w))
            for key, server in peers.items():
                results.setdefault(f"spec_{w.key}_{key}", []).append(llama_server(server, w))
    rates = {key: median(client_rate(r) for r in rs) for key, rs in results.items()}
    figures, notes = {}, {}
    for w in WORKLOADS:
        for key in (f"spec_{w.key}", f"spec_{w.key}_off"):
            rs = results[key]
            figures[key] = rates[key]
            notes[key] = (
                f"{rs[0].prompt_tokens}+{rs[0].gen_tokens} tok, median of {len(rs)};"
                f" eval_duration {median(r.gen_rate for r in rs):.1f} tok/s"
            )
        modes = {mode: rates[f"spec_{w.key}_{mode}"] for mode in peers}
        if modes:
            best = max(modes, key=lambda mode: modes[mode])
            figures[f"spec_{w.key}_llama"] = modes[best]
            notes[f"spec_{w.key}_llama"] = ", ".join(f"{m} {r:.0f}" for m, r in modes.items())
    return figures, notes
