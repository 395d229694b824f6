"""Creating a model (POST /api/create) as Ollama does.

The layers come from a stored model (`from`), from uploaded GGUF blobs (`files`), or from an
uploaded Hugging Face safetensors checkpoint (`files` naming `*.safetensors`, `config.json`,
`tokenizer.json` …), converted to a GGUF first (store/convert/); adapters, template, system,
license, parameters and messages go on top, and the weights may be quantized. Every blob is
written (atomically) before the manifest, which is written last: a crash at any point leaves
either the old model or the new one, never a manifest naming a missing blob; a create that
fails removes the blobs it wrote that nothing else uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_toolkit.api.errors import (
    InternalError,
    InvalidRequest,
    blob_not_uploaded,
    file_path_not_relative,
    invalid_digest,
    invalid_model_name,
    model_not_found,
    neither_from_nor_files,
    not_gguf,
    only_one_adapter,
    quantize_needs_float_model,
    template_error,
    unknown_parameter,
)
from ollama_toolkit.api.options import checked_value, option_field_type
from ollama_toolkit.api.types import CreateRequest, ProgressResponse
from ollama_toolkit.store import convert, gguf_meta
from ollama_toolkit.store.model import check_renderer_parser
from ollama_toolkit.store.modelfile import DEPRECATED_PARAMETERS, ModelfileError, parameter_value
from ollama_toolkit.store.names import InvalidNameError, ModelName
from ollama_toolkit.store.quantize import FLOAT_TYPES, quantization_type, quantize
from ollama_toolkit.store.store import (
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    DigestError,
    Layer,
    Store,
    go_json,
    parse_digest,
)
from ollama_toolkit.template import Template, TemplateError, named_template, template_for_jinja

log = logging.getLogger(__name__)

Progress = Callable[[ProgressResponse], None]

# Ollama reports quantizing progress under this placeholder digest.
_QUANTIZE_DIGEST = "0000000000000000000"


@dataclass
class CreatePlan:
    """A checked create request: what to build and under which name."""

    name: ModelName
    request: CreateRequest
    parameters: dict[str, Any]
    quantize: str | None = None
    base: ModelName | None = None  # the stored model named by `from`, once it is present


def check_request(store: Store, req: CreateRequest) -> CreatePlan:
    """Refuse, with a 400 that names the problem, what can be refused before any work."""
    try:
        name = ModelName.parse(req.model or req.name)
    except InvalidNameError:
        raise invalid_model_name() from None
    for path, digest in (req.files or {}).items():
        if not _is_relative_path(path):
            raise file_path_not_relative()
        _check_digest(digest)
    for digest in (req.adapters or {}).values():
        _check_digest(digest)
    if len(req.adapters or {}) > 1:
        raise only_one_adapter()
    if not req.from_ and not req.files:
        raise neither_from_nor_files()
    if req.from_:
        try:
            ModelName.parse(req.from_)
        except InvalidNameError:
            raise invalid_model_name() from None
    quant = req.quantize or req.quantization
    check_renderer_parser(req.renderer, req.parser)
    if req.template:
        try:
            Template(req.template)
        except TemplateError as e:
            raise template_error(str(e)) from None
    return CreatePlan(
        name=store.resolve_name(str(name)) or name,
        request=req,
        parameters=check_parameters(req.parameters or {}),
        quantize=quantization_type(quant) if quant else None,
    )


def check_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters typed and checked against the options they set; deprecated ones dropped."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in DEPRECATED_PARAMETERS:
            log.warning("parameter %s is deprecated and ignored", key)
            continue
        kind = option_field_type(key)
        if kind is None:
            raise unknown_parameter(key)
        if value is None:
            continue
        if isinstance(value, str) and kind != "list":
            try:
                value = parameter_value(key, value)
            except ModelfileError as e:
                raise InvalidRequest(str(e)) from None
        checked = checked_value(key, value)
        if kind == "float" and float(checked).is_integer():
            checked = int(checked)  # Go writes a whole float32 without a fraction
        out[key] = checked
    return out


def create_model(store: Store, plan: CreatePlan, progress: Progress) -> None:
    """Build the layers, write the blobs, then the manifest; report progress as Ollama does."""
    created: set[str] = set()
    try:
        _create_model(store, plan, progress, created)
    except BaseException:
        # Nothing half-written: the blobs this create wrote that no manifest uses go again.
        store.remove_unused([Layer("", digest, 0) for digest in created])
        raise


def _create_model(store: Store, plan: CreatePlan, progress: Progress, created: set[str]) -> None:
    req = plan.request
    statuses: list[str] = []
    if plan.base is not None:
        layers, base_config = _layers_from_model(store, plan.base)
    elif _is_checkpoint(req.files or {}):
        layers, base_config = _converted_layers(
            store, req.files or {}, plan.quantize, statuses, progress, created
        )
    else:
        layers, base_config = _layers_from_files(store, req.files or {}, statuses, progress)
    if req.adapters:
        layers += _adapter_layers(store, req.adapters)
    if plan.quantize:
        i = next(i for i, x in enumerate(layers) if x.media_type == MEDIA_MODEL)
        before = layers[i].digest
        layers[i] = _quantized(store, layers[i], plan.quantize, progress)
        if layers[i].digest != before:
            created.add(layers[i].digest)

    def put(layer_list: list[Layer], media_type: str, data: bytes) -> list[Layer]:
        if not store.has_blob(_digest_of(data)):
            created.add(_digest_of(data))
        blob = store.write_blob_bytes(data)
        return [*layer_list, Layer(media_type, blob.digest, blob.size)]

    if req.template:
        layers = put(_without(layers, MEDIA_TEMPLATE), MEDIA_TEMPLATE, req.template.encode())
    if req.system:
        layers = put(_without(layers, MEDIA_SYSTEM), MEDIA_SYSTEM, req.system.encode())
    licenses = [req.license] if isinstance(req.license, str) else req.license or []
    for text in licenses:
        if text:
            layers = put(layers, MEDIA_LICENSE, text.encode())
    params = {**_existing_params(store, layers), **plan.parameters}
    if params:
        data = go_json(dict(sorted(params.items())))
        layers = put(_without(layers, MEDIA_PARAMS), MEDIA_PARAMS, data)
    if req.messages:
        data = go_json([m.to_wire() for m in req.messages])
        layers = put(_without(layers, MEDIA_MESSAGES), MEDIA_MESSAGES, data)

    # The request's renderer and parser, else the base model's (Ollama's ConfigV2 fields).
    base_config = {
        **base_config,
        "renderer": req.renderer or base_config.get("renderer"),
        "parser": req.parser or base_config.get("parser"),
    }
    model_layer = next(x for x in layers if x.media_type == MEDIA_MODEL)
    vision = any(x.media_type == MEDIA_PROJECTOR for x in layers)
    config = _write_config(store, store.blob_path(model_layer.digest), base_config, vision)
    for status in statuses:
        progress(ProgressResponse(status=status))
    for x in layers:
        verb = "creating new" if x.digest in created else "using existing"
        progress(ProgressResponse(status=f"{verb} layer {x.digest}"))
    progress(ProgressResponse(status="writing manifest"))
    with store.lock:
        old = store.layers_of(plan.name)
        store.write_manifest(plan.name, config, layers)
        store.remove_unused(old)


def _is_relative_path(path: str) -> bool:
    """Go's fs.ValidPath: unrooted, slash-separated, no empty, `.` or `..` elements."""
    if path == ".":
        return True
    return bool(path) and all(part not in ("", ".", "..") for part in path.split("/"))


def _check_digest(digest: str) -> None:
    try:
        parse_digest(digest)
    except DigestError:
        raise invalid_digest() from None


def _digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _without(layers: list[Layer], media_type: str) -> list[Layer]:
    return [x for x in layers if x.media_type != media_type]


def _layers_from_model(store: Store, base: ModelName) -> tuple[list[Layer], dict[str, Any]]:
    try:
        manifest = store.read_manifest(base)
    except (OSError, ValueError, KeyError):
        raise model_not_found(base.display()) from None
    shown = base.display()
    layers = []
    for x in manifest.layers:
        if not store.has_blob(x.digest):
            raise InternalError(f"model '{shown}' is missing its layer {x.digest}")
        layers.append(Layer(x.media_type, x.digest, x.size, shown))
    if not any(x.media_type == MEDIA_MODEL for x in layers):
        raise InvalidRequest(f"model '{shown}' has no weights layer")
    return layers, store.read_config(manifest)


def _layers_from_files(
    store: Store, files: dict[str, str], statuses: list[str], progress: Progress
) -> tuple[list[Layer], dict[str, Any]]:
    for digest in files.values():
        _gguf_blob(store, digest)
    layers: list[Layer] = []
    extra: list[Layer] = []
    for file_name in sorted(files):
        digest = files[file_name]
        path = store.blob_path(digest)
        progress(ProgressResponse(status="parsing GGUF"))
        try:
            kv = gguf_meta.read_metadata(path)[0]
        except (ValueError, OSError) as e:
            raise InvalidRequest(f"invalid GGUF file {file_name}: {e}") from None
        media_type = _media_type(kv)
        layers.append(Layer(media_type, digest, path.stat().st_size, file_name))
        if media_type == MEDIA_MODEL:
            extra += _detected_template(store, kv, statuses)
    n_models = sum(x.media_type == MEDIA_MODEL for x in layers)
    if n_models != 1:
        raise InvalidRequest(
            f"expected one GGUF model among the files, got {n_models} "
            "(split GGUF files must be merged first)"
        )
    return layers + extra, {}


def _is_checkpoint(files: dict[str, str]) -> bool:
    """Whether `files` are a safetensors checkpoint (Ollama: any `.safetensors` name)."""
    return any(name.endswith(".safetensors") for name in files)


def _converted_layers(
    store: Store,
    files: dict[str, str],
    quantize: str | None,
    statuses: list[str],
    progress: Progress,
    created: set[str],
) -> tuple[list[Layer], dict[str, Any]]:
    """The GGUF converted from an uploaded checkpoint, written as a blob, and its template.

    Everything but the weights is checked before the first progress line, so a bad checkpoint
    (unsupported, incomplete, inconsistent, truncated) is a plain 400 and writes nothing.
    """
    paths = {}
    for name, digest in files.items():
        path = store.blob_path(digest)
        if not path.is_file():
            raise blob_not_uploaded(digest)
        paths[name] = path
    try:
        conversion = convert.prepare(convert.Source(paths))
    except convert.ConvertError as e:
        raise InvalidRequest(str(e)) from None
    except OSError as e:
        raise InvalidRequest(f"cannot read the model's files: {e}") from None
    progress(ProgressResponse(status="converting model"))
    # A float type is written directly; a quantized one is made from F16 afterwards.
    ftype = quantize if quantize in convert.OUTPUT_TYPES else "F16"
    fd, tmp = tempfile.mkstemp(dir=store.blobs, prefix=".tmp-convert-")
    os.close(fd)
    target = Path(tmp)
    try:
        try:
            conversion.write(target, ftype)
        except convert.ConvertError as e:
            raise InvalidRequest(str(e)) from None
        digest = _file_digest(target)
        if not store.has_blob(digest):
            store.adopt_blob_file(target, digest)
            created.add(digest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
    path = store.blob_path(digest)
    layers = [Layer(MEDIA_MODEL, digest, path.stat().st_size)]
    kv = gguf_meta.read_metadata(path)[0]
    return layers + _detected_template(store, kv, statuses), {}


def _file_digest(path: Path) -> str:
    """sha256 of a file just written, fsynced so that it can be adopted as a blob."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
        os.fsync(f.fileno())
    return "sha256:" + h.hexdigest()


def _media_type(kv: dict[str, Any]) -> str:
    kind = kv.get("general.type")
    arch = kv.get("general.architecture", "")
    if kind == "adapter":
        return MEDIA_ADAPTER
    if kind in ("projector", "mmproj") or (arch == "clip" and f"{arch}.block_count" not in kv):
        return MEDIA_PROJECTOR
    return MEDIA_MODEL


def _detected_template(store: Store, kv: dict[str, Any], statuses: list[str]) -> list[Layer]:
    """Ollama's built-in template (and its parameters) matching the GGUF's chat template."""
    chat_template = kv.get("tokenizer.chat_template")
    name = template_for_jinja(chat_template) if isinstance(chat_template, str) else None
    found = named_template(name) if name else None
    if found is None:
        return []
    text, params = found
    template = store.write_blob_bytes(text.encode())
    layers = [Layer(MEDIA_TEMPLATE, template.digest, template.size)]
    statuses.append(f"using autodetected template {name}")
    if params:
        blob = store.write_blob_bytes(go_json(dict(sorted(params.items()))))
        layers.append(Layer(MEDIA_PARAMS, blob.digest, blob.size))
    return layers


def _gguf_blob(store: Store, digest: str) -> Path:
    """The path of an uploaded blob that must be a GGUF file; 400 when missing or not GGUF."""
    path = store.blob_path(digest)
    if not path.is_file():
        raise blob_not_uploaded(digest)
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise not_gguf()
    return path


def _adapter_layers(store: Store, adapters: dict[str, str]) -> list[Layer]:
    layers = []
    for file_name, digest in adapters.items():
        path = _gguf_blob(store, digest)
        layers.append(Layer(MEDIA_ADAPTER, digest, path.stat().st_size, file_name))
    return layers


def _quantized(store: Store, layer: Layer, type_name: str, progress: Progress) -> Layer:
    source = store.blob_path(layer.digest)
    current = gguf_meta.quantization(source)
    if current not in FLOAT_TYPES:
        raise quantize_needs_float_model()
    if current == type_name:
        return layer
    status = f"quantizing {current} model to {type_name}"

    def report(fraction: float) -> None:
        done = int(fraction * layer.size)
        progress(
            ProgressResponse(
                status=status, digest=_QUANTIZE_DIGEST, total=layer.size, completed=done
            )
        )

    fd, tmp = tempfile.mkstemp(dir=store.blobs, prefix=".tmp-quantize-")
    os.close(fd)
    target = Path(tmp)
    try:
        quantize(source, target, type_name, report)
        progress(ProgressResponse(status="verifying conversion"))
        h = hashlib.sha256()
        with open(target, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
            os.fsync(f.fileno())
        digest = "sha256:" + h.hexdigest()
        if not store.has_blob(digest):
            store.adopt_blob_file(target, digest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
    return Layer(MEDIA_MODEL, digest, store.blob_path(digest).stat().st_size)


def _existing_params(store: Store, layers: list[Layer]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for x in layers:
        if x.media_type == MEDIA_PARAMS:
            try:
                params.update(json.loads(store.read_blob_text(x.digest)))
            except (OSError, ValueError):
                continue
    return params


def _write_config(
    store: Store, model_path: Path, base_config: dict[str, Any], vision: bool
) -> Layer:
    """Ollama's ConfigV2 for the weights: format, family, size and quantization; a model with
    a projector has the family `clip` too (as Ollama's vision models show it)."""
    kv, n_params = gguf_meta.read_metadata(model_path)
    arch = str(kv.get("general.architecture", ""))
    config: dict[str, Any] = {
        "model_format": base_config.get("model_format") or "gguf",
        "model_family": arch,
        "model_families": [arch, "clip"] if vision else [arch],
        "model_type": gguf_meta.parameter_size(n_params),
        "file_type": gguf_meta.quantization(model_path),
    }
    for key in ("renderer", "parser", "requires"):
        if base_config.get(key):
            config[key] = base_config[key]
    config["architecture"] = "amd64"
    config["os"] = "linux"
    return store.write_config(config)
