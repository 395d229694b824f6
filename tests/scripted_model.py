"""A tiny llama GGUF that writes a fixed script, whatever the prompt: real llama.cpp, known output.

The bundled models never call tools on their own, and some APIs (Anthropic's, OpenAI's
Responses) have no `format` to force one. This model does: its attention and feed-forward
weights are zero, so the last layer sees only the current token's embedding, a one-hot vector;
the output matrix maps each token to the next token of the script (every token outside it to
the script's first, the last to end-of-sequence), so greedy and sampled decoding alike follow
it. The vocabulary is SentencePiece's shape (`<unk>`, `<s>`, `</s>`, the 256 byte tokens that
any text falls back to) plus one token per piece of the script.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from gguf import GGUFWriter

# Tools in the system turn, past calls as bare JSON objects: the tools parser reads a call as
# `{"name": …, "arguments": …}`.
TOOLS_TEMPLATE = """\
{{- if .Tools }}<start_of_turn>system
Tools:
{{ range .Tools }}{{ json .Function }}
{{ end }}<end_of_turn>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "system" }}<start_of_turn>system
{{ .Content }}<end_of_turn>
{{ else if eq .Role "user" }}<start_of_turn>user
{{ .Content }}<end_of_turn>
{{ else if eq .Role "assistant" }}<start_of_turn>model
{{ if .ToolCalls }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", \
"arguments": {{ .Function.Arguments }}}
{{ end }}{{ else }}{{ .Content }}{{ end }}<end_of_turn>
{{ else if eq .Role "tool" }}<start_of_turn>tool {{ .ToolName }}
{{ .Content }}<end_of_turn>
{{ end }}
{{- if $last }}<start_of_turn>model
{{ end }}
{{- end }}"""

# The call SCRIPTED_CALLER makes, in two tokens.
WEATHER_CALL = ['{"name":"get_weather",', '"arguments":{"city":"Paris"}}']

_BYTES = [f"<0x{b:02X}>" for b in range(256)]
# The output logit of the scripted next token: RMS-normalised one-hot embeddings make it
# sqrt(n_embd) (about 16) against 0 for every other token, so temperature 1 still picks it.
_EOS = 2


def write_scripted_gguf(
    path: Path, script: list[str], control: frozenset[str] = frozenset()
) -> Path:
    """A GGUF whose every reply is `"".join(script)` (each piece one token), then end of text;
    the pieces in `control` are control tokens (special: llama.cpp writes them as nothing).

    Pieces must be distinct, without spaces (SentencePiece would read them as `▁`)."""
    assert script and all(" " not in piece for piece in script)
    assert len(set(script)) == len(script)
    tokens = ["<unk>", "<s>", "</s>", *_BYTES, *script]
    # Unknown, control, byte, then each piece normal or control.
    types = [2, 3, 3] + [6] * len(_BYTES) + [3 if p in control else 1 for p in script]
    n_vocab = len(tokens)
    n_embd = n_vocab + (-n_vocab % 32)  # a multiple of the head count times llama's alignment
    first = 3 + len(_BYTES)

    w = GGUFWriter(str(path), "llama")
    w.add_name("scripted")
    w.add_context_length(512)
    w.add_embedding_length(n_embd)
    w.add_block_count(1)
    w.add_feed_forward_length(32)
    w.add_head_count(1)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)  # F32
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(_EOS)
    w.add_add_bos_token(True)

    embeddings = np.zeros((n_vocab, n_embd), dtype=np.float32)
    embeddings[np.arange(n_vocab), np.arange(n_vocab)] = 1.0
    successor = np.full(n_vocab, first)
    successor[first : first + len(script) - 1] = np.arange(first + 1, first + len(script))
    successor[first + len(script) - 1] = _EOS
    output = np.zeros((n_vocab, n_embd), dtype=np.float32)
    output[successor, np.arange(n_vocab)] = 1.0

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    w.add_tensor("token_embd.weight", embeddings)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(f"blk.0.{name}.weight", zeros(n_embd, n_embd))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.add_tensor("blk.0.ffn_gate.weight", zeros(32, n_embd))
    w.add_tensor("blk.0.ffn_up.weight", zeros(32, n_embd))
    w.add_tensor("blk.0.ffn_down.weight", zeros(n_embd, 32))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.add_tensor("output.weight", output)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def create_scripted_model(
    url: str, name: str, gguf: Path, template: str = TOOLS_TEMPLATE, **fields: Any
) -> str:
    """`gguf` uploaded as a blob and created as `name` with `template` (and any other fields of
    /api/create), through the server."""
    data = gguf.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    uploaded = httpx.post(f"{url}/api/blobs/{digest}", content=data, timeout=60)
    assert uploaded.status_code in (200, 201), uploaded.text  # 200: the store had it already
    body = {
        "model": name,
        "files": {"m.gguf": digest},
        "template": template,
        "stream": False,
        **fields,
    }
    resp = httpx.post(f"{url}/api/create", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    return name
