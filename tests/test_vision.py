"""Images through llama.cpp's mtmd: a vision model made of the bundled Gemma 3 270M and a tiny
random-weight projector written by the tests (tests/tiny_projector.py), in every route that
takes images, against a real server; and the engine's handling of image chunks (prefix cache,
batching, truncation), on the real runner.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import anthropic
import httpx
import ollama
import openai
import pytest
from PIL import Image

from greedy import assert_same_up_to_a_tie
from ollama_toolkit.api.errors import InvalidRequest
from ollama_toolkit.api.options import resolve_options
from ollama_toolkit.engine.local import LocalRunner
from ollama_toolkit.engine.runner import (
    DoneEvent,
    ErrorEvent,
    GenerateParams,
    ImageChunk,
    ModelSpec,
    TokenChunk,
    TokenEvent,
    image_placeholders,
)
from ollama_toolkit.server.media import decode_images, prompt_chunks
from ollama_toolkit.server.prepare import fit_context
from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import Store
from tiny_projector import TOKENS_PER_IMAGE, png, write_tiny_projector

VISION = "gemma3-vision:tiny"
MARKERS = 2  # Gemma 3's <start_of_image> and <end_of_image> around the image's cells
GREEDY = {"temperature": 0, "num_predict": 8}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_projector(tmp_path_factory.mktemp("projector") / "mmproj.gguf")


@pytest.fixture(scope="module")
def gemma_path(seeded_store: Path) -> Path:
    return load_model(Store(seeded_store), ModelName.parse(BUNDLED_MODEL)).model_path


@pytest.fixture(scope="module")
def vision_server(private_server, projector: Path, gemma_path: Path):
    """The private server with the vision model created from the two GGUFs, as files."""
    client = ollama.Client(host=private_server.url)
    files = {"model.gguf": client.create_blob(gemma_path)}
    files["mmproj.gguf"] = client.create_blob(projector)
    list(client.create(model=VISION, files=files, stream=True))
    return private_server


@pytest.fixture
def client(vision_server) -> ollama.Client:
    return ollama.Client(host=vision_server.url, timeout=300)


def describe(client: ollama.Client, *images: bytes, prompt: str = "This picture shows"):
    return client.generate(model=VISION, prompt=prompt, images=list(images), options=GREEDY)


# --- the routes -------------------------------------------------------------------------------


def test_generate_counts_the_image_tokens_and_sees_the_image(client):
    plain = client.generate(model=VISION, prompt="This picture shows", options=GREEDY)
    one = describe(client, png(1))
    assert one.prompt_eval_count == plain.prompt_eval_count + TOKENS_PER_IMAGE + MARKERS
    again = describe(client, png(1))
    other = describe(client, png(2))
    assert again.response == one.response
    assert other.response != one.response


def test_images_as_paths_bytes_and_base64_are_the_same_image(client, tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png(3))
    answers = {
        describe(client, png(3)).response,
        client.generate(
            model=VISION, prompt="This picture shows", images=[path], options=GREEDY
        ).response,
        client.generate(
            model=VISION, prompt="This picture shows", images=[b64(png(3))], options=GREEDY
        ).response,
    }
    assert len(answers) == 1


def test_generate_streaming_with_an_image(client):
    parts = list(
        client.generate(
            model=VISION, prompt="This picture shows", images=[png(1)], options=GREEDY, stream=True
        )
    )
    assert parts[-1].done
    assert "".join(p.response for p in parts) == describe(client, png(1)).response


def test_chat_with_images(client):
    messages = [{"role": "user", "content": "What is in this picture?", "images": [png(4)]}]
    first = client.chat(model=VISION, messages=messages, options=GREEDY)
    plain = client.chat(
        model=VISION,
        messages=[{"role": "user", "content": "What is in this picture?"}],
        options=GREEDY,
    )
    assert first.prompt_eval_count == plain.prompt_eval_count + TOKENS_PER_IMAGE + MARKERS
    assert client.chat(model=VISION, messages=messages, options=GREEDY).message == first.message
    messages[0]["images"] = [png(5)]
    assert client.chat(model=VISION, messages=messages, options=GREEDY).message != first.message


def test_openai_image_url(vision_server, client):
    oai = openai.OpenAI(base_url=vision_server.url + "/v1", api_key="unused")

    def ask(image: bytes) -> openai.types.chat.ChatCompletion:
        return oai.chat.completions.create(
            model=VISION,
            temperature=0,
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{b64(image)}"},
                        },
                    ],
                }
            ],
        )

    first, same, other = ask(png(6)), ask(png(6)), ask(png(7))
    text = client.chat(
        model=VISION,
        messages=[{"role": "user", "content": "What is in this picture?"}],
        options=GREEDY,
    )
    # The image is a message of its own, as Ollama translates content parts.
    assert first.usage.prompt_tokens >= text.prompt_eval_count + TOKENS_PER_IMAGE + MARKERS
    assert first.choices[0].message.content == same.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_openai_responses_input_image(vision_server):
    oai = openai.OpenAI(base_url=vision_server.url + "/v1", api_key="unused")

    def ask(image: bytes):
        return oai.responses.create(
            model=VISION,
            temperature=0,
            max_output_tokens=16,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is in this picture?"},
                        {
                            "type": "input_image",
                            "image_url": f"data:image/png;base64,{b64(image)}",
                        },
                    ],
                }
            ],
        )

    first, same, other = ask(png(61)), ask(png(61)), ask(png(1))
    assert first.usage.input_tokens > TOKENS_PER_IMAGE + MARKERS
    assert first.output_text == same.output_text
    assert first.output_text != other.output_text


def test_anthropic_image_block(vision_server):
    client = anthropic.Anthropic(base_url=vision_server.url, api_key="unused")

    def ask(image: bytes):
        return client.messages.create(
            model=VISION,
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": b64(image),
                            },
                        },
                        {"type": "text", "text": "What is in this picture?"},
                    ],
                }
            ],
            extra_body={"temperature": 0},
        )

    first, same, other = ask(png(63)), ask(png(63)), ask(png(64))
    assert first.usage.input_tokens > TOKENS_PER_IMAGE + MARKERS
    assert first.content == same.content
    assert first.content != other.content


def test_webp_and_jpeg_are_read(client):
    def encoded(fmt: str) -> bytes:
        out = io.BytesIO()
        Image.open(io.BytesIO(png(8))).save(out, fmt)
        return out.getvalue()

    for data in (encoded("WEBP"), encoded("JPEG"), encoded("GIF"), encoded("BMP")):
        assert describe(client, data).prompt_eval_count > TOKENS_PER_IMAGE


def test_image_tags_place_the_images(vision_server, client):
    def render(**body) -> dict:
        r = httpx.post(
            vision_server.url + "/api/generate",
            json={"model": VISION, "_debug_render_only": True, **body},
        )
        assert r.status_code == 200, r.text
        return r.json()["_debug_info"]

    info = render(prompt="Compare.", images=[b64(png(1)), b64(png(2))])
    assert info["image_count"] == 2
    assert "[img-0][img-1]Compare." in info["rendered_template"]
    info = render(prompt="First [img] then [img].", images=[b64(png(1)), b64(png(2))])
    assert "First [img-0] then [img-1]." in info["rendered_template"]

    r = httpx.post(
        vision_server.url + "/api/chat",
        json={
            "model": VISION,
            "_debug_render_only": True,
            "messages": [
                {"role": "user", "content": "a", "images": [b64(png(1))]},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c [img] d", "images": [b64(png(2))]},
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["_debug_info"]["image_count"] == 2
    rendered = r.json()["_debug_info"]["rendered_template"]
    assert "[img-0]a" in rendered and "c [img-1] d" in rendered


def test_raw_prompts_place_their_own_images(vision_server, client):
    tagged = client.generate(
        model=VISION, prompt="[img-0] This picture shows", raw=True, images=[png(1)], options=GREEDY
    )
    untagged = client.generate(
        model=VISION, prompt="This picture shows", raw=True, images=[png(1)], options=GREEDY
    )
    assert tagged.prompt_eval_count == untagged.prompt_eval_count + TOKENS_PER_IMAGE + MARKERS
    r = httpx.post(
        vision_server.url + "/api/generate",
        json={
            "model": VISION,
            "prompt": "[img-3] x",
            "raw": True,
            "images": [b64(png(1))],
            "stream": False,
        },
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid image index: 3"}


def test_show_reports_the_projector(vision_server, client):
    shown = client.show(VISION)
    assert "vision" in shown.capabilities
    assert "clip" in shown.details.families
    raw = httpx.post(vision_server.url + "/api/show", json={"model": VISION}).json()
    assert raw["projector_info"]["general.architecture"] == "clip"
    assert raw["projector_info"]["clip.projector_type"] == "gemma3"
    assert shown.modelfile.count("\nFROM ") == 2
    listed = {m.model: m for m in client.list().models}
    assert "clip" in listed[VISION].details.families


def test_a_modelfile_with_a_second_from_adds_the_projector(
    vision_server, client, projector, gemma_path, tmp_path
):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {gemma_path}\nFROM {projector}\nPARAMETER temperature 0\n")
    env = {**os.environ, "OLLAMA_HOST": vision_server.url}
    done = subprocess.run(
        [sys.executable, "-m", "ollama_toolkit", "create", "seeing:cli", "-f", str(modelfile)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    try:
        assert "vision" in client.show("seeing:cli").capabilities
        shown = subprocess.run(
            [sys.executable, "-m", "ollama_toolkit", "show", "seeing:cli"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        projector = shown.split("  Projector\n", 1)[1]
        assert re.search(r"architecture +clip", projector)
        assert "dimensions" in projector and "640" in projector
        r = client.generate(model="seeing:cli", prompt="x", images=[png(1)], options=GREEDY)
        assert r.prompt_eval_count > TOKENS_PER_IMAGE
    finally:
        client.delete("seeing:cli")


# --- bad images: a clear 400, the server keeps serving --------------------------------------


def fifty_megapixel_png() -> bytes:
    """A PNG header of 10000×5000 pixels and a few bytes of data: refused from the header,
    before anything is decoded."""
    header = struct.pack(">IIBBBBB", 10_000, 5_000, 8, 2, 0, 0, 0)
    body = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + body + struct.pack(">I", zlib.crc32(body))
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("not base64!!", "images[0] is not valid base64 data"),
        (b64(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20), "images[0] "),
        (b64(png(1)[:60]), "images[0] could not be decoded"),
        (b64(b"GIF89a"), "images[0] "),
        (b64(b"plain text, not a picture"), "images[0] is not an image of a supported format"),
        (b64(fifty_megapixel_png()), "images[0] is too large: 10000x5000 pixels"),
    ],
)
@pytest.mark.parametrize("route", ["generate", "chat"])
def test_bad_images_are_refused(vision_server, image, message, route):
    url = vision_server.url
    if route == "generate":
        body = {"model": VISION, "prompt": "x", "images": [image], "stream": False}
    else:
        body = {
            "model": VISION,
            "messages": [{"role": "user", "content": "x", "images": [image]}],
            "stream": False,
        }
    r = httpx.post(f"{url}/api/{route}", json=body, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(message)
    assert httpx.get(url + "/api/version").status_code == 200


def test_images_to_a_text_model_are_refused_before_loading(vision_server, model):
    r = httpx.post(
        vision_server.url + "/api/generate",
        json={"model": model, "prompt": "x", "images": [b64(png(1))]},
    )
    assert r.status_code == 400
    assert r.json() == {"error": f'"{model}" does not support images'}
    ps = httpx.get(vision_server.url + "/api/ps").json()["models"]
    assert model not in {m["model"] for m in ps}


def test_context_tokens_outside_the_vocabulary_are_refused(vision_server):
    for bad in ([-5], [10**9]):
        r = httpx.post(
            vision_server.url + "/api/generate",
            json={"model": VISION, "prompt": "x", "context": bad, "stream": False},
        )
        assert r.status_code == 400, r.text
        assert "vocabulary" in r.json()["error"]


# --- the engine ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner(gemma_path: Path, projector: Path):
    options = resolve_options({}, {"num_ctx": 256})
    made = LocalRunner(
        ModelSpec(gemma_path, "vision", projector), options.runner.resolved(), num_parallel=4
    )
    yield made
    made.close()


async def run(runner: LocalRunner, prompt: str, images: list[bytes], **options) -> tuple:
    """(text, logprobs, done) of a greedy run."""
    opts = resolve_options({}, {**GREEDY, **options})
    media = [runner.image_prompt(image) for image in decode_images(images)]
    chunks = prompt_chunks(runner, prompt, media, add_special=True)
    params = GenerateParams(
        prompt=chunks,
        options=opts,
        num_ctx=runner.context_size(opts),
        logprobs=True,
        top_logprobs=5,
    )
    text, logprobs, done = "", [], None
    async for event in runner.generate(params):
        if isinstance(event, TokenEvent):
            text += event.text
            logprobs.extend(event.logprobs or ())
        elif isinstance(event, DoneEvent):
            done = event
        elif isinstance(event, ErrorEvent):
            raise AssertionError(event.message)
    assert done is not None
    return text, logprobs, done


def test_the_same_image_reuses_the_cached_prefix_and_another_does_not(runner):
    prompt = "[img-0] This picture shows"

    async def main():
        first = await run(runner, prompt, [png(11)])
        same = await run(runner, prompt, [png(11)])
        other = await run(runner, prompt, [png(12)])
        return first, same, other

    (text, _, first), (same_text, _, same), (_, _, other) = asyncio.run(main())
    assert same_text == text
    assert same.cached_count == same.prompt_eval_count - 1  # all but the last token
    # BOS and <start_of_image> are shared; the other image's cells are not.
    assert other.cached_count == 2


def test_four_streams_two_with_images_match_their_solo_runs(runner):
    jobs = [
        ("[img-0] This picture shows", [png(21)]),
        ("Once upon a time", []),
        ("[img-0] and [img-1] show", [png(22), png(23)]),
        ("The capital of France is", []),
    ]

    async def main():
        # One after the other, each lands in the slot the one before left: the first three
        # are not cached when they run together.
        solo = [await run(runner, p, i) for p, i in jobs]
        together = await asyncio.gather(*(run(runner, p, i) for p, i in jobs))
        return solo, together

    solo, together = asyncio.run(main())
    for alone, batched in zip(solo, together, strict=True):
        assert_same_up_to_a_tie(alone, batched)


def test_a_prompt_that_is_too_long_loses_whole_images_only(runner):
    opts = resolve_options({}, {"num_keep": 2})
    image = runner.image_prompt(decode_images([png(31)])[0])
    prompt = [TokenChunk([1, 2, 3]), *image, TokenChunk(list(range(10, 20)))]
    length = sum(len(c.tokens) for c in prompt)
    # Cut 4 tokens after the first 2: the cut reaches into the image, which goes whole.
    fitted = fit_context(prompt, opts, length - 3, truncate=True)
    assert not any(isinstance(c, ImageChunk) for c in fitted)
    flat = [t for c in fitted for t in c.tokens]
    assert flat[:2] == [1, 2]
    assert all(t >= 0 for t in flat)
    # A cut before the image keeps it whole.
    fitted = fit_context(prompt, resolve_options({}, {"num_keep": 0}), length - 1, truncate=True)
    assert [c for c in fitted if isinstance(c, ImageChunk)] == [
        c for c in image if isinstance(c, ImageChunk)
    ]


def test_placeholders_name_the_image(runner):
    a, b = decode_images([png(41), png(42)])
    assert a.key != b.key
    cells = TOKENS_PER_IMAGE
    assert image_placeholders(a.key, cells) == image_placeholders(a.key, cells)
    assert set(image_placeholders(a.key, cells)).isdisjoint(image_placeholders(b.key, cells))


def test_generation_past_the_context_shifts_around_images(runner):
    async def main():
        return await run(
            runner,
            "Tell me a long story. [img-0] Once upon a time",
            [png(51)],
            num_ctx=40,
            num_keep=4,
            num_predict=80,
            temperature=0.8,
        )

    text, _, done = asyncio.run(main())
    assert done.eval_count == 80  # shifted (several times) instead of stopping
    assert text


def test_an_image_larger_than_the_batch_is_refused_not_a_crash(gemma_path, projector):
    # Gemma 3's image cells attend to each other both ways: llama.cpp needs them in one ubatch
    # and aborts the process otherwise.
    options = resolve_options({}, {"num_batch": TOKENS_PER_IMAGE - 1})
    small = LocalRunner(
        ModelSpec(gemma_path, "small", projector), options.runner.resolved(), num_parallel=1
    )
    try:
        with pytest.raises(InvalidRequest, match="raise num_batch"):
            small.image_prompt(decode_images([png(1)])[0])
    finally:
        small.close()
