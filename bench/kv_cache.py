"""The K/V cache's type and flash attention: our server's memory and speed with each.

Four servers, each configured as bench/servers.py configures ours (8 slots of 4096 cells, the
same threads), differing only in `OLLAMA_KV_CACHE_TYPE` and `OLLAMA_FLASH_ATTENTION`: f16, q8_0
and q4_0 with flash attention on (a quantized cache needs it), and f16 with it off. f16 with
flash attention on is the baseline of every row.

- memory: the peak RSS (`VmHWM`) after loading the model with one short request and 2 s idle,
  as the main run's memory row; and `/api/ps`'s `size` (the weights plus the K/V cache as
  llama.cpp allocated it), where the type's effect shows alone;
- tokens/s: the main run's generation figure (one stream, 128 tokens, `eval_count /
  eval_duration`) and its 8 clients (prompt + generated tokens over wall time, 3 ≈110-token
  prompts each, 64 tokens each).

All four servers stay up and the requests go round them (a generation on each, then the next
round; each 8-client run on each in turn, with the same prompts), so every setting sees the
same machine: an idle server takes no CPU. `bench/run.py` (`kv_cache_settings`) runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.report import Row
from bench.servers import Server


@dataclass(frozen=True)
class Setting:
    key: str  # in the figures' keys
    label: str
    kv_cache_type: str
    flash_attention: str  # OLLAMA_FLASH_ATTENTION's value

    @property
    def env(self) -> dict[str, str]:
        return {
            "OLLAMA_KV_CACHE_TYPE": self.kv_cache_type,
            "OLLAMA_FLASH_ATTENTION": self.flash_attention,
        }


BASELINE = Setting("f16", "f16, flash attention on", "f16", "1")
SETTINGS = [
    BASELINE,
    Setting("q8_0", "q8_0, flash attention on", "q8_0", "1"),
    Setting("q4_0", "q4_0, flash attention on", "q4_0", "1"),
    Setting("f16_nofa", "f16, flash attention off", "f16", "0"),
]

_MEASURES = [  # (figure key prefix, what is measured, unit)
    ("kv_mem", "peak RSS, loaded + idle", "MiB"),
    ("kv_size", "/api/ps size", "MiB"),
    ("kv_gen", "generation, 1 stream", "tok/s"),
    ("kv_load", "8 clients, prompt+generated", "tok/s"),
]

ROWS = [
    Row(f"{what}: {s.label}", unit, f"{key}_{s.key}", BASELINE.label, f"{key}_{BASELINE.key}")
    for key, what, unit in _MEASURES
    for s in SETTINGS
    if s is not BASELINE
]
"""Each setting's figure next to f16's with flash attention on; no targets (measured)."""


def ps_size(server: Server) -> int:
    """`/api/ps`'s `size` of the one model loaded."""
    models = httpx.get(server.base_url + "/api/ps", timeout=30).json()["models"]
    if len(models) != 1:
        raise RuntimeError(f"/api/ps lists {len(models)} models, not one")
    return int(models[0]["size"])
