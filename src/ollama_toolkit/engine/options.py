"""Ollama's model options: defaults, types, and validation with Ollama's error wording.

Options come from three layers, later ones winning: Ollama's defaults, the model's `params`
layer (Modelfile PARAMETER lines), and the request's `options`. Unknown keys are ignored and
logged, as Ollama does; a value of the wrong type is a 400 that names the option.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from ollama_toolkit import config
from ollama_toolkit.api.errors import option_type

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOptions:
    """Options fixed when a model is loaded; a change of any of them needs a reload."""

    num_batch: int = 512
    num_thread: int = 0
    use_mmap: bool | None = None
    num_gpu: int = -1
    main_gpu: int = 0


@dataclass
class Options:
    # sampling and generation, per request
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
    # load-time
    num_ctx: int = 0
    num_batch: int = 512
    num_gpu: int = -1
    main_gpu: int = 0
    use_mmap: bool | None = None
    num_thread: int = 0
    draft_num_predict: int = 4

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            num_batch=self.num_batch,
            num_thread=self.num_thread or config.num_threads(),
            use_mmap=self.use_mmap,
            num_gpu=self.num_gpu,
            main_gpu=self.main_gpu,
        )


_FIELDS = {f.name: f for f in dataclasses.fields(Options)}
_INT = {n for n, f in _FIELDS.items() if f.type == "int"}
_FLOAT = {n for n, f in _FIELDS.items() if f.type == "float"}
_BOOL = {"use_mmap"}

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


def _coerce(key: str, value: Any) -> Any:
    if key in _INT:
        # JSON numbers are floats in Go: Ollama truncates 3.0 (and 3.7) to an int.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise option_type(key, "integer")
        return int(value)
    if key in _FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise option_type(key, "float32")
        return float(value)
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
            log.log(level, "invalid option provided: %s", key)
            continue
        if value is None:
            continue
        setattr(opts, key, _coerce(key, value))
    return opts


def resolve_options(model_params: dict[str, Any], request: dict[str, Any] | None) -> Options:
    opts = Options(num_ctx=config.context_length())
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
