"""Comparing greedy runs that decoded in different batches."""

from __future__ import annotations

# Batched and single-sequence decoding round differently (quantized matmuls over other batch
# shapes): two candidates closer than this may swap. A mixed-up stream looks nothing like that.
TIE_NATS = 0.25


def assert_same_up_to_a_tie(one: tuple, other: tuple) -> None:
    """Two greedy runs of one prompt give the same text, or part at a near-tie: in each run, the
    token the other run chose is among its top candidates, within TIE_NATS of its best."""
    (text_a, lp_a, _), (text_b, lp_b, _) = one, other
    if text_a == text_b:
        return
    tokens_a = [e["token"] for e in lp_a]
    tokens_b = [e["token"] for e in lp_b]
    i = next(i for i, (a, b) in enumerate(zip(tokens_a, tokens_b, strict=False)) if a != b)
    for run, other_choice in ((lp_a[i], tokens_b[i]), (lp_b[i], tokens_a[i])):
        top = {e["token"]: e["logprob"] for e in run["top_logprobs"]}
        assert other_choice in top, (text_a, text_b)
        assert max(top.values()) - top[other_choice] < TIE_NATS, (text_a, text_b)
