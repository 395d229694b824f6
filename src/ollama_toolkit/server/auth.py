"""Optional API-key authentication, as one pure ASGI middleware.

Off unless OLLAMA_API_KEYS or OLLAMA_API_KEYS_FILE is set (Ollama itself has none). When on,
every request needs `Authorization: Bearer <key>` with one of the keys (or `x-api-key: <key>`,
where Anthropic's clients send it), except:

- `GET`/`HEAD` `/` and `/api/version`: what clients probe to learn whether a server runs (the
  toolkit's autostart, the official clients, Open WebUI), and they disclose nothing;
- `GET`/`HEAD` `/health`: load balancers probe it without credentials (llama.cpp's server
  exempts it too);
- `GET`/`HEAD` `/ui` and `/ui/…`: the web UI's static files (server/ui.py), which hold no data;
  the page asks for the key when the API answers 401 and sends it with its own requests;
- CORS preflights never reach this check: browsers send them without credentials, and the
  CORS middleware outside this one answers every cross-site `OPTIONS` itself.

A refusal is a 401 with `WWW-Authenticate: Bearer`: Ollama's `{"error": "unauthorized"}`, on
`/v1` OpenAI's error object (`invalid_api_key`; its SDK raises `AuthenticationError`), and on
`/v1/messages` Anthropic's (`authentication_error`; its SDK raises `AuthenticationError` too).

A presented key is compared as a SHA-256 digest, with `hmac.compare_digest`, against every key
without stopping at a match: the time taken tells neither which key matched nor how long any
is. Keys never reach a log: only their number does.

The keys file holds one key a line; blank lines and `#` comments (a bearer token has no `#`)
are skipped. It is read at start-up and again on SIGHUP (`reload_on_sighup`, from the app's
lifespan); a file that cannot be read then leaves the keys as they were. A keys file that
holds no key turns authentication on all the same: every protected route is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import signal
from collections.abc import Callable, Iterable
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from ollama_toolkit import config
from ollama_toolkit.api import anthropic as ant
from ollama_toolkit.api import openai as oai
from ollama_toolkit.server.errors import anthropic_error_type, is_anthropic

log = logging.getLogger(__name__)


OPEN_ROUTES = frozenset(
    (method, path) for method in ("GET", "HEAD") for path in ("/", "/api/version", "/health")
)
"""(method, path) pairs answered without a key."""


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def parse_keys_file(text: str) -> list[str]:
    """The keys in a keys file: one a line, `#` to the end of a line a comment."""
    keys = (line.partition("#")[0].strip() for line in text.splitlines())
    return [key for key in keys if key]


class ApiKeys:
    """The keys the server accepts: fixed ones (OLLAMA_API_KEYS) and a file's, re-readable."""

    def __init__(self, keys: Iterable[str] = (), file: Path | None = None) -> None:
        self._fixed = [key for key in keys if key]
        self._from_file: list[str] = []
        self._digests: tuple[bytes, ...] = ()
        self.file = file
        self.enabled = bool(self._fixed) or file is not None
        if file is not None:
            self._read_file(file)
        self._update()

    @classmethod
    def from_config(cls) -> ApiKeys:
        """OLLAMA_API_KEYS and OLLAMA_API_KEYS_FILE, read now."""
        return cls(config.api_keys(), config.api_keys_file())

    def __len__(self) -> int:
        return len(self._digests)

    def reload(self) -> None:
        """Read the keys file again; if it cannot be read, keep the keys read before."""
        if self.file is not None and self._read_file(self.file):
            self._update()

    def _read_file(self, file: Path) -> bool:
        try:
            self._from_file = parse_keys_file(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            log.warning(
                "cannot read the API keys file %s (%s): %d keys stay in use",
                file,
                (e.strerror or type(e).__name__) if isinstance(e, OSError) else "not UTF-8",
                len(self),
            )
            return False
        return True

    def _update(self) -> None:
        self._digests = tuple({_digest(key.encode()) for key in [*self._fixed, *self._from_file]})
        if not self.enabled:
            return
        source = f" (keys file {self.file})" if self.file is not None else ""
        if self._digests:
            log.info("API key authentication on: %d keys loaded%s", len(self), source)
        else:
            log.warning("API key authentication on, but no key loaded%s: all refused", source)

    def accepts(self, key: bytes) -> bool:
        """Whether `key` is one of the keys; in constant time for a given number of keys."""
        presented = _digest(key)
        found = False
        for known in self._digests:
            found |= hmac.compare_digest(presented, known)
        return found


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The token of an `Authorization: Bearer <token>` header (scheme in any case), or None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            return None
    return None


def api_key_header(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The key of an `x-api-key` header (Anthropic's clients send theirs there), or None."""
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip() or None
    return None


class ApiKeyAuth:
    """Refuses (401) requests without one of `keys`, unless the route is open to all."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys.enabled or _is_open(scope):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope["headers"])
        if token is None:
            token = api_key_header(scope["headers"])
        if token is not None and self.keys.accepts(token):
            await self.app(scope, receive, send)
            return
        log.debug(
            "refused %s %s: %s API key",
            scope["method"],
            scope["path"],
            "no" if token is None else "a wrong",
        )
        await _unauthorized(send, scope["path"], missing=token is None)


def _is_open(scope: Scope) -> bool:
    method: str = scope["method"]
    if (method, scope["path"]) in OPEN_ROUTES:
        return True
    return method in ("GET", "HEAD") and _is_ui(scope["path"])


def _is_ui(path: str) -> bool:
    """The web UI's page and static files (server/ui.py)."""
    return path == "/ui" or path.startswith("/ui/")


def _is_openai(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


async def _unauthorized(send: Send, path: str, *, missing: bool) -> None:
    if is_anthropic(path):
        message = "x-api-key header is required" if missing else "invalid x-api-key"
        kind = anthropic_error_type(401)
        body = ant.AnthropicErrorResponse(
            error=ant.ErrorObject(type=kind, message=message)
        ).to_json()
    elif _is_openai(path):
        message = (
            "You didn't provide an API key: send it in an Authorization header "
            "(Authorization: Bearer YOUR_KEY)."
            if missing
            else "Incorrect API key provided."
        )
        error = oai.Error(message=message, type="invalid_request_error", code="invalid_api_key")
        body = oai.ErrorResponse(error=error).to_json()
    else:
        body = json.dumps({"error": "unauthorized"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def reload_on_sighup(keys: ApiKeys) -> Callable[[], None]:
    """Re-read the keys file whenever the process gets SIGHUP (if there is a file, the platform
    has SIGHUP and this loop may handle signals); returns the function that stops it. Without a
    keys file SIGHUP keeps its default action."""
    sighup = getattr(signal, "SIGHUP", None)
    if sighup is None or keys.file is None:
        return lambda: None
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(sighup, keys.reload)
    except (NotImplementedError, RuntimeError, ValueError) as e:  # not the main thread, Windows
        log.warning("the API keys file will not be re-read on SIGHUP: %s", e)
        return lambda: None
    log.debug("re-reading %s on SIGHUP", keys.file)

    def stop() -> None:
        loop.remove_signal_handler(sighup)

    return stop
