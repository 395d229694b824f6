"""llama.cpp's own benchmark tools on the same GGUF and thread count, with parsed results.

Both run with extra buffer types (weight repacking, and with them the AMX matmul path, which
crashes on this machine's CPU) disabled: `--repack 0` for llama-bench, `-nr` for
llama-batched-bench. The engine loads models with `use_extra_bufts = False` as well.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.build import command


@dataclass(frozen=True)
class LlamaBench:
    pp: float  # prompt tokens/s (ppN)
    tg: float  # generated tokens/s (tgN)
    build: str  # llama.cpp's build number and commit


@dataclass(frozen=True)
class BatchedBench:
    speed: float  # (prompt + generated) tokens / total seconds, all sequences together
    speed_tg: float  # generated tokens/s during the generation phase
    n_prompt: int
    n_gen: int


def _output(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def run_llama_bench(gguf: Path, threads: int, n_prompt: int, n_gen: int, reps: int) -> LlamaBench:
    """`llama-bench -p N -n M`: the average tokens/s of `reps` runs of each test."""
    flags = {"-m": gguf, "-t": threads, "-p": n_prompt, "-n": n_gen, "-r": reps}
    out = _output(command("llama-bench", {**flags, "--repack": 0, "-o": "json"}))
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == n_prompt and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == n_gen and r["n_prompt"] == 0)
    build = f"b{rows[0]['build_number']} ({rows[0]['build_commit']})"
    return LlamaBench(pp=pp, tg=tg, build=build)


def run_batched_bench(
    gguf: Path, threads: int, n_prompt: int, n_gen: int, n_seq: int
) -> BatchedBench:
    """`llama-batched-bench`: n_seq distinct prompts decoded together, then n_gen steps."""
    n_ctx = n_seq * (n_prompt + n_gen) + 256
    flags = {"-m": gguf, "-t": threads, "-tb": threads, "-c": n_ctx, "-b": 2048, "-ub": 512}
    shape = {"-npp": n_prompt, "-ntg": n_gen, "-npl": n_seq, "--output-format": "jsonl"}
    out = _output(command("llama-batched-bench", {**flags, **shape}, "-nr"))
    row = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return BatchedBench(
        speed=row["speed"],
        speed_tg=row["speed_tg"],
        n_prompt=n_prompt,
        n_gen=n_gen,
    )
