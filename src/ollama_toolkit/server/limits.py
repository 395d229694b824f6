"""Request bodies: how large a JSON route's may be, and how slowly any may arrive.

`BodyLimits` is a pure ASGI middleware, under the routes' own reading (`request.body()`):

- A JSON route's body holds at most OLLAMA_MAX_BODY_BYTES. A larger `Content-Length` is refused
  before a byte is read; a body sent without one (chunked) is counted as it arrives, and refused
  as soon as it passes the limit, so no route ever holds more of it in memory. Blob uploads
  (`/api/blobs/…`) are model files of gigabytes, streamed to disk: they have no size limit.
- Every body, blobs included, must keep coming: a wait of more than OLLAMA_BODY_TIMEOUT for its
  next piece (a client that stalls mid-body, by accident or to hold a connection) is refused.

A refusal is 413 or 408 with `{"error": …}` (OpenAI's error object on `/v1`, Anthropic's on
`/v1/messages`: `request_too_large` for a 413, and for a 408, a 4XX Anthropic names no type for,
`invalid_request_error` as its documentation says), sent in place of the route's answer; the
route stops where it was reading (an upload's temporary file is removed, as for any failed
upload). After a 413 the connection stays usable: the server reads and drops the rest of the
body. A request head sent too slowly is the HTTP protocol's business, below the ASGI app: see
`serving.HeadTimeoutProtocol`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api import openai as oai
from ollama_toolkit.server.errors import anthropic_error_type, is_anthropic
from ollama_toolkit.translate.anthropic import new_id

UNLIMITED_PREFIXES = ("/api/blobs/",)
"""Paths whose bodies have no size limit: blob uploads, streamed to disk."""


def too_large(limit: int) -> str:
    return f"request body too large (limit {limit} bytes)"


def too_slow(timeout_s: float) -> str:
    return f"request body not received in time (waited {timeout_s:g}s for more)"


class _Refused(Exception):
    """Raised out of `receive` into the route; BodyLimits answers in its place."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyLimits:
    """Refuses bodies over `max_bytes` (413; not on `unlimited` paths) and bodies whose next
    piece takes longer than `read_timeout_s` to come (408)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        read_timeout_s: float,
        unlimited: tuple[str, ...] = UNLIMITED_PREFIXES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s
        self.unlimited = unlimited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = None if path.startswith(self.unlimited) else self.max_bytes
        if limit is not None:
            declared = _content_length(scope["headers"])
            if declared is not None and declared > limit:
                await send_error(send, path, 413, too_large(limit))
                return
        timeout_s = self.read_timeout_s
        received = 0
        complete = False
        started = False

        async def receive_within_limits() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is a disconnect, waited for freely
                return await receive()
            try:
                message = await _within(timeout_s, receive())
            except asyncio.TimeoutError:
                raise _Refused(408, too_slow(timeout_s)) from None
            if message["type"] != "http.request":
                complete = True
                return message
            received += len(message.get("body", b""))
            if limit is not None and received > limit:
                raise _Refused(413, too_large(limit))
            complete = not message.get("more_body", False)
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limits, send_noting_start)
        except _Refused as e:
            if started:  # cannot happen with routes that read their body first
                raise
            # A 408's body may never come: the connection is closed rather than waited on.
            await send_error(send, path, e.status, e.message, close=e.status == 408)


if sys.version_info >= (3, 11):

    async def _within(seconds: float, message: Awaitable[Message]) -> Message:
        # A timer, no task: this runs once for each piece of an upload of gigabytes.
        async with asyncio.timeout(seconds):
            return await message

else:

    async def _within(seconds: float, message: Awaitable[Message]) -> Message:
        return await asyncio.wait_for(message, seconds)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses it before the app sees it
    return None


async def send_error(
    send: Send, path: str, status: int, message: str, *, close: bool = False
) -> None:
    """A whole error answer, from below the routes: Ollama's shape, OpenAI's on /v1,
    Anthropic's on /v1/messages."""
    if is_anthropic(path):
        body = anthropic_refusal(status, message)
    elif path == "/v1" or path.startswith("/v1/"):
        error = oai.Error(message=message, type="invalid_request_error")
        body = oai.ErrorResponse(error=error).to_json()
    else:
        body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Anthropic's types for the refusals made below the domain errors: its documented one for 413,
# and `invalid_request_error` for any other 4XX it names none for (its documentation says so).
_ANTHROPIC_REFUSALS = {413: "request_too_large"}


def anthropic_refusal(status: int, message: str) -> bytes:
    """Anthropic's error answer (with a `req_…` id) for a refusal of the server's own: a body
    too large or too slow here, an unknown path or method (server/app.py)."""
    kind = _ANTHROPIC_REFUSALS.get(status) or anthropic_error_type(status)
    if kind == "api_error" and status < 500:
        kind = "invalid_request_error"
    error = ant.ErrorObject(type=kind, message=message)
    return ant.AnthropicErrorResponse(error=error, request_id=new_id("req")).to_json()
