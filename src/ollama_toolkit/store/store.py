"""Ollama's on-disk store: `manifests/<host>/<namespace>/<model>/<tag>`, `blobs/sha256-<hex>`.

A store written here is readable by Ollama and the other way round. Every write goes to a
temporary file in the same directory, is fsynced, then renamed: a crash never leaves a half-written
manifest or a blob whose name lies about its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ollama_toolkit.store.names import InvalidNameError, ModelName

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MEDIA_PREFIX = "application/vnd.ollama.image."
MEDIA_MODEL = MEDIA_PREFIX + "model"
MEDIA_TEMPLATE = MEDIA_PREFIX + "template"
MEDIA_SYSTEM = MEDIA_PREFIX + "system"
MEDIA_PARAMS = MEDIA_PREFIX + "params"
MEDIA_LICENSE = MEDIA_PREFIX + "license"
MEDIA_MESSAGES = MEDIA_PREFIX + "messages"
MEDIA_PROJECTOR = MEDIA_PREFIX + "projector"
MEDIA_ADAPTER = MEDIA_PREFIX + "adapter"

_DIGEST = re.compile(r"sha256[:-]([0-9a-f]{64})")


class DigestError(ValueError):
    pass


def parse_digest(digest: str) -> str:
    """The 64 hex characters of `sha256:<hex>` (or `sha256-<hex>`); DigestError otherwise."""
    m = _DIGEST.fullmatch(digest)
    if not m:
        raise DigestError(f"invalid digest format: {digest!r}")
    return m.group(1)


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str  # "sha256:<hex>"
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Manifest:
    config: Layer
    layers: tuple[Layer, ...]
    digest: str  # sha256 hex of the manifest file itself, as Ollama reports it in /api/tags
    size: int  # total size of config and layers
    modified: datetime

    def layer(self, media_type: str) -> Layer | None:
        for layer in self.layers:
            if layer.media_type == media_type:
                return layer
        return None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"

    # --- blobs ---------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / f"sha256-{parse_digest(digest)}"

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def write_blob_bytes(self, data: bytes) -> Layer:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            atomic_write(path, data)
        return Layer("", digest, len(data))

    def write_blob_stream(self, stream: BinaryIO, expected_digest: str | None = None) -> Layer:
        """Copy a stream into the store, hashing as it goes; verify against expected_digest."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".tmp-")
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while chunk := stream.read(1 << 20):
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            digest = "sha256:" + h.hexdigest()
            if expected_digest is not None and digest != expected_digest:
                raise DigestError(f"digest mismatch, expected {expected_digest!r}, got {digest!r}")
            os.replace(tmp, self.blob_path(digest))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.blobs)
        return Layer("", digest, size)

    def adopt_blob_file(self, path: Path, digest: str) -> Layer:
        """Move a complete, already verified file (in the blobs directory) to its digest name."""
        target = self.blob_path(digest)
        size = path.stat().st_size
        os.replace(path, target)
        _fsync_dir(self.blobs)
        return Layer("", digest, size)

    def read_blob_text(self, digest: str) -> str:
        return self.blob_path(digest).read_text(encoding="utf-8")

    # --- manifests -----------------------------------------------------------------------------

    def manifest_path(self, name: ModelName) -> Path:
        return self.manifests.joinpath(*name.parts)

    def resolve_name(self, text: str) -> ModelName | None:
        """The stored name matching `text` case-insensitively, or None."""
        try:
            name = ModelName.parse(text)
        except InvalidNameError:
            return None
        if self.manifest_path(name).is_file():
            return name
        key = name.casefold_key()
        for stored in self.iter_names():
            if stored.casefold_key() == key:
                return stored
        return None

    def iter_names(self) -> Iterator[ModelName]:
        if not self.manifests.is_dir():
            return
        for path in self.manifests.glob("*/*/*/*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                rel = path.relative_to(self.manifests).parts
                name = ModelName(*rel)
                if name.is_valid():
                    yield name

    def read_manifest(self, name: ModelName) -> Manifest:
        path = self.manifest_path(name)
        raw = path.read_bytes()
        doc = json.loads(raw)
        config = _layer(doc["config"])
        layers = tuple(_layer(x) for x in doc.get("layers", []))
        return Manifest(
            config=config,
            layers=layers,
            digest=hashlib.sha256(raw).hexdigest(),
            size=config.size + sum(x.size for x in layers),
            modified=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc),
        )

    def write_manifest(self, name: ModelName, config: Layer, layers: list[Layer]) -> None:
        for layer in [config, *layers]:
            if not self.has_blob(layer.digest):
                raise FileNotFoundError(f"blob {layer.digest} is missing")
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config.to_json(),
            "layers": [x.to_json() for x in layers],
        }
        atomic_write(self.manifest_path(name), json.dumps(doc).encode())

    def write_config(self, model_layers: list[Layer], meta: dict[str, Any]) -> Layer:
        """The image config blob Ollama writes next to each manifest."""
        doc = {
            **meta,
            "rootfs": {"type": "layers", "diff_ids": [x.digest for x in model_layers]},
        }
        layer = self.write_blob_bytes(json.dumps(doc).encode())
        return Layer(CONFIG_MEDIA_TYPE, layer.digest, layer.size)

    def read_config(self, manifest: Manifest) -> dict[str, Any]:
        try:
            return json.loads(self.read_blob_text(manifest.config.digest))
        except (OSError, ValueError):
            return {}

    def copy(self, source: ModelName, destination: ModelName) -> None:
        data = self.manifest_path(source).read_bytes()
        atomic_write(self.manifest_path(destination), data)

    def delete(self, name: ModelName) -> None:
        """Remove a manifest, then every blob no remaining manifest references."""
        path = self.manifest_path(name)
        path.unlink()
        for parent in list(path.parents)[: len(name.parts) - 1]:
            with contextlib.suppress(OSError):
                parent.rmdir()
        self.prune_blobs()

    def prune_blobs(self) -> None:
        referenced = set()
        for name in self.iter_names():
            try:
                m = self.read_manifest(name)
            except (OSError, ValueError, KeyError):
                continue
            referenced.update(parse_digest(x.digest) for x in (m.config, *m.layers))
        if not self.blobs.is_dir():
            return
        for blob in self.blobs.iterdir():
            if blob.name.startswith("sha256-") and blob.name[7:] not in referenced:
                blob.unlink(missing_ok=True)


def _layer(doc: dict[str, Any]) -> Layer:
    return Layer(doc.get("mediaType", ""), doc["digest"], int(doc.get("size", 0)))
