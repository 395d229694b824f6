"""A thin, typed layer over llama-cpp-python's low-level bindings: model, vocab and context.

Only the Runner thread that owns a LlamaModel calls its context methods; tokenizing and
detokenizing read the vocab only and are safe from any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp as lc
import numpy as np

from ollama_toolkit import config
from ollama_toolkit.engine.devices import (
    GpuDevice,
    gpu_devices,
    layers_to_offload,
    predicted_bytes,
)

log = logging.getLogger(__name__)

_backend_lock = threading.Lock()
_backend_ready = False


_GGML_LOG_LEVEL_ERROR = 4  # enum ggml_log_level: NONE, DEBUG, INFO, WARN, ERROR, CONT
MIB = 1024 * 1024

# llama.cpp's lines while a thread loads a model or makes a context, kept for that thread (see
# _buffer_bytes).
_heard = threading.local()
_listeners = 0  # threads reading llama.cpp's lines now: its Python logger is installed meanwhile


@lc.llama_log_callback
def llama_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    lines: list[bytes] | None = getattr(_heard, "lines", None)
    if lines is not None:
        lines.append(bytes(text))
    # llama.cpp is chatty at load time; surface its errors, keep the rest at debug level.
    if level == _GGML_LOG_LEVEL_ERROR:
        log.error("llama.cpp: %s", text.decode(errors="replace").rstrip())
    elif log.isEnabledFor(logging.DEBUG):
        log.debug("llama.cpp: %s", text.decode(errors="replace").rstrip())


def _native_silence() -> object | None:
    """A C function for llama.cpp's logger that ignores every line: libc's abs(), which reads
    only its first argument (the level) and has no side effects, so the C calling conventions
    let it stand for a `void (int, const char *, void *)`. None where libc cannot be read.

    Why not the Python callback at all times: it takes the GIL for each line, and a CUDA build
    logs one (at debug level) inside every llama_decode ("CUDA Graph id … reused"). On an H200
    the decoding thread waited there for the GIL a quarter of its time, while the event loop
    streamed the previous token (py-spy, bench/README.md)."""
    try:
        address = ctypes.cast(ctypes.CDLL(None).abs, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):  # TypeError: Windows' CDLL takes no None
        return None
    return lc.llama_log_callback(address) if address else None


_SILENCE = _native_silence()


def _install_logger() -> None:
    """llama.cpp's logger: ours while a thread listens (or at debug level), else silence."""
    quiet = _listeners == 0 and not log.isEnabledFor(logging.DEBUG) and _SILENCE is not None
    lc.llama_log_set(_SILENCE if quiet else llama_log, ctypes.c_void_p(0))


def init_backend() -> None:
    """Initialise llama.cpp once per process; its log reaches ours while a thread listens."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            _install_logger()
            lc.llama_backend_init()
            _backend_ready = True


@contextlib.contextmanager
def listening() -> Iterator[list[bytes]]:
    """llama.cpp's log lines on this thread while the block runs (a model's load, a context's
    creation, a quantization: their buffer sizes, and their errors in our log)."""
    global _listeners
    init_backend()
    heard: list[bytes] = []
    with _backend_lock:
        _listeners += 1
        _install_logger()
    outer, _heard.lines = getattr(_heard, "lines", None), heard
    try:
        yield heard
    finally:
        _heard.lines = outer
        with _backend_lock:
            _listeners -= 1
            _install_logger()


class LoadError(RuntimeError):
    pass


# The K/V cache's types (config.KV_CACHE_TYPES) as ggml's.
GGML_TYPES = {"f16": lc.GGML_TYPE_F16, "q8_0": lc.GGML_TYPE_Q8_0, "q4_0": lc.GGML_TYPE_Q4_0}
FLASH_ATTN_NAMES = {
    lc.LLAMA_FLASH_ATTN_TYPE_AUTO: "auto",
    lc.LLAMA_FLASH_ATTN_TYPE_DISABLED: "off",
    lc.LLAMA_FLASH_ATTN_TYPE_ENABLED: "on",
}


def attention_settings(
    kv_cache_type: str, flash_attention: bool | None, model_supports_flash_attention: bool
) -> tuple[str, int]:
    """The K/V cache type and llama.cpp's flash attention mode a context gets, by Ollama's rules
    for its llama.cpp runner (llm/server.go `NewLlamaServer`, before llama-server replaced that
    runner): flash attention asked for but not supported by the model is turned off; a quantized
    cache needs flash attention *on* (not auto), else the cache stays f16. Each with Ollama's
    warning. (llama.cpp itself refuses a quantized V cache with flash attention off.)"""
    if flash_attention is None:
        mode = lc.LLAMA_FLASH_ATTN_TYPE_AUTO
    elif flash_attention and model_supports_flash_attention:
        mode = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
    else:
        if flash_attention:
            log.warning("flash attention enabled but not supported by model")
        mode = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
    if kv_cache_type != "f16" and mode != lc.LLAMA_FLASH_ATTN_TYPE_ENABLED:
        log.warning(
            "OLLAMA_FLASH_ATTENTION must be enabled to use a quantized OLLAMA_KV_CACHE_TYPE"
            " (type=%s): the K/V cache stays f16",
            kv_cache_type,
        )
        kv_cache_type = "f16"
    return kv_cache_type, mode


# llama.cpp's report of each cache buffer it allocates: `llama_kv_cache: CPU KV buffer size =
# 127.50 MiB`, `RS` for a recurrent model's state (Ollama parses the same lines of llama-server).
_CACHE_BUFFER = re.compile(rb"(\S+) (?:KV|RS) buffer size =\s*([0-9.]+) MiB")
# And of the weights it loads: `load_tensors:   CPU_Mapped model buffer size = 241.00 MiB`,
# `CUDA0 model buffer size = …` for the layers offloaded to a GPU.
_MODEL_BUFFER = re.compile(rb"(\S+) model buffer size =\s*([0-9.]+) MiB")
# llama.cpp's line when sliding-window layers get a cache of their own (llama_kv_cache_iswa).
_SWA_CACHE = re.compile(rb"creating\s+SWA KV cache")

# The sliding-window layers' cells of a sequence, alone (llama.cpp's SWA checkpoints).
_SWA_ONLY = lc.LLAMA_STATE_SEQ_FLAGS_SWA_ONLY


@dataclass(frozen=True)
class ContextConfig:
    n_ctx: int  # total KV cells, shared by all sequences
    n_seq_max: int
    n_batch: int
    n_threads: int
    # An embedding context (engine/embedder.py) returns hidden states instead of sampling, and
    # decodes one input at a time from an empty cache: no shared KV pool, no full SWA cache.
    embeddings: bool = False
    n_ubatch: int | None = None  # default min(n_batch, 512)
    # A sliding-window cache as large as the full one (tests measure the difference). By
    # default each sliding-window layer keeps only its window: n_swa cells a sequence, plus a
    # ubatch (llama-server's default); the Decoder keeps prefixes reusable with checkpoints.
    swa_full: bool = False
    # OLLAMA_KV_CACHE_TYPE and OLLAMA_FLASH_ATTENTION (None: auto) when the config is made, so
    # every context of a model loaded now follows them; LlamaContext applies Ollama's rules.
    kv_cache_type: str = field(default_factory=config.kv_cache_type)
    flash_attention: bool | None = field(default_factory=config.flash_attention)


class LlamaModel:
    """A loaded GGUF: weights and vocab. Free with close()."""

    def __init__(
        self,
        path: Path,
        use_mmap: bool | None = None,
        gpu_layers: int = 0,
        main_gpu: int = 0,
        vocab_only: bool = False,
    ):
        """`gpu_layers` layers offloaded to the GPU `main_gpu` (engine/devices.py; ignored by a
        CPU build); `vocab_only`: the metadata and vocabulary without the weights."""
        init_backend()
        params = lc.llama_model_default_params()
        params.n_gpu_layers = gpu_layers
        params.main_gpu = main_gpu
        params.use_extra_bufts = False
        params.vocab_only = vocab_only
        if use_mmap is not None:
            params.use_mmap = use_mmap
        self.path = path
        with listening() as heard:
            self.model = lc.llama_model_load_from_file(str(path).encode(), params)
        self.gpu_bytes = _buffer_bytes(heard, _MODEL_BUFFER)[1]
        """Bytes of the weights on GPUs (the layers offloaded), as llama.cpp allocated them."""
        if not self.model:
            raise LoadError(f"unable to load model: {path}")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train = lc.llama_model_n_ctx_train(self.model)
        self.n_embd = lc.llama_model_n_embd(self.model)
        self.size = lc.llama_model_size(self.model)
        self.add_bos = bool(lc.llama_vocab_get_add_bos(self.vocab))
        self.add_eos = bool(lc.llama_vocab_get_add_eos(self.vocab))
        self.bos = lc.llama_vocab_bos(self.vocab)
        self.eos = lc.llama_vocab_eos(self.vocab)
        self._pieces: dict[int, bytes] = {}
        self._piece_buf = ctypes.create_string_buffer(256)

    def close(self) -> None:
        if self.model:
            lc.llama_model_free(self.model)
            self.model = None

    def tokenize(
        self, text: str, add_special: bool = True, parse_special: bool = True
    ) -> list[int]:
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (lc.llama_token * n_max)()
        n = lc.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_special, parse_special)
        if n < 0:
            buf = (lc.llama_token * -n)()
            n = lc.llama_tokenize(self.vocab, data, len(data), buf, -n, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens render as nothing), cached."""
        cached = self._pieces.get(token)
        if cached is None:
            n = lc.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, False)
            cached = self._piece_buf.raw[: max(n, 0)]
            self._pieces[token] = cached
        return cached

    def special_piece(self, token: int) -> bytes:
        """The text of a token, a special token's too (`<|channel|>`); not cached: asked only
        for the few tokens a request preserves."""
        n = lc.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, True)
        return self._piece_buf.raw[: max(n, 0)]

    def is_eog(self, token: int) -> bool:
        return bool(lc.llama_vocab_is_eog(self.vocab, token))

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as text (None when absent); an array as `[1, 2, 3]`."""
        buf = ctypes.create_string_buffer(256)
        n = lc.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        if n >= len(buf):  # a long array: ask again with room for all of it
            buf = ctypes.create_string_buffer(n + 1)
            n = lc.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return buf.value.decode(errors="replace") if n >= 0 else None

    def meta_ints(self, key: str) -> list[int]:
        """A GGUF integer, or array of integers, as a list ([] when absent)."""
        return [int(x) for x in re.findall(r"-?\d+", self.meta(key) or "")]

    @property
    def arch(self) -> str:
        return self.meta("general.architecture") or ""

    def has_pooling(self) -> bool:
        """Whether the GGUF declares a pooling type (an embedding model such as BERT)."""
        return self.meta(f"{self.arch}.pooling_type") not in (None, "0")

    def head_dims(self) -> tuple[int, int]:
        """Elements per attention head of K and of V (`attention.key_length`, `value_length`),
        by default the embedding length over the fewest heads, as Ollama's EmbeddingHeadCountK."""
        arch = self.arch
        heads = [h for h in self.meta_ints(f"{arch}.attention.head_count") if h > 0]
        default = self.n_embd // min(heads) if heads else 0
        k = self.meta_ints(f"{arch}.attention.key_length") or [default]
        v = self.meta_ints(f"{arch}.attention.value_length") or [default]
        return k[0], v[0]

    def supports_flash_attention(self) -> bool:
        """Ollama's GGML.SupportsFlashAttention (fs/ggml/ggml.go): not an embedding model, not
        Gemma 2 nor Grok, and K and V heads of one non-zero size."""
        if self.has_pooling():
            return False
        if self.arch in ("qwen35", "qwen35moe", "qwen3next"):
            return True
        if self.arch in ("gemma2", "grok"):
            return False
        k, v = self.head_dims()
        return k != 0 and k == v

    def fim_tokens(self) -> tuple[int, int, int] | None:
        pre = lc.llama_vocab_fim_pre(self.vocab)
        suf = lc.llama_vocab_fim_suf(self.vocab)
        mid = lc.llama_vocab_fim_mid(self.vocab)
        if min(pre, suf, mid) < 0:
            return None
        return pre, suf, mid


def _buffer_bytes(lines: list[bytes], pattern: re.Pattern[bytes]) -> tuple[int, int]:
    """The sizes of the buffers llama.cpp reported (`pattern`: device, MiB), in all and on GPU
    devices (any but the CPU's), in MiB to the hundredth it prints (5 KiB off at most each)."""
    found = [
        (device, round(float(mib) * MIB)) for line in lines for device, mib in pattern.findall(line)
    ]
    return sum(n for _, n in found), sum(n for d, n in found if not d.startswith(b"CPU"))


def offloaded_layers(path: Path, num_gpu: int, main_gpu: int, num_ctx: int) -> int:
    """llama.cpp's `n_gpu_layers` for Ollama's `num_gpu` (engine/devices.py): 0 on a machine
    without a GPU, whatever was asked; for -1 the layers that fit in `main_gpu`'s free memory,
    by Ollama's estimate of the model's footprint (read from its metadata, without weights)."""
    gpus = gpu_devices()
    if not gpus or num_gpu >= 0:
        return num_gpu if gpus and num_gpu > 0 else 0
    return _fitting_layers(path, gpus, main_gpu, num_ctx)[0]


def fits_on_gpu(path: Path, num_gpu: int, main_gpu: int, num_ctx: int) -> bool | None:
    """Whether `num_gpu` -1 would put every layer on `main_gpu` now; None where freeing GPU
    memory could change nothing (no GPU, or a number of layers asked for)."""
    gpus = gpu_devices()
    if not gpus or num_gpu >= 0:
        return None
    fitting, layers = _fitting_layers(path, gpus, main_gpu, num_ctx)
    return fitting == layers


def _fitting_layers(
    path: Path, gpus: list[GpuDevice], main_gpu: int, num_ctx: int
) -> tuple[int, int]:
    """How many of the model's layers (the output layer counted, as llama.cpp does) fit in
    `main_gpu`'s free memory now, by Ollama's estimate of its footprint; and how many it has."""
    device = gpus[main_gpu] if 0 <= main_gpu < len(gpus) else gpus[0]
    meta = LlamaModel(path, vocab_only=True)
    try:
        arch = meta.arch
        n_layer = (meta.meta_ints(f"{arch}.block_count") or [0])[0]
        heads_kv = [h for h in meta.meta_ints(f"{arch}.attention.head_count_kv") if h > 0]
        footprint = predicted_bytes(
            path.stat().st_size, n_layer, min(heads_kv, default=1), meta.head_dims()[0], num_ctx
        )
    finally:
        meta.close()
    return layers_to_offload(-1, n_layer, footprint, device.free), n_layer + 1


class LlamaContext:
    """A llama_context plus one reusable batch. Owned by exactly one thread."""

    def __init__(self, model: LlamaModel, cfg: ContextConfig):
        params = lc.llama_context_default_params()
        params.n_ctx = cfg.n_ctx
        params.n_batch = cfg.n_batch
        params.n_ubatch = cfg.n_ubatch or min(cfg.n_batch, 512)
        params.n_seq_max = cfg.n_seq_max
        params.n_threads = cfg.n_threads
        params.n_threads_batch = cfg.n_threads
        # One KV pool for all slots: a sequence may use what others leave free, and prefixes can
        # be shared with seq_cp. Not a stream per sequence (llama-server's default), though its
        # attention spans fewer cells (8 busy slots: decode steps 4.6% faster): llama.cpp then
        # puts only consecutive sequence ids in one ubatch, so busy slots 1, 3, 5, 7 decode in
        # four weight passes (measured: 97 ms a step, against 38 ms in one pool).
        # Sliding-window layers (Gemma 3: 5 of 6) get a window-sized cache, as in llama-server:
        # n_swa cells a sequence plus a ubatch, not n_ctx (8 slots x 4096 cells, Gemma 3 270M:
        # 412 MiB less). A cached prefix is then reusable only while those layers still hold the
        # window before its end: the Decoder checks that (seq_pos_min, n_swa) and otherwise
        # restores a checkpoint of the window (swa_state) or evaluates the prefix again.
        params.kv_unified = not cfg.embeddings
        params.swa_full = cfg.swa_full
        params.embeddings = cfg.embeddings
        params.no_perf = True
        # OLLAMA_KV_CACHE_TYPE and OLLAMA_FLASH_ATTENTION as the config carries them, by
        # Ollama's rules (attention_settings).
        self.kv_cache_type, self.flash_attn_type = attention_settings(
            cfg.kv_cache_type, cfg.flash_attention, model.supports_flash_attention()
        )
        params.type_k = params.type_v = GGML_TYPES[self.kv_cache_type]
        params.flash_attn_type = self.flash_attn_type
        self.model = model
        self.cfg = cfg
        # llama.cpp logs each buffer it allocates, on this thread: the cache's size is read there.
        with listening() as heard:
            self.ctx = lc.llama_init_from_model(model.model, params)
        if not self.ctx:
            raise LoadError("unable to create a llama.cpp context (out of memory?)")
        self.mem = lc.llama_get_memory(self.ctx)
        self.n_ctx = lc.llama_n_ctx(self.ctx)
        self.cache_bytes, self.cache_gpu_bytes = _buffer_bytes(heard, _CACHE_BUFFER)
        """Bytes of the K/V cache (and a recurrent model's state) as llama.cpp allocated them,
        and of those, on GPUs (the offloaded layers' caches)."""
        swa_cache = any(_SWA_CACHE.search(line) for line in heard)
        self.n_swa = int(lc.llama_model_n_swa(model.model)) if swa_cache and not cfg.swa_full else 0
        """The attention window of the sliding-window layers when their cache holds only that
        window (then prefix reuse must check it); 0 otherwise (full caches, no such layers)."""
        log.log(
            logging.DEBUG if cfg.embeddings else logging.INFO,
            "llama.cpp context: %d cells, K/V cache %s (%.2f MiB), flash attention %s",
            self.n_ctx,
            self.kv_cache_type,
            self.cache_bytes / MIB,
            FLASH_ATTN_NAMES.get(self.flash_attn_type, str(self.flash_attn_type)),
        )
        self.batch = lc.llama_batch_init(cfg.n_batch, 0, 1)
        n = cfg.n_batch
        # numpy views onto the batch arrays: filling a batch is a few vector stores, not a
        # Python loop of ctypes assignments.
        self.b_token = np.ctypeslib.as_array(self.batch.token, shape=(n,))
        self.b_pos = np.ctypeslib.as_array(self.batch.pos, shape=(n,))
        self.b_nseq = np.ctypeslib.as_array(self.batch.n_seq_id, shape=(n,))
        self.b_logits = np.ctypeslib.as_array(self.batch.logits, shape=(n,))
        self.b_nseq[:] = 1
        self._seq_ptrs = [self.batch.seq_id[i] for i in range(n)]
        self._logits_row = ctypes.c_float * model.n_vocab
        self.n_tokens = 0

    def close(self) -> None:
        if self.ctx:
            lc.llama_batch_free(self.batch)
            lc.llama_free(self.ctx)
            self.ctx = None

    # --- batch ---------------------------------------------------------------------------------

    def batch_clear(self) -> None:
        self.n_tokens = 0

    def batch_add(self, tokens: list[int], pos0: int, seq: int, logits_last: bool) -> int:
        """Append tokens of one sequence; return the batch index of the last one."""
        n, k = self.n_tokens, len(tokens)
        end = n + k
        if k == 1:
            # The common case, once per generating slot per step: scalar stores are several
            # times cheaper than numpy slice assignments.
            self.b_token[n] = tokens[0]
            self.b_pos[n] = pos0
            self.b_logits[n] = logits_last
            self._seq_ptrs[n][0] = seq
            self.n_tokens = end
            return n
        self.b_token[n:end] = tokens
        self.b_pos[n:end] = np.arange(pos0, pos0 + k, dtype=np.int32)
        self.b_logits[n:end] = 0
        if logits_last:
            self.b_logits[end - 1] = 1
        for i in range(n, end):
            self._seq_ptrs[i][0] = seq
        self.n_tokens = end
        return end - 1

    def decode(self) -> int:
        self.batch.n_tokens = self.n_tokens
        return lc.llama_decode(self.ctx, self.batch)

    def logits(self, index: int) -> np.ndarray:
        """A view (no copy) of one output's logits; valid until the next decode."""
        ptr = lc.llama_get_logits_ith(self.ctx, index)
        if not ptr:
            raise RuntimeError(f"llama.cpp has no logits for batch index {index}")
        row = self._logits_row.from_address(ctypes.addressof(ptr.contents))
        return np.frombuffer(row, dtype=np.float32)

    def pooling_type(self) -> int:
        return int(lc.llama_pooling_type(self.ctx))

    def embedding(self, index: int, seq: int = 0) -> np.ndarray:
        """The output embedding: the sequence's pooled vector when the context pools, else the
        hidden state of the token at batch `index`. A copy: the next decode overwrites it."""
        if self.pooling_type() == lc.LLAMA_POOLING_TYPE_NONE:
            ptr = lc.llama_get_embeddings_ith(self.ctx, index)
        else:
            ptr = lc.llama_get_embeddings_seq(self.ctx, seq)
        if not ptr:
            raise RuntimeError("llama.cpp returned no embedding")
        return np.ctypeslib.as_array(ptr, shape=(self.model.n_embd,)).copy()

    # --- KV cache ------------------------------------------------------------------------------

    def seq_rm(self, seq: int, p0: int, p1: int = -1) -> bool:
        return bool(lc.llama_memory_seq_rm(self.mem, seq, p0, p1))

    def seq_add(self, seq: int, p0: int, p1: int, delta: int) -> None:
        lc.llama_memory_seq_add(self.mem, seq, p0, p1, delta)

    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        lc.llama_memory_seq_cp(self.mem, src, dst, p0, p1)

    def seq_pos_min(self, seq: int) -> int:
        """The first position the sequence holds (in a window-sized cache, the oldest cell its
        sliding-window layers kept; all positions from there on are held); -1 when empty."""
        return int(lc.llama_memory_seq_pos_min(self.mem, seq))

    def swa_state(self, seq: int) -> ctypes.Array[ctypes.c_uint8] | None:
        """A copy of the sequence's sliding-window cells that its last position still attends
        to (llama-server's checkpoint, LLAMA_STATE_SEQ_FLAGS_SWA_ONLY); None on failure."""
        size = lc.llama_state_seq_get_size_ext(self.ctx, seq, _SWA_ONLY)
        if not size:
            return None
        buf = (ctypes.c_uint8 * size)()
        if lc.llama_state_seq_get_data_ext(self.ctx, buf, size, seq, _SWA_ONLY) != size:
            return None
        return buf

    def set_swa_state(self, seq: int, data: ctypes.Array[ctypes.c_uint8]) -> bool:
        """Replace the sequence's sliding-window cells with a copy from swa_state (of this
        sequence or another); its other layers are left as they are."""
        return bool(lc.llama_state_seq_set_data_ext(self.ctx, data, len(data), seq, _SWA_ONLY))

    def can_shift(self) -> bool:
        return bool(lc.llama_memory_can_shift(self.mem))

    def clear(self) -> None:
        lc.llama_memory_clear(self.mem, True)
