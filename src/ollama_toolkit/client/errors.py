"""The two ways a request fails: the server answered with an error, or no server answered."""

from __future__ import annotations

import json

STREAM_ERROR_STATUS = 500
"""Status given to an error that arrives as a line inside a stream (the HTTP status was 200)."""


class ResponseError(Exception):
    """The server answered with an error: `.error` is its message, `.status_code` its status.

    Same shape as the official `ollama.ResponseError`, so code catching one reads the other.
    """

    def __init__(self, error: str, status_code: int = -1):
        super().__init__(error)
        self.error = error
        self.status_code = status_code

    @classmethod
    def from_body(cls, body: str, status_code: int) -> ResponseError:
        """From a response body: `{"error": "..."}` when the server sent JSON, else the text."""
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            parsed = None
        message = parsed.get("error") if isinstance(parsed, dict) else None
        return cls(str(message) if message else body.strip(), status_code)

    def __str__(self) -> str:
        return f"{self.error} (status code: {self.status_code})"


class ServerNotReachableError(ConnectionError):
    """Nothing answered at the host: the server is not running there, or the host is wrong."""

    def __init__(self, url: str):
        super().__init__(
            f"could not connect to the server at {url}: is it running? "
            "Start it with `ollama-toolkit serve` (set OLLAMA_HOST to use another address)"
        )
        self.url = url
