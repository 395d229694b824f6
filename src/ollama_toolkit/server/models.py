"""Model listing and inspection: /api/tags, /api/ps, /api/show."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.api.types import (
    ListModelResponse,
    ListResponse,
    ModelDetails,
    ProcessModelResponse,
    ProcessResponse,
    ShowRequest,
    ShowResponse,
    Tensor,
    rfc3339,
)
from ollama_toolkit.server.prepare import ServerState, find_model
from ollama_toolkit.store import gguf_meta
from ollama_toolkit.store.model import Model
from ollama_toolkit.store.store import MEDIA_MODEL

# Ollama shows a pinned model (negative keep_alive) as expiring in the far future.
_FOREVER = datetime(2318, 1, 1, tzinfo=timezone.utc)


def list_models(state: ServerState) -> ListResponse:
    entries = []
    for name in state.store.iter_names():
        try:
            model = state.models.get(name)
        except (OSError, ValueError, KeyError):
            continue  # a manifest being written or pointing at a missing blob is skipped
        m = model.manifest
        entries.append(
            (
                m.modified,
                ListModelResponse(
                    name=model.short_name,
                    model=model.short_name,
                    modified_at=rfc3339(m.modified),
                    size=m.size,
                    digest=m.digest,
                    details=_list_details(model),
                    capabilities=model.capabilities() or None,
                ),
            )
        )
    entries.sort(key=lambda e: e[0], reverse=True)  # most recently modified first
    return ListResponse(models=[e[1] for e in entries])


def _details(model: Model) -> ModelDetails:
    """/api/show's details: the parent is what the weights layer was created from."""
    layer = model.manifest.layer(MEDIA_MODEL)
    parent = layer.from_ if layer is not None else ""
    return ModelDetails.model_validate({**model.details(), "parent_model": parent})


def _list_details(model: Model) -> ModelDetails:
    """/api/tags' details: /api/show's, and the GGUF's context and embedding lengths, as
    Ollama's model list reads them (`<architecture>.context_length`, `.embedding_length`)."""
    details = _details(model)
    kv, arch = model.metadata, model.architecture
    for field in ("context_length", "embedding_length"):
        value = kv.get(f"{arch}.{field}")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            setattr(details, field, value)
    return details


def running_models(state: ServerState) -> ProcessResponse:
    entries = []
    for loaded in state.scheduler.loaded:
        model: Model = loaded.spec.info
        if math.isinf(loaded.expires_at):
            expires = _FOREVER if loaded.pinned else datetime.now(timezone.utc)
        else:
            expires = datetime.fromtimestamp(loaded.expires_at, timezone.utc)
        entry = ProcessModelResponse(
            name=model.short_name,
            model=model.short_name,
            size=loaded.runner.size,
            digest=model.manifest.digest,
            details=ModelDetails.model_validate(model.details()),
            expires_at=rfc3339(expires),
            size_vram=loaded.runner.size_vram,
            context_length=loaded.runner.num_ctx,
        )
        entries.append((expires, entry))
    # As Ollama's PsHandler: the model with the longest time left first.
    entries.sort(key=lambda e: e[0], reverse=True)
    return ProcessResponse(models=[e[1] for e in entries])


def show_model(state: ServerState, req: ShowRequest) -> ShowResponse:
    name = req.model or req.name
    if not name:
        raise InvalidRequest("model is required")
    model = find_model(state, name)
    system = req.system or model.system
    # As Ollama's GetModelInfo: the request's options join the model's parameters in the
    # Modelfile shown (and there only: `parameters` lists the model's own); its system
    # replaces the model's in both.
    params = {**model.params, **(req.options or {})}
    return ShowResponse(
        license="\n".join(model.license) or None,
        modelfile=render_modelfile(model, system=system, params=params),
        parameters=render_parameters(model.params) or None,
        template=model.template,
        system=system or None,
        renderer=model.renderer or None,
        parser=model.parser or None,
        details=_details(model),
        messages=model.messages or None,
        model_info=gguf_meta.show_info(model.model_path, verbose=req.verbose),
        projector_info=gguf_meta.model_info(model.projector, verbose=req.verbose)
        if model.projector is not None
        else None,
        tensors=[
            Tensor(name=name, type=kind, shape=shape)
            for name, kind, shape in gguf_meta.tensors(model.model_path)
        ]
        or None,
        capabilities=model.capabilities(),
        modified_at=rfc3339(model.manifest.modified),
    )


def _param_value(value: Any) -> str:
    # Go's %#v: strings quoted, numbers plain.
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_parameters(params: dict[str, Any]) -> str:
    lines = []
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {_param_value(v)}")
    return "\n".join(lines)


def render_modelfile(
    model: Model, system: str | None = None, params: dict[str, Any] | None = None
) -> str:
    """`ollama show --modelfile`; `system` and `params` replace the model's own when given."""
    system = model.system if system is None else system
    params = model.params if params is None else params
    out = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {model.short_name}",
        "",
        f"FROM {model.model_path}",
    ]
    if model.projector is not None:
        out.append(f"FROM {model.projector}")
    out += [
        f'TEMPLATE """{model.template}"""',
    ]
    if system:
        out.append(f'SYSTEM """{system}"""')
    if model.renderer:
        out.append(f"RENDERER {model.renderer}")
    if model.parser:
        out.append(f"PARSER {model.parser}")
    for adapter in model.adapters:
        out.append(f"ADAPTER {adapter}")
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            out.append(f"PARAMETER {key} {_param_value(v) if isinstance(v, str) else v}")
    for msg in model.messages:
        out.append(f"MESSAGE {msg.get('role', '')} {msg.get('content', '')}")
    for text in model.license:
        out.append(f'LICENSE """{text}"""')
    return "\n".join(out) + "\n"
