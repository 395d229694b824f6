"""Wire types and error wording shared by the server and the client."""

from ollama_toolkit.api.errors import OllamaError
from ollama_toolkit.api.types import *  # noqa: F403
from ollama_toolkit.api.types import __all__ as _types_all

__all__ = ["OllamaError", *_types_all]
