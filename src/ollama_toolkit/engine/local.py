"""The local llama.cpp Runner: a Decoder thread for generation, an Embedder thread for vectors,
and the bridge that carries their results into the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator

import numpy as np

from ollama_toolkit.api.errors import InvalidRequest, does_not_support
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine import llama
from ollama_toolkit.engine.decoder import Decoder, GenerationRequest
from ollama_toolkit.engine.embedder import Embedder
from ollama_toolkit.engine.grammar import grammar_for_format
from ollama_toolkit.engine.observer import NO_OBSERVER, EngineObserver
from ollama_toolkit.engine.runner import (
    DoneEvent,
    ErrorEvent,
    Event,
    GenerateParams,
    ImageChunk,
    ImageInput,
    ModelSpec,
    PromptChunk,
    Vocab,
)


def fits_on_gpu(spec: ModelSpec, load: RunnerOptions, num_parallel: int) -> bool | None:
    """Whether the model would load whole on its GPU now, as the Decoder would size it (see
    engine/llama.py `fits_on_gpu`); None where freeing GPU memory would change nothing."""
    return llama.fits_on_gpu(spec.path, load.num_gpu, load.main_gpu, load.num_ctx * num_parallel)


class LocalRunner:
    """A Runner on this process's llama.cpp (see engine/runner.py for the interface)."""

    def __init__(
        self,
        spec: ModelSpec,
        load: RunnerOptions,
        num_parallel: int,
        observer: EngineObserver = NO_OBSERVER,
    ) -> None:
        self.spec = spec
        self.observer = observer
        self.load_options = load
        self.decoder = Decoder(spec.path, load, num_parallel, spec.projector)
        self.model = self.decoder.model
        self.projector = self.decoder.projector
        self.num_ctx = self.decoder.num_ctx
        # /api/ps `size`: the weights, the projector's, and the K/V cache as llama.cpp allocated
        # it (its type, OLLAMA_KV_CACHE_TYPE, and window-sized sliding-window layers show there),
        # plus the SWA checkpoints the slots hold when it is read; not llama.cpp's compute buffers.
        self._fixed_size = (
            int(self.model.size)
            + (self.projector.size if self.projector else 0)
            + self.decoder.ctx.cache_bytes
        )
        self._embedder: Embedder | None = None
        m = self.model
        self._vocab = Vocab(
            bos=m.bos, eos=m.eos, add_bos=m.add_bos, add_eos=m.add_eos, fim=m.fim_tokens()
        )

    @property
    def size(self) -> int:
        return self._fixed_size + self.decoder.checkpoint_bytes

    @property
    def size_vram(self) -> int:
        """/api/ps `size_vram`: the weights and K/V cache llama.cpp put on GPUs (0 on a CPU)."""
        return self.model.gpu_bytes + self.decoder.ctx.cache_gpu_bytes

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return self.model.tokenize(text, add_special=add_special)

    @property
    def vision(self) -> bool:
        return self.projector is not None

    def image_prompt(self, image: ImageInput) -> list[PromptChunk]:
        if self.projector is None:
            raise does_not_support(self.spec.name, "images")
        return self.projector.image_prompt(image)

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.model.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def context_size(self, options: Options) -> int:
        return min(options.runner.num_ctx or self.num_ctx, self.num_ctx)

    def can_serve(self, options: RunnerOptions) -> bool:
        load = options.resolved()
        # A larger num_ctx than the model was trained for is capped to it anyway.
        at_most = self.model.n_ctx_train or self.num_ctx
        same_load = dataclasses.replace(load, num_ctx=self.load_options.num_ctx)
        return same_load == self.load_options and min(load.num_ctx, at_most) <= self.num_ctx

    async def generate(self, params: GenerateParams) -> AsyncGenerator[Event, None]:
        grammar = grammar_for_format(params.format)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()
        tokens: list[int] = []
        images: dict[int, ImageChunk] = {}
        for chunk in params.prompt:
            if isinstance(chunk, ImageChunk):
                images[len(tokens)] = chunk
            tokens.extend(chunk.tokens)
        if images and isinstance(params.prompt[-1], ImageChunk):
            # Its logits would come from an embedding batch, which gives none.
            raise InvalidRequest("a prompt cannot end with an image")
        req = GenerationRequest(
            tokens=tokens,
            options=params.options,
            images=images,
            image_starts=sorted(images),
            num_ctx=params.num_ctx,
            grammar=grammar,
            json_end=grammar is not None,
            shift=params.shift,
            logprobs=params.logprobs,
            top_logprobs=params.top_logprobs,
            preserved=params.preserved,
            emit=events.put_nowait,
            post=loop.call_soon_threadsafe,
        )
        finished = False
        try:
            self.decoder.submit(req)
            while True:
                event = await events.get()
                if isinstance(event, DoneEvent | ErrorEvent):
                    finished = True
                    if isinstance(event, DoneEvent):
                        self._report(event)
                    yield event
                    return
                yield event
        finally:
            if not finished:  # the consumer left early (client gone): free the slot now
                req.cancelled = True
                self.decoder.wake()

    async def embed(self, inputs: list[list[int]]) -> list[np.ndarray]:
        embedder = self._embedder_made()
        # Cancelling the asyncio futures (client gone) cancels the queued concurrent ones.
        return list(
            await asyncio.gather(*(asyncio.wrap_future(embedder.submit(t)) for t in inputs))
        )

    def _report(self, done: DoneEvent) -> None:
        self.observer.generation_done(
            self.spec.name,
            done.prompt_eval_count,
            done.cached_count,
            done.eval_count,
            done.prompt_eval_ns / 1e9,
            done.eval_ns / 1e9,
        )

    def healthy(self) -> bool:
        return self.decoder.alive()

    @property
    def slots_busy(self) -> int:
        return self.decoder.slots_busy

    @property
    def slots_total(self) -> int:
        return self.decoder.num_parallel

    @property
    def kv_cells_used(self) -> int:
        return self.decoder.kv_cells_used

    @property
    def kv_cells_total(self) -> int:
        return self.decoder.kv_cells_total

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
        self.decoder.close()

    def _embedder_made(self) -> Embedder:
        # Made on first use (cheap: its context comes with the first input, on its own thread).
        if self._embedder is None:
            self._embedder = Embedder(
                self.model,
                self.num_ctx,
                self.load_options.num_batch,
                self.load_options.num_thread,
            )
        return self._embedder
