"""The benchmark's HTTP/1.1 client: as little CPU per streamed chunk as a client can take.

The client shares the 2 cores with the server it measures. httpx took 0.6 ms of CPU per
streamed chunk on this machine (measured from /proc schedstat), about 2.5% of a generated
token's time, and that time came out of the server's decode threads. This client only reads
bytes as they arrive, notes when the first body bytes came, and leaves the parsing to the caller
once the reply is complete. Blocking sockets: a recv() per chunk is cheaper than an event loop's
wake-up, and concurrent clients are threads that spend their time blocked in recv().
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_READ_SIZE = 1 << 16
_TIMEOUT_S = 900.0  # a stalled server fails the step instead of hanging the run
# The last chunk of a chunked body. A data chunk cannot end like this: NDJSON lines end with
# "}\n" and SSE events with "\n\n", so these bytes at the end always close the body.
_CHUNKED_END = b"\r\n0\r\n\r\n"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes  # de-chunked
    first_body: float  # perf_counter() when the first body bytes arrived
    done: float  # perf_counter() when the body was complete

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[bytes]:
        return [line for line in self.body.split(b"\n") if line.strip()]


class Connection:
    """One HTTP/1.1 connection to a server; kept open between requests when `keep_alive`."""

    def __init__(self, base_url: str, keep_alive: bool = True) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.keep_alive = keep_alive
        self._sock: socket.socket | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def get(self, path: str) -> Reply:
        return self._request("GET", path, b"")

    def post(self, path: str, payload: dict[str, Any]) -> Reply:
        return self._request("POST", path, json.dumps(payload).encode())

    def _request(self, method: str, path: str, body: bytes) -> Reply:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), _TIMEOUT_S)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self._sock
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if self.keep_alive else 'close'}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        try:
            reply, closes = _read_reply(sock)
        except BaseException:
            self.close()
            raise
        if closes or not self.keep_alive:
            self.close()
        return reply


def _read_reply(sock: socket.socket) -> tuple[Reply, bool]:
    """Read one response; also whether the server will close the connection after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(_READ_SIZE)
        if not more:
            raise ConnectionError("the server closed the connection before answering")
        data += more
    head, _, raw = data.partition(b"\r\n\r\n")
    first = time.perf_counter() if raw else None  # when the first body bytes came
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    length = int(headers["content-length"]) if "content-length" in headers else None
    while not _complete(raw, chunked, length):
        more = sock.recv(_READ_SIZE)
        if not more:
            if chunked or length is not None:
                raise ConnectionError("the server closed the connection mid-reply")
            break
        if first is None:
            first = time.perf_counter()
        raw += more
    done = time.perf_counter()
    body = _dechunk(raw) if chunked else raw
    closes = headers.get("connection", "").lower() == "close" or (not chunked and length is None)
    return Reply(status, body, done if first is None else first, done), closes


def _complete(raw: bytes, chunked: bool, length: int | None) -> bool:
    if chunked:
        return raw == b"0\r\n\r\n" or raw.endswith(_CHUNKED_END)
    if length is not None:
        return len(raw) >= length
    return False  # read to the end of the connection


def _dechunk(raw: bytes) -> bytes:
    parts = []
    at = 0
    while True:
        eol = raw.index(b"\r\n", at)
        size = int(raw[at:eol].split(b";")[0], 16)
        if size == 0:
            return b"".join(parts)
        parts.append(raw[eol + 2 : eol + 2 + size])
        at = eol + 2 + size + 2
