"""The settings registry: every environment variable, its default, its documentation, and when
it is read."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, wait_until
from ollama_toolkit import config
from ollama_toolkit.config import HostURL, Setting

ROOT = Path(__file__).resolve().parents[1]
NAMES = [s.name for s in config.SETTINGS]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def readme_configuration() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Configuration\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_names_are_unique_and_help_is_one_line() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for s in config.SETTINGS:
        assert s.help and "\n" not in s.help, s.name
        assert config.setting(s.name) is s
    with pytest.raises(KeyError):
        config.setting("OLLAMA_NO_SUCH_THING")


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    assert f"`{name}`" in readme_configuration()


# Each accessor the code calls, the setting behind it, and its value in a clean environment.
ACCESSORS: list[tuple[Callable[[], Any], str, Any]] = [
    (config.host, "OLLAMA_HOST", HostURL("http", "127.0.0.1", 11434)),
    (config.models_dir, "OLLAMA_MODELS", None),  # ~/.ollama/models: checked below, HOME moves
    (config.keep_alive_seconds, "OLLAMA_KEEP_ALIVE", 300.0),
    (config.context_length, "OLLAMA_CONTEXT_LENGTH", 4096),
    (config.num_parallel, "OLLAMA_NUM_PARALLEL", 4),
    (config.max_loaded_models, "OLLAMA_MAX_LOADED_MODELS", 3),
    (config.max_queue, "OLLAMA_MAX_QUEUE", 512),
    (config.num_threads, "OLLAMA_NUM_THREAD", os.cpu_count() or 1),
    (config.kv_cache_type, "OLLAMA_KV_CACHE_TYPE", "f16"),
    (config.flash_attention, "OLLAMA_FLASH_ATTENTION", None),
    (config.speculative, "OLLAMA_SPECULATIVE", "auto"),
    (config.origins, "OLLAMA_ORIGINS", list(config.LOCAL_ORIGINS)),
    (config.api_keys, "OLLAMA_API_KEYS", []),
    (config.api_keys_file, "OLLAMA_API_KEYS_FILE", None),
    (config.api_key, "OLLAMA_API_KEY", ""),
    (config.debug, "OLLAMA_DEBUG", False),
    (config.no_bundled_model, "OLLAMA_TOOLKIT_NO_BUNDLED_MODEL", False),
    (config.no_prune, "OLLAMA_NOPRUNE", False),
    (config.pull_part_size, "OLLAMA_TOOLKIT_PULL_PART_SIZE", 100_000_000),
    (config.max_body_bytes, "OLLAMA_MAX_BODY_BYTES", 64 * 1024 * 1024),
    (config.max_image_bytes, "OLLAMA_MAX_IMAGE_BYTES", 20 * 1024 * 1024),
    (config.max_image_pixels, "OLLAMA_MAX_IMAGE_PIXELS", 32_000_000),
    (config.max_total_image_bytes, "OLLAMA_MAX_TOTAL_IMAGE_BYTES", 50 * 1024 * 1024),
    (config.max_stop_sequences, "OLLAMA_MAX_STOP_SEQUENCES", 16),
    (config.max_connections, "OLLAMA_MAX_CONNECTIONS", 1024),
    (config.idle_timeout, "OLLAMA_IDLE_TIMEOUT", 5.0),
    (config.header_timeout, "OLLAMA_HEADER_TIMEOUT", 30.0),
    (config.body_timeout, "OLLAMA_BODY_TIMEOUT", 60.0),
    (config.shutdown_grace, "OLLAMA_SHUTDOWN_GRACE", 10.0),
    (config.request_log, "OLLAMA_REQUEST_LOG", None),
    (config.request_log_bodies, "OLLAMA_REQUEST_LOG_BODIES", False),
    (config.request_log_max_bytes, "OLLAMA_REQUEST_LOG_MAX_BYTES", 100_000_000),
]


def test_every_setting_but_the_openmp_one_has_an_accessor() -> None:
    assert sorted(name for _, name, _ in ACCESSORS) == sorted(set(NAMES) - {"GOMP_SPINCOUNT"})


@pytest.mark.parametrize(
    ("accessor", "name", "expected"), ACCESSORS, ids=[n for _, n, _ in ACCESSORS]
)
def test_accessor_returns_its_default_in_a_clean_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, accessor, name, expected
) -> None:
    if name == "OLLAMA_MODELS":
        expected = tmp_path / ".ollama" / "models"
    assert accessor() == expected
    setting = config.setting(name)
    assert setting.get() == setting.parser(setting.default)


def test_clean_environment_defaults(clean_env: pytest.MonkeyPatch) -> None:
    assert config.setting("GOMP_SPINCOUNT").get() == config.OPENMP_SPIN_COUNT == "30000"
    assert "http://localhost" in config.origins() and "vscode-file://*" in config.origins()
    effective = config.effective_settings()
    assert list(effective) == NAMES
    assert effective["OLLAMA_HOST"] == "http://127.0.0.1:11434"
    assert effective["OLLAMA_KEEP_ALIVE"] == "300s"
    assert effective["OLLAMA_DEBUG"] == "false"
    assert effective["OLLAMA_ORIGINS"] == ""


def test_values_are_read_when_asked_for_not_at_import(clean_env: pytest.MonkeyPatch) -> None:
    assert config.num_parallel() == 4
    clean_env.setenv("OLLAMA_NUM_PARALLEL", ' "2" ')  # spaces and quotes dropped, as Ollama does
    assert config.num_parallel() == 2
    clean_env.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    assert config.host() == HostURL("http", "0.0.0.0", 9999)
    assert config.effective_settings()["OLLAMA_HOST"] == "http://0.0.0.0:9999"
    clean_env.setenv("OLLAMA_MODELS", "~/store")
    assert config.models_dir() == Path(os.environ["HOME"]) / "store"
    clean_env.setenv("OLLAMA_ORIGINS", "https://a.example, https://b.example")
    assert config.origins()[:2] == ["https://a.example", "https://b.example"]
    assert config.effective_settings()["OLLAMA_ORIGINS"] == "https://a.example,https://b.example"


@pytest.mark.parametrize(
    ("name", "text", "accessor", "expected"),
    [
        ("OLLAMA_KEEP_ALIVE", "1h30m", config.keep_alive_seconds, 5400.0),
        ("OLLAMA_KEEP_ALIVE", "90", config.keep_alive_seconds, 90.0),
        ("OLLAMA_KEEP_ALIVE", "0", config.keep_alive_seconds, 0.0),
        ("OLLAMA_KEEP_ALIVE", "-1", config.keep_alive_seconds, float("inf")),
        ("OLLAMA_NUM_THREAD", "3", config.num_threads, 3),
        ("OLLAMA_DEBUG", "1", config.debug, True),
        ("OLLAMA_DEBUG", "2", config.debug, True),
        ("OLLAMA_DEBUG", "false", config.debug, False),
        ("OLLAMA_TOOLKIT_NO_BUNDLED_MODEL", "TRUE", config.no_bundled_model, True),
        ("OLLAMA_MAX_QUEUE", "1", config.max_queue, 1),
        ("OLLAMA_IDLE_TIMEOUT", "500ms", config.idle_timeout, 0.5),
        ("OLLAMA_BODY_TIMEOUT", "2", config.body_timeout, 2.0),
        ("OLLAMA_SHUTDOWN_GRACE", "0", config.shutdown_grace, 0.0),
        ("OLLAMA_SHUTDOWN_GRACE", "1m", config.shutdown_grace, 60.0),
    ],
)
def test_valid_values_are_used(clean_env, caplog, name, text, accessor, expected) -> None:
    clean_env.setenv(name, text)
    with caplog.at_level(logging.WARNING, logger="ollama_toolkit.config"):
        assert accessor() == expected
    assert not caplog.records


@pytest.mark.parametrize(
    ("name", "text", "accessor", "expected"),
    [
        ("OLLAMA_KEEP_ALIVE", "soon", config.keep_alive_seconds, 300.0),
        ("OLLAMA_CONTEXT_LENGTH", "big", config.context_length, 4096),
        ("OLLAMA_CONTEXT_LENGTH", "0", config.context_length, 4096),
        ("OLLAMA_NUM_PARALLEL", "-2", config.num_parallel, 4),
        ("OLLAMA_MAX_LOADED_MODELS", "three", config.max_loaded_models, 3),
        ("OLLAMA_MAX_QUEUE", "1.5", config.max_queue, 512),
        ("OLLAMA_NUM_THREAD", "-1", config.num_threads, os.cpu_count() or 1),
        ("OLLAMA_DEBUG", "maybe", config.debug, False),
        ("OLLAMA_TOOLKIT_NO_BUNDLED_MODEL", "perhaps", config.no_bundled_model, False),
        ("OLLAMA_TOOLKIT_PULL_PART_SIZE", "100MB", config.pull_part_size, 100_000_000),
        ("OLLAMA_HEADER_TIMEOUT", "0", config.header_timeout, 30.0),
        ("OLLAMA_SHUTDOWN_GRACE", "-1s", config.shutdown_grace, 10.0),
        ("OLLAMA_MAX_BODY_BYTES", "64MiB", config.max_body_bytes, 64 * 1024 * 1024),
        ("OLLAMA_HOST", "localhost:port", config.host, HostURL("http", "localhost", 11434)),
    ],
)
def test_invalid_values_fall_back_to_the_default_with_a_warning(
    clean_env, caplog, name, text, accessor, expected
) -> None:
    clean_env.setenv(name, text)
    with caplog.at_level(logging.WARNING, logger="ollama_toolkit.config"):
        assert accessor() == expected
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "invalid" in caplog.text


def test_invalid_openmp_spin_count_falls_back(clean_env, caplog) -> None:
    clean_env.setenv("GOMP_SPINCOUNT", "-5")
    with caplog.at_level(logging.WARNING, logger="ollama_toolkit.config"):
        assert config.setting("GOMP_SPINCOUNT").get() == "30000"
    assert "GOMP_SPINCOUNT" in caplog.text


def test_secret_values_are_never_shown(monkeypatch, caplog) -> None:
    def strict(text: str) -> str:
        if text and not text.startswith("key-"):
            raise ValueError("not a key")
        return text

    key = Setting("OLLAMA_TOOLKIT_TEST_KEY", "", strict, "an API key", secret=True)
    monkeypatch.setenv(key.name, "key-hunter2")
    assert key.get() == "key-hunter2"
    assert key.effective() == "********"
    monkeypatch.setenv(key.name, "hunter2")
    with caplog.at_level(logging.WARNING, logger="ollama_toolkit.config"):
        assert key.get() == ""
    assert "invalid" in caplog.text and "hunter2" not in caplog.text
    monkeypatch.delenv(key.name)
    assert key.effective() == ""  # nothing set: nothing to hide
    with_default = Setting("OLLAMA_TOOLKIT_TEST_KEY", "key-builtin", strict, "a key", secret=True)
    assert with_default.effective() == "********"
    monkeypatch.setattr(config, "SETTINGS", (*config.SETTINGS, with_default))
    assert config.effective_settings()["OLLAMA_TOOLKIT_TEST_KEY"] == "********"
    assert "key-builtin" not in config.settings_help()


def test_serve_help_lists_every_variable_with_its_default() -> None:
    exe = Path(sys.executable).with_name("ollama-toolkit")
    assert exe.is_file(), f"{exe}: the package is not installed in this environment"
    result = subprocess.run(
        [str(exe), "serve", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for s in config.SETTINGS:
        default = s.default or '""'
        assert f"{s.name} (default: {default})" in out, s.name
        assert " ".join(s.help.split()[:4]) in " ".join(out.split()), s.name


_NO_IMPORT_SIDE_EFFECTS = """
import os
import ollama_toolkit.config, ollama_toolkit.engine, ollama_toolkit.server.app
print(os.environ.get("GOMP_SPINCOUNT"))
"""


def test_importing_the_package_changes_no_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run(
        [sys.executable, "-c", _NO_IMPORT_SIDE_EFFECTS], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"


# `python -m ollama_toolkit serve`, as the client's autostart runs it, stopped the moment
# llama_cpp (and with it libgomp, which reads GOMP_SPINCOUNT only then) is first imported.
_SPIN_COUNT_WHEN_SERVING = """
import os, runpy, sys

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "llama_cpp":
            print(os.environ.get("GOMP_SPINCOUNT"), flush=True)
            os._exit(0)

sys.meta_path.insert(0, Watch())
sys.argv = ["ollama_toolkit", "serve"]
runpy.run_module("ollama_toolkit", run_name="__main__")
"""


@pytest.mark.parametrize("users", [None, "300000"])
def test_serve_sets_the_spin_count_before_llama_cpp_loads(users: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    env["OLLAMA_HOST"] = f"127.0.0.1:{free_port()}"
    if users:
        env["GOMP_SPINCOUNT"] = users
    out = subprocess.run(
        [sys.executable, "-c", _SPIN_COUNT_WHEN_SERVING],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (users or config.OPENMP_SPIN_COUNT)


def test_serve_logs_the_settings_in_effect_once(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in NAMES},
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODELS": str(tmp_path / "models"),
        "OLLAMA_TOOLKIT_NO_BUNDLED_MODEL": "1",
        "OLLAMA_KEEP_ALIVE": "10m",
    }
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ollama_toolkit", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "settings:" in log_path.read_text() or proc.poll() is not None,
            lambda: log_path.read_text(),
            timeout_s=120,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [line for line in log_path.read_text().splitlines() if "settings:" in line]
    assert len(lines) == 1, log_path.read_text()
    logged = dict(re.findall(r"(\w+)=(\S*)", lines[0].split("settings:", 1)[1]))
    assert list(logged) == NAMES
    assert logged["OLLAMA_HOST"] == f"http://127.0.0.1:{port}"
    assert logged["OLLAMA_MODELS"] == str(tmp_path / "models")
    assert logged["OLLAMA_KEEP_ALIVE"] == "600s"
    assert logged["OLLAMA_TOOLKIT_NO_BUNDLED_MODEL"] == "true"
    assert logged["GOMP_SPINCOUNT"] == config.OPENMP_SPIN_COUNT
