"""`Client`: the blocking client. Its methods are `BaseClient`'s; this module does the I/O."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ollama_toolkit.api.types import WireModel
from ollama_toolkit.client.base import (
    CONNECT_ERRORS,
    BaseClient,
    Call,
    ContentFactory,
    decode_line,
    falls_back,
    file_digest,
)
from ollama_toolkit.client.errors import ResponseError, ServerNotReachableError


class Client(BaseClient[httpx.Client]):
    __doc__ = BaseClient.__doc__
    _http_class = httpx.Client

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_blob(self, path: str | Path) -> str:
        """Upload a file as a blob unless the server has it; return its digest for `create`."""
        digest = file_digest(path)
        url = f"/api/blobs/{digest}"

        def content() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        try:
            self._read(self._open("HEAD", url))
        except ResponseError:
            self._read(self._open("POST", url, content=content))
        return digest

    def _send(self, call: Call) -> Any:
        if call.stream:
            return self._stream(call)
        for candidate, last in self._candidates(call):
            try:
                response = self._read(self._open(candidate.method, candidate.path, candidate.body))
            except ResponseError as e:
                if last or not falls_back(e):
                    raise
            else:
                return self._result(candidate, response)

    def _stream(self, call: Call) -> Iterator[WireModel]:
        for candidate, last in self._candidates(call):
            try:
                response = self._open(candidate.method, candidate.path, candidate.body)
            except ResponseError as e:
                if last or not falls_back(e):
                    raise
                continue
            try:
                for line in response.iter_lines():
                    chunk = decode_line(line, call.result)
                    if chunk is not None:
                        yield chunk
            finally:
                response.close()
            return

    def _open(
        self, method: str, path: str, body: Any = None, content: ContentFactory | None = None
    ) -> httpx.Response:
        """Send a request and return the open response once its status is good, retrying
        connection failures and 503 with backoff. Errors raise; a good body is not read yet."""
        attempt = 0
        while True:
            request = self._http.build_request(
                method, path, json=body, content=content() if content else None
            )
            try:
                response = self._http.send(request, stream=True)
            except CONNECT_ERRORS:
                delay = self._retry_delay(attempt, None)
                if delay is None:
                    raise ServerNotReachableError(self.base_url) from None
            else:
                if not response.is_error:
                    return response
                self._read(response)
                delay = self._retry_delay(attempt, response)
                if delay is None:
                    raise ResponseError.from_body(response.text, response.status_code)
            time.sleep(delay)
            attempt += 1

    @staticmethod
    def _read(response: httpx.Response) -> httpx.Response:
        try:
            response.read()
        finally:
            response.close()
        return response
