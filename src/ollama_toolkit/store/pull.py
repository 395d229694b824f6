"""Pulling and pushing models with Ollama's registry protocol (a subset of Docker's registry v2).

A model name's host part is the registry: `registry.ollama.ai` by default, a mirror such as
`127.0.0.1:5000/library/tiny` (with `insecure` for plain HTTP), or Hugging Face for
`hf.co/<user>/<repo>[:<quant>]`, which serves GGUF repositories in the same protocol. The
manifest comes from `GET /v2/<namespace>/<model>/manifests/<tag>`, each blob from
`GET /v2/<namespace>/<model>/blobs/<digest>`; the manifest is written, with the registry's
exact bytes, only once every blob it names is in the store and verified.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from ollama_toolkit.api.errors import (
    InternalError,
    insecure_protocol,
    invalid_model_name,
    model_not_found,
    pull_manifest_failed,
)
from ollama_toolkit.api.types import ProgressResponse
from ollama_toolkit.store.download import discard_partial, http_client, start_download
from ollama_toolkit.store.model import check_renderer_parser
from ollama_toolkit.store.names import InvalidNameError, ModelName
from ollama_toolkit.store.store import (
    MANIFEST_MEDIA_TYPE,
    Layer,
    Store,
    parse_digest,
)

log = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 0.1
_MAX_MANIFEST_BYTES = 4 << 20
_TENSOR_MEDIA_TYPE = "application/vnd.ollama.image.tensor"


@dataclass(frozen=True)
class RegistryModel:
    """A model name and the scheme its registry speaks (`https` unless the name says `http://`)."""

    name: ModelName
    scheme: str = "https"

    @classmethod
    def parse(cls, text: str) -> RegistryModel:
        scheme, sep, rest = text.strip().partition("://")
        if not sep:
            scheme, rest = "https", text
        if scheme not in ("http", "https"):
            raise invalid_model_name()
        try:
            return cls(ModelName.parse(rest), scheme)
        except InvalidNameError:
            raise invalid_model_name() from None

    def base_url(self, insecure: bool) -> str:
        scheme = "http" if insecure else self.scheme
        return f"{scheme}://{self.name.host}/v2/{self.name.namespace}/{self.name.model}"

    def manifest_url(self, insecure: bool) -> str:
        return f"{self.base_url(insecure)}/manifests/{self.name.tag}"

    def blob_url(self, digest: str, insecure: bool) -> str:
        return f"{self.base_url(insecure)}/blobs/{digest}"


async def pull_model(
    store: Store, text: str, insecure: bool
) -> AsyncGenerator[ProgressResponse, None]:
    """Pull `text` into the store, yielding Ollama's progress lines; the last says success."""
    target = RegistryModel.parse(text)
    if target.scheme == "http" and not insecure:
        raise insecure_protocol()
    name = store.resolve_name(str(target.name)) or target.name
    old_layers = store.layers_of(name)

    yield ProgressResponse(status="pulling manifest")
    data, layers = await _fetch_manifest(target, insecure)
    # The config first (it is small, and listed in its place below as already there): a
    # renderer or parser not built in here is refused before the weights are downloaded.
    async for _ in _download(store, target, layers[-1], insecure):
        pass
    config = await asyncio.to_thread(store.blob_path(layers[-1].digest).read_bytes)
    _check_config(config)
    for layer in _unique(layers):
        async for progress in _download(store, target, layer, insecure):
            yield progress

    yield ProgressResponse(status="verifying sha256 digest")
    yield ProgressResponse(status="writing manifest")
    try:
        await asyncio.to_thread(store.write_manifest_bytes, name, data)
    except FileNotFoundError as e:
        raise InternalError(f"{e}; pull the model again") from None
    kept = {x.digest for x in layers}
    stale = [x for x in old_layers if x.digest not in kept]
    if stale:
        yield ProgressResponse(status="removing unused layers")
        await asyncio.to_thread(store.remove_unused, stale)
    yield ProgressResponse(status="success")


async def push_model(
    store: Store, text: str, insecure: bool
) -> AsyncGenerator[ProgressResponse, None]:
    """Push a stored model to the registry its name names: blobs first, then the manifest."""
    target = RegistryModel.parse(text)
    if target.scheme == "http" and not insecure:
        raise insecure_protocol()
    name = store.resolve_name(str(target.name))
    if name is None:
        raise model_not_found(text)
    target = RegistryModel(name, target.scheme)
    yield ProgressResponse(status="retrieving manifest")
    data = store.manifest_path(name).read_bytes()
    manifest = store.read_manifest(name)
    async with http_client() as client:
        for layer in _unique([*manifest.layers, manifest.config]):
            async for progress in _upload(client, store, target, layer, insecure):
                yield progress
        yield ProgressResponse(status="pushing manifest")
        url = target.manifest_url(insecure)
        response = await _request(
            client, "PUT", url, content=data, headers={"Content-Type": MANIFEST_MEDIA_TYPE}
        )
        _check(response)
    yield ProgressResponse(status="success")


async def _fetch_manifest(target: RegistryModel, insecure: bool) -> tuple[bytes, list[Layer]]:
    url = target.manifest_url(insecure)
    async with http_client() as client:
        try:
            response = await client.get(url, headers={"Accept": MANIFEST_MEDIA_TYPE})
        except httpx.HTTPError as e:
            raise pull_manifest_failed(
                f"could not reach {target.name.host}: {_reason(e)}"
            ) from None
        if response.status_code == 404:
            raise pull_manifest_failed("file does not exist")
        if response.status_code >= 400:
            raise pull_manifest_failed(f"{response.status_code}: {response.text.strip()}")
        data = response.content
    if len(data) > _MAX_MANIFEST_BYTES:
        raise pull_manifest_failed("the manifest is too large")
    try:
        doc = json.loads(data)
        layers = [_layer(x) for x in doc.get("layers", [])]
        config = _layer(doc["config"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise pull_manifest_failed("the registry sent an invalid manifest") from None
    if any(x.media_type == _TENSOR_MEDIA_TYPE for x in layers):
        raise InternalError("this model is stored as safetensors tensors, which need MLX")
    return data, [*layers, config]


def _check_config(data: bytes) -> None:
    """Refuse a config naming a renderer or parser not built in here (a config that is not
    JSON is left for loading to report, as Ollama's pull does)."""
    try:
        config = json.loads(data)
    except ValueError:
        return
    if isinstance(config, dict):
        check_renderer_parser(config.get("renderer"), config.get("parser"))


def _layer(doc: Any) -> Layer:
    """A manifest entry; its digest must be a sha256 digest (it becomes a file name)."""
    digest = doc["digest"]
    parse_digest(digest)
    size = doc.get("size", 0)
    if not isinstance(size, int) or size < 0:
        raise ValueError("bad layer size")
    return Layer(doc.get("mediaType", ""), digest, size)


def _unique(layers: list[Layer]) -> list[Layer]:
    seen: dict[str, Layer] = {}
    for layer in layers:
        seen.setdefault(layer.digest, layer)
    return list(seen.values())


async def _download(
    store: Store, target: RegistryModel, layer: Layer, insecure: bool
) -> AsyncIterator[ProgressResponse]:
    status = f"pulling {layer.digest[7:19]}"
    path = store.blob_path(layer.digest)
    if path.is_file():
        await asyncio.to_thread(discard_partial, store, layer.digest)
        size = path.stat().st_size
        yield ProgressResponse(status=status, digest=layer.digest, total=size, completed=size)
        return
    download = start_download(
        store, layer.digest, layer.size, target.blob_url(layer.digest, insecure)
    )
    try:
        while True:
            try:
                done = await download.wait(_PROGRESS_EVERY_S)
            except (httpx.HTTPError, OSError) as e:
                raise InternalError(f"download {layer.digest}: {_reason(e)}") from None
            yield ProgressResponse(
                status=status,
                digest=layer.digest,
                total=download.total,
                completed=download.completed,
            )
            if done:
                return
    finally:
        download.release()


async def _upload(
    client: httpx.AsyncClient, store: Store, target: RegistryModel, layer: Layer, insecure: bool
) -> AsyncIterator[ProgressResponse]:
    status = f"pushing {layer.digest[7:19]}"
    url = target.blob_url(layer.digest, insecure)
    head = await _request(client, "HEAD", url)
    if head.status_code == 200:
        yield ProgressResponse(
            status=status, digest=layer.digest, total=layer.size, completed=layer.size
        )
        return
    start = await _request(client, "POST", f"{target.base_url(insecure)}/blobs/uploads/")
    _check(start)
    location = start.headers.get("Location")
    if not location:
        raise InternalError("the registry gave no upload location")
    upload_url = httpx.URL(str(start.url)).join(location)
    upload_url = upload_url.copy_merge_params({"digest": layer.digest})
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        with open(store.blob_path(layer.digest), "rb") as f:
            while chunk := f.read(1 << 20):
                sent += len(chunk)
                yield chunk

    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(layer.size)}
    put = asyncio.create_task(_request(client, "PUT", upload_url, content=body(), headers=headers))
    try:
        while True:
            done, _ = await asyncio.wait({put}, timeout=_PROGRESS_EVERY_S)
            yield ProgressResponse(
                status=status, digest=layer.digest, total=layer.size, completed=sent
            )
            if done:
                break
    finally:
        put.cancel()
    _check(put.result())


async def _request(
    client: httpx.AsyncClient, method: str, url: Any, **kwargs: Any
) -> httpx.Response:
    try:
        return await client.request(method, url, **kwargs)
    except httpx.HTTPError as e:
        raise InternalError(f"{method} {url}: {_reason(e)}") from None


def _check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise InternalError(f"{response.status_code}: {response.text.strip()}")


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
