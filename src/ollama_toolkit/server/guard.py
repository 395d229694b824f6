"""Ollama's two request guards, as one pure ASGI middleware in front of everything else.

- DNS rebinding (Ollama's `allowedHostsMiddleware`): when the server is bound to a loopback
  address, a request whose `Host` is not a local name is refused with 403. A web page on
  `evil.example`, whose name an attacker re-points at 127.0.0.1, then reaches nothing: its
  requests carry `Host: evil.example`.
- Cross-site requests (Ollama's CORS layer, gin-contrib/cors): a request with an `Origin` that
  is not an allowed origin (OLLAMA_ORIGINS and the local defaults) is refused with 403, whatever
  its method or content type: a "simple" `text/plain` POST, which a browser sends without a
  preflight, must not reach a route either. Requests without `Origin` (every non-browser
  client) pass; so does a request whose `Origin` is the server's own (`http://` + `Host`).

Preflight requests from allowed origins pass on to the CORS middleware, which answers them.
Refusals have an empty body, as Ollama's `AbortWithStatus(403)`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


# Ollama's allowedHost: names under these top-level domains are local.
_LOCAL_TLDS = (".localhost", ".local", ".internal")

# Go's netip.Addr.IsPrivate (RFC 1918 and RFC 4193); Python's is_private is much broader.
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


class LocalGuard:
    """Refuses (403) foreign `Host` headers on a loopback-bound server and foreign origins."""

    def __init__(self, app: ASGIApp, *, bind_host: str, origins: list[str]) -> None:
        self.app = app
        self.check_host = is_loopback_bind(bind_host)
        self._origins = _origins_pattern(origins)
        self._hostname = _hostname()
        self._local_ips: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1")
        if self.check_host and host is not None and not self.allowed_host(host):
            log.debug("refused a request for host %r", host)
            await _forbidden(send)
            return
        # An empty `Origin` is none, as gin-contrib/cors reads it (Go's Header.Get).
        if origin and not self.allowed_origin(origin, host):
            log.debug("refused a request from origin %r", origin)
            await _forbidden(send)
            return
        await self.app(scope, receive, send)

    def allowed_host(self, header: str) -> bool:
        """Ollama's rule for the `Host` header of a request to a loopback-bound server."""
        host = _strip_port(header.strip()).lower()
        ip = _parse_ip(host)
        if ip is not None:
            if ip.is_loopback or ip.is_unspecified or any(ip in n for n in _PRIVATE_NETS):
                return True
            if ip in self._local_addresses():
                return True
        if host in ("", "localhost") or (self._hostname and host == self._hostname):
            return True
        return host.endswith(_LOCAL_TLDS)

    def allowed_origin(self, origin: str, host: str | None) -> bool:
        """gin-contrib/cors as Ollama configures it: the server's own origin, or one of the
        allowed origins (a `*` in one matches anything)."""
        if host is not None and origin in (f"http://{host}", f"https://{host}"):
            return True
        return self._origins.fullmatch(origin.strip()) is not None

    def _local_addresses(self) -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The machine's own addresses (Ollama asks its network interfaces); looked up once,
        and only for a `Host` that is a public IP address."""
        if self._local_ips is None:
            found = set()
            try:
                for info in socket.getaddrinfo(socket.gethostname(), None):
                    ip = _parse_ip(str(info[4][0]))
                    if ip is not None:
                        found.add(ip)
            except OSError:
                pass
            self._local_ips = frozenset(found)
        return self._local_ips


def is_loopback_bind(host: str) -> bool:
    """Whether the server listens on a loopback address only (Ollama checks its listener's
    address; 0.0.0.0 and public addresses are not loopback: those servers are meant to be
    reached by other names)."""
    bare = host.strip().strip("[]")
    ip = _parse_ip(bare)
    if ip is not None:
        return ip.is_loopback
    name = bare.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        infos = socket.getaddrinfo(bare, None)
    except OSError:
        return False
    ips = [_parse_ip(str(info[4][0])) for info in infos]
    return bool(ips) and all(ip is not None and ip.is_loopback for ip in ips)


def _strip_port(host: str) -> str:
    """Go's net.SplitHostPort, forgiving: `[::1]:80` and `[::1]` are `::1`, `a:80` is `a`."""
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1, as Go's netip unmaps it
    return ip


def _hostname() -> str:
    try:
        return socket.gethostname().lower()
    except OSError:
        return ""


def _origins_pattern(origins: list[str]) -> re.Pattern[str]:
    """One pattern for all allowed origins: each matched whole and case-insensitively, a `*`
    matching anything (gin-contrib/cors with AllowWildcard)."""
    parts = [re.escape(o.strip()).replace(r"\*", ".*") for o in origins if o.strip()]
    if not parts:
        return re.compile(r"(?!)")
    return re.compile("(?:" + "|".join(parts) + ")", re.IGNORECASE | re.DOTALL)


async def _forbidden(send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 403, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})
