"""`Client` and `AsyncClient`: the official `ollama` client's API, plus retries and model fallback.

Switching from `ollama` is one line: `from ollama_toolkit import Client`.
"""

from ollama_toolkit.client.aio import AsyncClient
from ollama_toolkit.client.errors import ResponseError, ServerNotReachableError
from ollama_toolkit.client.retry import RetryPolicy
from ollama_toolkit.client.sync import Client

__all__ = ["AsyncClient", "Client", "ResponseError", "RetryPolicy", "ServerNotReachableError"]
