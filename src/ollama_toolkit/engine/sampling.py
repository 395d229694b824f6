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
        """Resample with the grammar applied over the whole vocabulary (the rare, slow path)."""
        n = self.model.n_vocab
        cand = (lc.llama_token_data * n)()
        view = np.ctypeslib.as_array(
            ctypes.cast(cand, ctypes.POINTER(ctypes.c_float)), shape=(n * 3,)
        )
        view[1::3] = ctx.logits(index)
        view[2::3] = 0.0
        np.ctypeslib.as_array(ctypes.cast(cand, ctypes.POINTER(ctypes.c_int32)), shape=(n * 3,))[
            0::3
        ] = np.arange(n, dtype=np.int32)
        arr = lc.llama_token_data_array(cand, n, -1, False)
        lc.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        lc.llama_sampler_apply(self.chain, ctypes.byref(arr))
        token = cand[arr.selected].id
        # llama_sampler_sample already fed the rejected token to the penalties; feed the real one
        # too (a rare double count that only nudges repeat penalties).
        lc.llama_sampler_accept(self.chain, token)
        return token
