"""OLLAMA_KV_CACHE_TYPE and OLLAMA_FLASH_ATTENTION, read and applied as Ollama does.

Ollama's rules (llm/server.go, its llama.cpp runner; fs/ggml/ggml.go): the cache type is `f16`
(default), `q8_0` or `q4_0`, any case; a quantized one needs flash attention switched *on*
(not left automatic), else the cache stays f16 with a warning; an unknown one is f16 with a
warning; flash attention asked for but not supported by the model is off. The cache's bytes, as
llama.cpp allocated them, count in the runner's (and /api/ps's) `size`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import llama_cpp as lc
import pytest

from conftest import ServerProcess, copy_store, start_server
from greedy import assert_same_up_to_a_tie
from ollama_toolkit import config
from ollama_toolkit.engine.llama import (
    ContextConfig,
    LlamaContext,
    LlamaModel,
    attention_settings,
)
from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import Store

AUTO = lc.LLAMA_FLASH_ATTN_TYPE_AUTO
ON = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
OFF = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
MIB = 1024 * 1024
# llama.cpp prints each cache buffer's size in MiB to the hundredth: 5 KiB either way.
PRINTED = 0.005 * MIB
# ggml's blocks of each cache type: (elements, bytes); a q8_0 block is 32 int8 and an f16 scale.
BLOCKS = {"f16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18)}
QUANTIZED_NEEDS_FA = (
    "OLLAMA_FLASH_ATTENTION must be enabled to use a quantized OLLAMA_KV_CACHE_TYPE"
)

# One slot of 2048 cells: a small cache, still big enough that its type shows in /api/ps.
SMALL = {"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_CONTEXT_LENGTH": "2048", "OLLAMA_NUM_THREAD": "2"}
# A continuation the model is sure of (its top token leads the next by nats at every step, with
# each cache type): a quantized cache's rounding shows in the logprobs, not in the text.
PROMPT = "1, 2, 3, 4, 5, 6,"
GREEDY = {"temperature": 0, "num_predict": 10, "repeat_penalty": 1.0}


# -- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kv", "fa", "supported", "expected", "warning"),
    [
        ("f16", None, True, ("f16", AUTO), None),
        ("f16", True, True, ("f16", ON), None),
        ("f16", False, True, ("f16", OFF), None),
        ("q8_0", True, True, ("q8_0", ON), None),
        ("q4_0", True, True, ("q4_0", ON), None),
        # A quantized cache needs flash attention on: off, or automatic, is f16.
        ("q8_0", False, True, ("f16", OFF), QUANTIZED_NEEDS_FA),
        ("q4_0", None, True, ("f16", AUTO), QUANTIZED_NEEDS_FA),
        # Flash attention on for a model that does not support it (an embedding model): off.
        ("f16", True, False, ("f16", OFF), "flash attention enabled but not supported by model"),
        ("q8_0", True, False, ("f16", OFF), QUANTIZED_NEEDS_FA),
        ("q8_0", None, False, ("f16", AUTO), QUANTIZED_NEEDS_FA),
    ],
)
def test_cache_type_and_flash_attention_follow_ollamas_rules(
    caplog: pytest.LogCaptureFixture, kv, fa, supported, expected, warning
) -> None:
    with caplog.at_level(logging.WARNING, "ollama_toolkit.engine.llama"):
        assert attention_settings(kv, fa, supported) == expected
    warnings = [r.getMessage() for r in caplog.records]
    if warning is None:
        assert warnings == []
    else:
        assert any(warning in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "f16"), ("f16", "f16"), ("q8_0", "q8_0"), ("Q4_0", "q4_0"), ("q5_k", "f16")],
)
def test_the_cache_type_setting(monkeypatch: pytest.MonkeyPatch, text: str, expected: str):
    monkeypatch.setenv("OLLAMA_KV_CACHE_TYPE", text)
    assert config.kv_cache_type() == expected


@pytest.mark.parametrize(
    ("text", "expected", "shown"),
    [
        ("", None, "auto"),
        ("auto", None, "auto"),
        ("1", True, "true"),
        ("true", True, "true"),
        ("0", False, "false"),
        ("False", False, "false"),
        ("maybe", True, "true"),  # not a boolean: on, as Ollama's envconfig.BoolWithDefault
    ],
)
def test_the_flash_attention_setting(monkeypatch: pytest.MonkeyPatch, text, expected, shown):
    monkeypatch.setenv("OLLAMA_FLASH_ATTENTION", text)
    assert config.flash_attention() is expected
    assert config.effective_settings()["OLLAMA_FLASH_ATTENTION"] == shown


# -- llama.cpp's context --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma(seeded_store: Path) -> Iterator[LlamaModel]:
    model = LlamaModel(load_model(Store(seeded_store), ModelName.parse(BUNDLED_MODEL)).model_path)
    yield model
    model.close()


def expected_cache_bytes(
    model: LlamaModel, cells: int, kv_cache_type: str, n_seq: int, n_ubatch: int
) -> int:
    """Σ over layers of the layer's cells × its K and V rows' bytes: each row n_head_kv × head
    size elements, in ggml's blocks of the type. Gemma 3's sliding-window layers (all but every
    6th) keep only their window: n_swa cells a sequence and a ubatch, in 256-cell pages, as
    llama.cpp sizes them (at most `cells`); its global layers have all the cells."""
    arch = model.arch
    layers = model.meta_ints(f"{arch}.block_count")[0]
    heads_kv = model.meta_ints(f"{arch}.attention.head_count_kv")
    heads_kv = heads_kv * layers if len(heads_kv) == 1 else heads_kv
    n_swa = model.meta_ints(f"{arch}.attention.sliding_window")[0]
    window = min(cells, -(-(n_swa * n_seq + n_ubatch) // 256) * 256)
    k, v = model.head_dims()
    per_block, block_bytes = BLOCKS[kv_cache_type]
    return sum(
        (cells if (i + 1) % 6 == 0 else window) * h * (k + v) // per_block * block_bytes
        for i, h in enumerate(heads_kv)
    )


@pytest.mark.parametrize("kv", ["f16", "q8_0", "q4_0"])
def test_the_context_gets_the_cache_type_and_counts_its_bytes(gemma: LlamaModel, kv: str):
    cfg = ContextConfig(
        n_ctx=1024, n_seq_max=2, n_batch=64, n_threads=2, kv_cache_type=kv, flash_attention=True
    )
    ctx = LlamaContext(gemma, cfg)
    try:
        assert (ctx.kv_cache_type, ctx.flash_attn_type) == (kv, ON)
        # Gemma 3's two caches (global and sliding-window layers): two printed sizes.
        expected = expected_cache_bytes(gemma, ctx.n_ctx, kv, n_seq=2, n_ubatch=64)
        assert abs(ctx.cache_bytes - expected) <= 2 * PRINTED, (ctx.cache_bytes, expected)
        tokens = gemma.tokenize(PROMPT)
        ctx.batch_clear()
        last = ctx.batch_add(tokens, 0, 0, True)
        assert ctx.decode() == 0
        assert ctx.logits(last).shape == (gemma.n_vocab,)
    finally:
        ctx.close()


def test_a_context_reads_the_settings_when_its_config_is_made(
    monkeypatch: pytest.MonkeyPatch, gemma: LlamaModel
):
    monkeypatch.setenv("OLLAMA_KV_CACHE_TYPE", "q4_0")
    monkeypatch.setenv("OLLAMA_FLASH_ATTENTION", "1")
    cfg = ContextConfig(n_ctx=512, n_seq_max=1, n_batch=64, n_threads=2)
    assert (cfg.kv_cache_type, cfg.flash_attention) == ("q4_0", True)
    ctx = LlamaContext(gemma, cfg)
    try:
        assert (ctx.kv_cache_type, ctx.flash_attn_type) == ("q4_0", ON)
    finally:
        ctx.close()


# -- through the server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(
    seeded_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], ServerProcess]]:
    """A server per (OLLAMA_KV_CACHE_TYPE, OLLAMA_FLASH_ATTENTION), started when first asked for
    and shared by the module's tests ('' leaves a variable unset)."""
    started: dict[tuple[str, str], ServerProcess] = {}

    def get(kv: str, fa: str) -> ServerProcess:
        if (kv, fa) not in started:
            root = tmp_path_factory.mktemp("kv-cache")
            env = {**SMALL, "OLLAMA_KV_CACHE_TYPE": kv, "OLLAMA_FLASH_ATTENTION": fa}
            models = copy_store(seeded_store, root / "models")
            started[kv, fa] = start_server(models, root / "server.log", **env)
        return started[kv, fa]

    yield get
    for server in started.values():
        server.stop()


def greedy(server: ServerProcess) -> tuple[str, list[dict], int]:
    """The model's greedy continuation of PROMPT with its top logprobs, and /api/ps's `size`."""
    body = httpx.post(
        f"{server.url}/api/generate",
        json={
            "model": BUNDLED_MODEL,
            "prompt": PROMPT,
            "stream": False,
            "logprobs": True,
            "top_logprobs": 5,
            "options": GREEDY,
        },
        timeout=300,
    ).json()
    ps = httpx.get(f"{server.url}/api/ps", timeout=30).json()["models"]
    (entry,) = [m for m in ps if m["name"] == BUNDLED_MODEL]
    return body["response"], body["logprobs"], entry["size"]


def settings_line(server: ServerProcess) -> dict[str, str]:
    line = next(x for x in server.log().splitlines() if " settings: " in x)
    return dict(re.findall(r"(\w+)=(\S*)", line.split(" settings: ", 1)[1]))


@pytest.mark.parametrize("kv", ["q8_0", "q4_0"])
def test_a_quantized_cache_generates_as_f16_does_in_less_memory(
    servers: Callable[[str, str], ServerProcess], gemma: LlamaModel, kv: str
):
    reference, quantized = servers("f16", "1"), servers(kv, "1")
    text, logprobs, size = greedy(quantized)
    f16_text, f16_logprobs, f16_size = greedy(reference)
    assert text.strip(), text
    # The cache rounds keys and values: the same text, or one that parts at a near-tie.
    assert_same_up_to_a_tie((text, logprobs, None), (f16_text, f16_logprobs, None))
    # The weights are the same: the sizes differ by the caches' bytes.
    cells = int(SMALL["OLLAMA_CONTEXT_LENGTH"])
    f16_bytes, kv_bytes = (
        expected_cache_bytes(gemma, cells, t, n_seq=1, n_ubatch=512) for t in ("f16", kv)
    )
    saved = f16_bytes - kv_bytes
    assert size < f16_size
    assert abs((f16_size - size) - saved) <= 4 * PRINTED, (f16_size - size, saved)
    shown = settings_line(quantized)
    assert (shown["OLLAMA_KV_CACHE_TYPE"], shown["OLLAMA_FLASH_ATTENTION"]) == (kv, "true")
    assert f"K/V cache {kv} " in quantized.log()


@pytest.mark.parametrize("fa", ["0", ""], ids=["off", "unset"])
def test_a_quantized_cache_without_flash_attention_on_stays_f16(
    servers: Callable[[str, str], ServerProcess], fa: str
):
    server = servers("q8_0", fa)
    text, _, size = greedy(server)
    assert text.strip(), text
    assert size == greedy(servers("f16", "1"))[2]
    log = server.log()
    assert f"{QUANTIZED_NEEDS_FA} (type=q8_0)" in log, log
    assert "K/V cache f16 " in log
    shown = settings_line(server)
    assert shown["OLLAMA_KV_CACHE_TYPE"] == "q8_0"
    assert shown["OLLAMA_FLASH_ATTENTION"] == ("false" if fa else "auto")


def test_an_unknown_cache_type_is_f16_with_a_warning(servers: Callable[[str, str], ServerProcess]):
    server = servers("q5_k", "1")
    text, _, size = greedy(server)
    assert text.strip(), text
    assert size == greedy(servers("f16", "1"))[2]
    log = server.log()
    assert "invalid OLLAMA_KV_CACHE_TYPE='q5_k', using the default 'f16'" in log, log
    assert settings_line(server)["OLLAMA_KV_CACHE_TYPE"] == "f16"
