"""The Decoder on the real llama.cpp engine: batching, prefix cache, cancellation, shift."""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import llama_cpp as lc
import pytest

from decoder_events import Collector
from greedy import assert_same_up_to_a_tie
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine.decoder import Decoder, GenerationRequest
from ollama_toolkit.engine.llama import (
    ContextConfig,
    LlamaContext,
    listening,
    llama_log,
)
from ollama_toolkit.engine.runner import DoneEvent, TokenEvent
from ollama_toolkit.engine.sampling import Sampler
from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import Store


@pytest.fixture(scope="module")
def runner(seeded_store: Path):
    model = load_model(Store(seeded_store), ModelName.parse(BUNDLED_MODEL))
    r = Decoder(model.model_path, RunnerOptions(num_ctx=1024, num_thread=2), num_parallel=4)
    yield r
    r.close()


def request(runner: Decoder, prompt: str, **opts) -> tuple[GenerationRequest, Collector]:
    options = Options(**{"temperature": 0, "num_predict": 16, **opts})
    collector = Collector()
    req = GenerationRequest(
        tokens=runner.model.tokenize(prompt),
        options=options,
        emit=collector,
        num_ctx=runner.num_ctx,
        logprobs=True,
        top_logprobs=5,
    )
    return req, collector


def run_alone(runner: Decoder, prompt: str, **opts):
    req, col = request(runner, prompt, **opts)
    runner.submit(req)
    return col.wait()


PROMPTS = [
    "The history of Rome begins",
    "def fibonacci(n):",
    "Ingredients for a chocolate cake:",
    "In 1969, astronauts",
]


def test_interleaved_streams_each_get_their_own_text(runner):
    alone = [run_alone(runner, p) for p in PROMPTS]
    pairs = [request(runner, p) for p in PROMPTS]
    for req, _ in pairs:
        runner.submit(req)
    together = [col.wait() for _, col in pairs]
    for a, t in zip(alone, together, strict=True):
        assert_same_up_to_a_tie(a, t)


def test_each_step_hands_its_events_over_in_one_post(runner):
    # One wake-up of the owner per step, not per event: several streams' tokens travel
    # together, in order, and nothing is lost or handed over twice.
    posts: list[list] = []

    def post(deliver, items) -> None:
        posts.append(list(items))
        deliver(items)

    pairs = [request(runner, p, num_predict=8) for p in PROMPTS]
    for req, _ in pairs:
        req.post = post
        runner.submit(req)
    results = [col.wait() for _, col in pairs]
    handed = [event for items in posts for _, event in items]
    assert len(handed) == len({id(e) for e in handed})
    assert sum(isinstance(e, DoneEvent) for e in handed) == len(PROMPTS)
    assert "".join(e.text for e in handed if isinstance(e, TokenEvent)) != ""
    assert max(len({emit for emit, _ in items}) for items in posts) > 1
    assert len(posts) < len(handed)
    assert all(done.eval_count == 8 or done.reason == "stop" for _, _, done in results)


def test_repeated_prefix_is_served_from_the_cache(runner):
    prefix = "You are a helpful assistant. " * 20
    _, _, first = run_alone(runner, prefix + "Question one?", num_predict=2)
    _, _, second = run_alone(runner, prefix + "Question two?", num_predict=2)
    n_prefix = len(runner.model.tokenize(prefix)) - 1
    assert second.cached_count >= n_prefix
    assert second.prompt_eval_count == len(runner.model.tokenize(prefix + "Question two?"))


def test_concurrent_users_share_a_system_prompt(runner):
    system = "System: answer in French, briefly and politely. " * 10
    run_alone(runner, system + "User: bonjour", num_predict=8)
    # The reference: the same request again, its prefix from its own slot. (Not the cold run:
    # a tail evaluated on its own rounds differently from one inside the whole prompt.)
    reused = run_alone(runner, system + "User: bonjour", num_predict=8)
    # The first user takes the slot that holds the system prompt.
    long_req, long_col = request(runner, system + "User: hello", num_predict=40)
    runner.submit(long_req)
    # While the first still generates, a second user with the same system prompt arrives: its
    # slot gets the prefix from the busy one (seq_cp).
    while long_col.events.empty():
        pass
    shared = run_alone(runner, system + "User: bonjour", num_predict=8)
    long_col.wait()
    n_system = len(runner.model.tokenize(system)) - 1
    assert reused[2].cached_count >= n_system and shared[2].cached_count >= n_system
    assert_same_up_to_a_tie(reused, shared)


def test_cancelled_request_frees_its_slot_and_sends_nothing_more(runner):
    reqs = [request(runner, f"Story number {i}:", num_predict=10_000) for i in range(4)]
    for req, _ in reqs:
        runner.submit(req)
    for req, col in reqs:
        col.events.get(timeout=120)  # generating
        req.cancelled = True
    runner.wake()
    # All four slots were busy with endless requests: this one can only run if they were freed.
    text, _, done = run_alone(runner, "Hello", num_predict=3)
    assert done.eval_count == 3
    for _, col in reqs:
        assert not col.done.is_set()


def test_context_shift_keeps_generating_past_num_ctx(runner):
    req, col = request(runner, "1, 2, 3, 4, 5,", num_predict=80)
    req.num_ctx = 48
    runner.submit(req)
    _, _, done = col.wait()
    assert done.eval_count == 80
    assert done.reason == "length"


def test_without_shift_a_full_context_ends_with_length(runner):
    req, col = request(runner, "1, 2, 3, 4, 5,", num_predict=80)
    req.num_ctx = 48
    req.shift = False
    runner.submit(req)
    _, _, done = col.wait()
    assert done.reason == "length"
    assert done.prompt_eval_count + done.eval_count <= 48


@pytest.mark.parametrize(
    "opts",
    [
        {"temperature": 0},
        {"temperature": 0, "repeat_penalty": 1.3},
        {"temperature": 0.9, "seed": 7, "repeat_penalty": 1.1, "presence_penalty": 0.5},
        {"temperature": 1.5, "seed": 3, "top_k": 0, "top_p": 0.95},
    ],
)
def test_sampling_shortcuts_pick_what_the_full_chain_would(runner, opts):
    model = runner.model
    ctx = LlamaContext(model, ContextConfig(n_ctx=256, n_seq_max=1, n_batch=64, n_threads=2))
    options = Options(**opts)
    fast, full = Sampler(model, options, 256), Sampler(model, options, 256)
    full._margin, full._argmax_only = None, False  # every token goes through the whole chain
    try:
        tokens = model.tokenize("The best way to learn")
        ctx.batch_clear()
        index = ctx.batch_add(tokens, 0, 0, True)
        for step in range(24):
            assert ctx.decode() == 0
            token = fast.sample(ctx, index)
            assert full.sample(ctx, index) == token, f"step {step}"
            ctx.batch_clear()
            index = ctx.batch_add([token], len(tokens) + step, 0, True)
    finally:
        fast.close()
        full.close()
        ctx.close()


def test_single_token_adds_fill_the_batch_as_one_multi_token_add(runner):
    model = runner.model
    ctx = LlamaContext(model, ContextConfig(n_ctx=256, n_seq_max=2, n_batch=64, n_threads=2))

    def batch() -> list[tuple[int, int, int, int]]:
        n = ctx.n_tokens
        seqs = [ctx.batch.seq_id[i][0] for i in range(n)]
        return list(zip(ctx.b_token[:n], ctx.b_pos[:n], ctx.b_logits[:n], seqs, strict=True))

    try:
        tokens = model.tokenize("The best way to learn")
        ctx.batch_clear()
        ctx.batch_add([7], 3, 1, False)  # another sequence's token first
        last = ctx.batch_add(tokens, 5, 0, True)
        whole = batch()
        ctx.batch_clear()
        ctx.batch_add([7], 3, 1, False)
        for i, token in enumerate(tokens):
            assert ctx.batch_add([token], 5 + i, 0, i == len(tokens) - 1) == 1 + i
        assert batch() == whole
        assert last == len(tokens)
    finally:
        ctx.close()


def test_logits_of_a_token_without_output_is_an_error(runner):
    model = runner.model
    ctx = LlamaContext(model, ContextConfig(n_ctx=256, n_seq_max=1, n_batch=64, n_threads=2))
    try:
        tokens = model.tokenize("The best way to learn")
        ctx.batch_clear()
        last = ctx.batch_add(tokens, 0, 0, True)
        assert ctx.decode() == 0
        assert ctx.logits(last).shape == (model.n_vocab,)
        with pytest.raises(RuntimeError, match="no logits for batch index 0"):
            ctx.logits(0)
    finally:
        ctx.close()


def _llama_cpps_logger() -> int | None:
    callback, user_data = lc.llama_log_callback(), ctypes.c_void_p()
    lc.llama_log_get(ctypes.byref(callback), ctypes.byref(user_data))
    return ctypes.cast(callback, ctypes.c_void_p).value


def test_llama_cpps_lines_reach_python_only_while_they_are_read(runner):
    """A Python logger takes the GIL for every line, and a CUDA build logs one in each decode:
    between loads llama.cpp logs into a C function, ours only while a thread reads its lines
    (a model loading, a context made) — and generation goes on meanwhile."""
    ours = ctypes.cast(llama_log, ctypes.c_void_p).value
    assert not logging.getLogger("ollama_toolkit.engine.llama").isEnabledFor(logging.DEBUG)
    assert _llama_cpps_logger() not in (None, ours)
    with listening() as heard:
        assert _llama_cpps_logger() == ours
        params = lc.llama_model_default_params()
        params.vocab_only = True
        vocab = lc.llama_model_load_from_file(str(runner.model.path).encode(), params)
        assert vocab and any(b"vocab" in line for line in heard)
        lc.llama_model_free(vocab)
        assert run_alone(runner, "The history of Rome begins")[2].eval_count == 16
    assert _llama_cpps_logger() not in (None, ours)
