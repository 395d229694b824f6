"""Speculative decoding with prompt lookup (engine/speculative.py, engine/decoder.py): drafts
from the slot's own tokens, verified in the batched step, change the speed of a generation and
nothing else. On the real engine, with speculation forced on and off on the same decoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decoder_events import Collector
from greedy import TIE_NATS, assert_same_up_to_a_tie
from ollama_toolkit import config
from ollama_toolkit.api.options import Options, RunnerOptions
from ollama_toolkit.engine.decoder import Decoder, GenerationRequest
from ollama_toolkit.engine.grammar import grammar_for_format
from ollama_toolkit.engine.speculative import K_MAX, PromptLookup
from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import Store

# A prompt the model continues by copying: the drafts are taken.
CODE = "\n".join(f"def scale_{i}(x):\n    return x * {i} + {i + 1}" for i in range(12))
COPY = f"Here is a Python file:\n\n{CODE}\n\nThe same file, once more:\n\n"
JSON_RECORD = (
    '{"name": "Paris", "country": "France", "river": "Seine", "landmarks": '
    '["Eiffel Tower", "Louvre", "Notre-Dame", "Arc de Triomphe"]}'
)
JSON_COPY = f"A record:\n{JSON_RECORD}\nThe same record again:\n"
NORMAL = "The history of Rome begins"


@pytest.fixture(scope="module")
def runner(seeded_store: Path):
    model = load_model(Store(seeded_store), ModelName.parse(BUNDLED_MODEL))
    r = Decoder(
        model.model_path,
        RunnerOptions(num_ctx=1024, num_thread=2),
        num_parallel=4,
        speculative="off",
    )
    yield r
    r.close()


def request(
    runner: Decoder, prompt: str, fmt: str | None = None, **opts
) -> tuple[GenerationRequest, Collector]:
    collector = Collector()
    grammar = grammar_for_format(fmt)
    req = GenerationRequest(
        tokens=runner.model.tokenize(prompt),
        options=Options(**{"temperature": 0, "num_predict": 64, **opts}),
        num_ctx=runner.num_ctx,
        grammar=grammar,
        json_end=grammar is not None,
        emit=collector,
        logprobs=True,
        top_logprobs=5,
    )
    return req, collector


def generate(runner: Decoder, mode: str, prompt: str, fmt: str | None = None, **opts):
    """One request alone, with speculation `mode`: (text, logprobs, done, drafts taken)."""
    runner.speculative = mode
    taken = runner.draft_accepted
    req, col = request(runner, prompt, fmt, **opts)
    runner.submit(req)
    text, logprobs, done = col.wait()
    return text, logprobs, done, runner.draft_accepted - taken


def off_and_on(runner: Decoder, prompt: str, fmt: str | None = None, **opts) -> tuple:
    """The same request without drafts and with them, both with the prompt from the cache (a
    prompt evaluated cold rounds differently from one whose last token alone is decoded)."""
    generate(runner, "off", prompt, fmt, **{**opts, "num_predict": 1})
    return generate(runner, "off", prompt, fmt, **opts), generate(runner, "on", prompt, fmt, **opts)


def chosen(logprobs: list[dict]) -> list[str]:
    return [e["token"] for e in logprobs]


def assert_same_generation(off: tuple, on: tuple) -> None:
    """The same text, the same tokens with the same log-probabilities, the same end."""
    (text_a, lp_a, done_a, _), (text_b, lp_b, done_b, _) = off, on
    assert text_b == text_a
    assert chosen(lp_b) == chosen(lp_a)
    # A verified position's logits come from a batch of another shape, whose matmuls round
    # differently (llama.cpp computes several output rows with other kernels than one): equal
    # up to that rounding, which is what greedy.py's tie tolerance allows for.
    for a, b in zip(lp_a, lp_b, strict=True):
        assert b["logprob"] == pytest.approx(a["logprob"], abs=TIE_NATS)
    assert (done_b.reason, done_b.eval_count) == (done_a.reason, done_a.eval_count)
    assert done_b.context == done_a.context


# --- the drafting index ------------------------------------------------------------------------


def test_lookup_drafts_what_followed_the_longest_earlier_match() -> None:
    lookup = PromptLookup()
    lookup.extend([1, 2, 3, 4, 5, 9, 3, 4, 6, 7, 2, 3, 4])
    # [2, 3, 4] occurred at the start, then 5, 9, 3 …; [3, 4] alone last led to 6.
    assert lookup.draft(3) == [5, 9, 3]
    # Lengths fill whole tiles of output rows: 3 (with the slot's own token, 4 rows), 7, …;
    # a slot after others in the batch gets the length that completes their partial tile.
    assert lookup.draft(3, align=1) == [5]
    assert lookup.draft(10, align=2) == [5, 9, 3, 4, 6, 7]
    lookup.extend([8])
    assert lookup.draft(4) == []  # [4, 8], [8]: never seen before (single tokens never draft)


def test_a_draft_stops_at_a_fork_or_fills_its_tile_past_it() -> None:
    lookup = PromptLookup()
    lookup.extend([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 20, 1, 2, 3])
    # After [4, 5, 6, 7] came 8, then 20: what follows it is a guess. The draft's sure part ends
    # there; a few guesses may follow to fill the tile.
    assert lookup.draft(16, align=0) == [4, 5, 6, 7]
    assert lookup.draft(16, align=3) == [4, 5, 6, 7, 20, 1, 2]
    forked = PromptLookup()
    forked.extend([1, 2, 9, 1, 2, 8, 1, 2])
    assert forked.draft(8) == []  # [1, 2] was followed by 9, then by 8: no draft …
    assert forked.guess(3) == [8, 1, 2]  # … but a guess, where one costs nothing


def test_a_fork_is_told_apart_by_what_came_before_it() -> None:
    # Lines that start alike and go on differently: which one is being copied shows in the
    # tokens before the fork.
    lookup = PromptLookup()
    one, two = [50, 7, 1, 2, 3, 10, 11, 12, 13], [60, 7, 1, 2, 3, 20, 21, 22, 23]
    lookup.extend([*one, *two])
    lookup.extend([50, 7, 1, 2, 3])  # [7, 1, 2, 3] is a fork: 50 before it says which
    assert lookup.draft(16, align=0) == [10, 11, 12, 13]
    lookup.extend([10, 11, 12, 13, 60, 7, 1, 2, 3])
    assert lookup.draft(16, align=0) == [20, 21, 22, 23]
    lookup.extend([20, 99, 7, 1, 2, 3])  # 99: like neither
    assert lookup.draft(16, align=0) == []


def test_lookup_trusts_longer_drafts_while_they_are_taken() -> None:
    lookup = PromptLookup()
    lookup.extend([*range(40), 3, 4])
    assert lookup.draft(100) == list(range(5, 5 + 7))  # K_START sure tokens, tile filled
    for _ in range(4):
        lookup.update(1, 1)  # taken whole: longer drafts
    assert lookup.k == K_MAX
    assert lookup.draft(100) == [*range(5, 40), 3, 4][:35]  # all it has, in whole tiles
    lookup.update(35, 2)  # a miss after two: drafts of what was taken, and one more
    assert lookup.k == 3
    assert lookup.draft(100) == [5, 6, 7]
    assert (lookup.proposed, lookup.accepted) == (39, 6)


def test_lookup_pauses_after_drafts_that_miss() -> None:
    lookup = PromptLookup()
    lookup.extend([1, 2, 3, 1, 2])
    for _ in range(3):
        assert lookup.draft(4) == [3, 1, 2]
        lookup.update(3, 0)
    assert lookup.draft(4) == []  # three misses in a row: paused for a few steps …
    while not lookup.draft(4):
        pass  # … then it tries again
    lookup.update(3, 1)
    assert lookup.draft(4) == [3, 1, 2]


def test_lookup_never_drafts_an_image() -> None:
    lookup = PromptLookup()
    image = [-5, -6, -7]
    lookup.extend([1, 2, *image, 1, 2, 8, 1, 2])
    assert lookup.draft(5) == [8, 1, 2]  # the latest [1, 2] followed by a token: 8
    lookup = PromptLookup()
    lookup.extend([1, 2, 3, *image, 4, 1, 2])
    assert lookup.draft(5, align=1) == [3]  # stops where the image starts
    assert lookup.guess(5) == [3]
    lookup = PromptLookup()
    lookup.extend([*image, 9, -5, -6, 9])
    assert lookup.draft(5) == [] == lookup.guess(5)  # n-grams with images are not indexed


@pytest.mark.parametrize(
    ("text", "mode"),
    [("auto", "auto"), ("ON", "on"), ("off", "off"), ("true", "on"), ("0", "off")],
)
def test_the_setting_takes_auto_on_off_and_booleans(monkeypatch, text, mode) -> None:
    monkeypatch.setenv("OLLAMA_SPECULATIVE", text)
    assert config.speculative() == mode
    monkeypatch.setenv("OLLAMA_SPECULATIVE", "sometimes")
    assert config.speculative() == "auto"  # not a mode: the default


# --- the decoder -------------------------------------------------------------------------------


def test_copying_output_takes_drafts_and_is_the_same_without_them(runner) -> None:
    proposed = runner.draft_proposed
    off, on = off_and_on(runner, COPY, num_predict=96)
    assert off[3] == 0 and on[3] > 16  # whole runs of tokens taken from drafts
    assert runner.draft_proposed > proposed
    assert_same_generation(off, on)
    assert on[2].eval_count == 96 == len(on[1])  # one logprob entry per token, as without


def test_auto_drafts_for_a_stream_alone(runner) -> None:
    assert generate(runner, "auto", COPY, num_predict=48)[3] > 0


def test_output_that_does_not_copy_is_the_same_too(runner) -> None:
    off, on = off_and_on(runner, NORMAL, num_predict=48)
    assert_same_generation(off, on)


@pytest.mark.parametrize("num_predict", [1, 2, 7, 37])
def test_num_predict_is_exact(runner, num_predict) -> None:
    off, on = off_and_on(runner, COPY, num_predict=num_predict)
    assert on[2].eval_count == num_predict == len(on[1])
    assert on[2].reason == "length"
    assert_same_generation(off, on)


def test_a_stop_string_inside_a_draft_ends_the_output_there(runner) -> None:
    stop = "scale_5"
    off, on = off_and_on(runner, COPY, num_predict=200, stop=[stop])
    assert on[3] > 0
    assert on[2].reason == "stop" and stop not in on[0] and on[0].endswith("def ")
    assert_same_generation(off, on)
    # The slot's cache holds exactly what it decoded: the next request reuses its prefix.
    again = generate(runner, "on", COPY, num_predict=200, stop=[stop])
    assert again[2].cached_count > 0
    assert_same_generation(off, again)


def test_format_json_ends_with_the_value_as_without_drafts(runner) -> None:
    off, on = off_and_on(runner, JSON_COPY, "json", num_predict=120)
    assert on[3] > 0
    assert json.loads(on[0])["country"] == "France"
    assert on[2].reason == "stop"
    assert_same_generation(off, on)


@pytest.mark.parametrize("shift", [True, False])
def test_the_context_limit_and_shift_behave_as_without_drafts(runner, shift) -> None:
    runs = []
    for mode in ("off", "off", "on"):  # the first puts the prompt in the cache
        runner.speculative = mode
        taken = runner.draft_accepted
        req, col = request(runner, "1, 2, 3, 4, 5, 6,", num_predict=80)
        req.num_ctx = 48
        req.shift = shift
        runner.submit(req)
        runs.append((*col.wait(), runner.draft_accepted - taken))
    _, off, on = runs
    assert on[3] > 0
    if shift:
        assert on[2].eval_count == 80 and on[2].reason == "length"
    else:
        assert on[2].reason == "length"
        assert on[2].prompt_eval_count + on[2].eval_count <= 48
    assert_same_generation(off, on)


@pytest.mark.parametrize(
    "opts",
    [
        {"temperature": 0.7, "seed": 11, "repeat_penalty": 1.2, "presence_penalty": 0.3},
        {"temperature": 0.3, "seed": 5, "top_k": 20, "top_p": 0.9, "frequency_penalty": 0.2},
    ],
)
def test_sampling_with_penalties_runs_and_keeps_every_limit(runner, opts) -> None:
    # Each token taken is a true sample, so the distribution is the one without drafts; one
    # seed's output is not promised to be the same (a rounding can flip a near-tie), only
    # every rule: num_predict, stop strings, one event per token.
    for mode in ("on", "off"):
        text, logprobs, done, _ = generate(runner, mode, COPY, num_predict=50, **opts)
        assert done.eval_count == len(logprobs) <= 50
        assert done.eval_count == 50 or done.reason == "stop"
        text, logprobs, done, _ = generate(
            runner, mode, COPY, num_predict=200, stop=["\n\n"], **opts
        )
        assert "\n\n" not in text and done.eval_count <= 200
    # The same seed twice with drafts: the same output (drafts depend only on the tokens).
    first = generate(runner, "on", COPY, num_predict=50, **opts)
    second = generate(runner, "on", COPY, num_predict=50, **opts)
    assert second[0] == first[0]


def test_four_concurrent_streams_each_get_their_own_text(runner) -> None:
    prompts = [
        COPY,
        JSON_COPY,
        "Shopping list: eggs, milk, bread, apples.\nThe list again: eggs,",
        NORMAL,
    ]
    alone = [generate(runner, "off", p, num_predict=48)[:3] for p in prompts]
    runner.speculative = "on"
    taken = runner.draft_accepted
    pairs = [request(runner, p, num_predict=48) for p in prompts]
    for req, _ in pairs:
        runner.submit(req)
    together = [col.wait() for _, col in pairs]
    assert runner.draft_accepted > taken
    for a, t in zip(alone, together, strict=True):
        assert_same_up_to_a_tie(a, t)
        assert t[2].eval_count == len(t[1])


def test_six_streams_fill_their_partial_tile_with_guesses(seeded_store: Path) -> None:
    # Past one tile of output rows, a partial tile costs more than a whole one: at auto, six
    # generating slots draft nothing of their own, but two of them guess a token each.
    model = load_model(Store(seeded_store), ModelName.parse(BUNDLED_MODEL))
    six = Decoder(model.model_path, RunnerOptions(num_ctx=512, num_thread=2), num_parallel=6)
    try:
        assert six.speculative == "auto"  # OLLAMA_SPECULATIVE's default
        prompts = [
            COPY,
            JSON_COPY,
            NORMAL,
            "Shopping list: eggs, milk, bread, apples.\nThe list again: eggs,",
            "1, 2, 3, 4, 5, 6,",
            "def fibonacci(n):",
        ]
        six.speculative = "off"
        alone = []
        for p in prompts:
            req, col = request(six, p, num_predict=32)
            six.submit(req)
            alone.append(col.wait())
        six.speculative = "auto"
        pairs = [request(six, p, num_predict=32) for p in prompts]
        for req, _ in pairs:
            six.submit(req)
        together = [col.wait() for _, col in pairs]
        assert six.draft_proposed > 0
        for a, t in zip(alone, together, strict=True):
            assert_same_up_to_a_tie(a, t)
            assert t[2].eval_count == len(t[1])
    finally:
        six.close()
