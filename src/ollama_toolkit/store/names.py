"""Ollama model names: `[host/][namespace/]model[:tag]`, with Ollama's defaults and validity rules.

A valid name can never escape the store directory: every part is checked character by character
(no `/`, no `..` as a whole part, nothing but letters, digits, `_`, `-`, `.`, and `:` in a host).
Nothing is trimmed, as in Ollama: `"victim\n"` is an invalid name, never `victim`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_MISSING = ""


class InvalidNameError(ValueError):
    pass


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> ModelName:
        """Parse and fill Ollama's defaults; raise InvalidNameError when a part is invalid."""
        s = text
        tag = host = namespace = None
        if s.rfind(":") > s.rfind("/"):
            s, _, tag = s.rpartition(":")
        head, sep, model = s.rpartition("/")
        if sep:
            head2, sep2, namespace = head.rpartition("/")
            if sep2:
                host = head2.split("://", 1)[-1]
        else:
            model = s
        name = cls(
            host=DEFAULT_HOST if host is None else host,
            namespace=DEFAULT_NAMESPACE if namespace is None else namespace,
            model=model,
            tag=DEFAULT_TAG if tag is None else tag,
        )
        if not name.is_valid():
            raise InvalidNameError(f"invalid model name: {text!r}")
        return name

    def is_valid(self) -> bool:
        return (
            _valid_part(self.host, "host")
            and _valid_part(self.namespace, "namespace")
            and _valid_part(self.model, "model")
            and _valid_part(self.tag, "tag")
        )

    @property
    def parts(self) -> tuple[str, str, str, str]:
        return (self.host, self.namespace, self.model, self.tag)

    def display(self) -> str:
        """Ollama's DisplayShortest: `model:tag`, with namespace/host only when not the default."""
        prefix = ""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"

    def __str__(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    def casefold_key(self) -> tuple[str, ...]:
        return tuple(p.lower() for p in self.parts)


# Ollama's limits (types/model/name.go): 350 characters for a host, 80 for the other parts.
# Each part is also a directory or file name under manifests/, which no common file system allows
# beyond 255 bytes (NAME_MAX): a longer host would fail there, so it is an invalid name here.
_MAX_PART = {"host": 255}
_MAX_OTHER_PART = 80


def _valid_part(s: str, kind: str) -> bool:
    limit = _MAX_PART.get(kind, _MAX_OTHER_PART)
    if not 1 <= len(s) <= limit or s in (".", ".."):
        return False
    if not (s[0].isascii() and (s[0].isalnum() or s[0] == "_")):
        return False
    for c in s[1:]:
        if c in "_-":
            continue
        if c == ".":
            if kind == "namespace":
                return False
            continue
        if c == ":":
            if kind != "host":
                return False
            continue
        if not (c.isascii() and (c.isalnum() or c == "_")):
            return False
    return True
