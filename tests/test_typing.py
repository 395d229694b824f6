"""The client's static types, as a user's type checker sees them: mypy, run on small programs.

`good.py` must type-check as a whole; in `bad.py` each line marked `# error` must be an error,
and no other line: a stream is not a response, a response is not a stream, an `AsyncClient`
answer must be awaited. mypy runs with the repository's configuration, and finds
`ollama_toolkit` in src/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
from ollama_toolkit import AsyncClient, Client
from ollama_toolkit.api.types import ChatResponse, GenerateResponse, ProgressResponse

client = Client()
for chunk in client.generate(model="m", prompt="p", stream=True):
    text: str = chunk.response
one: GenerateResponse = client.generate(model="m", prompt="p")
text = client.generate(model="m", prompt="p", stream=False).response
for part in client.chat(model="m", messages=[{"role": "user", "content": "hi"}], stream=True):
    text = part.message.content
reply: ChatResponse = client.chat(model="m", messages=[])
for progress in client.pull("m", stream=True):
    status: str | None = progress.status
done: ProgressResponse = client.pull("m")
for progress in client.create("m", from_="base", stream=True):
    status = progress.status
for progress in client.push("m", stream=True):
    status = progress.status
names = [m.model for m in client.list().models]
vectors = client.embed(model="m", input="x").embeddings
client.generate(model="m", stream=True).close()


def either(stream: bool) -> None:
    answer = client.generate(model="m", prompt="p", stream=stream)
    if isinstance(answer, GenerateResponse):
        text = answer.response
    else:
        for chunk in answer:
            text = chunk.response


async def main() -> None:
    aclient = AsyncClient()
    async for chunk in await aclient.generate(model="m", prompt="p", stream=True):
        text = chunk.response
    text = (await aclient.generate(model="m", prompt="p")).response
    async for part in await aclient.chat(model="m", messages=[], stream=True):
        text = part.message.content
    text = (await aclient.chat(model="m", messages=[])).message.content
    async for progress in await aclient.pull("m", stream=True):
        status = progress.status
    names = [m.model for m in (await aclient.list()).models]
"""

BAD = """
from ollama_toolkit import AsyncClient, Client

client = Client()
client.generate(model="m", prompt="p", stream=True).response  # error
for chunk in client.generate(model="m", prompt="p"):
    chunk.response  # error
client.chat(model="m", messages=[], stream=True).message  # error
client.pull("m", stream=True).status  # error
client.list().response  # error


async def main() -> None:
    aclient = AsyncClient()
    aclient.generate(model="m", prompt="p").response  # error
    (await aclient.generate(model="m", prompt="p", stream=True)).response  # error
    for chunk in await aclient.generate(model="m", prompt="p", stream=True):  # error
        pass
    (await aclient.chat(model="m", messages=[])).response  # error
"""


def mypy_errors(tmp_path: Path, sources: dict[str, str]) -> tuple[dict[str, set[int]], str]:
    """Run mypy on the given files: the lines with an error, by file name, and its report."""
    for name, source in sources.items():
        (tmp_path / name).write_text(textwrap.dedent(source).lstrip())
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-error-summary",
            *sources,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors: dict[str, set[int]] = {name: set() for name in sources}
    for line in result.stdout.splitlines():
        found = re.match(r"([\w.]+):(\d+): error:", line)
        if found and found[1] in errors:
            errors[found[1]].add(int(found[2]))
    # mypy exits 2 when it could not run at all (a bad config, a crash): not a verdict on types.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return errors, result.stdout


def marked_lines(source: str) -> set[int]:
    lines = textwrap.dedent(source).lstrip().splitlines()
    return {i for i, line in enumerate(lines, 1) if line.endswith("# error")}


def test_client_types(tmp_path: Path) -> None:
    errors, report = mypy_errors(tmp_path, {"good.py": GOOD, "bad.py": BAD})
    assert errors["good.py"] == set(), report
    assert errors["bad.py"] == marked_lines(BAD), report
