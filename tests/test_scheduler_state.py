"""The scheduler's rules, fast, with an in-process fake runner: leases, eviction, keep_alive,
the queue limit, pinning and reloads, checked on the scheduler's state. (test_scheduler.py
checks the same through a real server on the real engine.)"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from ollama_toolkit.api.errors import InvalidRequest, ModelLoadFailed, QueueFull
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine.observer import EngineObserver, UnloadReason
from ollama_toolkit.engine.runner import (
    DoneEvent,
    Event,
    GenerateParams,
    ImageInput,
    ModelSpec,
    PromptChunk,
    TokenChunk,
    TokenEvent,
    Vocab,
    prompt_tokens,
)
from ollama_toolkit.engine.scheduler import Scheduler


class FakeRunner:
    """A runner that echoes its prompt, one character a token."""

    vocab = Vocab(bos=1, eos=2, add_bos=False, add_eos=False, fim=None)
    slots_busy = kv_cells_used = 0  # what metrics read; this runner has no slots to count

    def __init__(self, spec: ModelSpec, load: RunnerOptions, num_parallel: int) -> None:
        if spec.name == "broken":
            raise RuntimeError("bad magic")
        self.spec = spec
        self.load = load
        self.num_ctx = load.num_ctx
        self.size = 1
        self.size_vram = 0
        self.closed = False
        self.slots_total = num_parallel
        self.kv_cells_total = num_parallel * load.num_ctx

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(map(chr, tokens))

    vision = False

    def image_prompt(self, image: ImageInput) -> list[PromptChunk]:
        raise InvalidRequest(f'"{self.spec.name}" does not support images')

    def context_size(self, options: Options) -> int:
        return min(options.runner.num_ctx or self.num_ctx, self.num_ctx)

    def can_serve(self, options: RunnerOptions) -> bool:
        load = options.resolved()
        return load.num_batch == self.load.num_batch and load.num_ctx <= self.num_ctx

    async def generate(self, params: GenerateParams) -> AsyncIterator[Event]:
        tokens = prompt_tokens(params.prompt)
        for token in tokens:
            yield TokenEvent(chr(token))
        yield DoneEvent("stop", len(tokens), 0, len(tokens), 0, tokens)

    async def embed(self, inputs: list[list[int]]) -> list[np.ndarray]:
        return [np.ones(4, dtype=np.float32) for _ in inputs]

    def healthy(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True


def spec(name: str) -> ModelSpec:
    return ModelSpec(path=Path(f"/models/{name}.gguf"), name=name)


def options(**runner: int) -> Options:
    return Options(runner=RunnerOptions(**{"num_ctx": 1024, **runner}))


def scheduler(**limits: int) -> Scheduler:
    sched = Scheduler(factory=FakeRunner)
    for name, value in limits.items():
        setattr(sched, name, value)
    return sched


def loaded_names(sched: Scheduler) -> set[str]:
    return {x.spec.name for x in sched.loaded}


async def use(sched: Scheduler, name: str, keep_alive: float = 300.0, **runner: int) -> int:
    async with sched.lease(spec(name), options(**runner), keep_alive) as lease:
        return lease.load_ns


async def wait_for(condition, timeout: float = 5.0) -> None:
    """Poll until `condition()` holds; the timeout only bounds the wait (as conftest's
    wait_until)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition never held")
        await asyncio.sleep(0.01)


def test_a_lease_loads_once_and_is_released_when_the_block_ends():
    async def main():
        sched = scheduler()
        assert await use(sched, "a") > 0
        assert await use(sched, "a") == 0  # loaded already
        (entry,) = sched.loaded
        assert entry.in_flight == 0 and sched.pending == 0
        assert not math.isinf(entry.expires_at)

    asyncio.run(main())


def test_a_lease_is_released_when_the_request_fails():
    async def main():
        sched = scheduler()
        with pytest.raises(ValueError):
            async with sched.lease(spec("a"), options(), 300):
                raise ValueError("client gone")
        assert sched.pending == 0 and sched.loaded[0].in_flight == 0

    asyncio.run(main())


def test_the_runner_streams_through_the_lease():
    async def main():
        sched = scheduler()
        async with sched.lease(spec("a"), options(), 300) as lease:
            chunk = TokenChunk(lease.runner.tokenize("hi"))
            params = GenerateParams(prompt=[chunk], options=options(), num_ctx=64)
            events = [e async for e in lease.runner.generate(params)]
        assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "hi"

    asyncio.run(main())


def test_the_least_recently_used_idle_model_is_evicted():
    async def main():
        sched = scheduler(max_loaded=2)
        await use(sched, "a")
        await use(sched, "b")
        await use(sched, "a")  # b is now the least recently used
        await use(sched, "c")
        assert loaded_names(sched) == {"a", "c"}

    asyncio.run(main())


def test_pinned_models_are_never_evicted():
    async def main():
        sched = scheduler(max_loaded=2)
        await use(sched, "pinned", keep_alive=math.inf)
        await use(sched, "b")
        await use(sched, "c")
        assert loaded_names(sched) == {"pinned", "c"}
        assert next(x for x in sched.loaded if x.spec.name == "pinned").expires_at == math.inf

    asyncio.run(main())


def test_a_busy_model_is_not_evicted_until_it_is_idle():
    async def main():
        sched = scheduler(max_loaded=1)
        release = asyncio.Event()

        async def hold_a() -> None:
            async with sched.lease(spec("a"), options(), 300):
                await release.wait()

        holder = asyncio.create_task(hold_a())
        await wait_for(lambda: loaded_names(sched) == {"a"})
        loading_b = asyncio.create_task(use(sched, "b"))
        await asyncio.sleep(0.05)
        assert loaded_names(sched) == {"a"} and not loading_b.done()
        release.set()
        await holder
        await loading_b
        assert loaded_names(sched) == {"b"}

    asyncio.run(main())


class FakeGpu(EngineObserver):
    """A GPU of `capacity` bytes for fake runners: a model takes `vram[name]` of it while
    loaded (0: a model kept on the CPU); `fits` is the scheduler's gpu_fit, and records the
    models it was asked about."""

    def __init__(self, capacity: int, vram: dict[str, int]) -> None:
        self.capacity, self.vram = capacity, vram
        self.asked: list[str] = []
        self.unloads: list[tuple[str, str]] = []
        self.sched = Scheduler(factory=self.runner, gpu_fit=self.fits, observer=self)
        self.sched.max_loaded = 10  # room by count for all: only the GPU's decides

    def runner(self, spec: ModelSpec, load: RunnerOptions, num_parallel: int) -> FakeRunner:
        made = FakeRunner(spec, load, num_parallel)
        made.size_vram = min(self.vram[spec.name], self.capacity - self.used())
        return made

    def used(self) -> int:
        return sum(x.runner.size_vram for x in self.sched.loaded)

    def fits(self, spec: ModelSpec, load: RunnerOptions, num_parallel: int) -> bool | None:
        self.asked.append(spec.name)
        return self.used() + self.vram[spec.name] <= self.capacity

    def model_unloaded(self, name: str, reason: UnloadReason) -> None:
        self.unloads.append((name, reason))


def test_a_model_that_would_not_fit_on_the_gpu_unloads_idle_holders_lru_first():
    async def main():
        gpu = FakeGpu(100, {"a": 40, "b": 40, "cpu": 0, "c": 30, "d": 90})
        sched = gpu.sched
        for name in ("a", "b", "cpu"):
            await use(sched, name)
        assert gpu.asked == ["b", "cpu"]  # nothing to ask while no model holds GPU memory
        await use(sched, "c")  # 80 + 30 > 100: a, the least recently used holder, goes
        assert loaded_names(sched) == {"b", "cpu", "c"}
        assert gpu.unloads == [("a", "gpu_memory")] and gpu.used() == 70
        await use(sched, "d")  # 70 + 90: b, then c; the CPU model stays
        assert loaded_names(sched) == {"cpu", "d"} and gpu.used() == 90
        assert gpu.unloads[1:] == [("b", "gpu_memory"), ("c", "gpu_memory")]

    asyncio.run(main())


def test_pinned_and_busy_models_keep_their_gpu_memory_and_the_new_one_loads_anyway():
    async def main():
        gpu = FakeGpu(100, {"pinned": 50, "busy": 40, "new": 60})
        sched = gpu.sched
        await use(sched, "pinned", keep_alive=math.inf)
        release = asyncio.Event()

        async def hold() -> None:
            async with sched.lease(spec("busy"), options(), 300):
                await release.wait()

        holder = asyncio.create_task(hold())
        await wait_for(lambda: "busy" in loaded_names(sched))
        await use(sched, "new")  # does not fit, and nothing may be unloaded: partly offloaded
        assert loaded_names(sched) == {"pinned", "busy", "new"} and gpu.unloads == []
        release.set()
        await holder

    asyncio.run(main())


def test_without_a_gpu_nothing_is_unloaded_for_room():
    async def main():
        sched = Scheduler(factory=FakeRunner, gpu_fit=lambda spec, load, n: None)
        sched.max_loaded = 3
        for name in ("a", "b", "c"):
            await use(sched, name)
        assert loaded_names(sched) == {"a", "b", "c"}

    asyncio.run(main())


def test_keep_alive_expiry_unloads_and_closes_the_runner():
    async def main():
        sched = scheduler()
        await use(sched, "a", keep_alive=0.05)
        runner = sched.loaded[0].runner
        await wait_for(lambda: runner.closed)
        assert not sched.loaded

    asyncio.run(main())


def test_keep_alive_zero_unloads_after_the_last_request():
    async def main():
        sched = scheduler()
        await use(sched, "a")
        await sched.unload_model(spec("a"))
        assert not sched.loaded

    asyncio.run(main())


def test_a_full_queue_refuses_more_requests():
    async def main():
        sched = scheduler(max_queue=2)
        release = asyncio.Event()

        async def hold() -> None:
            async with sched.lease(spec("a"), options(), 300):
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await wait_for(lambda: sched.pending == 2)
        with pytest.raises(QueueFull):
            await use(sched, "a")
        release.set()
        await asyncio.gather(*holders)
        assert sched.pending == 0
        assert await use(sched, "a") == 0  # served again once the queue drained

    asyncio.run(main())


def test_a_larger_context_reloads_and_a_smaller_one_does_not():
    async def main():
        sched = scheduler()
        await use(sched, "a", num_ctx=2048)
        first = sched.loaded[0].runner
        assert await use(sched, "a", num_ctx=512) == 0
        assert sched.loaded[0].runner is first
        assert await use(sched, "a", num_ctx=4096) > 0
        assert sched.loaded[0].runner is not first and first.closed
        assert sched.loaded[0].runner.num_ctx == 4096

    asyncio.run(main())


def test_a_failed_load_is_a_domain_error_and_leaves_nothing_behind():
    async def main():
        sched = scheduler()
        with pytest.raises(ModelLoadFailed, match="unable to load model: broken: bad magic"):
            await use(sched, "broken")
        assert sched.pending == 0 and not sched.loaded

    asyncio.run(main())
