"""Prompt lookup: draft tokens for speculative decoding, taken from a slot's own tokens.

When the output copies from its context (code rewritten with one change, quotes from a given
text, a list extended), the tokens that follow the current one are often the tokens that
followed the same few tokens earlier. `PromptLookup` keeps, for each n-gram of the slot's tokens
(the prompt and the output so far), the position just after its most recent occurrence (and,
for an n-gram followed by different tokens, a fork, its latest few); the draft is the
continuation of the longest n-gram that ends the tokens and occurred before, at a fork the
occurrence whose preceding tokens match longest. No second model: the decoder verifies the
draft in its batched step (engine/decoder.py), so a draft only ever costs compute, never
correctness.

What a draft costs, and so how long it is, comes from how llama.cpp's CPU backend computes the
logits of a batch: the output matrix (vocabulary × embedding, 262k × 640 for Gemma 3) is
multiplied by the batch's output rows in tiles of `OUTPUT_TILE` rows (llamafile's tinyBLAS on
x86), and a partial tile reads the whole matrix again. Measured on 2 cores (Gemma 3 270M):
1 output row 10.8 ms a decode, 2 rows 21.7, 3 rows 27.4, 4 rows 31.3, 5 rows 44.2, 8 rows 40.1,
12 rows 50.0, 16 rows 53.3. So a draft is sized to make the step's output rows a whole number
of tiles, and a long draft costs little more per token than a short one.

The index is kept up to date incrementally: each token adds at most `N_MAX` dict entries, and a
lookup costs a few dict reads. Image placeholders (negative ids) are never part of an n-gram
nor of a draft.
"""

from __future__ import annotations

from collections.abc import Iterable

N_MAX = 4  # the longest n-gram indexed
N_MIN = 2  # a single token's last continuation is a guess too often to be worth its compute
K_MAX = 64  # the most tokens drafted at once
K_START = 4
OUTPUT_TILE = 4  # see above: a step's output rows are best a multiple of this
_OCCURRENCES = 8  # the latest occurrences of a fork kept, to tell them apart by what precedes
_CONTEXT = 32  # the most tokens compared backwards to tell them apart

# After this many drafts in a row of which nothing was accepted, drafting pauses for as many
# steps as such drafts were made (doubling up to _PAUSE_MAX), and then tries again: output that
# does not copy stops costing compute, output that starts copying later is still caught.
_MISSES_BEFORE_PAUSE = 3
_PAUSE_MAX = 64


class PromptLookup:
    """The n-gram index of one generation's tokens, its draft length, and its record."""

    __slots__ = (
        "tokens",
        "_maps",
        "_forks",
        "k",
        "_misses",
        "_pause",
        "_paused",
        "proposed",
        "accepted",
    )

    def __init__(self) -> None:
        self.tokens: list[int] = []
        # _maps[n - 1]: n-gram → the position of the token that followed its latest occurrence;
        # _forks[n - 1]: the n-grams that were followed by different tokens (a fork: what comes
        # next depends on what came before), with the positions after their latest occurrences.
        self._maps: list[dict[tuple[int, ...], int]] = [{} for _ in range(N_MAX)]
        self._forks: list[dict[tuple[int, ...], list[int]]] = [{} for _ in range(N_MAX)]
        self.k = K_START  # the longest draft trusted now: grows while drafts are taken
        self._misses = 0  # drafts in a row with nothing accepted
        self._pause = 0  # drafts left to skip
        self._paused = _MISSES_BEFORE_PAUSE  # length of the next pause
        self.proposed = 0
        self.accepted = 0

    def extend(self, new: Iterable[int]) -> None:
        """Append tokens; each makes the n-grams that end just before it known."""
        tokens, maps, forks = self.tokens, self._maps, self._forks
        for t in new:
            j = len(tokens)
            tokens.append(t)
            if t < 0:
                continue
            for n in range(1, min(N_MAX, j) + 1):
                key = tuple(tokens[j - n : j])
                if key[0] < 0:  # an image: longer n-grams hold it too
                    break
                seen = maps[n - 1].get(key)
                fork = forks[n - 1].get(key)
                if fork is not None:
                    fork.append(j)
                    if len(fork) > _OCCURRENCES:
                        del fork[0]
                elif seen is not None and tokens[seen] != t:
                    forks[n - 1][key] = [seen, j]
                maps[n - 1][key] = j

    def _context(self, a: int, b: int) -> int:
        """How many tokens before positions a and b are the same (up to _CONTEXT)."""
        tokens = self.tokens
        n = 0
        while n < _CONTEXT and n < a and n < b and tokens[a - 1 - n] == tokens[b - 1 - n] >= 0:
            n += 1
        return n

    def _source(self, end: int, fork: list[int]) -> int:
        """Of the occurrences of a fork, the latest of those whose preceding tokens match the
        tokens before `end` (the context) the longest, when they all went on alike; else -1."""
        tokens = self.tokens
        best, best_len, clash = -1, -1, False
        for p in fork:
            n = self._context(p, end)
            if n > best_len:
                best, best_len, clash = p, n, False
            elif n == best_len:
                if tokens[p] != tokens[best]:
                    clash = True  # as far back alike, and on differently: a guess
                else:
                    best = max(best, p)
        return -1 if clash else best

    def draft(self, limit: int, align: int = OUTPUT_TILE - 1) -> list[int]:
        """A draft of at most `limit` tokens whose length is `align` modulo OUTPUT_TILE (so
        that the step's output rows fill whole tiles), or none.

        The draft copies what followed the earlier occurrence of the tokens' end: the latest
        occurrence of the longest n-gram, or, when that n-gram is a fork, the occurrence whose
        preceding tokens match longest (none if two match as long). Its tokens are *sure* up
        to `k`, and up to the first fork whose other occurrences match the context as long as
        this one. The draft is the longest allowed length within the copy that is at most twice
        the sure tokens and at most 3 past them: a few guesses cost nothing when they fill a
        tile that is computed anyway."""
        if limit <= 0:
            return []
        if self._pause > 0:
            self._pause -= 1
            return []
        tokens = self.tokens
        end = len(tokens)
        for n in range(min(N_MAX, end), N_MIN - 1, -1):
            key = tuple(tokens[end - n :])
            at = self._maps[n - 1].get(key)
            if at is not None:
                break
        else:
            return []
        fork = self._forks[n - 1].get(key)
        if fork is not None:
            at = self._source(end, fork)
            if at < 0:
                return []
        matched = self._context(at, end)  # how far back the copy's source matches
        cont: list[int] = []
        sure = -1
        for i in range(at, min(at + min(limit, K_MAX), end)):
            t = tokens[i]
            if t < 0:
                break
            if sure < 0 and cont:
                # The context the draft now stands in: the match and the tokens drafted. At a
                # fork, another occurrence that matches it as far back and went on otherwise
                # makes the rest a guess.
                m = min(N_MAX, n + len(cont))
                fork = self._forks[m - 1].get(tuple(tokens[i - m : i]))
                if fork is not None:
                    own = min(matched + len(cont), _CONTEXT)
                    if any(tokens[p] != t and self._context(p, i) >= own for p in fork):
                        sure = len(cont)
            cont.append(t)
        if sure < 0:
            sure = len(cont)
        sure = min(sure, self.k)
        most = min(len(cont), 2 * sure, sure + OUTPUT_TILE - 1)
        if most < align:
            return []
        size = align + (most - align) // OUTPUT_TILE * OUTPUT_TILE
        return cont[:size]

    def guess(self, limit: int) -> list[int]:
        """At most `limit` tokens that followed the longest earlier match of the tokens' end,
        a single token's included, forks or not: for a draft that costs nothing."""
        tokens = self.tokens
        end = len(tokens)
        for n in range(min(N_MAX, end), 0, -1):
            at = self._maps[n - 1].get(tuple(tokens[end - n :]))
            if at is not None:
                out = tokens[at : at + max(limit, 0)]
                if out and min(out) < 0:
                    out = out[: next(i for i, t in enumerate(out) if t < 0)]
                return out
        return []

    def update(self, proposed: int, accepted: int) -> None:
        """Record a verified draft: the length trusted grows after a draft taken whole and
        falls to what was taken otherwise; drafts that keep missing pause drafting."""
        self.proposed += proposed
        self.accepted += accepted
        if accepted == proposed:
            self.k = min(self.k * 2, K_MAX)
        else:
            self.k = max(accepted + 1, 2)
        if accepted:
            self._misses = 0
            self._paused = _MISSES_BEFORE_PAUSE
            return
        self._misses += 1
        if self._misses >= _MISSES_BEFORE_PAUSE:
            self._misses = 0
            self._pause = self._paused
            self._paused = min(self._paused * 2, _PAUSE_MAX)
