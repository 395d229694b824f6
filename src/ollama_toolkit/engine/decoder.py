"""The Decoder: one thread per loaded model, decoding every active slot in one batch per step.

Requests arrive through a queue. Each step admits waiting requests into free slots (preferring
the slot whose cached tokens share the longest prefix with the prompt), builds one llama_batch
with the next token of every generating slot and prompt chunks of prefilling ones, calls
llama_decode once, then samples a token for every slot that has logits.

Speculative decoding with prompt lookup (engine/speculative.py) rides in the same step: a
generating slot whose recent tokens occurred before adds the tokens that followed them (a draft)
after its last sampled token, all with logits; after the decode its sampler picks a token at each
position in turn, and the draft's tokens are taken while they are what it picks. Each token taken
is a true sample of the model given the ones before it, so the output is the output without
speculation (any sampler, not only greedy); a step just yields several tokens of a slot at once.

Events go back in batches: a step's events are handed over with one `post` per owner (such as
asyncio's call_soon_threadsafe), just before the runner releases the GIL for a while (decode,
a pause or an idle wait). Handing each event over as it comes would wake the event loop mid-step,
and the runner would then wait for the GIL on its next call into llama.cpp.
"""

from __future__ import annotations

import bisect
import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ollama_toolkit import config
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine.grammar import JsonEnd
from ollama_toolkit.engine.llama import ContextConfig, LlamaContext, LlamaModel, offloaded_layers
from ollama_toolkit.engine.runner import (
    DoneEvent,
    ErrorEvent,
    Event,
    ImageChunk,
    TokenEvent,
    image_cell,
)
from ollama_toolkit.engine.sampling import GrammarError, Sampler
from ollama_toolkit.engine.speculative import OUTPUT_TILE, PromptLookup
from ollama_toolkit.engine.textstream import TextStream

if TYPE_CHECKING:
    from ollama_toolkit.engine.vision import Projector

log = logging.getLogger(__name__)


@dataclass
class GenerationRequest:
    tokens: list[int]  # images as their placeholders (engine/runner.py)
    options: Options
    num_ctx: int
    # The images of the prompt by the offset in `tokens` where each starts, and those offsets
    # in order.
    images: dict[int, ImageChunk] = field(default_factory=dict)
    image_starts: list[int] = field(default_factory=list)
    grammar: str | None = None
    json_end: bool = False
    shift: bool = True
    logprobs: bool = False
    top_logprobs: int = 0
    preserved: frozenset[int] = frozenset()  # special tokens written as text (runner.py)
    # How events reach the owner: `post(deliver, items)` must be thread-safe and later call
    # deliver(items) in the owner's context, where `emit(event)` is called for each event.
    emit: Callable[[Event], None] = lambda _event: None
    post: Callable[..., object] = lambda deliver, items: deliver(items)
    cancelled: bool = False  # set by the owner when its client goes away


def _deliver(items: list[tuple[Callable[[Event], None], Event]]) -> None:
    for emit, event in items:
        emit(event)


@dataclass(frozen=True)
class _Checkpoint:
    """The sliding-window cells of a slot's sequence when it held its first `n_tokens` cached
    tokens (LlamaContext.swa_state): the window [n_tokens - n_swa, n_tokens) that the next
    position attends to, which a window-sized cache drops as the sequence moves on."""

    n_tokens: int
    data: ctypes.Array[ctypes.c_uint8]


@dataclass
class _Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV entries this seq holds
    # Checkpoints of prefixes of `cached`, oldest (and shortest) first; only with a window-sized
    # sliding-window cache (LlamaContext.n_swa).
    checkpoints: list[_Checkpoint] = field(default_factory=list)
    checkpoint_at: list[int] = field(default_factory=list)  # where this prompt takes them
    req: GenerationRequest | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens not yet decoded
    last: int = -1  # sampled token not yet decoded
    sampler: Sampler | None = None
    stream: TextStream | None = None
    json: JsonEnd | None = None
    generated: list[int] = field(default_factory=list)
    n_reused: int = 0
    lookup: PromptLookup | None = None  # the drafting index, made at the first draft
    t_start: float = 0.0
    t_prompt_done: float = 0.0

    @property
    def n_past(self) -> int:
        return len(self.cached)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _whole_images(tokens: list[int], n: int) -> int:
    """`n`, or less so that the first `n` tokens do not end inside an image."""
    if n < len(tokens):
        cell = image_cell(tokens[n])
        if cell > 0:
            return n - cell
    return n


_STOP = object()

# After a request's first token, the runner waits this long before the next decode (see _step).
_FIRST_TOKEN_PAUSE_S = 0.003

# Sharing a prefix from another slot is worth a seq_cp only past a few tokens (a BOS alone is not).
_MIN_SHARED_PREFIX = 16

# SWA checkpoints (see _reuse_prefix), as llama-server takes them: the prompt's evaluation stops
# 4 + n_ubatch and 4 tokens before its end for one each, so that a later prompt that
# differs only in its last tokens (or the last message) resumes from one. At most this many a
# slot (each n_swa cells of the sliding-window layers: 7.5 MiB for Gemma 3 270M in f16), and
# none below this position: re-evaluating so short a prefix costs less than a split prompt.
_CHECKPOINT_BEFORE_END = 4
_MAX_CHECKPOINTS = 3
_MIN_CHECKPOINT = 128

SPECULATIVE_MODES = ("auto", "on", "off")
# OLLAMA_SPECULATIVE=auto drafts only while at most this many slots generate and no prompt is
# being evaluated (past that, it only fills a partial tile: see _drafts). Measured on 2 cores
# (Gemma 3 270M, in-process, greedy): 4 streams rewriting a file went from 118 to 260 tokens/s
# with drafts; 8 streams of ordinary text, whose steps already fill two tiles, from 201 to 169
# (drafts that miss cost more there than the ones taken save), and stayed at 200 filling only.
_AUTO_MAX_SLOTS = 4


class Decoder:
    """Owns a LlamaModel and its LlamaContext; only its thread touches the context.

    `load` must be resolved (RunnerOptions.resolved()): its num_ctx is each slot's context,
    capped at the model's training context.
    """

    def __init__(
        self,
        model_path: Path,
        load: RunnerOptions,
        num_parallel: int,
        projector_path: Path | None = None,
        speculative: str | None = None,
    ):
        # "auto", "on" or "off" (OLLAMA_SPECULATIVE by default); read by the loop at each step.
        self.speculative = config.speculative() if speculative is None else speculative
        if self.speculative not in SPECULATIVE_MODES:
            raise ValueError(f"speculative must be one of {SPECULATIVE_MODES}")
        # num_gpu layers on the GPU (all that fit by default); none on a CPU-only build.
        gpu_layers = offloaded_layers(
            model_path, load.num_gpu, load.main_gpu, load.num_ctx * num_parallel
        )
        self.model = LlamaModel(
            model_path, use_mmap=load.use_mmap, gpu_layers=gpu_layers, main_gpu=load.main_gpu
        )
        self.projector: Projector | None = None
        try:
            train = self.model.n_ctx_train
            n_ctx_slot = min(load.num_ctx, train) if train else load.num_ctx
            # A batch never needs more cells than the whole context holds, and holds at least
            # the next token of every slot (llama.cpp aborts the process on a context whose
            # batch is smaller than its sequences).
            n_batch = max(min(load.num_batch, n_ctx_slot * num_parallel), num_parallel)
            self.ctx = LlamaContext(
                self.model,
                ContextConfig(
                    n_ctx=n_ctx_slot * num_parallel,
                    n_seq_max=num_parallel,
                    n_batch=n_batch,
                    n_threads=load.num_thread,
                    # An image is decoded in one ubatch (see engine/vision.py): as large as
                    # the batch, so images up to num_batch cells.
                    n_ubatch=n_batch if projector_path is not None else None,
                ),
            )
            if projector_path is not None:
                from ollama_toolkit.engine.vision import Projector

                self.projector = Projector(projector_path, self.model, load.num_thread, n_batch)
        except Exception:
            if hasattr(self, "ctx"):
                self.ctx.close()
            self.model.close()
            raise
        self.num_ctx = n_ctx_slot
        self.num_parallel = num_parallel
        # Draft tokens verified and taken, over the decoder's life (plain counters for metrics).
        self.draft_proposed = 0
        self.draft_accepted = 0
        self._slots = [_Slot(i) for i in range(num_parallel)]
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._outbox: list[tuple[GenerationRequest, Event]] = []
        self._thread = threading.Thread(target=self._loop, name="runner", daemon=True)
        self._thread.start()

    def submit(self, req: GenerationRequest) -> None:
        self._inbox.put(req)

    def wake(self) -> None:
        """Make the loop look at cancellations now, even when it is idle-waiting."""
        self._inbox.put(None)

    def alive(self) -> bool:
        return self._thread.is_alive()

    # Read from other threads (metrics): plain reads of what the loop keeps anyway, no lock;
    # a value may be one step old.

    @property
    def slots_busy(self) -> int:
        return sum(slot.req is not None for slot in self._slots)

    @property
    def kv_cells_used(self) -> int:
        return sum(len(slot.cached) for slot in self._slots)

    @property
    def kv_cells_total(self) -> int:
        return self.num_ctx * self.num_parallel

    @property
    def checkpoint_bytes(self) -> int:
        """Bytes the slots' SWA checkpoints hold now (at most _MAX_CHECKPOINTS a slot)."""
        return sum(len(c.data) for slot in self._slots for c in list(slot.checkpoints))

    def close(self) -> None:
        self._inbox.put(_STOP)
        self._thread.join()
        for slot in self._slots:
            if slot.sampler:
                slot.sampler.close()
        if self.projector is not None:
            self.projector.close()
        self.ctx.close()
        self.model.close()

    # --- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        waiting: deque[GenerationRequest] = deque()
        while True:
            busy = any(s.req for s in self._slots)
            if not busy and not waiting:
                self._flush()
                item = self._inbox.get()
            else:
                item = self._poll()
            while item is not None or not self._inbox.empty():
                if item is _STOP:
                    self._fail_all(waiting, "model unloaded")
                    self._flush()
                    return
                if isinstance(item, GenerationRequest):
                    waiting.append(item)
                item = self._poll()
            try:
                self._admit(waiting)
                self._drop_cancelled()
                if any(s.req for s in self._slots):
                    self._step()
            except Exception as e:  # never let one bad step kill the model's thread
                log.exception("runner step failed")
                self._fail_all(waiting, f"llama runner error: {e}")

    def _poll(self) -> object:
        try:
            return self._inbox.get_nowait()
        except queue.Empty:
            return None

    def _emit(self, req: GenerationRequest, event: Event) -> None:
        self._outbox.append((req, event))

    def _flush(self) -> None:
        """Hand the queued events to their owners: one post per owner."""
        if not self._outbox:
            return
        events, self._outbox = self._outbox, []
        by_post: dict[Callable[..., object], list[tuple[Callable[[Event], None], Event]]] = {}
        for req, event in events:
            by_post.setdefault(req.post, []).append((req.emit, event))
        for post, items in by_post.items():
            post(_deliver, items)

    def _fail_all(self, waiting: deque[GenerationRequest], message: str) -> None:
        for req in waiting:
            self._emit(req, ErrorEvent(message))
        waiting.clear()
        for slot in self._slots:
            if slot.req:
                self._emit(slot.req, ErrorEvent(message))
                self._release(slot)
                slot.cached = []
            slot.checkpoints = []
        self.ctx.clear()

    def _admit(self, waiting: deque[GenerationRequest]) -> None:
        while waiting:
            free = [s for s in self._slots if s.req is None]
            if not free:
                return
            req = waiting.popleft()
            if req.cancelled:
                continue
            slot = max(free, key=lambda s: _common_prefix(s.cached, req.tokens))
            self._start(slot, req)

    def _reuse_prefix(self, slot: _Slot, tokens: list[int]) -> int:
        """Keep the longest cached prefix of `tokens` in `slot`'s sequence; return its length.

        When another slot (busy or not) holds a longer prefix, e.g. the same system prompt of
        another user, its KV entries are shared into this sequence (seq_cp in the unified
        cache costs no compute) instead of evaluating that prefix again.

        With a window-sized sliding-window cache, a prefix of length n is usable only while
        those layers hold the cells of [n - n_swa, n) (llama-server's check), else from a
        checkpoint at or before n (_usable). The sequence that takes a prefix gets its own copy
        of that window: sliding-window cells shared by two sequences cannot be recycled by
        either, and the window-sized cache would fill up with them.
        """
        ctx = self.ctx
        limit = len(tokens) - 1  # the last prompt token is decoded again for its logits
        own, own_cp = self._usable(
            slot, _whole_images(tokens, min(_common_prefix(slot.cached, tokens), limit))
        )
        donor, shared, donor_cp = slot, own, own_cp
        for other in self._slots:
            if other is slot:
                continue
            n = _whole_images(tokens, min(_common_prefix(other.cached, tokens), limit))
            if n > shared:
                n, cp = self._usable(other, n)
                if n > shared:
                    donor, shared, donor_cp = other, n, cp
        if donor is not slot and shared - own >= _MIN_SHARED_PREFIX:
            self._forget(slot)
            ctx.seq_cp(donor.seq, slot.seq, 0, shared)
            if ctx.n_swa:
                window = donor_cp.data if donor_cp is not None else ctx.swa_state(slot.seq)
                if window is None or not ctx.set_swa_state(slot.seq, window):
                    self._forget(slot)
                    return 0
            return shared
        return self._truncate(slot, own, own_cp)

    def _truncate(self, slot: _Slot, n: int, checkpoint: _Checkpoint | None) -> int:
        """Keep the cells of the first `n` cached tokens of `slot`'s sequence, its window
        restored from `checkpoint` when _usable gave one; return n, or 0 with the sequence
        emptied when llama.cpp cannot."""
        if self.ctx.seq_rm(slot.seq, n, -1):
            slot.checkpoints = [c for c in slot.checkpoints if c.n_tokens <= n]
            if checkpoint is None or self.ctx.set_swa_state(slot.seq, checkpoint.data):
                return n
        self._forget(slot)
        return 0

    def _forget(self, slot: _Slot) -> None:
        """Empty the slot's sequence, and its checkpoints with it."""
        self.ctx.seq_rm(slot.seq, -1, -1)
        slot.checkpoints = []

    def _usable(self, slot: _Slot, n: int) -> tuple[int, _Checkpoint | None]:
        """How much of the first `n` cached tokens of `slot` can be reused, and the checkpoint
        to restore for it (None: its cells are all there)."""
        n_swa = self.ctx.n_swa
        if not n_swa or n <= 0:
            return n, None
        # The next position, n, attends to [n - n_swa + 1, n): one more cell kept than needed.
        pos_min = self.ctx.seq_pos_min(slot.seq)
        if 0 <= pos_min <= max(0, n - n_swa):
            return n, None
        for cp in reversed(slot.checkpoints):
            if cp.n_tokens <= n:
                return cp.n_tokens, cp
        return 0, None

    def _start(self, slot: _Slot, req: GenerationRequest) -> None:
        try:
            sampler = Sampler(self.model, req.options, req.num_ctx, req.grammar)
        except GrammarError as e:
            self._emit(req, ErrorEvent(str(e)))
            return
        n = self._reuse_prefix(slot, req.tokens)
        slot.n_reused = n
        slot.cached = req.tokens[:n]
        slot.pending = req.tokens[n:]
        slot.checkpoint_at = self._checkpoints_for(req.tokens, n)
        slot.req = req
        slot.sampler = sampler
        if sampler.last_n > 0:
            recent = req.tokens[-sampler.last_n :]
            sampler.accept_prompt([t for t in recent if t >= 0] if req.images else recent)
        slot.stream = TextStream(req.options.stop)
        slot.json = JsonEnd() if req.json_end else None
        slot.generated = []
        slot.lookup = None
        slot.last = -1
        slot.t_start = time.perf_counter()
        slot.t_prompt_done = 0.0

    def _checkpoints_for(self, tokens: list[int], n_reused: int) -> list[int]:
        """Where the evaluation of a prompt whose first `n_reused` tokens are cached stops for
        a checkpoint: 4 + n_ubatch and 4 tokens before its end (as llama-server), not inside an
        image, past what is cached and past _MIN_CHECKPOINT."""
        if not self.ctx.n_swa:
            return []
        n_ubatch = self.ctx.cfg.n_ubatch or min(self.ctx.cfg.n_batch, 512)
        end = len(tokens) - _CHECKPOINT_BEFORE_END
        points = (end - n_ubatch, end)
        return [
            p
            for p in points
            if p > max(n_reused, _MIN_CHECKPOINT - 1) and _whole_images(tokens, p) == p
        ]

    def _checkpoint(self, slot: _Slot) -> None:
        """Keep a copy of the slot's sliding-window cells now, at its first n_past tokens."""
        data = self.ctx.swa_state(slot.seq)
        if data is None:
            return
        kept = [c for c in slot.checkpoints if c.n_tokens != slot.n_past]
        slot.checkpoints = [*kept[-(_MAX_CHECKPOINTS - 1) :], _Checkpoint(slot.n_past, data)]

    def _drop_cancelled(self) -> None:
        for slot in self._slots:
            if slot.req is not None and slot.req.cancelled:
                self._release(slot)

    def _release(self, slot: _Slot) -> None:
        if slot.sampler:
            slot.sampler.close()
        slot.sampler = None
        slot.req = None
        slot.pending = []
        slot.stream = None
        slot.json = None
        slot.lookup = None
        slot.checkpoint_at = []

    def _step(self) -> None:
        ctx = self.ctx
        self._prefill_image()
        ctx.batch_clear()
        budget = ctx.cfg.n_batch
        outputs: list[tuple[_Slot, int, list[int], bool]] = []
        checkpoints: list[_Slot] = []  # slots whose prompt reaches a checkpoint in this step
        generating = [s for s in self._slots if s.req is not None and not s.pending]
        for slot, (draft, guess) in zip(generating, self._drafts(generating, budget), strict=True):
            index = ctx.batch_add([slot.last], slot.n_past, slot.seq, True)
            slot.cached.append(slot.last)
            outputs.append((slot, index, draft, guess))
            budget -= 1 + len(draft)
            # The draft follows at the next positions, each with logits; its KV cells are kept
            # only for the tokens taken (see _verify).
            for i, token in enumerate(draft, start=slot.n_past):
                ctx.batch_add([token], i, slot.seq, True)
        for slot in self._slots:
            if budget <= 0:
                break
            req = slot.req
            if req is None or not slot.pending:
                continue
            take = budget
            if req.images:  # text up to the next image, which is decoded on its own
                i = bisect.bisect_left(req.image_starts, slot.n_past)
                if i < len(req.image_starts):
                    take = min(take, req.image_starts[i] - slot.n_past)
                if take <= 0:
                    continue
            while slot.checkpoint_at and slot.checkpoint_at[0] <= slot.n_past:
                slot.checkpoint_at.pop(0)
            if slot.checkpoint_at:  # stop where a checkpoint is due
                take = min(take, slot.checkpoint_at[0] - slot.n_past)
            chunk = slot.pending[:take]
            done = len(chunk) == len(slot.pending)
            index = ctx.batch_add(chunk, slot.n_past, slot.seq, done)
            slot.cached.extend(chunk)
            slot.pending = slot.pending[len(chunk) :]
            budget -= len(chunk)
            if done:
                outputs.append((slot, index, [], False))
            elif slot.checkpoint_at and slot.n_past == slot.checkpoint_at[0]:
                checkpoints.append(slot)
        self._flush()  # the last step's events, while llama_decode runs without the GIL
        if not ctx.n_tokens:  # only an image this step (or its request failed)
            return
        rc = ctx.decode()
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        for slot in checkpoints:
            self._checkpoint(slot)
        first_tokens = streaming = False
        for slot, index, draft, guess in outputs:
            if slot.t_prompt_done:
                streaming = True
            else:
                first_tokens = True
            if draft:
                self._verify(slot, index, draft, guess)
            else:
                self._sample(slot, index)
        if first_tokens and not streaming:
            # llama.cpp's threads would take every core again at once and the event loop would
            # wait for one to send the first token: send it now and step aside briefly, once
            # per request. Measured (bench/, 2 cores): HTTP+scheduling on time to first token
            # 7.5 -> 5.8 ms. Not while other streams are generating: the pause would stall
            # them all, and under load throughput matters more than one request's first token.
            self._flush()
            time.sleep(_FIRST_TOKEN_PAUSE_S)

    def _prefill_image(self) -> None:
        """Decode the image that the first prefilling slot has reached, if any: one image a
        step, so that generating slots advance between images. A failure fails that request
        only."""
        for slot in self._slots:
            req = slot.req
            if req is None or not slot.pending or not req.images:
                continue
            image = req.images.get(slot.n_past)
            if image is None:
                continue
            n = len(image.tokens)
            try:
                assert self.projector is not None
                self.projector.prefill(self.ctx, image, slot.n_past, slot.seq)
            except Exception as e:
                log.exception("image prefill failed")
                self._forget(slot)
                slot.cached = []
                self._emit(req, ErrorEvent(f"llama runner error: {e}"))
                self._release(slot)
                return
            slot.cached.extend(slot.pending[:n])
            slot.pending = slot.pending[n:]
            return

    def _drafts(self, generating: list[_Slot], budget: int) -> list[tuple[list[int], bool]]:
        """Each generating slot's draft for this step, and whether it is a mere guess.

        Drafts are sized so that the step's output rows (one per generating slot, one per
        draft token) fill whole tiles of OUTPUT_TILE (engine/speculative.py). Past one tile, a
        partial tile costs more than a whole one: when the drafts leave one partial, slots
        without a draft fill it with guesses (what followed their last token before, forks or
        not), which cost less than nothing and are sometimes right."""
        none: list[tuple[list[int], bool]] = [([], False)] * len(generating)
        mode = self.speculative
        if mode == "off" or not generating:
            return none
        room = budget - len(generating)  # every generating slot's last token comes first
        prefilling = any(s.req is not None and s.pending for s in self._slots)
        if mode == "on":
            speculate = True
            if prefilling:
                room //= 2  # a prompt being evaluated keeps at least half of the rest
        else:
            speculate = not prefilling and len(generating) <= _AUTO_MAX_SLOTS
        drafts = none.copy()
        rows = len(generating)
        if speculate:
            for i, slot in enumerate(generating):
                draft = self._lookup(slot).draft(self._draft_limit(slot, room), -rows % OUTPUT_TILE)
                drafts[i] = (draft, False)
                rows += len(draft)
                room -= len(draft)
        need = -rows % OUTPUT_TILE
        if rows < OUTPUT_TILE or not need or need > room or (prefilling and mode != "on"):
            return drafts
        guesses = []
        for i, slot in enumerate(generating):
            if not drafts[i][0]:
                guess = self._lookup(slot).guess(min(need, self._draft_limit(slot, room)))
                if guess:
                    guesses.append((i, guess))
                    need -= len(guess)
                    if not need:
                        for j, g in guesses:
                            drafts[j] = (g, True)
                        break
        return drafts

    def _lookup(self, slot: _Slot) -> PromptLookup:
        """The slot's drafting index, made on first use and brought up to date: its prompt and
        its output (whose last token is slot.last)."""
        req = slot.req
        assert req is not None
        lookup = slot.lookup
        if lookup is None:
            lookup = slot.lookup = PromptLookup()
        seen, n_prompt = len(lookup.tokens), len(req.tokens)
        if seen < n_prompt:
            lookup.extend(req.tokens[seen:])
            seen = n_prompt
        if seen - n_prompt < len(slot.generated):
            lookup.extend(slot.generated[seen - n_prompt :])
        return lookup

    def _draft_limit(self, slot: _Slot, room: int) -> int:
        """The most draft tokens the slot may take: within the room, and short of the
        context's end (so verifying a draft never has to undo a context shift) and of
        num_predict."""
        req = slot.req
        assert req is not None
        limit = min(room, req.num_ctx - slot.n_past - 3)
        if req.options.num_predict > 0:
            limit = min(limit, req.options.num_predict - len(slot.generated) - 1)
        return limit

    def _verify(self, slot: _Slot, index: int, draft: list[int], guess: bool) -> None:
        """Sample the positions of [last, *draft] in turn, taking each draft token that is the
        token sampled before it; the first token sampled that differs (or the one after the
        whole draft) is the slot's next `last`. The sampler, stop strings, num_predict and
        events see each token taken exactly as they would without a draft."""
        taken = 0
        for i, token in enumerate(draft):
            if not self._sample(slot, index + i) or slot.last != token:
                break
            slot.cached.append(token)  # its KV cell, decoded in this step, is the true one
            taken += 1
        else:
            self._sample(slot, index + len(draft))
        if taken < len(draft):
            self.ctx.seq_rm(slot.seq, slot.n_past, -1)
        self.draft_proposed += len(draft)
        self.draft_accepted += taken
        if slot.lookup is not None and not guess:  # a guess says nothing of the drafts
            slot.lookup.update(len(draft), taken)

    def _sample(self, slot: _Slot, index: int) -> bool:
        """Sample the slot's next token and emit it; whether the slot goes on generating."""
        req = slot.req
        assert req is not None and slot.sampler is not None and slot.stream is not None
        token = slot.sampler.sample(self.ctx, index)
        if not slot.t_prompt_done:
            # As llama.cpp's server counts it: the prompt is done when its first token is picked.
            slot.t_prompt_done = time.perf_counter()
        if self.model.is_eog(token):
            self._finish(slot, "stop")
            return False
        slot.generated.append(token)
        piece = (
            self.model.special_piece(token) if token in req.preserved else self.model.piece(token)
        )
        text = slot.stream.push(piece)
        closed = False
        if slot.json is not None and text:
            cut = slot.json.feed(text)
            if cut >= 0:
                text, closed = text[:cut], True
        if text or req.logprobs:
            lp = self._logprobs(index, token, req.top_logprobs) if req.logprobs else None
            self._emit(req, TokenEvent(text, lp))
        if closed or slot.stream.stopped:
            self._finish(slot, "stop", flush=False)
        elif (
            0 < req.options.num_predict <= len(slot.generated)
            or slot.n_past + 1 >= req.num_ctx
            and not self._shift(slot)
        ):
            self._finish(slot, "length")
        else:
            slot.last = token
            if slot.pending:  # a context shift evaluates the kept tokens again (_shift)
                slot.pending.append(token)
            return True
        return False

    def _shift(self, slot: _Slot) -> bool:
        """Make room by dropping half of the tokens after num_keep (Ollama's context shift).

        llama.cpp cannot move the cells of a window-sized sliding-window cache (llama-server
        turns context shift off there): the tokens kept after the discarded ones are then
        evaluated again at their new positions, as Ollama does for a cache that cannot shift;
        the slot is prefilling until they are, its sampled token last (see _sample)."""
        req = slot.req
        assert req is not None
        can_shift = self.ctx.can_shift()
        if not req.shift or not (can_shift or self.ctx.n_swa):
            return False
        keep = max(0, min(req.options.num_keep, slot.n_past - 2))
        discard = (slot.n_past - keep) // 2
        if req.images:  # images go whole: one across `keep` goes, one across the end goes too
            keep = _whole_images(slot.cached, keep)
            end = keep + max(discard, 1)
            while end < slot.n_past and image_cell(slot.cached[end]) > 0:
                end += 1
            discard = min(end, slot.n_past - 1) - keep
        if discard <= 0:
            return False
        if not can_shift:
            rest = slot.cached[keep + discard :]
            if any(t < 0 for t in rest):  # images are evaluated from the prompt's offsets only
                return False
            n = self._truncate(slot, *self._usable(slot, keep))
            kept = slot.cached[:keep] + rest
            slot.cached, slot.pending = kept[:n], kept[n:]
            return True
        self.ctx.seq_rm(slot.seq, keep, keep + discard)
        self.ctx.seq_add(slot.seq, keep + discard, -1, -discard)
        slot.cached = slot.cached[:keep] + slot.cached[keep + discard :]
        slot.checkpoints = []  # their positions moved
        return True

    def _finish(self, slot: _Slot, reason: str, flush: bool = True) -> None:
        req = slot.req
        assert req is not None and slot.stream is not None
        if flush:
            rest = slot.stream.finish()
            if rest:
                self._emit(req, TokenEvent(rest))
        end = time.perf_counter()
        prompt_done = slot.t_prompt_done or end
        self._emit(
            req,
            DoneEvent(
                reason=reason,
                prompt_eval_count=len(req.tokens),
                prompt_eval_ns=int((prompt_done - slot.t_start) * 1e9),
                eval_count=len(slot.generated),
                eval_ns=int((end - prompt_done) * 1e9),
                context=[t for t in req.tokens if t >= 0] + slot.generated
                if req.images
                else req.tokens + slot.generated,
                cached_count=slot.n_reused,
            ),
        )
        self._release(slot)

    def _logprobs(self, index: int, token: int, top: int) -> list[dict]:
        logits = self.ctx.logits(index).astype(np.float64)
        peak = logits.max()
        lse = peak + np.log(np.exp(logits - peak).sum())
        entry = self._logprob_entry(token, float(logits[token] - lse))
        if top > 0:
            best = np.argpartition(-logits, top)[:top]
            best = best[np.argsort(-logits[best])]
            entry["top_logprobs"] = [
                self._logprob_entry(int(t), float(logits[t] - lse)) for t in best
            ]
        return [entry]

    def _logprob_entry(self, token: int, logprob: float) -> dict:
        piece = self.model.piece(token)
        return {
            "token": piece.decode("utf-8", errors="replace"),
            "logprob": logprob,
            "bytes": list(piece),
        }
