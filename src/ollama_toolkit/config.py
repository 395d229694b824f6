"""Every environment variable the toolkit reads, with its default, in one place.

Each setting is read when asked for (not at import), so tests and embedding apps can change the
environment before starting a server.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

DEFAULT_PORT = 11434
DEFAULT_KEEP_ALIVE_S = 5 * 60.0
DEFAULT_CONTEXT_LENGTH = 4096
DEFAULT_NUM_PARALLEL = 4
DEFAULT_MAX_LOADED_MODELS = 3
DEFAULT_MAX_QUEUE = 512
DEFAULT_PULL_PART_SIZE = 100 * 1000 * 1000
MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 64 * MIB
DEFAULT_MAX_IMAGE_BYTES = 20 * MIB
DEFAULT_MAX_TOTAL_IMAGE_BYTES = 50 * MIB
# A 32-megapixel photo decodes to 96 MB of RGB; vision encoders resize to under a megapixel.
DEFAULT_MAX_IMAGE_PIXELS = 32_000_000
DEFAULT_MAX_STOP_SEQUENCES = 16
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_REQUEST_LOG_MAX_BYTES = 100 * 1000 * 1000
OPENMP_SPIN_COUNT = "30000"
"""GOMP_SPINCOUNT unless the user sets it: see the comment on the GOMP_SPINCOUNT setting."""


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


def _keep_alive(text: str) -> float:
    """A Go duration (`5m`, `1h30m`) or whole seconds (`300`); negative means forever (`inf`)."""
    try:
        value = parse_go_duration(text)
    except ValueError:
        value = float(int(text))
    return float("inf") if value < 0 else value


def _show_seconds(seconds: float) -> str:
    return "forever" if seconds == float("inf") else f"{seconds:g}s"


def _seconds(text: str) -> float:
    """A Go duration (`30s`, `1m`, `500ms`) or seconds (`30`, `0.5`): zero or more, finite."""
    try:
        value = parse_go_duration(text)
    except ValueError:
        value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(f"{text} is not a duration of zero or more")
    return value


def _positive_seconds(text: str) -> float:
    """A Go duration or seconds, more than zero."""
    value = _seconds(text)
    if value == 0:
        raise ValueError(f"{text} is not a positive duration")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{value} is not a positive integer")
    return value


def _threads(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{value} is negative")
    return value or (os.cpu_count() or 1)


_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"0", "f", "false", "n", "no", "off"}


def _flag(text: str) -> bool:
    s = text.lower()
    if s in _TRUE | _FALSE:
        return s in _TRUE
    raise ValueError(f"{text!r} is not a boolean")


def _show_flag(value: bool) -> str:
    return "true" if value else "false"


def _debug_level(text: str) -> bool:
    """A boolean, or Ollama's numeric log level (1 debug, 2 trace): any level above 0 is on."""
    try:
        return _flag(text)
    except ValueError:
        return int(text) > 0


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _optional_path(text: str) -> Path | None:
    return Path(text).expanduser() if text else None


KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
"""OLLAMA_KV_CACHE_TYPE's values, as Ollama's `SupportsKVCacheType` (fs/ggml/ggml.go)."""


def _kv_cache_type(text: str) -> str:
    """One of KV_CACHE_TYPES, any case (Ollama lowercases it)."""
    value = text.lower()
    if value not in KV_CACHE_TYPES:
        raise ValueError(f"{text!r} is not a K/V cache type ({', '.join(KV_CACHE_TYPES)})")
    return value


def _flash_attention(text: str) -> bool | None:
    """`auto` (None): llama.cpp decides, as Ollama when the variable is unset; else a boolean.
    Ollama reads it with Go's strconv.ParseBool and turns flash attention on when that fails
    (envconfig.BoolWithDefault): a value that is no boolean does so here too, with a warning."""
    s = text.lower()
    if s == "auto":
        return None
    if s in _TRUE | _FALSE:
        return s in _TRUE
    log.warning("OLLAMA_FLASH_ATTENTION=%r is not a boolean: flash attention on, as Ollama", text)
    return True


def _show_auto_flag(value: bool | None) -> str:
    return "auto" if value is None else _show_flag(value)


def _speculative(text: str) -> str:
    """`auto`, `on` or `off`; a boolean is `on` or `off`."""
    s = text.lower()
    if s in ("auto", "on", "off"):
        return s
    return "on" if _flag(text) else "off"


def _spin_count(text: str) -> str:
    if text.lower() not in {"infinite", "infinity"} and int(text) < 0:
        raise ValueError(f"{text} is negative")
    return text


T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable the toolkit reads.

    `default` is written as a user would write the variable (`5m`, `~/.ollama/models`) and goes
    through `parser` like any other value, when asked for; `parser` raises ValueError on a value
    it cannot use, which then falls back to the default with a warning. A `secret` value is
    masked wherever it is shown (logs, warnings).
    """

    name: str
    default: str
    parser: Callable[[str], T]
    help: str
    secret: bool = False
    show: Callable[[T], str] = str

    def text(self) -> str:
        """The variable as set in the environment now (stripped of spaces and quotes), or ''."""
        return _var(self.name)

    def get(self) -> T:
        """The value now in effect: the environment's, or the default when unset or invalid."""
        text = self.text()
        if text:
            try:
                return self.parser(text)
            except ValueError:
                log.warning(
                    "invalid %s=%s, using the default %s",
                    self.name,
                    self.mask(repr(text)),
                    self.mask(repr(self.default)),
                )
        return self.parser(self.default)

    def mask(self, text: str) -> str:
        return "********" if self.secret and text else text

    def effective(self) -> str:
        """The value in effect, as text fit for a log (masked when secret)."""
        return self.mask(self.show(self.get()))


HOST: Setting[HostURL] = Setting(
    "OLLAMA_HOST",
    f"127.0.0.1:{DEFAULT_PORT}",
    parse_host,
    "[scheme://]host[:port] the server binds to and the client connects to",
    show=lambda h: h.base_url,
)
MODELS: Setting[Path] = Setting(
    "OLLAMA_MODELS",
    "~/.ollama/models",
    lambda s: Path(s).expanduser(),
    "the model store, in Ollama's layout (models Ollama pulled are served too)",
)
KEEP_ALIVE: Setting[float] = Setting(
    "OLLAMA_KEEP_ALIVE",
    "5m",
    _keep_alive,
    "how long an idle model stays loaded (Go duration or seconds; negative: forever)",
    show=_show_seconds,
)
CONTEXT_LENGTH: Setting[int] = Setting(
    "OLLAMA_CONTEXT_LENGTH",
    str(DEFAULT_CONTEXT_LENGTH),
    _positive_int,
    "the context window (num_ctx) of a model when a request sets none",
)
NUM_PARALLEL: Setting[int] = Setting(
    "OLLAMA_NUM_PARALLEL",
    str(DEFAULT_NUM_PARALLEL),
    _positive_int,
    "slots per loaded model: requests decoded together",
)
MAX_LOADED_MODELS: Setting[int] = Setting(
    "OLLAMA_MAX_LOADED_MODELS",
    str(DEFAULT_MAX_LOADED_MODELS),
    _positive_int,
    "models kept loaded at once before the least recently used is unloaded",
)
MAX_QUEUE: Setting[int] = Setting(
    "OLLAMA_MAX_QUEUE",
    str(DEFAULT_MAX_QUEUE),
    _positive_int,
    "requests that may wait for a model; more are refused with 503",
)
NUM_THREAD: Setting[int] = Setting(
    "OLLAMA_NUM_THREAD",
    "0",
    _threads,
    "llama.cpp threads when a request sets no num_thread (0: one per core)",
)
ORIGINS: Setting[list[str]] = Setting(
    "OLLAMA_ORIGINS",
    "",
    _comma_list,
    "extra CORS origins, comma-separated, on top of the local ones always allowed",
    show=",".join,
)
API_KEYS: Setting[list[str]] = Setting(
    "OLLAMA_API_KEYS",
    "",
    _comma_list,
    "API keys the server accepts (Authorization: Bearer), comma-separated; unset: no auth",
    secret=True,
    show=",".join,
)
API_KEYS_FILE: Setting[Path | None] = Setting(
    "OLLAMA_API_KEYS_FILE",
    "",
    _optional_path,
    "a file of API keys the server accepts, one a line (# comments); re-read on SIGHUP",
    show=lambda p: str(p) if p else "",
)
API_KEY: Setting[str] = Setting(
    "OLLAMA_API_KEY",
    "",
    str,
    "the API key the client sends (Authorization: Bearer) unless given other headers",
    secret=True,
)
DEBUG: Setting[bool] = Setting(
    "OLLAMA_DEBUG",
    "false",
    _debug_level,
    "verbose (debug) logging",
    show=_show_flag,
)
NO_BUNDLED_MODEL: Setting[bool] = Setting(
    "OLLAMA_TOOLKIT_NO_BUNDLED_MODEL",
    "false",
    _flag,
    "do not register the bundled models (smollm2:135m, gemma3:270m-pt) in the store",
    show=_show_flag,
)
NOPRUNE: Setting[bool] = Setting(
    "OLLAMA_NOPRUNE",
    "false",
    _flag,
    "do not remove blobs that no manifest references when the server starts",
    show=_show_flag,
)
PULL_PART_SIZE: Setting[int] = Setting(
    "OLLAMA_TOOLKIT_PULL_PART_SIZE",
    str(DEFAULT_PULL_PART_SIZE),
    _positive_int,
    "smallest part (bytes) of a blob a pull downloads over its own connection (up to 16)",
)
REQUEST_LOG: Setting[Path | None] = Setting(
    "OLLAMA_REQUEST_LOG",
    "",
    _optional_path,
    "a file that gets one JSON line per request (route, model, status, tokens, timings)",
    show=lambda p: str(p) if p else "",
)
REQUEST_LOG_BODIES: Setting[bool] = Setting(
    "OLLAMA_REQUEST_LOG_BODIES",
    "false",
    _flag,
    "also write prompts and generated text into OLLAMA_REQUEST_LOG",
    show=_show_flag,
)
REQUEST_LOG_MAX_BYTES: Setting[int] = Setting(
    "OLLAMA_REQUEST_LOG_MAX_BYTES",
    str(DEFAULT_REQUEST_LOG_MAX_BYTES),
    _positive_int,
    "size (bytes) at which OLLAMA_REQUEST_LOG is rotated (3 older files kept: .1 to .3)",
)
# The K/V cache (README's "K/V cache and flash attention"; engine/llama.py applies Ollama's rules).
KV_CACHE_TYPE: Setting[str] = Setting(
    "OLLAMA_KV_CACHE_TYPE",
    "f16",
    _kv_cache_type,
    "quantization type for the K/V cache: f16, q8_0 or q4_0 (quantized: flash attention on)",
)
FLASH_ATTENTION: Setting[bool | None] = Setting(
    "OLLAMA_FLASH_ATTENTION",
    "auto",
    _flash_attention,
    "flash attention: true, false, or auto (llama.cpp enables it where the model supports it)",
    show=_show_auto_flag,
)
# Limits: README's "Operating the server", server/limits.py, server/serving.py.
MAX_BODY_BYTES: Setting[int] = Setting(
    "OLLAMA_MAX_BODY_BYTES",
    str(DEFAULT_MAX_BODY_BYTES),
    _positive_int,
    "largest request body (bytes) of a JSON route, 413 beyond; blob uploads are not limited",
)
MAX_IMAGE_BYTES: Setting[int] = Setting(
    "OLLAMA_MAX_IMAGE_BYTES",
    str(DEFAULT_MAX_IMAGE_BYTES),
    _positive_int,
    "largest image (decoded bytes) a request may carry; larger: 400",
)
MAX_TOTAL_IMAGE_BYTES: Setting[int] = Setting(
    "OLLAMA_MAX_TOTAL_IMAGE_BYTES",
    str(DEFAULT_MAX_TOTAL_IMAGE_BYTES),
    _positive_int,
    "largest total of all the images (decoded bytes) of one request; larger: 400",
)
MAX_IMAGE_PIXELS: Setting[int] = Setting(
    "OLLAMA_MAX_IMAGE_PIXELS",
    str(DEFAULT_MAX_IMAGE_PIXELS),
    _positive_int,
    "largest image (width times height, read from its header) a request may carry; larger: 400",
)
MAX_STOP_SEQUENCES: Setting[int] = Setting(
    "OLLAMA_MAX_STOP_SEQUENCES",
    str(DEFAULT_MAX_STOP_SEQUENCES),
    _positive_int,
    "most stop strings a request may set (options.stop, OpenAI's stop); more: 400",
)
MAX_CONNECTIONS: Setting[int] = Setting(
    "OLLAMA_MAX_CONNECTIONS",
    str(DEFAULT_MAX_CONNECTIONS),
    _positive_int,
    "open connections (or running requests) at once; a request beyond gets 503",
)
IDLE_TIMEOUT: Setting[float] = Setting(
    "OLLAMA_IDLE_TIMEOUT",
    "5s",
    _positive_seconds,
    "how long a kept-alive connection may stay idle between requests before it is closed",
    show=_show_seconds,
)
HEADER_TIMEOUT: Setting[float] = Setting(
    "OLLAMA_HEADER_TIMEOUT",
    "30s",
    _positive_seconds,
    "time a client has to send a request's head, from connecting or from its first byte",
    show=_show_seconds,
)
BODY_TIMEOUT: Setting[float] = Setting(
    "OLLAMA_BODY_TIMEOUT",
    "60s",
    _positive_seconds,
    "longest wait for the next piece of a request body; longer: 408",
    show=_show_seconds,
)
SHUTDOWN_GRACE: Setting[float] = Setting(
    "OLLAMA_SHUTDOWN_GRACE",
    "10s",
    _seconds,
    "on SIGTERM, how long running requests may go on before open streams are ended",
    show=_show_seconds,
)
SPECULATIVE: Setting[str] = Setting(
    "OLLAMA_SPECULATIVE",
    "auto",
    _speculative,
    "speculative decoding with prompt lookup: off, on, or auto (only while few slots generate)",
)
# llama.cpp's CPU backend synchronises its threads with OpenMP barriers. libgomp lets a waiting
# thread spin 300,000 rounds before it sleeps: about 3 ms here, so after every llama_decode one
# core stays busy for nothing while the event loop waits for a core to send the token.
# Measured through the server on 2 cores: 30,000 (~0.3 ms) cut HTTP+scheduling on time to first
# token from 4.6 to 3.9 ms p50 with generation unchanged; 10,000 cost 1-2% of streamed
# generation (a thread preempted by the event loop mid-decode leaves its partner asleep at the
# barrier), and 100 cut it from 44 to 27 tokens/s.
GOMP_SPINCOUNT: Setting[str] = Setting(
    "GOMP_SPINCOUNT",
    OPENMP_SPIN_COUNT,
    _spin_count,
    "libgomp: rounds an idle llama.cpp thread spins before it sleeps (the server sets it)",
)

SETTINGS: tuple[Setting[Any], ...] = (
    HOST,
    MODELS,
    KEEP_ALIVE,
    CONTEXT_LENGTH,
    NUM_PARALLEL,
    MAX_LOADED_MODELS,
    MAX_QUEUE,
    NUM_THREAD,
    KV_CACHE_TYPE,
    FLASH_ATTENTION,
    SPECULATIVE,
    ORIGINS,
    API_KEYS,
    API_KEYS_FILE,
    API_KEY,
    DEBUG,
    NO_BUNDLED_MODEL,
    NOPRUNE,
    PULL_PART_SIZE,
    MAX_BODY_BYTES,
    MAX_IMAGE_BYTES,
    MAX_TOTAL_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_STOP_SEQUENCES,
    MAX_CONNECTIONS,
    IDLE_TIMEOUT,
    HEADER_TIMEOUT,
    BODY_TIMEOUT,
    SHUTDOWN_GRACE,
    REQUEST_LOG,
    REQUEST_LOG_BODIES,
    REQUEST_LOG_MAX_BYTES,
    GOMP_SPINCOUNT,
)
"""Every environment variable the toolkit reads, in the order `serve --help` lists them."""


def setting(name: str) -> Setting[Any]:
    """The registered setting called `name` (KeyError if there is none)."""
    for s in SETTINGS:
        if s.name == name:
            return s
    raise KeyError(name)


def effective_settings() -> dict[str, str]:
    """Every setting's value now in effect, as text, secrets masked: for the startup log."""
    return {s.name: s.effective() for s in SETTINGS}


def settings_help(width: int = 79) -> str:
    """Every variable with its default and help, for `serve --help`."""
    lines = ["environment variables:"]
    for s in SETTINGS:
        default = s.mask(s.default) if s.default else '""'
        lines.append(f"  {s.name} (default: {default})")
        lines.extend(
            textwrap.wrap(s.help, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
        )
    return "\n".join(lines)


# The accessors the rest of the code calls: each reads the environment when called.


def host() -> HostURL:
    """OLLAMA_HOST: where the server binds and the client connects (default 127.0.0.1:11434)."""
    return HOST.get()


def models_dir() -> Path:
    """OLLAMA_MODELS: the model store (default ~/.ollama/models), the one Ollama itself uses."""
    return MODELS.get()


def keep_alive_seconds() -> float:
    """OLLAMA_KEEP_ALIVE: default keep-alive in seconds; negative (infinite) becomes `inf`."""
    return KEEP_ALIVE.get()


def context_length() -> int:
    """OLLAMA_CONTEXT_LENGTH: the default num_ctx of a loaded model."""
    return CONTEXT_LENGTH.get()


def num_parallel() -> int:
    """OLLAMA_NUM_PARALLEL: slots (sequences decoded together) per loaded model."""
    return NUM_PARALLEL.get()


def max_loaded_models() -> int:
    """OLLAMA_MAX_LOADED_MODELS: models kept loaded at once before the idlest is evicted."""
    return MAX_LOADED_MODELS.get()


def max_queue() -> int:
    """OLLAMA_MAX_QUEUE: requests waiting for a model before new ones get 503."""
    return MAX_QUEUE.get()


def num_threads() -> int:
    """OLLAMA_NUM_THREAD: llama.cpp threads when a request sets no num_thread (0: all cores)."""
    return NUM_THREAD.get()


def kv_cache_type() -> str:
    """OLLAMA_KV_CACHE_TYPE: the K/V cache's type, f16 (default), q8_0 or q4_0; a quantized one
    needs flash attention on (see engine/llama.py)."""
    return KV_CACHE_TYPE.get()


def flash_attention() -> bool | None:
    """OLLAMA_FLASH_ATTENTION: True (on), False (off) or None (auto, the default: llama.cpp
    decides)."""
    return FLASH_ATTENTION.get()


def speculative() -> str:
    """OLLAMA_SPECULATIVE: speculative decoding with prompt lookup, `auto` (the default: while
    few slots generate), `on` or `off`; read when a model loads."""
    return SPECULATIVE.get()


LOCAL_ORIGINS = tuple(
    f"{scheme}://{origin}{port}"
    for origin in ("localhost", "127.0.0.1", "0.0.0.0")
    for scheme, port in (("http", ""), ("https", ""), ("http", ":*"), ("https", ":*"))
) + (
    *("app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"),
    # Browser extensions (ollama#2335 and friends): a user installed them on purpose.
    *("chrome-extension://*", "moz-extension://*", "safari-web-extension://*"),
)
"""CORS origins always allowed: Ollama's, and browser extensions'."""


def origins() -> list[str]:
    """OLLAMA_ORIGINS: extra CORS origins, comma-separated, on top of Ollama's local defaults."""
    return ORIGINS.get() + list(LOCAL_ORIGINS)


def api_keys() -> list[str]:
    """OLLAMA_API_KEYS: keys the server accepts; none, and no OLLAMA_API_KEYS_FILE: no auth."""
    return API_KEYS.get()


def api_keys_file() -> Path | None:
    """OLLAMA_API_KEYS_FILE: a file of keys the server accepts, one a line, re-read on SIGHUP."""
    return API_KEYS_FILE.get()


def api_key() -> str:
    """OLLAMA_API_KEY: the key the client sends as `Authorization: Bearer` ('' for none)."""
    return API_KEY.get()


def debug() -> bool:
    """OLLAMA_DEBUG: verbose logging."""
    return DEBUG.get()


def no_bundled_model() -> bool:
    """OLLAMA_TOOLKIT_NO_BUNDLED_MODEL: do not register the bundled models in the store."""
    return NO_BUNDLED_MODEL.get()


def no_prune() -> bool:
    """OLLAMA_NOPRUNE: keep blobs no manifest references at start-up (Ollama prunes them)."""
    return NOPRUNE.get()


def pull_part_size() -> int:
    """OLLAMA_TOOLKIT_PULL_PART_SIZE: the smallest part (bytes) of a blob that a pull downloads
    over its own connection (default 100 MB, as Ollama); a large blob is fetched in up to 16."""
    return PULL_PART_SIZE.get()


def request_log() -> Path | None:
    """OLLAMA_REQUEST_LOG: the file of one JSON line per request; None (unset): no log."""
    return REQUEST_LOG.get()


def request_log_bodies() -> bool:
    """OLLAMA_REQUEST_LOG_BODIES: prompts and generated text in the request log too."""
    return REQUEST_LOG_BODIES.get()


def request_log_max_bytes() -> int:
    """OLLAMA_REQUEST_LOG_MAX_BYTES: the request log's size before it is rotated."""
    return REQUEST_LOG_MAX_BYTES.get()


def max_body_bytes() -> int:
    """OLLAMA_MAX_BODY_BYTES: the largest body of a JSON route (64 MiB); blobs are unlimited."""
    return MAX_BODY_BYTES.get()


def max_image_bytes() -> int:
    """OLLAMA_MAX_IMAGE_BYTES: the largest image of a request, decoded (20 MiB)."""
    return MAX_IMAGE_BYTES.get()


def max_image_pixels() -> int:
    """OLLAMA_MAX_IMAGE_PIXELS: the most pixels an image of a request may have (32 million)."""
    return MAX_IMAGE_PIXELS.get()


def max_total_image_bytes() -> int:
    """OLLAMA_MAX_TOTAL_IMAGE_BYTES: the largest total of a request's images, decoded (50 MiB)."""
    return MAX_TOTAL_IMAGE_BYTES.get()


def max_stop_sequences() -> int:
    """OLLAMA_MAX_STOP_SEQUENCES: the most stop strings one request may set (16)."""
    return MAX_STOP_SEQUENCES.get()


def max_connections() -> int:
    """OLLAMA_MAX_CONNECTIONS: open connections or running requests before 503s (1024)."""
    return MAX_CONNECTIONS.get()


def idle_timeout() -> float:
    """OLLAMA_IDLE_TIMEOUT: seconds a kept-alive connection may wait for its next request (5)."""
    return IDLE_TIMEOUT.get()


def header_timeout() -> float:
    """OLLAMA_HEADER_TIMEOUT: seconds a client has to send a request's head (30)."""
    return HEADER_TIMEOUT.get()


def body_timeout() -> float:
    """OLLAMA_BODY_TIMEOUT: seconds the server waits for the next piece of a body (60)."""
    return BODY_TIMEOUT.get()


def shutdown_grace() -> float:
    """OLLAMA_SHUTDOWN_GRACE: seconds running requests get after SIGTERM (10)."""
    return SHUTDOWN_GRACE.get()


def set_openmp_defaults() -> None:
    """GOMP_SPINCOUNT, unless the user set it; libgomp reads it once, when llama.cpp loads, so
    the server calls this before anything imports llama_cpp (nothing does it at import)."""
    os.environ.setdefault(GOMP_SPINCOUNT.name, GOMP_SPINCOUNT.default)
