"""The Embedder: a loaded model's second llama_context, for embeddings, on its own thread.

llama.cpp's `embeddings` flag belongs to a context, and the Decoder's context is busy sampling
for its slots, so a LocalRunner gets a second, small context on the same weights (no second load)
the first time it is asked for an embedding. Like every llama.cpp context it is a single-thread
object: one worker thread owns it and decodes one input at a time, from an empty cache.

Which vector comes out: a model whose GGUF declares a pooling type (BERT, nomic-bert,
embeddinggemma) gets llama.cpp's pooled vector for the sequence. A causal LM such as the
bundled Gemma 3 270M declares none, and Ollama's llama.cpp runner then takes the hidden state
of the input's last token (`GetEmbeddingsSeq` is nil without pooling, so it falls back to
`GetEmbeddingsIth(seq.iBatch)`, the last token's batch index: runner/llamarunner/runner.go
before the llama-server switch). We do the same: in a causal model only the last position has
attended to the whole input, so it is the one hidden state that stands for all of it.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

import numpy as np

from ollama_toolkit.api.errors import InputTooLong, InternalError, InvalidRequest
from ollama_toolkit.engine.llama import ContextConfig, LlamaContext, LlamaModel

log = logging.getLogger(__name__)

_Job = tuple[list[int], "Future[np.ndarray]"]


class Embedder:
    """Turns token lists into embedding vectors (raw, not normalized) on a thread of its own."""

    def __init__(self, model: LlamaModel, num_ctx: int, num_batch: int, num_threads: int):
        # A pooled vector needs the whole input in one micro-batch; a last-token one does not,
        # so a causal LM keeps the runner's (small) batch and decodes long inputs in chunks.
        pooled = model.has_pooling()
        n_batch = num_ctx if pooled else min(num_batch, num_ctx)
        self.cfg = ContextConfig(
            n_ctx=num_ctx,
            n_seq_max=1,
            n_batch=n_batch,
            n_threads=num_threads,
            embeddings=True,
            n_ubatch=n_batch if pooled else None,
        )
        self.model = model
        self.num_ctx = num_ctx
        self._ctx: LlamaContext | None = None  # made by the worker on its first input
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="embedder", daemon=True)
        self._thread.start()

    def submit(self, tokens: list[int]) -> Future[np.ndarray]:
        """Queue one input; the future resolves to its vector (float32, n_embd long)."""
        future: Future[np.ndarray] = Future()
        self._jobs.put((tokens, future))
        return future

    def close(self) -> None:
        """Finish queued inputs, then free the context. The model stays (the Decoder owns it)."""
        self._jobs.put(None)
        self._thread.join()

    def _loop(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                tokens, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(self._embed(tokens))
                except Exception as e:  # one bad input must not kill the thread
                    if not isinstance(e, InvalidRequest):
                        log.exception("embedding failed")
                    future.set_exception(e)
        finally:
            if self._ctx is not None:
                self._ctx.close()

    def _context(self) -> LlamaContext:
        if self._ctx is None:
            self._ctx = LlamaContext(self.model, self.cfg)
        return self._ctx

    def _embed(self, tokens: list[int]) -> np.ndarray:
        if not tokens:
            raise InvalidRequest("no input provided")
        if len(tokens) > self.num_ctx:
            raise InputTooLong("the input length exceeds the context length")
        ctx = self._context()
        ctx.clear()  # each input starts from an empty cache: no state leaks between inputs
        step = self.cfg.n_batch
        last = 0
        for start in range(0, len(tokens), step):
            chunk = tokens[start : start + step]
            ctx.batch_clear()
            last = ctx.batch_add(chunk, start, 0, logits_last=start + step >= len(tokens))
            rc = ctx.decode()
            if rc != 0:
                raise InternalError(f"llama_decode failed with status {rc}")
        return ctx.embedding(last)
