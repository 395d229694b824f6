"""Ollama's on-disk store: `manifests/<host>/<namespace>/<model>/<tag>`, `blobs/sha256-<hex>`.

A store written here is readable by Ollama and the other way round. Every write goes to a
temporary file in the same directory, is fsynced, then renamed: a crash never leaves a half-written
manifest or a blob whose name lies about its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ollama_toolkit.store.names import InvalidNameError, ModelName

log = logging.getLogger(__name__)

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
# A complete blob's file name; partial downloads (`-partial`, `-partial-N`) and temporary files
# (`.tmp-*`) never match it.
_BLOB_NAME = re.compile(r"sha256-([0-9a-f]{64})")
PRUNE_MIN_AGE_S = 3600.0


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
    from_: str = ""  # the model or file a created model's layer came from, as Ollama records it

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.from_:
            doc["from"] = self.from_
        return doc


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


def go_json(value: Any) -> bytes:
    """JSON as Go's encoder writes it: compact, `<>&` escaped, one trailing newline.

    Blobs and manifests written this way are byte for byte what Ollama writes for the same
    content, so their digests match and layers are shared with models Ollama created.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    return text.encode() + b"\n"


_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


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


class BlobWriter:
    """A blob being written from chunks (an upload): hashed as it goes, named by its digest only
    once complete and verified, so a crash leaves a temporary file and never a lying blob."""

    def __init__(self, store: Store):
        store.blobs.mkdir(parents=True, exist_ok=True)
        self._store = store
        fd, self._tmp = tempfile.mkstemp(dir=store.blobs, prefix=".tmp-")
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def commit(self, expected_digest: str) -> Layer:
        """Verify the content against `expected_digest` and move it to its blob name."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            digest = "sha256:" + self._hash.hexdigest()
            if digest != expected_digest:
                raise DigestError(f'digest mismatch, expected "{expected_digest}", got "{digest}"')
            os.replace(self._tmp, self._store.blob_path(digest))
        except BaseException:
            self.abort()
            raise
        _fsync_dir(self._store.blobs)
        return Layer("", digest, self.size)

    def abort(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"
        # Held while a manifest is written or blobs are removed, so a removal never races the
        # check that every blob a new manifest names is present.
        self.lock = threading.RLock()

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
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config.to_json(),
            "layers": [x.to_json() for x in layers],
        }
        self.write_manifest_bytes(name, go_json(doc))

    def write_manifest_bytes(self, name: ModelName, data: bytes) -> None:
        """Write a manifest as given (a pulled one keeps the registry's bytes and digest), once
        every blob it names is in the store."""
        doc = json.loads(data)
        with self.lock:
            for layer in [_layer(doc["config"]), *(_layer(x) for x in doc.get("layers", []))]:
                if not self.has_blob(layer.digest):
                    raise FileNotFoundError(f"blob {layer.digest} is missing")
            atomic_write(self.manifest_path(name), data)

    def write_config(self, config: dict[str, Any]) -> Layer:
        """The config blob a manifest names: Ollama's ConfigV2 (format, family, type...)."""
        layer = self.write_blob_bytes(go_json(config))
        return Layer(CONFIG_MEDIA_TYPE, layer.digest, layer.size)

    def read_config(self, manifest: Manifest) -> dict[str, Any]:
        try:
            return json.loads(self.read_blob_text(manifest.config.digest))
        except (OSError, ValueError):
            return {}

    def copy(self, source: ModelName, destination: ModelName) -> None:
        data = self.manifest_path(source).read_bytes()
        old = self.layers_of(destination)
        with self.lock:
            atomic_write(self.manifest_path(destination), data)
            self.remove_unused(old)

    def delete(self, name: ModelName) -> None:
        """Remove a manifest, then those of its blobs that no remaining manifest references."""
        path = self.manifest_path(name)
        with self.lock:
            layers = self.layers_of(name)
            path.unlink()
            for parent in list(path.parents)[: len(name.parts) - 1]:
                with contextlib.suppress(OSError):
                    parent.rmdir()
            self.remove_unused(layers)

    def remove_unused(self, layers: Iterable[Layer]) -> list[Layer]:
        """Remove the blobs of `layers` that no manifest references; return the removed ones.

        A manifest that cannot be read keeps nothing alive: it is skipped, as Ollama skips it.
        """
        with self.lock:
            candidates = {x.digest: x for x in layers}
            if not candidates:
                return []
            for name in self.iter_names():
                try:
                    m = self.read_manifest(name)
                except (OSError, ValueError, KeyError):
                    continue
                for x in (m.config, *m.layers):
                    candidates.pop(x.digest, None)
            for layer in candidates.values():
                with contextlib.suppress(FileNotFoundError, DigestError):
                    self.blob_path(layer.digest).unlink()
            return list(candidates.values())

    def prune_orphan_blobs(self, min_age_s: float = PRUNE_MIN_AGE_S) -> list[str]:
        """Remove the blobs that no manifest references; return their digests (Ollama's
        start-up `PruneLayers`, which OLLAMA_NOPRUNE turns off).

        Only complete blobs are candidates: a partial download or a temporary file may belong
        to a transfer in progress (another process sharing the store) and is left alone, and so
        is a blob written less than `min_age_s` ago (unlike Ollama): one uploaded for a create
        that a restart interrupted, or one another process has just fetched for a pull whose
        manifest it has yet to write.

        Every manifest directory counts (`manifests`, and the `manifests-v2` of newer Ollama
        releases), at any depth. As in Ollama, when a manifest cannot be read nothing is
        removed: the blobs it names cannot be told from orphans. Never raises for the store's
        state: a start-up must not fail over a clean-up.
        """
        with self.lock:
            try:
                referenced = self._referenced_digests()
                blobs = list(self.blobs.iterdir()) if self.blobs.is_dir() else []
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.warning(
                    "skipping the removal of unused blobs, the store cannot be read (%s); "
                    "re-pull or delete a corrupt model to clear",
                    e,
                )
                return []
            removed = []
            now = time.time()
            for blob in blobs:
                m = _BLOB_NAME.fullmatch(blob.name)
                if m is None or m.group(1) in referenced:
                    continue
                try:
                    st = blob.stat()
                    if not stat.S_ISREG(st.st_mode) or st.st_mtime > now - min_age_s:
                        continue
                    blob.unlink()
                except FileNotFoundError:
                    continue
                except OSError as e:
                    log.warning("could not remove unused blob %s: %s", blob.name, e)
                    continue
                removed.append("sha256:" + m.group(1))
            if removed:
                log.info("removed %d unused blob(s)", len(removed))
            return removed

    def _referenced_digests(self) -> set[str]:
        """The hex digests every manifest names; raises for a manifest that cannot be read."""
        referenced: set[str] = set()
        for path in self._manifest_files():
            try:
                doc = json.loads(path.read_bytes())
                for layer in [doc["config"], *doc.get("layers", [])]:
                    referenced.add(parse_digest(layer["digest"]))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise ValueError(f"{path}: {e}") from None
        return referenced

    def _manifest_files(self) -> Iterator[Path]:
        """Every manifest file, in all manifest directories; temporary and hidden files skipped.
        An unreadable directory raises (its manifests would otherwise go unseen)."""
        if not self.root.is_dir():
            return
        seen: set[tuple[int, int]] = set()  # directories, by inode: symbolic links may loop
        for top in sorted(self.root.iterdir()):
            if not (top.name == "manifests" or top.name.startswith("manifests-")):
                continue
            if not top.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(top, onerror=_raise, followlinks=True):
                st = os.stat(dirpath)
                if (st.st_dev, st.st_ino) in seen:
                    dirnames[:] = []
                    continue
                seen.add((st.st_dev, st.st_ino))
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for filename in filenames:
                    if not filename.startswith("."):
                        yield Path(dirpath, filename)

    def layers_of(self, name: ModelName) -> tuple[Layer, ...]:
        """The config and layers of a stored model; none when it is absent or unreadable."""
        try:
            m = self.read_manifest(name)
        except (OSError, ValueError, KeyError):
            return ()
        return (m.config, *m.layers)


def _raise(error: OSError) -> None:
    raise error


def _layer(doc: dict[str, Any]) -> Layer:
    return Layer(
        doc.get("mediaType", ""), doc["digest"], int(doc.get("size", 0)), doc.get("from", "")
    )
