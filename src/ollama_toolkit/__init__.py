"""ollama_toolkit: an Ollama-compatible local LLM server on llama.cpp, and its Python client.

`import ollama_toolkit` stays light: the client classes are imported on first use, so the server
(which reads `__version__`) and scripts that only need the version never pay for httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ollama_toolkit.version import __version__

if TYPE_CHECKING:
    from ollama_toolkit.client import (
        AsyncClient,
        Client,
        ResponseError,
        RetryPolicy,
        ServerNotReachableError,
    )

__all__ = [
    "AsyncClient",
    "Client",
    "ResponseError",
    "RetryPolicy",
    "ServerNotReachableError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ollama_toolkit import client

        return getattr(client, name)
    raise AttributeError(f"module 'ollama_toolkit' has no attribute {name!r}")
