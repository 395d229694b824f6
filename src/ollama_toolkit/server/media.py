"""Images in requests: checked and decoded (off the event loop), placed in the prompt as Ollama
places them, and turned into prompt chunks with the runner.

Ollama's placement (`server/prompt.go`): each image of a message gets a tag `[img-N]`, numbered
over the request; where the message's text has `[img]` markers, each is replaced in turn,
otherwise the tags go before the text. The prompt is then split on the tags, and each tag is
the image it numbers (an unknown number is an error). A raw prompt is not tagged: its own tags
place the images.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from typing import Any

from PIL import Image, UnidentifiedImageError

from ollama_toolkit import config
from ollama_toolkit.api.errors import (
    InvalidRequest,
    image_too_large,
    images_too_large,
)
from ollama_toolkit.engine.runner import ImageInput, PromptChunk, Runner, TokenChunk

# The formats llama.cpp's own image loader reads, and WebP, which Ollama accepts too.
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")

_TAG = re.compile(r"\[img-(\d+)\]")


def check_images(images: list[str]) -> list[bytes]:
    """Each image's bytes: base64 of at most OLLAMA_MAX_IMAGE_BYTES, all of them together at
    most OLLAMA_MAX_TOTAL_IMAGE_BYTES (decoded). Cheap: done before the model is looked at."""
    limit, total_limit = config.max_image_bytes(), config.max_total_image_bytes()
    total = 0
    data = []
    for i, image in enumerate(images):
        try:
            raw = base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"images[{i}] is not valid base64 data") from None
        if len(raw) > limit:
            raise image_too_large(i, len(raw), limit)
        total += len(raw)
        data.append(raw)
    if total > total_limit:
        raise images_too_large(total, total_limit)
    return data


def decode_images(images: list[bytes]) -> list[ImageInput]:
    """Each image as RGB pixels, refused when it is not a picture of a supported format or has
    more than OLLAMA_MAX_IMAGE_PIXELS pixels (checked from its header, before decoding it).
    Blocking: seconds for a large photo."""
    return [_decode(i, data) for i, data in enumerate(images)]


def _decode(index: int, data: bytes) -> ImageInput:
    limit = config.max_image_pixels()
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            width, height = img.size
            if width * height > limit:
                raise InvalidRequest(
                    f"images[{index}] is too large: {width}x{height} pixels (limit {limit} pixels)"
                )
            rgb = img.convert("RGB").tobytes()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise _unsupported(index) from None
    except (OSError, ValueError, SyntaxError) as e:  # a known format, broken past its header
        raise InvalidRequest(f"images[{index}] could not be decoded: {e}") from None
    return ImageInput(width, height, rgb, hashlib.sha256(data).digest())


def _unsupported(index: int) -> InvalidRequest:
    return InvalidRequest(
        f"images[{index}] is not an image of a supported format ({', '.join(FORMATS)})"
    )


def tag_images(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The messages with their images' tags in the text, and the images in tag order."""
    tagged = []
    order: list[str] = []
    for message in messages:
        images = message.get("images") or []
        if not images:
            tagged.append(message)
            continue
        content = str(message.get("content") or "")
        prefix = ""
        for image in images:
            tag = f"[img-{len(order)}]"
            order.append(image)
            if "[img]" in content:
                content = content.replace("[img]", tag, 1)
            else:
                prefix += tag
        tagged.append({**message, "content": prefix + content})
    return tagged, order


def image_prompts(runner: Runner, images: dict[str, ImageInput]) -> dict[str, list[PromptChunk]]:
    """Each image (by its base64) as the runner's prompt chunks. Blocking."""
    return {key: runner.image_prompt(image) for key, image in images.items()}


def prompt_chunks(
    runner: Runner, prompt: str, images: list[list[PromptChunk]], add_special: bool
) -> list[PromptChunk]:
    """The prompt's text tokenized around its `[img-N]` tags, each tag replaced by image N.
    The first piece gets the tokenizer's special tokens (BOS), even when it is empty."""
    if not images:
        return [TokenChunk(runner.tokenize(prompt, add_special=add_special))]
    parts = _TAG.split(prompt)  # text, number, text, number, ..., text
    chunks: list[PromptChunk] = [TokenChunk(runner.tokenize(parts[0], add_special=add_special))]
    for i in range(1, len(parts), 2):
        n = int(parts[i])
        if n >= len(images):
            raise InvalidRequest(f"invalid image index: {n}")
        chunks.extend(images[n])
        if parts[i + 1]:
            chunks.append(TokenChunk(runner.tokenize(parts[i + 1], add_special=False)))
    return chunks


def chunks_length(chunks: list[PromptChunk]) -> int:
    return sum(len(chunk.tokens) for chunk in chunks)
