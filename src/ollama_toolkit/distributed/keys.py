"""What the ingress reads of a request to route it, without Ray: the model (the multiplexed
model id) and a hash chain over the prompt's leading blocks (for prefix affinity).

The chain is computed over the request's own JSON, not over tokens: the prompt-bearing fields
(`system`, `instructions`, `messages`, `prompt`, `input`) serialized in a fixed order, cut into
blocks of `BLOCK_CHARS` characters. Two requests that share a long system prompt and the first
messages share the leading blocks of that text, so their chains share a prefix; each hash
covers every block before it, so a match of the i-th hash is a match of the whole prefix up to
it. The ingress never renders templates or tokenizes: routing costs one JSON parse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ollama_toolkit.store.names import InvalidNameError, ModelName

BLOCK_CHARS = 256
"""Characters per prompt block: about 64 tokens of English text."""

MAX_BLOCKS = 256
"""Blocks hashed at most (64 KiB of prompt): beyond that, affinity gains nothing more."""

PROMPT_FIELDS = ("system", "instructions", "messages", "prompt", "input")
"""The fields that make a request's prompt, in the order they are serialized."""

# The routes that run on an engine replica. Everything else is answered by the ingress itself
# (the model store's writers among them), /api/ps gathered from every replica.
INFERENCE_PATHS = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
    }
)


@dataclass(frozen=True)
class RouteKeys:
    """A request's model id ("" when it names none, or an invalid one: any replica answers the
    error) and its prefix hash chain. `everywhere`: a request that only loads or unloads the
    model (`/api/generate` without a prompt, `/api/chat` without messages), which every
    replica gets; `load`: it loads (not `keep_alive` 0)."""

    model: str
    prefix: list[int]
    everywhere: bool = False
    load: bool = False


def model_id(name: str) -> str:
    """The id a model is multiplexed under: the same for every spelling of one name (`gemma3`,
    `gemma3:latest`, `registry.ollama.ai/library/gemma3:latest`, any case)."""
    try:
        return "/".join(ModelName.parse(name).casefold_key())
    except InvalidNameError:
        return ""


def prefix_chain(text: str, block_chars: int = BLOCK_CHARS) -> list[int]:
    """Hashes of the text's whole leading blocks, each chained on the one before (64 bits)."""
    chain: list[int] = []
    digest = b""
    for start in range(0, min(len(text), block_chars * MAX_BLOCKS), block_chars):
        block = text[start : start + block_chars]
        if len(block) < block_chars:
            break  # only whole blocks: a partial one would never match a longer prompt's
        data = digest + block.encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(data, digest_size=8).digest()
        chain.append(int.from_bytes(digest, "big"))
    return chain


def route_keys(path: str, body: bytes) -> RouteKeys:
    """The routing keys of an inference request's body; a body that is not a JSON object gets
    empty keys (the replica that gets it answers the error, as the plain server would)."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return RouteKeys("", [])
    if not isinstance(obj, dict):
        return RouteKeys("", [])
    name = obj.get("model")
    model = model_id(name) if isinstance(name, str) and name else ""
    parts = [obj[f] for f in PROMPT_FIELDS if f in obj]
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    # The closing brackets would end the text differently from a longer conversation's.
    chain = prefix_chain(text.rstrip(']}"'))
    return RouteKeys(model, chain, *_load_or_unload(path, obj))


def _load_or_unload(path: str, obj: dict[str, object]) -> tuple[bool, bool]:
    if path == "/api/generate":
        bare = not obj.get("prompt") and not obj.get("images") and not obj.get("suffix")
    elif path == "/api/chat":
        bare = not obj.get("messages")
    else:
        return False, False
    unload = obj.get("keep_alive") in (0, "0", "0s", "0m", "0h")
    return bare, bare and not unload
