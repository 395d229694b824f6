"""A stored model resolved from its manifest: the GGUF and the layers that shape its prompts."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.parsers.registry import parser_for_name
from ollama_toolkit.parsers.thinking import infer_tags
from ollama_toolkit.renderers import renderer_for_name
from ollama_toolkit.store import gguf_meta
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import (
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Manifest,
    Store,
)
from ollama_toolkit.template import Template, named_template, template_for_jinja
from ollama_toolkit.template import parse as parse_template
from ollama_toolkit.template.funcs import BUILTINS, OLLAMA_FUNCS
from ollama_toolkit.template.parser import parse_trees

# Ollama's default template when a model has none: the prompt itself.
DEFAULT_TEMPLATE = "{{ .Prompt }}"

_TEMPLATE_FUNCS = frozenset(BUILTINS) | frozenset(OLLAMA_FUNCS)


def check_renderer_parser(renderer: str | None, parser: str | None) -> None:
    """Refuse a renderer or parser name that is not built in (400, naming it), when a model is
    created or pulled rather than at its first request."""
    if renderer and renderer_for_name(renderer) is None:
        raise InvalidRequest(f'unknown renderer "{renderer}"')
    if parser and parser_for_name(parser) is None:
        raise InvalidRequest(f'unknown parser "{parser}"')


def jinja_capabilities(source: str) -> list[str]:
    """What a GGUF's Jinja chat template can do, by Ollama's plain text tests
    (server/images.go: chatTemplateHasToolSupport, chatTemplateHasThinkingSupport)."""
    caps = []
    if "tools" in source or "tool_call" in source:
        caps.append("tools")
    both_tags = "<think>" in source and "</think>" in source
    # Qwen's and DeepSeek's templates that drop earlier reasoning by splitting the assistant's
    # content at `</think>`: llama.cpp still finds the reasoning.
    splits = "content.split('</think>')" in source or 'content.split("</think>")' in source
    if both_tags or (splits and "reasoning_content" not in source and "<SPECIAL_12>" not in source):
        caps.append("thinking")
    return caps


@dataclass
class Model:
    name: ModelName
    manifest: Manifest
    model_path: Path
    template: str = DEFAULT_TEMPLATE
    system: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    adapters: list[Path] = field(default_factory=list)
    projector: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name.display()

    @property
    def renderer(self) -> str:
        """The built-in renderer that writes this model's prompts (`config.renderer`), or ""."""
        return str(self.config.get("renderer") or "")

    @property
    def parser(self) -> str:
        """The built-in parser that reads this model's output (`config.parser`), or ""."""
        return str(self.config.get("parser") or "")

    @functools.cached_property
    def parsed_template(self) -> Template:
        return parse_template(self.template)

    @functools.cached_property
    def metadata(self) -> dict[str, Any]:
        return gguf_meta.read_metadata(self.model_path)[0]

    @functools.cached_property
    def vocab_size(self) -> int:
        """The number of tokens of the model's vocabulary (a very large number if unknown)."""
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        return len(tokens) if isinstance(tokens, list) and tokens else 1 << 62

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def capabilities(self) -> list[str]:
        """What the model can do, derived from its GGUF and template as Ollama derives them."""
        return list(self._capabilities)

    @functools.cached_property
    def _capabilities(self) -> tuple[str, ...]:
        # In Ollama's order (server/images.go, capabilitiesForTemplate): the Jinja chat
        # template's, the GGUF's, the projector's, then the Go template's.
        # A built-in renderer replaces the templates, and their capabilities with it; a
        # built-in parser adds the tools and thinking it reads (Ollama's parserCapabilities).
        caps: list[str] = []
        if self.jinja_template is not None:
            caps += jinja_capabilities(self.jinja_template)
        kv = self.metadata
        caps.append("embedding" if f"{self.architecture}.pooling_type" in kv else "completion")
        # Images need a projector: llama.cpp reads no vision tower inside the model's own GGUF.
        if self.projector is not None:
            caps.append("vision")
        if not self.renderer:
            used = self.parsed_template.vars()
            if "tools" in used:
                caps.append("tools")
            if "suffix" in used:
                caps.append("insert")
            if all(self.thinking_tags):
                caps.append("thinking")
        builtin = parser_for_name(self.parser) if self.parser else None
        if builtin is not None:
            if builtin.has_tool_support:
                caps.append("tools")
            if builtin.has_thinking_support:
                caps.append("thinking")
        return tuple(dict.fromkeys(caps))

    @functools.cached_property
    def jinja_template(self) -> str | None:
        """The GGUF's Jinja chat template when it is what renders this model's prompts: the
        model has neither a template layer nor a built-in template matching it (its Go
        template is then Ollama's bare default)."""
        if self.renderer:
            return None
        if self.manifest.layer(MEDIA_TEMPLATE) is not None or self.template != DEFAULT_TEMPLATE:
            return None
        source = self.metadata.get("tokenizer.chat_template")
        return source if isinstance(source, str) and source.strip() else None

    @functools.cached_property
    def thinking_tags(self) -> tuple[str, str]:
        """The tags around thinking that the Go template writes back into earlier assistant
        turns (Ollama's `thinking.InferTags`); empty strings when it writes none back: a
        template that only reads `.Think` or `.Thinking` elsewhere does not make a thinking
        model."""
        root = parse_trees(self.template, _TEMPLATE_FUNCS)[""].root
        return infer_tags(root)

    def details(self) -> dict[str, Any]:
        family = self.config.get("model_family") or self.architecture
        families = self.config.get("model_families") or ([family] if family else None)
        return {
            "parent_model": "",
            "format": self.config.get("model_format", "gguf"),
            "family": family,
            "families": families,
            "parameter_size": self.config.get("model_type")
            or gguf_meta.parameter_size(gguf_meta.read_metadata(self.model_path)[1]),
            "quantization_level": self.config.get("file_type")
            or gguf_meta.quantization(self.model_path),
        }


class ModelCache:
    """Models read from a store, reused while their manifest file stays the same.

    A request would otherwise read the manifest, config, template, params and license files
    again, and derive the capabilities again: most of a short request's handler time. Manifests
    are replaced by rename, so a new inode, size or mtime means the model changed; blobs are
    content-addressed and never change under a name.
    """

    def __init__(self, store: Store):
        self.store = store
        self._models: dict[ModelName, tuple[tuple[int, int, int], Model]] = {}

    def get(self, name: ModelName) -> Model:
        """The model stored as `name`. Raises FileNotFoundError when it is not stored."""
        try:
            st = self.store.manifest_path(name).stat()
        except FileNotFoundError:
            self._models.pop(name, None)
            raise
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._models.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        model = load_model(self.store, name)
        self._models[name] = (key, model)
        return model


def load_model(store: Store, name: ModelName) -> Model:
    """Read a model's manifest and small layers. Raises FileNotFoundError when it is not stored."""
    manifest = store.read_manifest(name)
    model_layer = manifest.layer(MEDIA_MODEL)
    if model_layer is None:
        raise FileNotFoundError(f"model '{name.display()}' has no weights layer")
    model = Model(
        name=name,
        manifest=manifest,
        model_path=store.blob_path(model_layer.digest),
        config=store.read_config(manifest),
    )
    has_template = False
    for layer in manifest.layers:
        mt = layer.media_type
        if mt == MEDIA_TEMPLATE:
            model.template = store.read_blob_text(layer.digest)
            has_template = True
        elif mt == MEDIA_SYSTEM:
            model.system = store.read_blob_text(layer.digest)
        elif mt == MEDIA_PARAMS:
            model.params = json.loads(store.read_blob_text(layer.digest))
        elif mt == MEDIA_MESSAGES:
            model.messages = json.loads(store.read_blob_text(layer.digest))
        elif mt == MEDIA_LICENSE:
            model.license.append(store.read_blob_text(layer.digest))
        elif mt == MEDIA_ADAPTER:
            model.adapters.append(store.blob_path(layer.digest))
        elif mt == MEDIA_PROJECTOR:
            model.projector = store.blob_path(layer.digest)
    if not has_template:
        model.template = _template_from_gguf(model.model_path) or DEFAULT_TEMPLATE
    return model


def _template_from_gguf(path: Path) -> str | None:
    """Ollama's choice for a GGUF without a template layer: the built-in matching its Jinja."""
    chat_template = gguf_meta.read_metadata(path)[0].get("tokenizer.chat_template")
    if not isinstance(chat_template, str):
        return None
    name = template_for_jinja(chat_template)
    found = named_template(name) if name else None
    return found[0] if found else None
