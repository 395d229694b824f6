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

from ollama_toolkit.engine.llama import LlamaContext, LlamaModel
from ollama_toolkit.engine.options import Options

# Tokens tried first when the grammar rejects the sampled one (see _sample_masked).
_SHORTLIST = 256


class GrammarError(ValueError):
    pass


class Sampler:
    def __init__(self, model: LlamaModel, opts: Options, grammar: str | None = None):
        self.model = model
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        self.chain = chain
        add = lc.llama_sampler_chain_add
        if opts.repeat_last_n != 0 and (
            opts.repeat_penalty != 1.0 or opts.frequency_penalty or opts.presence_penalty
        ):
            last_n = model.n_ctx_train if opts.repeat_last_n < 0 else opts.repeat_last_n
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
        token = lc.llama_sampler_sample(self.chain, ctx.ctx, index)
        if self.grammar is None:
            return token
        if not self._grammar_allows(token):
            token = self._sample_masked(ctx, index)
        lc.llama_sampler_accept(self.grammar, token)
        return token

    def _grammar_allows(self, token: int) -> bool:
        self._one[0].id = token
        self._one[0].logit = 1.0
        self._one[0].p = 0.0
        self._one_arr.size = 1
        self._one_arr.selected = -1
        lc.llama_sampler_apply(self.grammar, ctypes.byref(self._one_arr))
        return self._one[0].logit != float("-inf")

    def _sample_masked(self, ctx: LlamaContext, index: int) -> int:
        """Resample with the grammar applied: first over the most likely tokens (cheap, and
        almost always enough), over the whole vocabulary only if none of those is allowed."""
        logits = ctx.logits(index)
        shortlist = np.argpartition(-logits, _SHORTLIST)[:_SHORTLIST]
        token = self._apply_grammar_then_chain(shortlist, logits[shortlist])
        if token is None:
            token = self._apply_grammar_then_chain(np.arange(len(logits)), logits)
        if token is None:
            raise GrammarError("the grammar allows no token here")
        # llama_sampler_sample already fed the rejected token to the penalties; feed the real one
        # too (a rare double count that only nudges repeat penalties).
        lc.llama_sampler_accept(self.chain, token)
        return token

    def _apply_grammar_then_chain(self, ids: np.ndarray, logits: np.ndarray) -> int | None:
        n = len(ids)
        cand = (lc.llama_token_data * n)()
        # llama_token_data is {int32 id; float logit; float p}: fill it as three strided columns.
        raw = np.ctypeslib.as_array(ctypes.cast(cand, ctypes.POINTER(ctypes.c_int32)), (n * 3,))
        raw[0::3] = ids
        raw.view(np.float32)[1::3] = logits
        raw.view(np.float32)[2::3] = 0.0
        arr = lc.llama_token_data_array(cand, n, -1, False)
        lc.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        allowed = raw.view(np.float32)[1::3][: arr.size]
        if not np.isfinite(allowed).any():
            return None
        lc.llama_sampler_apply(self.chain, ctypes.byref(arr))
        return int(cand[arr.selected].id)
