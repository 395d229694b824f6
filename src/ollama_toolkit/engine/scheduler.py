"""The scheduler: which models are loaded, loading on demand, keep-alive, eviction, queue limit.

Loading runs off the event loop. A request whose num_ctx fits what the loaded model already
holds is served without a reload; a larger need, or another load-time option, reloads once the
model's in-flight requests are done. Beyond OLLAMA_MAX_LOADED_MODELS the least recently used
idle model is evicted (never one pinned with a negative keep_alive); so is an idle model that
holds GPU memory, least recently used first, while the model to load would not fit whole on
its GPU (as Ollama's scheduler makes room on a GPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ollama_toolkit import config
from ollama_toolkit.api.errors import ModelLoadFailed, OllamaError, server_busy
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine.observer import NO_OBSERVER, EngineObserver, UnloadReason
from ollama_toolkit.engine.runner import ModelSpec, Runner, RunnerFactory

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    spec: ModelSpec
    runner: Runner
    keep_alive: float
    in_flight: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expires_at: float = math.inf  # wall clock (time.time()); inf while in use or pinned
    timer: asyncio.TimerHandle | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    unload_requested: bool = False  # unload_model() while in use: unloads when idle

    @property
    def key(self) -> str:
        return str(self.spec.path)

    @property
    def pinned(self) -> bool:
        return math.isinf(self.keep_alive)


@dataclass
class Lease:
    """A loaded runner reserved for one request, and the time its loading cost (0 if loaded)."""

    runner: Runner
    load_ns: int


def _local_runner(
    spec: ModelSpec, load: RunnerOptions, num_parallel: int, observer: EngineObserver = NO_OBSERVER
) -> Runner:
    from ollama_toolkit.engine.local import LocalRunner  # llama.cpp loads only when needed

    return LocalRunner(spec, load, num_parallel, observer)


def _local_gpu_fit(spec: ModelSpec, load: RunnerOptions, num_parallel: int) -> bool | None:
    from ollama_toolkit.engine.local import fits_on_gpu

    return fits_on_gpu(spec, load, num_parallel)


GpuFit = Callable[[ModelSpec, RunnerOptions, int], bool | None]
"""(model, resolved load-time options, slots) → would it load whole on its GPU now; None where
freeing GPU memory would change nothing (no GPU, a number of layers asked for). Blocking."""


class Scheduler:
    """`observer` hears of loads, unloads, refusals and (through the default factory's runners)
    finished generations; a `factory` of one's own reports generations only if it is given the
    observer itself. `gpu_fit` tells whether a model would fit whole on its GPU (the local
    engine's estimate by default; none with a factory of one's own unless given)."""

    def __init__(
        self,
        factory: RunnerFactory | None = None,
        observer: EngineObserver = NO_OBSERVER,
        gpu_fit: GpuFit | None = None,
    ) -> None:
        self.observer = observer
        self._factory = factory or functools.partial(_local_runner, observer=observer)
        self._gpu_fit = gpu_fit or (_local_gpu_fit if factory is None else None)
        self._loaded: dict[str, Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending = 0
        self.max_queue = config.max_queue()
        self.max_loaded = config.max_loaded_models()
        self.num_parallel = config.num_parallel()

    @property
    def loaded(self) -> list[Loaded]:
        return list(self._loaded.values())

    @property
    def pending(self) -> int:
        """Requests holding or waiting for a runner."""
        return self._pending

    @contextlib.asynccontextmanager
    async def lease(
        self, spec: ModelSpec, options: Options, keep_alive: float
    ) -> AsyncIterator[Lease]:
        """`async with scheduler.lease(...) as lease:` a loaded runner for `spec`, held until
        the block ends, however it ends; then its keep-alive countdown starts when idle."""
        loaded, load_ns = await self._acquire(spec, options, keep_alive)
        try:
            yield Lease(loaded.runner, load_ns)
        finally:
            self._release(loaded, keep_alive)

    async def _acquire(
        self, spec: ModelSpec, opts: Options, keep_alive: float
    ) -> tuple[Loaded, int]:
        if self._pending >= self.max_queue:
            self.observer.queue_rejected()
            raise server_busy()
        self._pending += 1
        try:
            key = str(spec.path)
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                loaded = self._loaded.get(key)
                if loaded and not loaded.runner.can_serve(opts.runner):
                    log.info("reloading %s: load options changed", spec.name)
                    await self._unload(loaded, "reload", wait=True)
                    loaded = None
                load_ns = 0
                if loaded is None:
                    await self._make_room()
                    await self._make_gpu_room(spec, opts.runner.resolved())
                    t0 = time.perf_counter()
                    loaded = await self._load(spec, opts, keep_alive)
                    load_ns = int((time.perf_counter() - t0) * 1e9)
                    self.observer.model_loaded(spec.name, load_ns / 1e9)
                loaded.spec = spec
                loaded.unload_requested = False
                loaded.in_flight += 1
                loaded.idle.clear()
                loaded.keep_alive = keep_alive
                loaded.expires_at = math.inf
                if loaded.timer:
                    loaded.timer.cancel()
                    loaded.timer = None
                return loaded, load_ns
        except BaseException:
            self._pending -= 1
            raise

    def _release(self, loaded: Loaded, keep_alive: float) -> None:
        self._pending -= 1
        loaded.in_flight -= 1
        loaded.keep_alive = keep_alive
        loaded.last_used = time.monotonic()
        if loaded.in_flight > 0:
            return
        loaded.idle.set()
        self._schedule_expiry(loaded)

    def _schedule_expiry(self, loaded: Loaded) -> None:
        if loaded.timer:
            loaded.timer.cancel()
            loaded.timer = None
        if loaded.pinned:
            loaded.expires_at = math.inf
            return
        loaded.expires_at = time.time() + loaded.keep_alive
        loop = asyncio.get_running_loop()
        loaded.timer = loop.call_later(
            max(0.0, loaded.keep_alive), lambda: asyncio.ensure_future(self._expire(loaded))
        )

    async def _expire(self, loaded: Loaded) -> None:
        if self._loaded.get(loaded.key) is loaded and loaded.in_flight == 0:
            log.info("unloading %s: keep_alive expired", loaded.spec.name)
            await self._unload(
                loaded, "unload_request" if loaded.unload_requested else "keep_alive"
            )

    async def unload_model(self, spec: ModelSpec) -> None:
        """Unload now if idle, else as soon as its in-flight requests finish (keep_alive 0)."""
        loaded = self._loaded.get(str(spec.path))
        if loaded is None:
            return
        loaded.keep_alive = 0
        loaded.unload_requested = True
        if loaded.in_flight == 0:
            await self._unload(loaded, "unload_request")

    async def _load(self, spec: ModelSpec, opts: Options, keep_alive: float) -> Loaded:
        load = opts.runner.resolved()
        log.info("loading %s (num_ctx=%d, parallel=%d)", spec.name, load.num_ctx, self.num_parallel)
        loop = asyncio.get_running_loop()
        try:
            runner = await loop.run_in_executor(None, self._factory, spec, load, self.num_parallel)
        except OllamaError:
            raise
        except Exception as e:
            raise ModelLoadFailed(f"unable to load model: {spec.name}: {e}") from e
        loaded = Loaded(spec=spec, runner=runner, keep_alive=keep_alive)
        self._loaded[loaded.key] = loaded
        return loaded

    async def _make_room(self) -> None:
        while len(self._loaded) >= self.max_loaded:
            idle = [x for x in self._loaded.values() if x.in_flight == 0 and not x.pinned]
            if not idle:
                busy = [x for x in self._loaded.values() if not x.pinned]
                if not busy:
                    log.warning("all loaded models are pinned; loading one more anyway")
                    return
                await asyncio.wait(
                    [asyncio.ensure_future(x.idle.wait()) for x in busy],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                continue
            victim = min(idle, key=lambda x: x.last_used)
            log.info(
                "evicting %s: least recently used, OLLAMA_MAX_LOADED_MODELS=%d reached",
                victim.spec.name,
                self.max_loaded,
            )
            await self._unload(victim, "lru")

    async def _make_gpu_room(self, spec: ModelSpec, load: RunnerOptions) -> None:
        """While the model would not fit whole on its GPU, unload the least recently used idle
        model that holds GPU memory (none pinned). Nothing to read when none holds any."""
        if self._gpu_fit is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            holders = [
                x
                for x in self._loaded.values()
                if x.in_flight == 0 and not x.pinned and x.runner.size_vram > 0
            ]
            if not holders:
                return
            fits = await loop.run_in_executor(None, self._gpu_fit, spec, load, self.num_parallel)
            if fits is not False:
                return
            victim = min(holders, key=lambda x: x.last_used)
            log.info("evicting %s: %s needs its GPU memory", victim.spec.name, spec.name)
            await self._unload(victim, "gpu_memory")

    async def _unload(self, loaded: Loaded, reason: UnloadReason, wait: bool = False) -> None:
        if wait and loaded.in_flight > 0:
            await loaded.idle.wait()
        removed = self._loaded.get(loaded.key) is loaded
        if removed:
            del self._loaded[loaded.key]
        if loaded.timer:
            loaded.timer.cancel()
            loaded.timer = None
        await asyncio.get_running_loop().run_in_executor(None, loaded.runner.close)
        if removed:  # counted once, should two paths unload the same model
            self.observer.model_unloaded(loaded.spec.name, reason)

    async def shutdown(self) -> None:
        for loaded in list(self._loaded.values()):
            await self._unload(loaded, "shutdown")
