"""The runner interface: all the server knows of the engine.

A Runner is one loaded model that serves many requests at once. The scheduler makes runners
through a `RunnerFactory` (the local llama.cpp one by default; tests plug an in-process fake,
a remote backend plugs replicas) and leases them to requests. The server tokenizes through a
runner, asks it the context a request gets, streams a generation's events and embeds inputs;
it never sees llama.cpp.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ollama_toolkit.api.options import Options, RunnerOptions

# --- what a generation streams back -------------------------------------------------------------


@dataclass(slots=True)
class TokenEvent:
    text: str
    logprobs: list[dict] | None = None


@dataclass(slots=True)
class DoneEvent:
    reason: str  # "stop" or "length"
    prompt_eval_count: int
    prompt_eval_ns: int
    eval_count: int
    eval_ns: int
    context: list[int]
    cached_count: int = 0  # prompt tokens whose KV entries were reused, not evaluated


@dataclass(slots=True)
class ErrorEvent:
    message: str


Event = TokenEvent | DoneEvent | ErrorEvent


# --- what a generation is asked ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenChunk:
    """A run of text tokens in a prompt."""

    tokens: list[int]


@dataclass(frozen=True)
class ImageInput:
    """A decoded image: `width`×`height` RGB pixels, and a key that identifies the image (a
    hash of its encoded bytes), for the prefix cache."""

    width: int
    height: int
    rgb: bytes
    key: bytes


# An image takes its place in a prompt's token space as placeholder ids below zero, unique to
# the image and to each of its cells: matching prompts token by token then treats the same
# image as the same tokens and a different image as different ones. Ids are -(1 + tag + i),
# with the image's tag in the bits above _CELL_BITS and i its cell.
_CELL_BITS = 20
_CELL_MASK = (1 << _CELL_BITS) - 1


def image_placeholders(key: bytes, n_tokens: int) -> list[int]:
    tag = (int.from_bytes(key[:5], "big") or 1) << _CELL_BITS
    return [-(1 + tag + i) for i in range(n_tokens)]


def image_cell(token: int) -> int:
    """The cell of an image placeholder (0: the image's first); -1 for a text token."""
    return (-token - 1) & _CELL_MASK if token < 0 else -1


@dataclass(frozen=True, eq=False)
class ImageChunk:
    """An image in a prompt, prepared by the runner that will decode it: `tokens` are its
    placeholders (one per KV cell it takes), `media` the runner's own form of it. An image is
    decoded, cached, shifted and truncated whole, never in part."""

    tokens: list[int]
    media: Any = field(repr=False)


PromptChunk = TokenChunk | ImageChunk


def prompt_tokens(prompt: list[PromptChunk]) -> list[int]:
    """The prompt as one list of ids, images as their placeholders."""
    return [t for chunk in prompt for t in chunk.tokens]


@dataclass
class GenerateParams:
    prompt: list[PromptChunk]
    options: Options
    num_ctx: int  # the context this request gets: runner.context_size(options)
    format: str | dict[str, Any] | None = None  # "json" or a JSON schema: constrained output
    shift: bool = True  # shift the context when it fills, instead of stopping
    logprobs: bool = False
    top_logprobs: int = 0
    # Special tokens written out as their text, which otherwise stand for nothing: the ones a
    # model's built-in parser reads (`<|channel|>`, `<tool_call>`), as Ollama passes them to
    # llama-server as `preserved_tokens`.
    preserved: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Vocab:
    """The special tokens a caller needs to frame a prompt or an embedding input."""

    bos: int
    eos: int
    add_bos: bool
    add_eos: bool
    fim: tuple[int, int, int] | None  # fill-in-the-middle prefix, suffix, middle tokens


@dataclass(frozen=True)
class ModelSpec:
    """What a runner is made from. `info` is the caller's own (the server keeps its store model
    there, for /api/ps); the engine never reads it."""

    path: Path
    name: str
    projector: Path | None = None  # a vision projector (a GGUF of architecture clip)
    info: Any = field(default=None, compare=False)


class Runner(Protocol):
    """One loaded model. Tokenizing may be called from any thread; the rest from the event loop."""

    spec: ModelSpec
    num_ctx: int  # the context of each slot

    @property
    def size(self) -> int:
        """Bytes of memory the model holds now (weights, caches)."""
        ...

    @property
    def size_vram(self) -> int:
        """Of those, bytes in GPU memory."""
        ...

    @property
    def vocab(self) -> Vocab: ...

    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...

    @property
    def vision(self) -> bool:
        """Whether the model takes images (it was loaded with a projector)."""
        ...

    def image_prompt(self, image: ImageInput) -> list[PromptChunk]:
        """An image as prompt chunks: the model's own text around it (such as
        `<start_of_image>`) and the ImageChunk. Blocking, callable from any thread; raises
        InvalidRequest when the model cannot take it."""
        ...

    def detokenize(self, tokens: list[int]) -> str: ...

    def context_size(self, options: Options) -> int:
        """The context a request with these options gets (at most the loaded one)."""
        ...

    def can_serve(self, options: RunnerOptions) -> bool:
        """Whether a request with these load-time options can use this runner as loaded."""
        ...

    def generate(self, params: GenerateParams) -> AsyncGenerator[Event, None]:
        """Events until a DoneEvent or ErrorEvent. Closing the iterator early cancels the
        generation and frees its slot. An invalid `format` raises InvalidFormat at once."""
        ...

    async def embed(self, inputs: list[list[int]]) -> list[np.ndarray]:
        """One raw (not normalized) vector per input; InputTooLong past the context."""
        ...

    def healthy(self) -> bool: ...

    def close(self) -> None:
        """Free the model; blocking (the scheduler calls it off the event loop)."""
        ...

    # Read when metrics are scraped, from the event loop, while generations run: cheap reads of
    # plain counts, maybe a step out of date, never a lock on the decoding path.

    @property
    def slots_busy(self) -> int:
        """Slots running a request now (prefilling or generating)."""
        ...

    @property
    def slots_total(self) -> int:
        """Requests this runner can decode at once (OLLAMA_NUM_PARALLEL)."""
        ...

    @property
    def kv_cells_used(self) -> int:
        """KV-cache cells held: each slot's cached tokens, kept prefixes of idle slots too."""
        ...

    @property
    def kv_cells_total(self) -> int:
        """KV-cache cells the runner has (every slot's context)."""
        ...


RunnerFactory = Callable[[ModelSpec, RunnerOptions, int], Runner]
"""(model, resolved load-time options, slots) → a loaded Runner; blocking."""
