"""Every environment variable the toolkit reads, with its default, in one place.

Each setting is read when asked for (not at import), so tests and embedding apps can change the
environment before starting a server.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_PORT = 11434
DEFAULT_KEEP_ALIVE_S = 5 * 60.0
DEFAULT_CONTEXT_LENGTH = 4096
DEFAULT_NUM_PARALLEL = 4
DEFAULT_MAX_LOADED_MODELS = 3
DEFAULT_MAX_QUEUE = 512


def _var(name: str) -> str:
    """An environment variable with surrounding whitespace and quotes removed, as Ollama does."""
    return os.environ.get(name, "").strip().strip("\"'")


@dataclass(frozen=True)
class HostURL:
    scheme: str
    host: str
    port: int
    path: str = ""

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = f"/{self.path}" if self.path else ""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def connectable(self) -> HostURL:
        """Unspecified bind addresses (0.0.0.0, ::) replaced by loopback, for clients."""
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return self
        if ip.is_unspecified:
            return HostURL(
                self.scheme, "127.0.0.1" if ip.version == 4 else "::1", self.port, self.path
            )
        return self


def parse_host(value: str | None) -> HostURL:
    """Parse an OLLAMA_HOST-style value: `[scheme://]host[:port][/path]`, with Ollama's defaults."""
    s = (value or "").strip()
    default_port = DEFAULT_PORT
    scheme, sep, hostport = s.partition("://")
    if not sep:
        scheme, hostport = "http", s
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport, _, path = hostport.partition("/")
    host, port_text = _split_host_port(hostport)
    if host is None:
        host, port_text = "127.0.0.1", str(default_port)
        bare = hostport.strip("[]")
        if bare:
            host = bare
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        log.warning("invalid port %r, using default %d", port_text, default_port)
        port = default_port
    return HostURL(scheme, host or "127.0.0.1", port, path)


def _split_host_port(hostport: str) -> tuple[str | None, str]:
    m = re.fullmatch(r"\[([^\]]*)\]:(\w*)", hostport) or re.fullmatch(r"([^:]*):(\w*)", hostport)
    if not m:
        return None, ""
    return m.group(1), m.group(2)


def host() -> HostURL:
    """OLLAMA_HOST: where the server binds and the client connects (default 127.0.0.1:11434)."""
    return parse_host(_var("OLLAMA_HOST"))


def models_dir() -> Path:
    """OLLAMA_MODELS: the model store (default ~/.ollama/models), shared with Ollama itself."""
    s = _var("OLLAMA_MODELS")
    return Path(s).expanduser() if s else Path.home() / ".ollama" / "models"


_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as `5m`, `1h30m`, `-1s`, `0`. Raises ValueError."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def keep_alive_seconds() -> float:
    """OLLAMA_KEEP_ALIVE: default keep-alive in seconds; negative (infinite) becomes `inf`."""
    s = _var("OLLAMA_KEEP_ALIVE")
    value = DEFAULT_KEEP_ALIVE_S
    if s:
        try:
            value = parse_go_duration(s)
        except ValueError:
            try:
                value = float(int(s))
            except ValueError:
                log.warning("invalid OLLAMA_KEEP_ALIVE %r, using the default", s)
    return float("inf") if value < 0 else value


def _int_var(name: str, default: int) -> int:
    s = _var(name)
    if not s:
        return default
    try:
        return int(s)
    except ValueError:
        log.warning("invalid %s %r, using default %d", name, s, default)
        return default


def context_length() -> int:
    """OLLAMA_CONTEXT_LENGTH: the default num_ctx of a loaded model."""
    return _int_var("OLLAMA_CONTEXT_LENGTH", DEFAULT_CONTEXT_LENGTH)


def num_parallel() -> int:
    """OLLAMA_NUM_PARALLEL: slots (sequences decoded together) per loaded model."""
    return max(1, _int_var("OLLAMA_NUM_PARALLEL", DEFAULT_NUM_PARALLEL))


def max_loaded_models() -> int:
    """OLLAMA_MAX_LOADED_MODELS: models kept loaded at once before the idlest is evicted."""
    return max(1, _int_var("OLLAMA_MAX_LOADED_MODELS", DEFAULT_MAX_LOADED_MODELS))


def max_queue() -> int:
    """OLLAMA_MAX_QUEUE: requests waiting for a model before new ones get 503."""
    return max(1, _int_var("OLLAMA_MAX_QUEUE", DEFAULT_MAX_QUEUE))


def num_threads() -> int:
    """OLLAMA_NUM_THREAD: llama.cpp threads when a request sets no num_thread (0: all cores)."""
    return _int_var("OLLAMA_NUM_THREAD", 0) or (os.cpu_count() or 1)


def origins() -> list[str]:
    """OLLAMA_ORIGINS: extra CORS origins, comma-separated, on top of Ollama's local defaults."""
    extra = [o.strip() for o in _var("OLLAMA_ORIGINS").split(",") if o.strip()]
    local = []
    for origin in ("localhost", "127.0.0.1", "0.0.0.0"):
        local += [
            f"http://{origin}",
            f"https://{origin}",
            f"http://{origin}:*",
            f"https://{origin}:*",
        ]
    return (
        extra
        + local
        + ["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]
    )


def debug() -> bool:
    """OLLAMA_DEBUG: verbose logging."""
    return _var("OLLAMA_DEBUG").lower() in {"1", "true", "yes", "on", "2"}


def no_bundled_model() -> bool:
    """OLLAMA_TOOLKIT_NO_BUNDLED_MODEL: do not register the bundled model in the store."""
    return _var("OLLAMA_TOOLKIT_NO_BUNDLED_MODEL").lower() in {"1", "true", "yes", "on"}


DEFAULT_PULL_PART_SIZE = 100 * 1000 * 1000


def pull_part_size() -> int:
    """OLLAMA_TOOLKIT_PULL_PART_SIZE: the smallest part (bytes) of a blob that a pull downloads
    over its own connection (default 100 MB, as Ollama); a large blob is fetched in up to 16."""
    return max(1, _int_var("OLLAMA_TOOLKIT_PULL_PART_SIZE", DEFAULT_PULL_PART_SIZE))


# llama.cpp's CPU backend synchronises its threads with OpenMP barriers. libgomp lets a waiting
# thread spin 300,000 rounds before it sleeps: about 3 ms here, so after every llama_decode one
# core stays busy for nothing while the event loop waits for a core to send the token.
# Measured through the server on 2 cores: 30,000 (~0.3 ms) cut HTTP+scheduling on time to first
# token from 4.6 to 3.9 ms p50 with generation unchanged; 10,000 cost 1-2% of streamed
# generation (a thread preempted by the event loop mid-decode leaves its partner asleep at the
# barrier), and 100 cut it from 44 to 27 tokens/s.
OPENMP_SPIN_COUNT = "30000"


def set_openmp_defaults() -> None:
    """GOMP_SPINCOUNT, unless the user set it; libgomp reads it once, when llama.cpp loads."""
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)
