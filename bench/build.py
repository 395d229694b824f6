"""Build llama.cpp's benchmark tools and server from the source llama-cpp-python vendors.

The sdist of the exact llama-cpp-python release the project pins is downloaded once into
bench/.build/ (git-ignored) and its vendored llama.cpp is built with cmake in Release mode, the
way pip builds the bindings (GGML_NATIVE left at its default, so the same instruction sets).
The build is cached: nothing runs when the binaries exist, and only the missing ones are built
when some are (a target added later builds in minutes, next to the ones already there).

`CMAKE_ARGS`, the variable pip reads when it builds llama-cpp-python (`-DGGML_CUDA=on` for
NVIDIA GPUs), is passed to cmake here too, so the tools use the same backend as the bindings;
each distinct value builds into a directory of its own.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

# The release the project pins (pyproject.toml), as installed: baselines build its vendored source.
LLAMA_CPP_PYTHON_VERSION = importlib.metadata.version("llama-cpp-python")
BUILD_DIR = Path(__file__).resolve().parent / ".build"
TARGETS = ("llama-bench", "llama-batched-bench", "llama-server", "llama-mtmd-cli")
_SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
_SOURCE = BUILD_DIR / _SDIST_NAME / "vendor" / "llama.cpp"
# pip's variable for the bindings' build: the tools are built with the same switches.
CMAKE_ARGS = shlex.split(os.environ.get("CMAKE_ARGS", ""))


def _build_dir_name(cmake_args: list[str]) -> str:
    """The default build's folder, `llama.cpp-build`, or another for each CMAKE_ARGS."""
    if not cmake_args:
        return "llama.cpp-build"
    return "llama.cpp-build-" + hashlib.sha256(" ".join(cmake_args).encode()).hexdigest()[:8]


_CMAKE_BUILD = BUILD_DIR / _build_dir_name(CMAKE_ARGS)
BIN_DIR = _CMAKE_BUILD / "bin"


def binary(name: str) -> Path:
    return BIN_DIR / name


def pairs(flags: dict[str, object]) -> list[str]:
    """`{"-t": 2}` → `["-t", "2"]`."""
    return [str(x) for pair in flags.items() for x in pair]


def command(tool: str, flags: dict[str, object], *switches: str) -> list[str]:
    """The argv of a built tool: `flags` as `-flag value` pairs, then bare switches."""
    return [str(binary(tool)), *pairs(flags), *switches]


def _run(cmd: list[str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"{cmd[0]} failed (exit {done.returncode}); see {log}")


def _fetch_source(log: Path) -> None:
    if _SOURCE.is_dir():
        return
    sdist = BUILD_DIR / f"{_SDIST_NAME}.tar.gz"
    if not sdist.is_file():
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        _run([*pip, f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(BUILD_DIR)], log)
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extraction_filter = tarfile.data_filter
        tar.extractall(BUILD_DIR)


def ensure_built(jobs: int = 2) -> float | None:
    """Build the tools that do not exist yet; return the build's seconds, or None when cached."""
    missing = [t for t in TARGETS if not binary(t).is_file()]
    if not missing:
        return None
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    log = BUILD_DIR / "build.log"
    print(
        f"building {', '.join(missing)} from llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} "
        f"(one time, several minutes; log: {log})",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    _fetch_source(log)
    configure = [
        "cmake",
        "-S",
        str(_SOURCE),
        "-B",
        str(_CMAKE_BUILD),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        # No web UI: the server is only driven by benchmark clients, and fetching the
        # prebuilt UI would need the network.
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        *CMAKE_ARGS,
    ]
    _run(configure, log)
    _run(
        [
            "cmake",
            "--build",
            str(_CMAKE_BUILD),
            "--config",
            "Release",
            "-j",
            str(jobs),
            "--target",
            *missing,
        ],
        log,
    )
    return time.monotonic() - started
