"""The `ollama-toolkit` command, run for real in a subprocess against a real server.

The interactive `run` is driven through a pseudo-terminal, as a person at a terminal would.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import copy_store, free_port
from ollama_toolkit import __version__
from ollama_toolkit.cli import render


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ollama_toolkit", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stop_pid_from(stderr: str) -> None:
    """Stop the background server an autostart announced (`pid N`), and wait until it is gone."""
    pid = int(re.search(r"pid (\d+)", stderr).group(1))
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def test_version_and_help_need_no_server():
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    version = cli(env, "--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"ollama-toolkit {__version__}"
    for command in ("serve", "run", "list", "ps", "show", "stop", "rm", "cp", "pull", "create"):
        result = cli(env, command, "--help")
        assert result.returncode == 0, command
        assert "usage: ollama-toolkit" in result.stdout


def test_bad_usage_exits_2():
    result = cli(dict(os.environ), "show")
    assert result.returncode == 2
    assert "MODEL" in result.stderr


def test_list_shows_the_bundled_models_in_columns(server, model, chat_model):
    result = cli(server.env, "list")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    for name in (model, chat_model):
        row = next(r for r in rows if r.startswith(name))
        assert re.search(r"\s[0-9a-f]{12}\s+\d+(\.\d)? MB\s", row)
    assert result.stderr == ""


def test_show_prints_details_or_the_part_asked_for(server, model):
    result = cli(server.env, "show", model)
    assert result.returncode == 0, result.stderr
    assert "architecture" in result.stdout and "gemma3" in result.stdout
    assert "completion" in result.stdout
    template = cli(server.env, "show", model, "--template")
    assert template.returncode == 0
    assert "{{ .Prompt }}" in template.stdout
    parameters = cli(server.env, "show", model, "--parameters")
    assert "num_predict" in parameters.stdout


def test_run_one_shot_prints_a_completion_and_verbose_statistics(server, model):
    result = cli(server.env, "run", model, "The capital of France is", "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "eval rate" in result.stderr and "tokens/s" in result.stderr


def test_run_with_no_model_answers_a_piped_prompt_with_the_chat_model(server, chat_model):
    result = cli(server.env, "run", "--verbose", stdin="Say hello.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and "eval rate" in result.stderr
    assert chat_model in cli(server.env, "ps").stdout


def test_ps_shows_a_loaded_model_and_stop_unloads_it(server, model):
    httpx.post(f"{server.url}/api/generate", json={"model": model, "keep_alive": "5m"}, timeout=120)
    ps = cli(server.env, "ps")
    assert ps.returncode == 0
    assert ps.stdout.splitlines()[0].split() == [
        "NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL",
    ]  # fmt: skip
    assert model in ps.stdout and "100% CPU" in ps.stdout
    stop = cli(server.env, "stop", model)
    assert stop.returncode == 0, stop.stderr
    assert model not in cli(server.env, "ps").stdout


def test_unknown_model_fails_with_ollamas_message_and_exit_1(server):
    for args in (("run", "nope:1b", "Hi"), ("show", "nope:1b")):
        result = cli(server.env, *args)
        assert result.returncode == 1
        assert result.stderr.strip() == "Error: model 'nope:1b' not found"


def test_no_server_and_no_autostart_exits_1_saying_how_to_start():
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    result = cli(env, "list", "--no-autostart")
    assert result.returncode == 1
    assert "could not connect" in result.stderr and "ollama-toolkit serve" in result.stderr


def test_a_client_command_starts_a_server_when_none_answers(seeded_store, tmp_path, model):
    host = f"127.0.0.1:{free_port()}"
    models = copy_store(seeded_store, tmp_path / "models")
    env = {**os.environ, "OLLAMA_HOST": host, "OLLAMA_MODELS": str(models)}
    result = cli(env, "list")
    try:
        assert result.returncode == 0, result.stderr
        assert "starting one in the background (pid" in result.stderr
        assert model in result.stdout
        assert httpx.get(f"http://{host}/", timeout=5).text == "Ollama is running"
    finally:
        stop_pid_from(result.stderr)


def test_cp_and_rm(server, model):
    copied = cli(server.env, "cp", model, "my-copy:latest")
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.strip() == f"copied '{model}' to 'my-copy:latest'"
    assert "my-copy:latest" in cli(server.env, "list").stdout
    removed = cli(server.env, "rm", "my-copy:latest")
    assert removed.returncode == 0, removed.stderr
    assert "my-copy:latest" not in cli(server.env, "list").stdout
    assert cli(server.env, "rm", "my-copy:latest").returncode == 1


def test_create_from_a_modelfile(server, model, tmp_path: Path):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f'FROM {model}\nPARAMETER num_predict 4\nSYSTEM """Be brief."""\n')
    created = cli(server.env, "create", "brief:latest", "-f", str(modelfile))
    assert created.returncode == 0, created.stderr
    assert "success" in created.stderr
    shown = cli(server.env, "show", "brief:latest", "--system")
    assert shown.stdout.strip() == "Be brief."
    cli(server.env, "rm", "brief:latest")


def test_create_with_a_renderer_and_a_parser(server, model, tmp_path: Path):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {model}\nRENDERER harmony\nPARSER harmony\n")
    created = cli(server.env, "create", "harmonic:latest", "-f", str(modelfile))
    assert created.returncode == 0, created.stderr
    shown = cli(server.env, "show", "harmonic:latest", "--modelfile")
    assert "RENDERER harmony\nPARSER harmony" in shown.stdout
    modelfile.write_text(f"FROM {model}\nPARSER no-such-parser\n")
    refused = cli(server.env, "create", "unparsed:latest", "-f", str(modelfile))
    assert refused.returncode == 1
    assert 'unknown parser "no-such-parser"' in refused.stderr
    cli(server.env, "rm", "harmonic:latest")


class Terminal:
    """A command running on a pseudo-terminal: type lines, wait for text to appear."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.fd, child = pty.openpty()
        self.proc = subprocess.Popen(
            args, env={**env, "TERM": "dumb"}, stdin=child, stdout=child, stderr=child
        )
        os.close(child)
        self.seen = ""

    def expect(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen}")
            try:
                self.seen += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:  # the command exited and the terminal closed
                raise AssertionError(f"{text!r} never appeared:\n{self.seen}") from None
        before, _, self.seen = self.seen.partition(text)
        return before

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def command(self, line: str) -> str:
        """Type a line and return what appears before the next prompt."""
        self.type(line)
        return self.expect(">>> ")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.fd)


def test_interactive_run_through_a_terminal(server, model):
    term = Terminal([sys.executable, "-m", "ollama_toolkit", "run", model], server.env)
    try:
        term.expect(">>> ")
        assert "Set parameter 'num_predict' to '4'" in term.command("/set parameter num_predict 4")
        assert "Set system message." in term.command("/set system Answer briefly.")
        assert "architecture" in term.command("/show info")
        assert "Unknown command '/nonsense'" in term.command("/nonsense")
        term.type('"""The sky')
        term.expect("... ")
        answer = term.command('is"""')
        assert answer.strip() and "Error" not in answer
        assert "Cleared session context" in term.command("/clear")
        term.type("/bye")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


def test_sizes_and_times_read_like_ollamas():
    assert [render.human_bytes(n) for n in (512, 1500, 291_000_000, 1_500_000_000)] == [
        "512 B", "1.5 KB", "291 MB", "1.5 GB",
    ]  # fmt: skip
    assert render.parse_time("2025-01-02T03:04:05.123456789Z").microsecond == 123456
    assert render.ago("2000-01-01T00:00:00Z").endswith("years ago")
    assert render.until("2318-01-01T00:00:00Z") == "Forever"
    assert render.until("2000-01-01T00:00:00Z") == "Stopping..."
