"""Window-sized caches for sliding-window layers (Gemma 3: 5 layers of 6 attend to the last 512
positions), on the real llama.cpp engine: prefix reuse checks that the window before a prefix's
end is still held, restores a checkpoint of it, or evaluates the prefix again; the output is
the output of a fresh evaluation.

The decoders here have small batches (64), so that their sliding-window cache (512 cells a slot
plus a ubatch, rounded up to 256) is soon overwritten, which the tests need.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_events import Collector
from greedy import assert_same_up_to_a_tie
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine.decoder import Decoder, GenerationRequest
from ollama_toolkit.engine.llama import ContextConfig, LlamaContext, LlamaModel
from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import Store

LOAD = RunnerOptions(num_ctx=2048, num_thread=2, num_batch=64)
ANIMALS = ["fox", "owl", "heron", "badger", "otter", "lynx", "crane", "hare", "stoat", "wren"]
PLACES = ["river", "forest", "meadow", "hill", "marsh", "valley", "lake", "cliff", "moor"]


def story(n: int, seed: int = 0) -> str:
    """Plain prose of `n` sentences that do not repeat (a prompt for the base model)."""
    return " ".join(
        f"On day {i + seed}, the {ANIMALS[(i * 3 + seed) % len(ANIMALS)]} walked to the"
        f" {PLACES[(i * 7 + seed) % len(PLACES)]} and counted {i * 13 % 97} stones."
        for i in range(n)
    )


@pytest.fixture(scope="module")
def model_path(seeded_store: Path) -> Path:
    return load_model(Store(seeded_store), ModelName.parse(BUNDLED_MODEL)).model_path


@pytest.fixture(scope="module")
def single(model_path: Path):
    d = Decoder(model_path, LOAD, num_parallel=1, speculative="off")
    yield d
    d.close()


@pytest.fixture(scope="module")
def fresh(model_path: Path):
    """The references: each test clears its cache before a request (a fresh evaluation)."""
    d = Decoder(model_path, LOAD, num_parallel=1, speculative="off")
    yield d
    d.close()


@pytest.fixture(scope="module")
def pair(model_path: Path):
    d = Decoder(model_path, LOAD, num_parallel=2, speculative="off")
    yield d
    d.close()


def request(decoder: Decoder, tokens: list[int], **opts) -> tuple[GenerationRequest, Collector]:
    collector = Collector()
    req = GenerationRequest(
        tokens=tokens,
        options=Options(**{"temperature": 0, "num_predict": 16, **opts}),
        num_ctx=decoder.num_ctx,
        emit=collector,
        logprobs=True,
        top_logprobs=5,
    )
    return req, collector


def run(decoder: Decoder, tokens: list[int], **opts):
    req, col = request(decoder, tokens, **opts)
    decoder.submit(req)
    return col.wait()


def run_fresh(decoder: Decoder, tokens: list[int], **opts):
    """The request on a decoder whose slot holds nothing: evaluated from the first token."""
    slot = decoder._slots[0]
    other = decoder.model.tokenize("Fresh.")
    run(decoder, other, num_predict=1)  # its slot now holds none of `tokens` but the BOS
    assert slot.cached[:2] != tokens[:2]
    result = run(decoder, tokens, **opts)
    assert result[2].cached_count <= 1
    return result


def window_moved(decoder: Decoder, seq: int, n: int) -> bool:
    """Whether the sliding-window layers of `seq` no longer hold the window before `n`
    (the decoder is idle: its context may be read from here)."""
    return decoder.ctx.seq_pos_min(seq) > max(0, n - decoder.ctx.n_swa)


def test_the_window_sized_cache_is_smaller_and_its_size_is_reported(model_path: Path) -> None:
    model = LlamaModel(model_path)
    try:
        sizes = {}
        for full in (False, True):
            cfg = ContextConfig(
                n_ctx=8 * 4096, n_seq_max=8, n_batch=512, n_threads=2, swa_full=full
            )
            ctx = LlamaContext(model, cfg)
            sizes[full] = ctx.cache_bytes
            assert ctx.n_swa == (0 if full else 512)
            ctx.close()
        # Gemma 3 270M: 3 global layers keep 32768 cells, 15 sliding-window layers 4608 of them
        # instead of 32768 (1 KiB a cell and layer in f16).
        assert sizes[False] < sizes[True] / 3
        assert sizes[True] - sizes[False] == pytest.approx(15 * (32768 - 4608) * 1024, rel=0.01)
    finally:
        model.close()


def test_a_long_prompt_then_one_sharing_only_its_start_is_evaluated_again(single, fresh) -> None:
    long = single.model.tokenize(story(60))
    assert len(long) > 2 * single.ctx.n_swa
    run(single, long, num_predict=2)
    other = long[:200] + single.model.tokenize(" Then the heron flew away.", add_special=False)
    # The window before token 200 is gone, and no checkpoint is that early.
    assert window_moved(single, 0, 200)
    assert all(c.n_tokens > 200 for c in single._slots[0].checkpoints)
    again = run(single, other)
    assert again[2].cached_count == 0
    assert_same_up_to_a_tie(again, run_fresh(fresh, other))


def test_a_long_generation_then_the_same_prompt_resumes_from_a_checkpoint(single, fresh) -> None:
    prompt = single.model.tokenize("Counting: " + ", ".join(str(i) for i in range(1, 60)))
    n = len(prompt)
    assert n > 128  # long enough for checkpoints
    first = run(single, prompt, num_predict=700)
    assert first[2].eval_count == 700, first[0][-200:]
    slot = single._slots[0]
    assert [c.n_tokens for c in slot.checkpoints] == [n - 4 - 64, n - 4]
    assert single.checkpoint_bytes == sum(len(c.data) for c in slot.checkpoints) > 0
    # The generation went past the window: the cache no longer holds the prompt's end.
    assert window_moved(single, 0, n - 1)
    again = run(single, prompt, num_predict=32)
    assert again[2].cached_count == n - 4
    # The same cells, the same computation: the same tokens as the first time.
    assert [e["token"] for e in again[1]] == [e["token"] for e in first[1][:32]]
    assert_same_up_to_a_tie(again, run_fresh(fresh, prompt, num_predict=32))


def test_a_prompt_edited_near_its_end_resumes_from_a_checkpoint(single, fresh) -> None:
    prompt = single.model.tokenize(story(20, seed=3))
    n = len(prompt)
    run(single, prompt, num_predict=700)
    slot = single._slots[0]
    assert [c.n_tokens for c in slot.checkpoints] == [n - 4 - 64, n - 4]
    edited = prompt[: n - 30] + single.model.tokenize(" Then it rained.", add_special=False)
    assert window_moved(single, 0, n - 30)
    again = run(single, edited)
    assert again[2].cached_count == n - 4 - 64
    assert_same_up_to_a_tie(again, run_fresh(fresh, edited))


def test_a_second_chat_turn_evaluates_only_its_new_tokens(single, fresh) -> None:
    turn = "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n"
    first = single.model.tokenize(turn.format(story(30, seed=5) + " Where did the fox go?"))
    assert len(first) > single.ctx.n_swa
    one = run(single, first, num_predict=40)
    context = one[2].context  # the prompt and the answer (as /api/generate's `context`)
    new = single.model.tokenize("<end_of_turn>\n" + turn.format("And the owl?"), add_special=False)
    second = context + new
    two = run(single, second)
    # All of the first turn comes from the cache, but its last token (never decoded: it was
    # sampled last), so the second evaluates only that one and its own tokens.
    assert two[2].cached_count == len(context) - 1
    assert two[2].prompt_eval_count - two[2].cached_count == len(new) + 1
    assert_same_up_to_a_tie(two, run_fresh(fresh, second))


def test_a_long_system_prompt_is_shared_between_slots(pair, fresh) -> None:
    system = pair.model.tokenize("System: " + story(30, seed=7))
    assert len(system) > pair.ctx.n_swa
    for round_ in range(3):  # shared windows must not fill the sliding-window cache
        user_a = pair.model.tokenize(f" User {round_}: hello", add_special=False)
        user_b = pair.model.tokenize(f" User {round_}: bonjour", add_special=False)
        long_req, long_col = request(pair, system + user_a, num_predict=120)
        pair.submit(long_req)
        # While the first generates, a second user with the same system prompt arrives: its
        # slot gets the prefix from the busy one (seq_cp, and its own copy of the window).
        long_col.events.get(timeout=300)
        shared = run(pair, system + user_b)
        long_col.wait()
        assert shared[2].cached_count >= len(system)
        assert_same_up_to_a_tie(shared, run_fresh(fresh, system + user_b))
