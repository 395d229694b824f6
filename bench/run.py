"""One command: our server against llama.cpp's tools and two peer servers, in one run.

    .venv/bin/python -m bench.run [--quick] [--threads 2] [--only WORKLOAD]

See bench/README.md for what each figure means. Exits 0 unless a step crashed; targets are
reported as PASS/FAIL, never enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import httpx

from bench import baselines, kv_cache, servers, speculative, vision
from bench.baselines import LlamaBench
from bench.build import BUILD_DIR, LLAMA_CPP_PYTHON_VERSION, ensure_built
from bench.cpu import OtherLoad
from bench.load import Load, Result, Turn, llama_completion, ollama_generate
from bench.measure import (
    CITY_PROMPT,
    CITY_SCHEMA,
    Ask,
    ollama_load,
    openai_load,
    round_trips,
    sequential,
    warm_up,
)
from bench.prompts import PromptFactory
from bench.report import BUSY_WARNING, ROWS, VISION_ROWS, show
from bench.wire import Connection

CLIENTS = 8
GEN_TOKENS = 128  # single-stream generation (llama-bench tg128)
PP_TOKENS = 512  # cold prompt processing (llama-bench pp512), BOS included
LOAD_PROMPT_TOKENS = 110  # 8-client test: prompt and generated tokens per request
LOAD_GEN_TOKENS = 64
PREFIX_TOKENS = 1000  # the repeated prefix of the prompt-cache figure
SHORT_TOKENS = 16  # short prompts and tails
SPEC_LOAD_TURNS = 2  # requests per client in the 8-client runs of speculation's normal rows
MIB = 1024 * 1024

Clients = list[list[Turn]]  # one list of requests per client, sent one after another


@dataclass(frozen=True)
class Plan:
    reps: int  # repetitions of each single-request figure (median reported)
    pairs: int  # llama-bench runs, each next to one generation and one prompt of ours
    overhead_requests: int
    rounds: int  # requests each of the 8 clients sends, one after another
    loads: int  # 8-client runs per server (median reported), each with prompts of its own
    staggered: int  # the same, for the staggered 8 clients
    images: int  # llama-mtmd-cli runs, each next to one pair of our requests (median reported)
    copies: int = 3  # rounds of the copy-heavy workloads over their servers (median reported)


FULL = Plan(reps=5, pairs=7, overhead_requests=20, rounds=3, loads=3, staggered=2, images=9)
QUICK = Plan(
    reps=1, pairs=2, overhead_requests=8, rounds=1, loads=1, staggered=1, images=3, copies=1
)
MEMORY_FIGURES = ("mem_ours", "mem_llama_server", "ttft_warm", "ttft_cold")  # --only memory
WORKLOADS = ("vision", "kv-cache", "speculative", "memory", "ray")  # what --only can pick


class Run:
    """Collects figures and notes; a step that raises is reported and the run goes on."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}
        self.notes: dict[str, str] = {}
        self.failed: list[str] = []
        self.busy: dict[str, float] = {}  # figure → CPUs other processes used meanwhile
        self.llama_cpp = "(build unknown)"  # llama.cpp's build, as llama-bench reports it
        self.offload = ""  # what our server's /api/ps said of its model, loaded and idle

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"-- {name}", file=sys.stderr, flush=True)
        started, other, before = time.monotonic(), OtherLoad(), dict(self.figures)
        try:
            yield
        except Exception:
            traceback.print_exc()
            self.failed.append(name)
        busy = other.cpus()
        for key, value in self.figures.items():
            if before.get(key) != value:
                self.busy[key] = max(busy, self.busy.get(key, 0.0))
        print(
            f"   {time.monotonic() - started:.1f}s, other processes: {busy:.2f} CPUs",
            file=sys.stderr,
            flush=True,
        )

    def load(self, key: str, loads: list[Load], streamed: bool = True) -> None:
        """The median run's rate; the notes give every run's rate."""
        by_rate = sorted(loads, key=lambda x: x.total_rate)
        load = by_rate[(len(by_rate) - 1) // 2]
        self.figures[key] = load.total_rate
        first = statistics.median(r.ttft for r in load.results)
        prompt = statistics.mean(r.prompt_tokens for r in load.results)
        gen = statistics.mean(r.gen_tokens for r in load.results)
        runs = f"median of {' / '.join(f'{x.total_rate:.0f}' for x in loads)}; " * (len(loads) > 1)
        self.notes[key] = (
            f"{runs}{len(load.results)} req ({prompt:.0f}+{gen:.0f} tok) in {load.wall:.1f}s, "
            + (f"TTFT p50 {first * 1000:.0f} ms" if streamed else "not streamed")
        )

    def memory(self, key: str, mem: servers.Memory) -> None:
        self.figures[key] = mem.peak / MIB
        self.notes[key] = f"RSS {mem.rss / MIB:.0f} MiB now"


def staggered_clients(pf: PromptFactory, rounds: int) -> Clients:
    """Traffic that comes and goes: before each request a client pauses 0 to 1.75 s and then
    asks for 32 to 116 tokens, so requests start and finish at different steps and the busy
    slots are any subset of the 8. Deterministic, so every server gets the same schedule."""
    return [
        [
            Turn(
                pf.make(LOAD_PROMPT_TOKENS),
                max_tokens=32 + (i * 5 + j * 3) % 8 * 12,
                pause_s=(i * 3 + j * 5) % 8 * 0.25,
            )
            for j in range(rounds)
        ]
        for i in range(CLIENTS)
    ]


def bundled_gguf() -> tuple[Path, Path]:
    """The bundled model registered in a store under bench/.build: (GGUF path, store dir)."""
    from ollama_toolkit.store.bundled import ensure_gemma
    from ollama_toolkit.store.store import Store

    models = BUILD_DIR / "models"
    store = Store(models)
    name = ensure_gemma(store)
    return store.blob_path(store.read_manifest(name).layers[0].digest), models


def single_stream(
    run: Run, srv: servers.Server, pf: PromptFactory, gguf: Path, threads: int, plan: Plan
) -> None:
    """Generation and cold prompt speed, each of our requests right after a llama-bench run.

    This machine's speed drifts by several percent within a minute, so each llama-bench run
    (pp512 and tg128, one repetition) is paired with one generation and one prompt of ours,
    measured seconds later; our server is idle while llama-bench runs.
    """
    base: list[LlamaBench] = []
    gen: list[Result] = []
    pp: list[Result] = []
    with run.step(f"llama-bench pp{PP_TOKENS} tg{GEN_TOKENS} and our server, {plan.pairs} pairs"):
        for _ in range(plan.pairs):
            base.append(baselines.run_llama_bench(gguf, threads, PP_TOKENS, GEN_TOKENS, 1))
            gen += sequential(srv, [Ask(pf.make(SHORT_TOKENS), GEN_TOKENS)])
            pp += sequential(srv, [Ask(pf.make(PP_TOKENS), 1)])
        run.llama_cpp = base[0].build
        pairs = f"median of {len(base)} runs, each paired with one of ours"
        run.figures["tg"] = median([b.tg for b in base])
        run.notes["tg"] = pairs
        run.figures["pp_base"] = median([b.pp for b in base])
        run.notes["pp_base"] = pairs
        run.figures["gen"] = median([r.gen_rate for r in gen])
        client = median([(r.gen_tokens - 1) / (r.seconds - r.ttft) for r in gen])
        run.notes["gen"] = (
            f"{gen[0].gen_tokens} tok, client clock {client:.1f} tok/s; "
            + _pair_spread([r.gen_rate for r in gen], [b.tg for b in base])
        )
        run.figures["pp"] = median([r.prompt_rate for r in pp])
        run.notes["pp"] = f"{pp[0].prompt_tokens}-token prompts; " + _pair_spread(
            [r.prompt_rate for r in pp], [b.pp for b in base]
        )


def _pair_spread(ours: list[float], base: list[float]) -> str:
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    return f"pairs {min(ratios):.3f}–{max(ratios):.3f}×"


def batched_bench(run: Run, gguf: Path, threads: int, load_prompt: int) -> None:
    with run.step("llama-batched-bench"):
        bb = baselines.run_batched_bench(gguf, threads, load_prompt, LOAD_GEN_TOKENS, CLIENTS)
        run.figures["batched"] = bb.speed
        run.notes["batched"] = f"npp {bb.n_prompt}, ntg {bb.n_gen}, tg {bb.speed_tg:.0f} tok/s"


def our_server(
    run: Run,
    pf: PromptFactory,
    gguf: Path,
    models: Path,
    threads: int,
    plan: Plan,
    loads: list[Clients],
    staggered: list[Clients],
) -> None:
    with run.step("our server: start"), servers.ours(models, threads, CLIENTS) as srv:
        run.memory("mem_ours", warm_up(srv, pf.make(SHORT_TOKENS), openai=False))
        run.offload = offload(srv)
        single_stream(run, srv, pf, gguf, threads, plan)
        cached_prefix(run, srv, pf, plan)
        with run.step("our server: format"):
            asks = []
            for _ in range(plan.reps):
                prompt = pf.make(SHORT_TOKENS) + CITY_PROMPT
                asks += [Ask(prompt, GEN_TOKENS), Ask(prompt, GEN_TOKENS, CITY_SCHEMA)]
            rs = sequential(srv, asks)
            run.figures["fmt_free"] = median([r.gen_rate for r in rs[0::2]])
            run.figures["fmt"] = median([r.gen_rate for r in rs[1::2]])
            run.notes["fmt"] = f"{median([r.gen_tokens for r in rs[1::2]]):.0f} tok constrained"
        with run.step("our server: overhead"):
            asks = [Ask(pf.make(SHORT_TOKENS), 1) for _ in range(plan.overhead_requests)]
            rs = sequential(srv, asks)
            run.figures["overhead"] = median([(r.ttft - r.prompt_eval_s) * 1000 for r in rs])
            run.figures["prefill"] = median([r.prompt_eval_s * 1000 for r in rs])
            floor = median(round_trips(srv, "/api/version", plan.overhead_requests)) * 1000
            run.notes["overhead"] = (
                f"{len(rs)} requests of {rs[0].prompt_tokens} tokens;"
                f" GET /api/version p50 {floor:.1f} ms"
            )
        with run.step("llama-server: start"), servers.llama_server(gguf, threads, CLIENTS) as peer:
            run.memory("mem_llama_server", warm_up(peer, pf.make(SHORT_TOKENS), openai=True))
            pool_prompt_processing(run, srv, peer, pf, plan)
            with run.step("our server and llama-server: 8 clients, alternating"):
                ours, theirs = _alternate(srv, peer, loads)
                run.load("load_ours", ours)
                run.load("load_llama_server", theirs)
            with run.step("our server and llama-server: 8 staggered clients, alternating"):
                ours, theirs = _alternate(srv, peer, staggered)
                run.load("stagger_ours", ours)
                run.load("stagger_llama_server", theirs)


def pool_prompt_processing(
    run: Run, srv: servers.Server, peer: servers.Server, pf: PromptFactory, plan: Plan
) -> None:
    """Cold 512-token prompts, one at a time, on our server and on llama-server, both with 8
    slots of 4096 cells: ours in its one shared K/V pool (where the other slots' cached
    prompts stay), llama-server's in a stream of the slot's own. Each pair's prompt is new (no
    cached prefix but the BOS token) and goes to both, the first of the pair alternating; the
    other server is idle meanwhile. Ours: prompt_eval_count / prompt_eval_duration; theirs:
    prompt_n / prompt_ms of /completion's `timings`."""
    name = f"our server and llama-server: {PP_TOKENS}-token prompts, {plan.pairs} pairs"
    with run.step(name):
        ours: list[Result] = []
        theirs: list[Result] = []
        for i in range(plan.pairs):
            prompt = pf.make(PP_TOKENS)
            for who in ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours"):
                if who == "ours":
                    with Connection(srv.base_url, keep_alive=False) as conn:
                        ours.append(ollama_generate(conn, prompt, 1))
                else:
                    with Connection(peer.base_url, keep_alive=False) as conn:
                        theirs.append(llama_completion(conn, prompt, 1))
        mine, base = [r.prompt_rate for r in ours], [r.prompt_rate for r in theirs]
        run.figures["pp_pool"] = median(mine)
        run.notes["pp_pool"] = (
            f"prompt_eval_count {ours[0].prompt_tokens}, median of {len(ours)}, alternating"
            f" with llama-server's; {_pair_spread(mine, base)}"
        )
        run.figures["pp_pool_llama_server"] = median(base)
        run.notes["pp_pool_llama_server"] = (
            f"timings.prompt_n {theirs[0].prompt_tokens} / prompt_ms, median of {len(theirs)}"
        )


def memory_and_prefix_cache(run: Run, gguf: Path, models: Path, threads: int, plan: Plan) -> None:
    """The memory rows (peak RSS loaded and idle, ours and llama-server's) and the cached-prefix
    time to first token, without the other workloads."""
    pf = PromptFactory(gguf)
    try:
        with run.step("our server: start"), servers.ours(models, threads, CLIENTS) as srv:
            run.memory("mem_ours", warm_up(srv, pf.make(SHORT_TOKENS), openai=False))
            cached_prefix(run, srv, pf, plan)
        with run.step("llama-server: start"), servers.llama_server(gguf, threads, CLIENTS) as peer:
            run.memory("mem_llama_server", warm_up(peer, pf.make(SHORT_TOKENS), openai=True))
    finally:
        pf.close()


def cached_prefix(run: Run, srv: servers.Server, pf: PromptFactory, plan: Plan) -> None:
    with run.step("our server: cached prefix"):
        asks = []
        for _ in range(plan.reps):
            prefix = pf.make(PREFIX_TOKENS)
            asks += [Ask(prefix + pf.tail(SHORT_TOKENS), 1) for _ in range(2)]
        rs = sequential(srv, asks)
        run.figures["ttft_cold"] = median([r.ttft * 1000 for r in rs[0::2]])
        run.figures["ttft_warm"] = median([r.ttft * 1000 for r in rs[1::2]])
        run.notes["ttft_warm"] = (
            f"prompt_eval_count {rs[0].prompt_tokens} cold, {rs[1].prompt_tokens} warm"
        )


def _alternate(
    ours: servers.Server, peer: servers.Server, runs: list[Clients]
) -> tuple[list[Load], list[Load]]:
    """Each run's clients go to our server and then to llama-server, seconds apart, so both see
    the same machine; the idle server takes no CPU meanwhile."""
    mine, theirs = [], []
    for clients in runs:
        mine.append(ollama_load(ours, clients))
        theirs.append(openai_load(peer, clients, stream=True))
    return mine, theirs


def llama_cpp_python(
    run: Run, pf: PromptFactory, gguf: Path, threads: int, loads: list[Clients]
) -> None:
    with run.step("llama-cpp-python server: 8 clients"):
        servers.ensure_llama_cpp_python_server()
        with servers.llama_cpp_python(gguf, threads) as srv:
            run.memory("mem_lcp", warm_up(srv, pf.make(SHORT_TOKENS), openai=True))
            # One run only: it takes minutes, and its target (2.5x) is far from the noise.
            lcp = openai_load(srv, loads[0], stream=False)
            run.load("load_lcp", [lcp], False)


def text_workloads(run: Run, gguf: Path, models: Path, threads: int, plan: Plan) -> None:
    """Every workload on text prompts: llama-batched-bench, our server (with llama-bench and
    llama-server next to it), llama-cpp-python's server."""
    pf = PromptFactory(gguf)
    try:
        # The same prompts for every server under the 8 clients, fresh ones for each run (a
        # server's prompt cache must not serve a repeat); the batched-bench shape follows their
        # mean length.
        loads = [
            [
                [Turn(pf.make(LOAD_PROMPT_TOKENS), LOAD_GEN_TOKENS) for _ in range(plan.rounds)]
                for _ in range(CLIENTS)
            ]
            for _ in range(plan.loads)
        ]
        staggered = [staggered_clients(pf, plan.rounds) for _ in range(plan.staggered)]
        load_prompt = round(
            statistics.mean(pf.count(t.prompt) for x in loads for turns in x for t in turns)
        )
        batched_bench(run, gguf, threads, load_prompt)
        our_server(run, pf, gguf, models, threads, plan, loads, staggered)
        llama_cpp_python(run, pf, gguf, threads, loads)
    finally:
        pf.close()


def image_prefill(run: Run, gguf: Path, models: Path, threads: int, plan: Plan) -> None:
    """A prompt with one image (bench/vision.py): each llama-mtmd-cli run is followed by one pair
    of our requests, the prompt without the image and then with a new one, so both sides of a
    pair see the same machine; our server (one slot) is idle while llama-mtmd-cli runs.

    Until our server takes the image, its side fails (a 400, or an image ignored): the baseline's
    runs still go on and are reported, and the step fails.
    """
    name = f"llama-mtmd-cli and our server: a prompt with an image, {plan.images} pairs"
    with run.step(name), vision.assets() as assets, servers.ours(models, threads, 1) as srv:
        base: list[vision.MtmdRun] = []
        ours: list[vision.Pair] = []
        failure: Exception | None = None
        try:
            vision.create_model(srv, gguf, assets.projector)
            # Loads the model and its projector: not measured.
            vision.pair(srv, assets.png(), assets.tokens_per_image)
        except Exception as e:
            failure = e
        for _ in range(plan.images):
            base.append(vision.run_mtmd_cli(gguf, assets.projector, assets.png_file(), threads))
            if failure is None:
                try:
                    ours.append(vision.pair(srv, assets.png(), assets.tokens_per_image))
                except Exception as e:
                    failure = e
        pairs = f"median of {len(base)} runs" + ", each paired with one of ours" * (failure is None)
        run.figures["vision_base"] = median([b.prompt_eval_s * 1000 for b in base])
        run.notes["vision_base"] = f"{base[0].prompt_tokens} prompt tokens; {pairs}"
        run.figures["vision_share_base"] = median([b.image_s * 1000 for b in base])
        run.notes["vision_share_base"] = (
            f"encode {median([b.encode_s * 1000 for b in base]):.2f} ms"
            f" + image decode {median([b.image_decode_s * 1000 for b in base]):.1f} ms"
        )
        if failure is not None:
            raise failure
        run.figures["vision_ours"] = median([p.with_image.prompt_eval_s * 1000 for p in ours])
        run.notes["vision_ours"] = (
            f"prompt_eval_count {ours[0].with_image.prompt_tokens}"
            f" ({ours[0].without.prompt_tokens} without the image)"
        )
        run.figures["vision_share"] = median([p.image_s * 1000 for p in ours])
        run.notes["vision_share"] = (
            "prompt_eval_duration with the image − without it"
            f" ({median([p.without.prompt_eval_s * 1000 for p in ours]):.1f} ms)"
        )


def kv_cache_settings(run: Run, gguf: Path, models: Path, threads: int, plan: Plan) -> None:
    """Our server with each K/V cache type and flash attention setting (bench/kv_cache.py): all
    four up at once, the requests going round them, so each sees the same machine."""
    pf = PromptFactory(gguf)
    try:
        loads = [
            [
                [Turn(pf.make(LOAD_PROMPT_TOKENS), LOAD_GEN_TOKENS) for _ in range(plan.rounds)]
                for _ in range(CLIENTS)
            ]
            for _ in range(plan.loads)
        ]
        with contextlib.ExitStack() as up:
            ours: dict[str, servers.Server] = {}
            for s in kv_cache.SETTINGS:
                with run.step(f"our server, {s.label}: start, load, memory"):
                    srv = up.enter_context(
                        servers.ours(models, threads, CLIENTS, s.env, f"ours-kv-{s.key}")
                    )
                    run.memory(f"kv_mem_{s.key}", warm_up(srv, pf.make(SHORT_TOKENS), False))
                    run.figures[f"kv_size_{s.key}"] = kv_cache.ps_size(srv) / MIB
                    ours[s.key] = srv
            with run.step(f"generation, 1 stream: {plan.reps} rounds over the settings"):
                gen: dict[str, list[Result]] = {key: [] for key in ours}
                for _ in range(plan.reps):
                    for key, srv in ours.items():
                        gen[key] += sequential(srv, [Ask(pf.make(SHORT_TOKENS), GEN_TOKENS)])
                for key, results in gen.items():
                    run.figures[f"kv_gen_{key}"] = median([r.gen_rate for r in results])
                    run.notes[f"kv_gen_{key}"] = f"median of {len(results)}"
            with run.step(f"8 clients: {plan.loads} runs over the settings"):
                runs: dict[str, list[Load]] = {key: [] for key in ours}
                for clients in loads:
                    for key, srv in ours.items():
                        runs[key].append(ollama_load(srv, clients))
                for key, results in runs.items():
                    run.load(f"kv_load_{key}", results)
    finally:
        pf.close()


def speculative_decoding(run: Run, gguf: Path, models: Path, threads: int, plan: Plan) -> None:
    """Copy-heavy generation (bench/speculative.py): our server with speculative decoding
    (OLLAMA_SPECULATIVE=auto) and without it (`off`), llama-server in its n-gram speculative
    modes; all up at once, each round's requests going round them, so each sees the same
    machine. Then normal workloads on our two servers, where `auto` must cost nothing."""
    pf = PromptFactory(gguf)
    with contextlib.ExitStack() as up:
        up.callback(pf.close)
        with run.step("speculative decoding: start our server twice and llama-server's modes"):
            mine = up.enter_context(
                servers.ours(models, threads, CLIENTS, speculative.AUTO, "ours-speculative-auto")
            )
            off = up.enter_context(
                servers.ours(models, threads, CLIENTS, speculative.OFF, "ours-speculative-off")
            )
            peers = {
                mode: up.enter_context(
                    servers.llama_server(
                        gguf, threads, CLIENTS, ("--spec-type", mode), f"llama-server-{mode}"
                    )
                )
                for mode in speculative.LLAMA_SERVER_MODES
            }
            speculative.warm(mine, off, peers)
        with run.step(f"copy-heavy generation: {plan.copies} rounds over the servers"):
            figures, notes = speculative.rounds(mine, off, peers, plan.copies)
            run.figures.update(figures)
            run.notes.update(notes)
        with run.step(f"normal workloads, auto and off: {plan.copies} rounds"):
            gen: dict[str, list[Result]] = {"spec_plain": [], "spec_plain_off": []}
            for _ in range(plan.copies):
                ask = Ask(pf.make(SHORT_TOKENS), GEN_TOKENS)
                gen["spec_plain"] += sequential(mine, [ask])
                gen["spec_plain_off"] += sequential(off, [ask])
            for key, rs in gen.items():
                run.figures[key] = median([r.gen_rate for r in rs])
                run.notes[key] = f"{rs[0].gen_tokens} tok, median of {len(rs)}"
            loads: dict[str, list[Load]] = {"spec_load": [], "spec_load_off": []}
            for _ in range(plan.copies):
                turns = SPEC_LOAD_TURNS if plan.copies > 1 else 1
                clients = [
                    [Turn(pf.make(LOAD_PROMPT_TOKENS), LOAD_GEN_TOKENS) for _ in range(turns)]
                    for _ in range(CLIENTS)
                ]
                loads["spec_load"].append(ollama_load(mine, clients))
                loads["spec_load_off"].append(ollama_load(off, clients))
            for key, runs in loads.items():
                run.load(key, runs)


def offload(srv: servers.Server) -> str:
    """Our server's `/api/ps`: how much of each loaded model is on a GPU."""
    models = httpx.get(srv.base_url + "/api/ps", timeout=10).json()["models"]
    return "; ".join(
        f"{m['name']}: size_vram {m['size_vram'] / MIB:.0f} MiB of size {m['size'] / MIB:.0f} MiB"
        for m in models
    )


def gpu_line(offloaded: str) -> str:
    """Whether the rows ran on a GPU, and if not, why: llama-cpp-python's build decides."""
    import llama_cpp

    from ollama_toolkit.engine.devices import gpu_devices

    if not llama_cpp.llama_supports_gpu_offload():
        return (
            "GPU rows: not run: this llama-cpp-python build has no GPU backend"
            " (llama_supports_gpu_offload() is false), so every figure above is the CPU's"
        )
    gpus = gpu_devices()
    if not gpus:
        return "GPU rows: not run: the build can offload, but ggml lists no GPU device"
    names = ", ".join(f"{g.name} ({g.description})" for g in gpus)
    return (
        f"GPU rows: every row above ran on {names}: our server offloads the layers that fit"
        " (num_gpu -1), llama.cpp's tools at their defaults (all layers)"
        + (f"; our /api/ps: {offloaded}" if offloaded else "")
    )


def workloads(
    run: Run, only: str | None, gguf: Path, models: Path, threads: int, plan: Plan
) -> None:
    """The workloads `--only` picks; without it, all but Ray's."""
    if only == "vision":
        image_prefill(run, gguf, models, threads, plan)
        run.llama_cpp = vision.mtmd_build()
    elif only == "kv-cache":
        kv_cache_settings(run, gguf, models, threads, plan)
        run.llama_cpp = vision.mtmd_build()  # the vendored llama.cpp's build, as the tools name it
    elif only == "speculative":
        speculative_decoding(run, gguf, models, threads, plan)
        run.llama_cpp = vision.mtmd_build()
    elif only == "memory":
        memory_and_prefix_cache(run, gguf, models, threads, plan)
        run.llama_cpp = vision.mtmd_build()
    else:
        text_workloads(run, gguf, models, threads, plan)
        image_prefill(run, gguf, models, threads, plan)
        speculative_decoding(run, gguf, models, threads, plan)
        kv_cache_settings(run, gguf, models, threads, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions (about 3 min on 2 cores)"
    )
    parser.add_argument("--threads", type=int, default=2, help="threads for every engine")
    parser.add_argument(
        "--only",
        choices=WORKLOADS,
        help="run only this workload: vision, a prompt with an image (about 10 s); kv-cache,"
        " our server with each K/V cache type and flash attention on or off (about 3.5 min);"
        " speculative, copy-heavy generation with and without speculative decoding, and"
        " llama-server's n-gram modes (about 4 min); memory, peak RSS of our server and"
        " llama-server loaded and idle, and our cached-prefix time to first token (about 1 min);"
        " ray, bench/ray_scaleout.py: 1 and 2 Ray Serve replicas under 8 clients (not part of"
        " the full run)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    if args.only == "ray":
        from bench import ray_scaleout

        return ray_scaleout.main(["--rounds", "1"] if args.quick else [])

    build_s = ensure_built()
    if build_s is not None:
        print(f"built llama.cpp tools in {build_s:.0f}s", file=sys.stderr)
    gguf, models = bundled_gguf()
    run = Run()
    other = OtherLoad()
    try:
        workloads(run, args.only, gguf, models, args.threads, plan)
    except KeyboardInterrupt:  # Ctrl-C, or `timeout -s INT`: the figures so far are shown
        run.failed.append("interrupted")

    busy = other.cpus()
    if busy > BUSY_WARNING:
        print(f"warning: other processes kept {busy:.1f} CPUs busy during the run", file=sys.stderr)
    title = (
        f"ollama_toolkit vs llama.cpp {run.llama_cpp} from llama-cpp-python"
        f" {LLAMA_CPP_PYTHON_VERSION}: {args.threads} threads"
        + (f", {CLIENTS} clients" if args.only is None else f", only {args.only}")
    )
    caption = (
        f"{platform.machine()}, {os.cpu_count()} CPUs; GGUF {gguf}; "
        f"{'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f}s; "
        f"other processes' load during the run: {busy:.2f} CPUs"
    )
    rows = {
        "vision": VISION_ROWS,
        "kv-cache": kv_cache.ROWS,
        "speculative": speculative.ROWS,
        "memory": [r for r in ROWS if r.ours in MEMORY_FIGURES and r.baseline in MEMORY_FIGURES],
    }.get(args.only or "", ROWS + speculative.ROWS + kv_cache.ROWS)
    show(run.figures, run.notes, run.busy, title, caption, rows)
    print(gpu_line(run.offload))
    if run.failed:
        print("failed steps: " + ", ".join(run.failed), file=sys.stderr)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
