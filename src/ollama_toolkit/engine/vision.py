"""A vision projector through llama.cpp's mtmd: images into prompt chunks, and their prefill.

`Projector.image_prompt` turns a decoded image into the chunks the model expects (its own text
markers around the image's embedding cells); it runs on any thread. `Projector.prefill`
encodes an image and decodes its embeddings into one sequence of the runner's context; only
the runner's thread calls it, between the batched steps of the other slots (a llama_batch holds
tokens or embeddings, not both).

llama-cpp-python's mtmd bindings load libmtmd on import, which fails where the library was not
built: this module is imported only when a model has a projector.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as lc
from llama_cpp import mtmd_cpp as mtmd

from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.engine.llama import LlamaContext, LlamaModel, LoadError, llama_log
from ollama_toolkit.engine.runner import (
    ImageChunk,
    ImageInput,
    PromptChunk,
    TokenChunk,
    image_placeholders,
)

_CHUNK_TEXT = 0  # enum mtmd_input_chunk_type: TEXT, IMAGE, AUDIO
_NO_CALLBACK = mtmd.mtmd_helper_post_decode_callback()  # a NULL function pointer

_log_ready = threading.Lock()
_log_set = False


def _route_logs() -> None:
    global _log_set
    with _log_ready:
        if not _log_set:
            mtmd.mtmd_log_set(llama_log, ctypes.c_void_p(0))
            mtmd.mtmd_helper_log_set(llama_log, ctypes.c_void_p(0))
            _log_set = True


class _Cells:
    """An image's tokens as mtmd prepared them (its preprocessed pixels): freed with it."""

    def __init__(self, chunk: mtmd.mtmd_input_chunk_p) -> None:
        self.chunk: mtmd.mtmd_input_chunk_p | None = chunk
        self.n_tokens = int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))
        self.n_pos = int(mtmd.mtmd_input_chunk_get_n_pos(chunk))

    def __del__(self) -> None:
        if self.chunk:
            mtmd.mtmd_input_chunk_free(self.chunk)
            self.chunk = None


@dataclass(frozen=True)
class _Media:
    cells: _Cells


class Projector:
    """An mtmd context for one text model. Free with close(), after the runner's thread ends."""

    def __init__(self, path: Path, model: LlamaModel, n_threads: int, max_tokens: int) -> None:
        """`max_tokens`: the most cells an image may take, the context's n_ubatch. Models that
        attend to an image's cells both ways (Gemma 3) need the whole image in one ubatch:
        llama.cpp aborts the process otherwise."""
        _route_logs()
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = False
        params.n_threads = n_threads
        params.print_timings = False
        params.warmup = False
        self.ctx = mtmd.mtmd_init_from_file(str(path).encode(), model.model, params)
        if not self.ctx:
            raise LoadError(f"unable to load the vision projector: {path}")
        if not mtmd.mtmd_support_vision(self.ctx):
            mtmd.mtmd_free(self.ctx)
            self.ctx = None
            raise LoadError(f"the projector has no vision encoder: {path}")
        self.model = model
        self.max_tokens = max_tokens
        self.size = path.stat().st_size
        self._marker = mtmd.mtmd_default_marker()
        # mtmd_tokenize reads the context's settings only, but two callers at once would share
        # its preprocessing buffers in some projectors: one image at a time.
        self._tokenize_lock = threading.Lock()

    def close(self) -> None:
        if self.ctx:
            mtmd.mtmd_free(self.ctx)
            self.ctx = None

    def image_prompt(self, image: ImageInput) -> list[PromptChunk]:
        pixels = (ctypes.c_uint8 * len(image.rgb)).from_buffer_copy(image.rgb)
        bitmap = mtmd.mtmd_bitmap_init(image.width, image.height, pixels)
        if not bitmap:
            raise InvalidRequest("unable to read the image")
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text()
            text.text = self._marker
            text.text_len = len(self._marker)
            text.add_special = False
            text.parse_special = True
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            with self._tokenize_lock:
                rc = mtmd.mtmd_tokenize(self.ctx, chunks, ctypes.byref(text), bitmaps, 1)
            if rc != 0:
                raise InvalidRequest(f"unable to process the image (mtmd error {rc})")
            return [
                self._chunk(mtmd.mtmd_input_chunks_get(chunks, i), image.key)
                for i in range(mtmd.mtmd_input_chunks_size(chunks))
            ]
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)

    def _chunk(self, chunk: mtmd.mtmd_input_chunk_p, key: bytes) -> PromptChunk:
        if mtmd.mtmd_input_chunk_get_type(chunk) == _CHUNK_TEXT:
            n = ctypes.c_size_t()
            tokens = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
            return TokenChunk([tokens[i] for i in range(n.value)])
        cells = _Cells(mtmd.mtmd_input_chunk_copy(chunk))
        if cells.n_pos != cells.n_tokens:
            # Models that place an image's cells on a 2D grid of positions (M-RoPE: Qwen-VL)
            # need positions this runner's one-position-per-cell bookkeeping cannot give.
            raise InvalidRequest("this vision model's image positions are not supported")
        if cells.n_tokens > self.max_tokens:
            raise InvalidRequest(
                f"the image takes {cells.n_tokens} tokens, more than the batch size "
                f"({self.max_tokens}): raise num_batch"
            )
        return ImageChunk(image_placeholders(key, cells.n_tokens), _Media(cells))

    def prefill(self, ctx: LlamaContext, chunk: ImageChunk, n_past: int, seq: int) -> None:
        """Encode the image and decode its embeddings at positions n_past… of `seq`."""
        media = chunk.media
        assert isinstance(media, _Media)
        cells = media.cells
        assert cells.chunk is not None
        rc = mtmd.mtmd_encode_chunk(self.ctx, cells.chunk)
        if rc != 0:
            raise RuntimeError(f"image encoding failed (mtmd error {rc})")
        embd = mtmd.mtmd_get_output_embd(self.ctx)
        new_n_past = lc.llama_pos(0)
        rc = mtmd.mtmd_helper_decode_image_chunk(
            self.ctx,
            ctx.ctx,
            cells.chunk,
            embd,
            n_past,
            seq,
            self.max_tokens,
            ctypes.byref(new_n_past),
            _NO_CALLBACK,
            None,
        )
        if rc != 0:
            raise RuntimeError(f"image decoding failed (llama_decode returned {rc})")
