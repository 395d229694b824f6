"""Distinct prompts of a given length in tokens, counted with the model's own tokenizer.

Every prompt starts with a word no earlier prompt of the run started with, so no server can
reuse a cached prefix unless a benchmark asks for it.
"""

from __future__ import annotations

import random
from pathlib import Path

from ollama_toolkit.engine.llama import LlamaModel

_TEXT = """
the of and to in is was for on that with as by at from his her an were are which this be
or had it not but they have one their also after all new first two been has who its more
time into other only over city some would when him there can most years school between
world made out where state such later year during under team however about many then three
where used while series both film may since known three number music river people century
season group area album part well before city life house village called family built these
small early water field church country land system north south east west game best war
garden morning evening window mountain forest island bridge market letter teacher doctor
winter summer spring autumn engine station harbor valley castle library kitchen journey
story history science language picture question answer reason method result problem
animal weather travel paper silver golden quiet bright heavy simple ancient modern careful
gentle narrow wide distant hidden open broken lucky strange famous sudden steady warm cold
"""
WORDS = list(dict.fromkeys(_TEXT.split()))  # unique, in order


class PromptFactory:
    """Makes prompts for one GGUF; each call returns a prompt no other call shares a start with."""

    def __init__(self, gguf: Path, seed: int = 1234):
        self._model = LlamaModel(gguf)
        self._rng = random.Random(seed)
        self._made = 0

    def close(self) -> None:
        self._model.close()

    def count(self, text: str) -> int:
        """Tokens of `text` as a server evaluates it, BOS included."""
        return len(self._model.tokenize(text))

    def make(self, tokens: int) -> str:
        """A prompt of at most `tokens` tokens (BOS included), as close to it as words allow."""
        first = WORDS[self._made % len(WORDS)].capitalize()
        self._made += 1
        words = [first] + [self._rng.choice(WORDS) for _ in range(tokens)]
        # Every word is at least one token: binary search the longest prefix that fits.
        lo, hi = 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.count(" ".join(words[:mid])) <= tokens:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo])

    def tail(self, tokens: int) -> str:
        """A short continuation to append to a shared prefix (leading space, no BOS)."""
        return " " + self.make(tokens)
