"""Ollama's model options: defaults, types, and validation with Ollama's error wording.

Options come from three layers, later ones winning: Ollama's defaults, the model's `params`
layer (Modelfile PARAMETER lines), and the request's `options`. Unknown keys are ignored and
logged, as Ollama does; a value of the wrong type is a 400 that names the option.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from ollama_toolkit import config
from ollama_toolkit.api.errors import option_range, option_type

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerOptions:
    """Options fixed when a model is loaded (Ollama's `api.Runner`): a change of any of them but
    a smaller num_ctx needs a reload."""

    num_ctx: int = 0  # 0: OLLAMA_CONTEXT_LENGTH
    num_batch: int = 512
    num_gpu: int = -1
    main_gpu: int = 0
    use_mmap: bool | None = None
    num_thread: int = 0  # 0: OLLAMA_NUM_THREAD, else every core

    def resolved(self) -> RunnerOptions:
        """The defaults that come from the environment filled in."""
        return dataclasses.replace(
            self,
            num_ctx=self.num_ctx or config.context_length(),
            num_thread=self.num_thread or config.num_threads(),
        )


@dataclass
class Options:
    """Every model option (Ollama's `api.Options`, which embeds `api.Runner`): the per-request
    sampling and generation options here, the load-time ones in `runner`. On the wire both are
    one flat object."""

    num_keep: int = 4
    seed: int = -1
    num_predict: int = -1
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_last_n: int = 64
    temperature: float = 0.8
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: list[str] = field(default_factory=list)
    draft_num_predict: int = 4
    runner: RunnerOptions = field(default_factory=RunnerOptions)


_RUNNER_FIELDS = {f.name: f for f in dataclasses.fields(RunnerOptions)}
_FIELDS = {
    **{f.name: f for f in dataclasses.fields(Options) if f.name != "runner"},
    **_RUNNER_FIELDS,
}
_INT = {n for n, f in _FIELDS.items() if f.type == "int"}
_FLOAT = {n for n, f in _FIELDS.items() if f.type == "float"}
_BOOL = {"use_mmap"}

# Integer options are C ints in llama.cpp: a larger value would wrap around there.
_INT32_MAX = 2**31 - 1
# The smallest value of an integer option that llama.cpp can work with; below it a request is
# refused (num_batch 0 or -1 corrupts the heap in llama_batch_init; a context needs a few cells).
_MIN_INT = {
    "num_ctx": 0,
    "num_batch": 1,
    "num_thread": 0,
    "num_keep": -1,
    "repeat_last_n": -1,
    "top_k": 0,
    "num_predict": -2,
    "draft_num_predict": 0,
}
# A positive num_ctx below this is raised to it: a slot needs room for a BOS and a token.
MIN_NUM_CTX = 4
# Options older Ollama releases accepted; clients (LangChain among them) still send them.
_RETIRED = {
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "tfs_z",
    "penalize_newline",
    "numa",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "embedding_only",
}


def checked_value(key: str, value: Any) -> Any:
    """`value` as option `key` holds it, or InvalidOption when it has the wrong type or range."""
    if key in _INT:
        # JSON numbers are floats in Go: Ollama truncates 3.0 (and 3.7) to an int.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise option_type(key, "integer")
        number = int(value)
        least = _MIN_INT.get(key, -_INT32_MAX)
        if not least <= number <= _INT32_MAX:
            raise option_range(key, least, _INT32_MAX)
        if key == "num_ctx" and 0 < number < MIN_NUM_CTX:
            number = MIN_NUM_CTX
        return number
    if key in _FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise option_type(key, "float32")
        real = float(value)
        if not math.isfinite(real):
            raise option_type(key, "float32")
        return real
    if key in _BOOL:
        if not isinstance(value, bool):
            raise option_type(key, "boolean")
        return value
    if key == "stop":
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise option_type(key, "array")
        if not all(isinstance(s, str) for s in value):
            raise option_type(key, "array")
        return list(value)
    raise AssertionError(key)


def apply_options(opts: Options, values: dict[str, Any] | None) -> Options:
    """Overlay `values` (a request's or a model's options) on `opts`, validating each."""
    if not values:
        return opts
    if not isinstance(values, dict):
        raise option_type("options", "object")
    for key, value in values.items():
        if key not in _FIELDS:
            level = logging.DEBUG if key in _RETIRED else logging.WARNING
            # %r: a key is client text, and a newline in it must not forge a log line.
            log.log(level, "invalid option provided: %r", key)
            continue
        if value is None:
            continue
        if key in _RUNNER_FIELDS:
            opts.runner = dataclasses.replace(opts.runner, **{key: checked_value(key, value)})
        else:
            setattr(opts, key, checked_value(key, value))
    return opts


def resolve_options(model_params: dict[str, Any], request: dict[str, Any] | None) -> Options:
    opts = Options(runner=RunnerOptions(num_ctx=config.context_length()))
    apply_options(opts, model_params)
    return apply_options(opts, request)


def option_field_type(key: str) -> str | None:
    """The wire type of an option (for Modelfile PARAMETER parsing): int, float, bool, list."""
    if key in _INT:
        return "int"
    if key in _FLOAT:
        return "float"
    if key in _BOOL:
        return "bool"
    if key == "stop":
        return "list"
    return None
