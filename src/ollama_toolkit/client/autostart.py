"""Start a local server in the background when none answers, so examples and the CLI work on a
fresh machine with nothing running. Used by both; the `Client` itself never starts servers.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from ollama_toolkit import config
from ollama_toolkit.client.base import resolve_host
from ollama_toolkit.client.errors import ServerNotReachableError

STARTUP_TIMEOUT_S = 180.0
"""The first start sets up the bundled models (hundreds of MB reassembled): allow minutes."""


class ServerStartError(ConnectionError):
    """A background server was started but never answered."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_running(host: config.HostURL, timeout: float = 2.0) -> bool:
    """True when an Ollama-compatible server answers `GET /` at `host`."""
    try:
        return httpx.get(host.base_url + "/", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def is_local(host: config.HostURL) -> bool:
    if host.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.host).is_loopback
    except ValueError:
        return False


def log_path(host: config.HostURL) -> Path:
    return Path(tempfile.gettempdir()) / f"ollama-toolkit-serve-{host.port}.log"


def ensure_server(
    host: str | config.HostURL | None = None,
    *,
    autostart: bool = True,
    say: Callable[[str], None] = _stderr,
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> config.HostURL:
    """Return the host once a server answers there, starting one in the background if needed.

    Raises `ServerNotReachableError` when none answers and none may be started (autostart off,
    or the host is not this machine), `ServerStartError` when a started one never answers.
    """
    target = resolve_host(host)
    if is_running(target):
        return target
    if not autostart or not is_local(target):
        raise ServerNotReachableError(target.base_url)
    process = start_server(target)
    say(
        f"no server at {target.base_url}: starting one in the background "
        f"(pid {process.pid}, log {log_path(target)})"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_running(target):
            say(f"server ready at {target.base_url}")
            return target
        if process.poll() is not None and not is_running(target):
            raise ServerStartError(
                f"the background server exited with code {process.returncode}; "
                f"see {log_path(target)}"
            )
        time.sleep(0.25)
    raise ServerStartError(
        f"the background server did not answer within {timeout_s:.0f}s; see {log_path(target)}"
    )


def start_server(host: config.HostURL) -> subprocess.Popen[bytes]:
    """`python -m ollama_toolkit serve` on `host`, detached: it outlives this process."""
    bind = f"[{host.host}]" if ":" in host.host else host.host
    env = {**os.environ, "OLLAMA_HOST": f"{host.scheme}://{bind}:{host.port}"}
    # Detached: a session of its own on POSIX, a process group without a console on Windows
    # (each platform ignores the other's argument; creationflags must stay 0 on POSIX).
    creationflags = 0
    if sys.platform == "win32":
        creationflags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
    with open(log_path(host), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "ollama_toolkit", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=sys.platform != "win32",
            creationflags=creationflags,
        )
