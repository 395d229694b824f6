"""`AsyncClient`: the asyncio client. Its methods are `BaseClient`'s, awaited; this module does
the I/O, line for line the async twin of `sync.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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


class AsyncClient(BaseClient[httpx.AsyncClient]):
    __doc__ = BaseClient.__doc__
    _http_class = httpx.AsyncClient

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def create_blob(self, path: str | Path) -> str:
        """Upload a file as a blob unless the server has it; return its digest for `create`."""
        digest = await asyncio.to_thread(file_digest, path)
        url = f"/api/blobs/{digest}"

        async def content() -> AsyncIterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        try:
            await self._read(await self._open("HEAD", url))
        except ResponseError:
            await self._read(await self._open("POST", url, content=content))
        return digest

    async def _send(self, call: Call) -> Any:
        if call.stream:
            return self._stream(call)
        for candidate, last in self._candidates(call):
            try:
                response = await self._open(candidate.method, candidate.path, candidate.body)
                await self._read(response)
            except ResponseError as e:
                if last or not falls_back(e):
                    raise
            else:
                return self._result(candidate, response)

    async def _stream(self, call: Call) -> AsyncIterator[WireModel]:
        for candidate, last in self._candidates(call):
            try:
                response = await self._open(candidate.method, candidate.path, candidate.body)
            except ResponseError as e:
                if last or not falls_back(e):
                    raise
                continue
            try:
                async for line in response.aiter_lines():
                    chunk = decode_line(line, call.result)
                    if chunk is not None:
                        yield chunk
            finally:
                await response.aclose()
            return

    async def _open(
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
                response = await self._http.send(request, stream=True)
            except CONNECT_ERRORS:
                delay = self._retry_delay(attempt, None)
                if delay is None:
                    raise ServerNotReachableError(self.base_url) from None
            else:
                if not response.is_error:
                    return response
                await self._read(response)
                delay = self._retry_delay(attempt, response)
                if delay is None:
                    raise ResponseError.from_body(response.text, response.status_code)
            await asyncio.sleep(delay)
            attempt += 1

    @staticmethod
    async def _read(response: httpx.Response) -> httpx.Response:
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response
