"""The app under uvicorn: connection limits and timeouts, and the graceful shutdown.

`serve()` (app.py) runs a `GracefulServer` with

- `limit_concurrency` = OLLAMA_MAX_CONNECTIONS: a request that arrives while that many
  connections are open (or requests running) is answered 503 (uvicorn's, in plain text);
- `timeout_keep_alive` = OLLAMA_IDLE_TIMEOUT: a kept-alive connection idle that long between
  requests is closed;
- `HeadTimeoutProtocol`: a connection has OLLAMA_HEADER_TIMEOUT to send a request's head (from
  connecting, or from the first byte of its next request); uvicorn has no such timeout, so a
  client that connects and says nothing, or sends its headers a byte at a time (slowloris),
  would hold its connection, one of OLLAMA_MAX_CONNECTIONS, for ever. Bodies are timed by
  `limits.BodyLimits` (OLLAMA_BODY_TIMEOUT).

Shutdown, on SIGTERM (or SIGINT):

1. stop accepting connections; idle ones are closed, busy ones once their response ends;
2. wait up to OLLAMA_SHUTDOWN_GRACE for the requests running to finish;
3. `Drain.stop()` (responses.py): streams still open end with a last line
   `{"error": "server shutting down"}` (an error event on /v1), requests still waiting for their
   first output get 503; a few seconds for those last lines to go out;
4. cancel whatever still runs (an upload in the middle of its body: its temporary file is
   removed), quietly (`QuietCancel`);
5. end the app's lifespan: the scheduler unloads the models.

The process then exits with status 0. A second SIGTERM or SIGINT skips the waits.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ollama_toolkit import config
from ollama_toolkit.api.errors import server_shutting_down
from ollama_toolkit.server.limits import ASGIApp, Message, Receive, Scope, Send, send_error
from ollama_toolkit.server.responses import Drain

log = logging.getLogger(__name__)

__all__ = ["STARTUP_FAILURE", "GracefulServer", "HeadTimeoutProtocol", "QuietCancel", "make_server"]

FINAL_LINES_S = 5.0
"""After `Drain.stop()`, how long the streams get to write their last line."""
_FORCED_FINAL_LINES_S = 0.5
_POLL_S = 0.1


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection that does not send a request's head
    within `head_timeout_s`: from connecting, or from the first byte of its next request (the
    wait between requests is `timeout_keep_alive`'s)."""

    head_timeout_s = 30.0
    _head_timer: asyncio.TimerHandle | None = None

    @classmethod
    def with_timeout(cls, seconds: float) -> type[HeadTimeoutProtocol]:
        return type(cls.__name__, (cls,), {"head_timeout_s": seconds})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._expect_head()

    def on_headers_complete(self) -> None:
        self._head_received()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

    def _expect_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _head_received(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            log.debug("closing a connection: no request head in %gs", self.head_timeout_s)
            self.transport.close()


class GracefulServer(uvicorn.Server):
    """uvicorn's server with the shutdown above (its own cancels running requests abruptly
    once `timeout_graceful_shutdown` is over, and ends the process by the signal it got)."""

    def __init__(self, config: uvicorn.Config, *, grace_s: float, drain: Drain) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn's own also notes the signal, to raise it again once stopped: the process
        # would then end by SIGTERM rather than with status 0. A second signal ends at once.
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        log.info(
            "shutting down: %d request(s) running, %gs to finish",
            len(self.server_state.tasks),
            self.grace_s,
        )
        if not await self._requests_done(self.grace_s):
            log.info("ending the %d request(s) still running", len(self.server_state.tasks))
        self.drain.stop()
        if self.force_exit:  # a moment for the streams' last lines
            await self._requests_done(_FORCED_FINAL_LINES_S, until_forced=False)
        else:  # or until a second signal
            await self._requests_done(FINAL_LINES_S)
        left = list(self.server_state.tasks)
        if left:
            log.warning("cancelling %d request(s) that did not end", len(left))
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=_FORCED_FINAL_LINES_S)
        await self.lifespan.shutdown()

    async def _requests_done(self, timeout_s: float, until_forced: bool = True) -> bool:
        """Wait up to `timeout_s` for the running requests to end; whether they all did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.server_state.tasks:
            if (until_forced and self.force_exit) or loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True


class QuietCancel:
    """The outermost app: a request cancelled because the server stops (`drain` stopped) is
    logged in one line and, when nothing was sent yet, answered 503, rather than ending in a
    `CancelledError` traceback from uvicorn."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except asyncio.CancelledError:
            if not self.drain.stopping:
                raise
            log.warning("%s %s cancelled: the server is stopping", scope["method"], scope["path"])
            if not started:
                message = server_shutting_down().message
                await send_error(send, scope["path"], 503, message, close=True)


def make_server(
    app: ASGIApp, drain: Drain, *, host: str, port: int, log_level: str
) -> GracefulServer:
    """The server for `app`, with the limits and timeouts of the configuration."""
    uvicorn_config = uvicorn.Config(
        QuietCancel(app, drain),
        host=host,
        port=port,
        log_level=log_level,
        http=HeadTimeoutProtocol.with_timeout(config.header_timeout()),
        timeout_keep_alive=config.idle_timeout(),  # type: ignore[arg-type]  # a float works
        limit_concurrency=config.max_connections(),
    )
    return GracefulServer(uvicorn_config, grace_s=config.shutdown_grace(), drain=drain)
