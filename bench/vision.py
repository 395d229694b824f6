"""Image prefill: our server against llama.cpp's `llama-mtmd-cli`, on the same prompt and image.

Both sides get the bundled Gemma 3 270M GGUF, a tiny random-weight Gemma 3 vision projector
(`tests/tiny_projector.py`: 4 image tokens per 32×32 image, about 350 KB) and a prompt of one
image followed by `PROMPT`. The projector is tiny, so this measures the overhead of the image
path (encoding, the image's embeddings decoded between two text chunks, the bookkeeping around
them), not a real vision encoder's speed.

What is compared, and why:

- llama-mtmd-cli (`--log-jsonl`, whose log lines carry microsecond timestamps) reports the image
  encode (from "encoding mtmd batch" to "mtmd batch encoding done"), the decode of the image's
  embeddings ("decoding image batch" to "image decoded") and, in `llama_perf_context_print`,
  the prompt eval time. llama.cpp times that from the first `llama_decode` of the prompt to the
  synchronization before the first token is sampled (no decode in between synchronizes), so it
  spans the first text chunk, the image encode, the image's decode and the last text chunk:
  the whole prefill (checked: the log's timestamps from the rendered prompt to the end of its
  evaluation match it within 0.3 ms). It renders the prompt through a pass-through template,
  so it evaluates the same tokens as our server, whose model has no template (`{{ .Prompt }}`,
  with the image first, as Ollama places `[img-0]` in front of a generate prompt).
- Our server reports `prompt_eval_duration`, which covers the image's encode and every decode
  of the prompt. That total, next to llama-mtmd-cli's, is the figure with a target: the same
  tokens, the same work, one number from each side's own clock.
- The image's share is also reported, but it cannot be measured the same way on both sides:
  llama-mtmd-cli has no single-turn mode without an image, and its encode and image-decode
  lines leave out what the image costs the text around it (the prompt is decoded in three calls
  instead of one, the image's begin and end tokens). Ours is the difference between a request
  with the image and the same request without it, so it includes all of that and is the larger
  of the two by construction; it is shown without a ratio.

Every request has a new image and alternates with a request without one, on a server with one
slot, so no cached prefix longer than the BOS token serves a request: the image's embeddings and
the text after them are always evaluated.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from bench.build import binary, command
from bench.servers import NUM_CTX, Server
from bench.wire import Connection

MODEL = "gemma3-vision:tiny"
PROMPT = "Describe the image."
# llama-mtmd-cli needs a chat template and the pretrained Gemma 3 270M has none: this one renders
# the user's message as it is (the image marker, then PROMPT), as our server's default template.
PASS_THROUGH_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
_NS = 1e-9
_US = 1e-6
_TINY_PROJECTOR = Path(__file__).resolve().parent.parent / "tests" / "tiny_projector.py"


def _tiny_projector() -> ModuleType:
    """tests/tiny_projector.py, loaded from its file (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_tiny_projector", _TINY_PROJECTOR)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {_TINY_PROJECTOR}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Assets:
    """The tiny projector and fresh PNG images, in a temporary directory."""

    def __init__(self, folder: Path) -> None:
        self._tp = _tiny_projector()
        self.folder = folder
        self.projector: Path = self._tp.write_tiny_projector(folder / "mmproj.gguf", seed=0)
        self.tokens_per_image: int = self._tp.TOKENS_PER_IMAGE
        self._seed = 0

    def png(self) -> bytes:
        """A PNG no earlier call returned."""
        self._seed += 1
        data: bytes = self._tp.png(self._seed)
        return data

    def png_file(self) -> Path:
        """The same, written to a file for llama-mtmd-cli."""
        path = self.folder / f"image-{self._seed + 1}.png"
        path.write_bytes(self.png())
        return path


@contextmanager
def assets() -> Iterator[Assets]:
    with tempfile.TemporaryDirectory(prefix="bench-vision-") as folder:
        yield Assets(Path(folder))


# -- llama-mtmd-cli ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MtmdRun:
    """One llama-mtmd-cli run, from its own log."""

    encode_s: float  # the image encode (mtmd_batch_encode)
    image_decode_s: float  # llama_decode of the image's embeddings
    prompt_eval_s: float  # first decode of the prompt to the first sampling: the encode inside
    prompt_tokens: int  # tokens of the prompt, the image's included

    @property
    def image_s(self) -> float:
        """The image's own work: its encode and the decode of its embeddings."""
        return self.encode_s + self.image_decode_s


_PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
_SPANS = {  # what a span measures: (the message that starts it, the one that ends it)
    "encode": (re.compile(r"^encoding mtmd batch"), re.compile(r"^mtmd batch encoding done")),
    "decode": (re.compile(r"^decoding image batch"), re.compile(r"^image decoded \(batch")),
}


def parse_mtmd_log(stdout: str) -> MtmdRun:
    """llama-mtmd-cli's `--log-jsonl --log-timestamps -lv 4` output: one JSON object a line, each
    log message with its time in microseconds since the start."""
    totals = dict.fromkeys(_SPANS, 0.0)
    started: dict[str, int] = {}
    prompt: re.Match[str] | None = None
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("type") != "log":
            continue
        msg, time_us = entry.get("msg", ""), entry.get("time", 0)
        for span, (begin, end) in _SPANS.items():
            if begin.match(msg):
                started[span] = time_us
            elif end.match(msg) and span in started:
                totals[span] += (time_us - started.pop(span)) * _US
        prompt = _PROMPT_EVAL.search(msg) or prompt
    missing = [s for s, t in totals.items() if not t] + (["prompt eval time"] if not prompt else [])
    if prompt is None or missing:
        raise RuntimeError(f"llama-mtmd-cli's log has no {', '.join(missing)} lines")
    return MtmdRun(
        encode_s=totals["encode"],
        image_decode_s=totals["decode"],
        prompt_eval_s=float(prompt.group(1)) / 1000,
        prompt_tokens=int(prompt.group(2)),
    )


def run_mtmd_cli(gguf: Path, projector: Path, image: Path, threads: int) -> MtmdRun:
    """One image, PROMPT, one greedy token; the same context length as our server's slot and no
    extra buffer types (`-nr`), as every baseline of this bench."""
    flags = {
        "-m": gguf,
        "--mmproj": projector,
        "--image": image,
        "-p": PROMPT,
        "-n": 1,
        "-t": threads,
        "-c": NUM_CTX,
        "--temp": 0,
        "--chat-template": PASS_THROUGH_TEMPLATE,
        "-lv": 4,  # llama.cpp's and mtmd's own info lines: the timings
    }
    switches = ("--jinja", "-nr", "--perf", "--log-jsonl", "--log-timestamps")
    done = subprocess.run(
        command("llama-mtmd-cli", flags, *switches), capture_output=True, text=True
    )
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"llama-mtmd-cli failed (exit {done.returncode}):\n{tail}")
    return parse_mtmd_log(done.stdout)


def mtmd_build() -> str:
    """llama.cpp's build as llama-bench names it (`b1 (0c1e570)`), from `--version`."""
    done = subprocess.run(
        [str(binary("llama-mtmd-cli")), "--version"], capture_output=True, text=True
    )
    found = re.search(r"build (\d+), commit (\w+)", done.stdout + done.stderr)
    return f"b{found.group(1)} ({found.group(2)})" if found else "(build unknown)"


# -- our server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prefill:
    """What our server reported for one /api/generate."""

    prompt_tokens: int  # prompt_eval_count
    prompt_eval_s: float  # prompt_eval_duration


@dataclass(frozen=True)
class Pair:
    """The same prompt without the image, then with a new one."""

    without: Prefill
    with_image: Prefill

    @property
    def image_s(self) -> float:
        return self.with_image.prompt_eval_s - self.without.prompt_eval_s

    @property
    def image_tokens(self) -> int:
        return self.with_image.prompt_tokens - self.without.prompt_tokens


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def create_model(server: Server, gguf: Path, projector: Path) -> None:
    """Upload both GGUFs as blobs (unless the store has them) and create MODEL from them, as
    `POST /api/create` with `files` does: the GGUF whose architecture is `clip` becomes the
    projector layer."""
    files = {"model.gguf": gguf, "mmproj.gguf": projector}
    digests = {name: _digest(path) for name, path in files.items()}
    with httpx.Client(base_url=server.base_url, timeout=600) as http:
        for name, path in files.items():
            url = f"/api/blobs/{digests[name]}"
            if http.head(url).status_code == 200:
                continue
            with path.open("rb") as f:
                reply = http.post(url, content=f)
            if reply.status_code not in (200, 201):
                raise RuntimeError(f"POST {url} answered {reply.status_code}: {reply.text}")
        reply = http.post("/api/create", json={"model": MODEL, "files": digests, "stream": False})
        if reply.status_code != 200 or reply.json().get("status") != "success":
            raise RuntimeError(f"/api/create answered {reply.status_code}: {reply.text}")


def generate(conn: Connection, image: bytes | None) -> Prefill:
    """PROMPT (after the image, when there is one), one greedy token, not streamed."""
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": PROMPT,
        "stream": False,
        "options": {"temperature": 0, "repeat_penalty": 1.0, "num_predict": 1},
    }
    if image is not None:
        body["images"] = [base64.b64encode(image).decode()]
    reply = conn.post("/api/generate", body)
    if reply.status != 200:
        raise RuntimeError(f"/api/generate answered {reply.status}: {reply.body.decode()}")
    final = reply.json()
    if not final.get("prompt_eval_duration"):
        raise RuntimeError("/api/generate reported no prompt_eval_duration")
    return Prefill(final.get("prompt_eval_count", 0), final["prompt_eval_duration"] * _NS)


def pair(server: Server, image: bytes, tokens_per_image: int) -> Pair:
    """PROMPT alone, then with `image` (new: nothing cached can serve it), on one connection (a
    new one each pair: the server closes a connection idle for seconds, as a llama-mtmd-cli run
    between two pairs leaves it).

    With one slot, each request follows one of the other kind, so the two share no cached
    prefix beyond the BOS token."""
    with Connection(server.base_url) as conn:
        result = Pair(without=generate(conn, None), with_image=generate(conn, image))
    if result.image_tokens < tokens_per_image:
        raise RuntimeError(
            f"the server ignored the image: prompt_eval_count {result.with_image.prompt_tokens}"
            f" with it, {result.without.prompt_tokens} without"
        )
    return result
