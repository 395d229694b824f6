"""Per-slot token sampling: a llama.cpp sampler chain built from Ollama's options, plus grammar.

The chain follows llama.cpp's order: penalties → top_k → typical_p → top_p → min_p → temperature
→ dist(seed); greedy when temperature is 0. A grammar (for `format`) is kept outside the chain:
masking a 262k-token vocabulary every step costs more than decoding, so the chain samples first
and the grammar checks only the chosen token; the full mask is applied only when it is rejected.
"""

from __future__ import annotations

import ctypes

import llama_cpp as lc
import numpy as np

from ollama_toolkit.api.options import Options
from ollama_toolkit.engine.llama import LlamaContext, LlamaModel

# Tokens tried first when the grammar rejects the sampled one (see _sample_masked).
_SHORTLIST = 256


class GrammarError(ValueError):
    pass


class Sampler:
    def __init__(self, model: LlamaModel, opts: Options, num_ctx: int, grammar: str | None = None):
        self.model = model
        # Penalties look back at most over the context (-1: all of it), as llama.cpp's server
        # clamps them: a huge repeat_last_n would otherwise allocate its ring buffer in full.
        last_n = num_ctx if opts.repeat_last_n < 0 else min(opts.repeat_last_n, num_ctx)
        self.last_n = last_n
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        self.chain = chain
        add = lc.llama_sampler_chain_add
        if opts.repeat_last_n != 0 and (
            opts.repeat_penalty != 1.0 or opts.frequency_penalty or opts.presence_penalty
        ):
            add(
                chain,
                lc.llama_sampler_init_penalties(
                    model.n_vocab,
                    last_n,
                    opts.repeat_penalty,
                    opts.frequency_penalty,
                    opts.presence_penalty,
                ),
            )
        if opts.temperature <= 0:
            add(chain, lc.llama_sampler_init_greedy())
        else:
            if opts.top_k > 0:
                add(chain, lc.llama_sampler_init_top_k(opts.top_k))
            if 0 < opts.typical_p < 1:
                add(chain, lc.llama_sampler_init_typical(opts.typical_p, 1))
            if 0 < opts.top_p < 1:
                add(chain, lc.llama_sampler_init_top_p(opts.top_p, 1))
            if opts.min_p > 0:
                add(chain, lc.llama_sampler_init_min_p(opts.min_p, 1))
            add(chain, lc.llama_sampler_init_temp(opts.temperature))
            seed = lc.LLAMA_DEFAULT_SEED if opts.seed < 0 else opts.seed & 0xFFFFFFFF
            add(chain, lc.llama_sampler_init_dist(seed))
        self.grammar = None
        if grammar:
            self.grammar = lc.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not self.grammar:
                self.close()
                raise GrammarError("invalid format: the grammar could not be parsed")
        # Sampling looks only at tokens that can matter (see _floor): scanning 262k logits in
        # numpy is several times cheaper than the chain sorting all of them. Penalties that
        # reward repetition could lift any token, so they turn the shortcut off.
        penalized = opts.repeat_last_n != 0
        self._repeat_penalty = opts.repeat_penalty if penalized else 1.0
        self._max_subtracted = (
            last_n * opts.frequency_penalty + opts.presence_penalty if penalized else 0.0
        )
        rewards = penalized and (
            opts.repeat_penalty < 1 or opts.frequency_penalty < 0 or opts.presence_penalty < 0
        )
        self._margin = None if rewards else 20.0 * max(opts.temperature, 0.0)
        # Greedy without penalties is a plain argmax: no candidates, no chain.
        self._argmax_only = opts.temperature <= 0 and not (
            penalized
            and (opts.repeat_penalty != 1.0 or opts.frequency_penalty or opts.presence_penalty)
        )
        self._one = (lc.llama_token_data * 1)()
        self._one_arr = lc.llama_token_data_array(self._one, 1, -1, False)

    def close(self) -> None:
        if self.chain:
            lc.llama_sampler_free(self.chain)
            self.chain = None
        if self.grammar:
            lc.llama_sampler_free(self.grammar)
            self.grammar = None

    def accept_prompt(self, tokens: list[int]) -> None:
        """Feed prompt tokens to the penalties (not to the grammar), as llama.cpp's server does."""
        for t in tokens:
            lc.llama_sampler_accept(self.chain, t)

    def sample(self, ctx: LlamaContext, index: int) -> int:
        logits = ctx.logits(index)
        if self._argmax_only:
            token = int(logits.argmax())
        else:
            if self._margin is None:
                ids = np.arange(len(logits))
            else:
                floor = self._floor(float(logits.max()), self._margin)
                ids = np.flatnonzero(logits >= floor)
            chosen = self._choose(ids, logits[ids], with_grammar=False)
            assert chosen is not None  # only a grammar can leave no candidate
            token = chosen
        if self.grammar is not None and not self._grammar_allows(token):
            token = self._choose_masked(logits)
        lc.llama_sampler_accept(self.chain, token)
        if self.grammar is not None:
            lc.llama_sampler_accept(self.grammar, token)
        return token

    def _floor(self, top: float, margin: float) -> float:
        """A logit below which no token can matter: even if the penalties push the best token
        down as far as they can, it stays e^20 times likelier than any token below."""
        rp = self._repeat_penalty
        lowest_top = (top / rp if top > 0 else top * rp) - self._max_subtracted
        return lowest_top - margin

    def _grammar_allows(self, token: int) -> bool:
        self._one[0].id = token  # type: ignore[assignment]  # ctypes takes an int for a c_int32
        self._one[0].logit = 1.0
        self._one[0].p = 0.0
        self._one_arr.size = 1
        self._one_arr.selected = -1
        lc.llama_sampler_apply(self.grammar, ctypes.byref(self._one_arr))
        return self._one[0].logit != float("-inf")

    def _choose_masked(self, logits: np.ndarray) -> int:
        """Resample with the grammar applied: first over the most likely tokens (cheap, and
        almost always enough), over the whole vocabulary only if none of those is allowed."""
        shortlist = np.argpartition(-logits, _SHORTLIST)[:_SHORTLIST]
        token = self._choose(shortlist, logits[shortlist], with_grammar=True)
        if token is None:
            token = self._choose(np.arange(len(logits)), logits, with_grammar=True)
        if token is None:
            raise GrammarError("the grammar allows no token here")
        return token

    def _choose(self, ids: np.ndarray, logits: np.ndarray, with_grammar: bool) -> int | None:
        """Run the chain (after the grammar, if asked) over these candidates only."""
        n = len(ids)
        cand = (lc.llama_token_data * n)()
        # llama_token_data is {int32 id; float logit; float p}: fill it as three strided columns.
        raw = np.ctypeslib.as_array(ctypes.cast(cand, ctypes.POINTER(ctypes.c_int32)), (n * 3,))
        raw[0::3] = ids
        raw.view(np.float32)[1::3] = logits
        raw.view(np.float32)[2::3] = 0.0
        arr = lc.llama_token_data_array(cand, n, -1, False)
        if with_grammar:
            lc.llama_sampler_apply(self.grammar, ctypes.byref(arr))
            if not np.isfinite(raw.view(np.float32)[1::3][: arr.size]).any():
                return None
        lc.llama_sampler_apply(self.chain, ctypes.byref(arr))
        return int(cand[arr.selected].id)
