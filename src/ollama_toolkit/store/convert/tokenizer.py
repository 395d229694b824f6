"""A GGUF vocabulary from a Hugging Face `tokenizer.json` and `tokenizer_config.json`.

Three kinds of tokenizer.json are read, each into the tokenizer llama.cpp runs for it:
- WordPiece (BERT): `bert`, in llama.cpp's "phantom space" spelling (a word-initial piece
  gets `▁`, a `##` continuation loses its prefix), with the normalizer's lowercasing;
- byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM): `gpt2`, with its merges and the
  pre-tokenizer named as llama.cpp knows it (`llama-bpe`, `qwen2`, `smollm` …);
- SentencePiece-style BPE (`▁` for spaces, byte fallback: Gemma, Llama 2, Mistral): `llama`,
  llama.cpp's SentencePiece tokenizer, which merges the adjacent pair whose merged piece
  scores highest; each piece's score is minus the rank of the first merge that makes it, so
  that the merges apply in the order tokenizer.json gives them.

Special tokens (BOS, EOS, …) and whether to add them follow llama.cpp's converter
(gguf-py's `SpecialVocab`): tokenizer_config.json's `*_token` and `add_*_token`, the post
processor's template, config.json's ids last. The chat template comes from
tokenizer_config.json or `chat_template.jinja`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ollama_toolkit.store.convert.source import ConvertError, Source

log = logging.getLogger(__name__)

# llama.cpp's token types (gguf.TokenType).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

SPECIAL_TYPES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
# The GGUF key of each special token's id: tokenizer.ggml.<key>_token_id ("seperator" sic).
_SPECIAL_KEYS = {
    "bos": "bos",
    "eos": "eos",
    "unk": "unknown",
    "sep": "seperator",
    "pad": "padding",
    "cls": "cls",
    "mask": "mask",
    "eot": "eot",
}

# Ollama's names for byte-level pre-tokenizers, by the sha256 of their Split regexes
# (convert/tokenizer.go), which llama.cpp knows by the same names.
_PRE_BY_SPLIT_DIGEST = {
    "d98f9631be1e9607a9848c26c1f9eac1aa9fc21ac6ba82a2fc0741af9780a48f": "llama-bpe",
    "03df5c5863ad70781dcfdef491ead25140f895fe8010964be0daefe27be32b02": "deepseek-llm",
    "21cde974d587f0d54dc8d56b183cc1e6239600172035c68fbd6d4b9f8da0576e": "deepseek-coder",
    "1ff7f41064896984db5d1bb6ff64fa4bc29007d08c1b439e505b7392777a319e": "qwen2",
    "00431aed57e696b747435f734d1e3b9b1bfd931a121fb5cac7129e97c181e9ba": "qwen35",
}
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@dataclass
class Vocab:
    """What the GGUF's `tokenizer.*` keys hold."""

    model: str  # "bert", "gpt2" or "llama"
    tokens: list[str]
    types: list[int]
    pre: str = "default"
    scores: list[float] | None = None
    merges: list[str] | None = None
    special: dict[str, int] = field(default_factory=dict)  # "bos" → its id …
    add: dict[str, bool] = field(default_factory=dict)  # "bos", "eos", "sep" → add it or not
    add_space_prefix: bool | None = None
    lowercase: bool | None = None
    strip_accents: bool | None = None
    chat_template: str | None = None

    def metadata(self) -> dict[str, Any]:
        kv: dict[str, Any] = {
            "tokenizer.ggml.model": self.model,
            "tokenizer.ggml.pre": self.pre,
            "tokenizer.ggml.tokens": self.tokens,
            "tokenizer.ggml.token_type": self.types,
        }
        if self.scores is not None:
            kv["tokenizer.ggml.scores"] = self.scores
        if self.merges is not None:
            kv["tokenizer.ggml.merges"] = self.merges
        for kind, token_id in self.special.items():
            kv[f"tokenizer.ggml.{_SPECIAL_KEYS[kind]}_token_id"] = token_id
        for kind, flag in self.add.items():
            kv[f"tokenizer.ggml.add_{kind}_token"] = flag
        if self.add_space_prefix is not None:
            kv["tokenizer.ggml.add_space_prefix"] = self.add_space_prefix
        if self.lowercase is not None:
            kv["tokenizer.ggml.normalizer.lowercase"] = self.lowercase
        if self.strip_accents is not None:
            kv["tokenizer.ggml.normalizer.strip_accents"] = self.strip_accents
        if self.chat_template:
            kv["tokenizer.chat_template"] = self.chat_template
        return kv


def read_vocab(source: Source, n_vocab: int | None, config: dict[str, Any]) -> Vocab:
    """The vocabulary of `source`'s tokenizer.json, `n_vocab` long (the embedding's rows)."""
    if not source.has("tokenizer.json"):
        names = " and ".join(n for n in ("tokenizer.model", "vocab.txt") if source.has(n))
        also = f" ({names} alone is not supported)" if names else ""
        raise ConvertError(f"missing tokenizer: no tokenizer.json among the model's files{also}")
    doc = source.json_object("tokenizer.json")
    model = doc.get("model")
    if not isinstance(model, dict):
        raise ConvertError("tokenizer.json has no model")
    kind = model.get("type")
    contents = _contents_by_id(doc, model, n_vocab)
    added = {t["id"]: t for t in doc.get("added_tokens") or [] if _is_added_token(t)}
    tokenizer_config = source.optional_json_object("tokenizer_config.json")

    if kind == "WordPiece":
        vocab = _wordpiece(contents, added, doc)
    elif kind == "BPE" and _is_byte_level(doc):
        vocab = _byte_level_bpe(contents, added, doc, model)
    elif kind == "BPE" and _is_sentencepiece_style(doc, model):
        vocab = _sentencepiece_bpe(contents, added, doc, model)
    else:
        raise ConvertError(f"unsupported tokenizer: a {kind} model in tokenizer.json")

    ids = {text: i for i, text in enumerate(contents) if text is not None}
    for t in added.values():
        ids[t["content"]] = t["id"]
    _special_tokens(vocab, ids, doc, tokenizer_config, config, source)
    vocab.chat_template = _chat_template(source, tokenizer_config)
    return vocab


def _is_added_token(t: Any) -> bool:
    return isinstance(t, dict) and type(t.get("id")) is int and isinstance(t.get("content"), str)


def _contents_by_id(doc: dict[str, Any], model: dict[str, Any], n_vocab: int | None) -> list:
    """Each id's text (None for an id that has none), `n_vocab` long when it is known."""
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise ConvertError("tokenizer.json has no vocabulary")
    by_id: dict[int, str] = {}
    for text, token_id in vocab.items():
        if type(token_id) is not int or token_id < 0:
            raise ConvertError(f"tokenizer.json gives token {text!r} the id {token_id!r}")
        by_id[token_id] = text
    for t in doc.get("added_tokens") or []:
        if _is_added_token(t) and t["id"] >= 0:
            by_id[t["id"]] = t["content"]
    size = max(by_id) + 1
    if n_vocab is not None:
        if size > n_vocab:
            raise ConvertError(
                f"tokenizer.json has {size} tokens but the model's vocabulary is {n_vocab}"
            )
        size = n_vocab
    return [by_id.get(i) for i in range(size)]


def _pad(contents: list, i: int) -> str:
    return contents[i] if contents[i] is not None else f"[PAD{i}]"


def _wordpiece(contents: list, added: dict[int, Any], doc: dict[str, Any]) -> Vocab:
    tokens, types = [], []
    for i in range(len(contents)):
        text = _pad(contents, i)
        if contents[i] is None:
            kind = UNUSED
        elif i in added and added[i].get("special"):
            kind = CONTROL
        elif i in added:
            kind = USER_DEFINED
        else:
            kind = NORMAL
        if kind not in (CONTROL, UNUSED):
            text = text[2:] if text.startswith("##") else "\u2581" + text
        tokens.append(text)
        types.append(kind)
    vocab = Vocab(model="bert", tokens=tokens, types=types)
    _normalizer_flags(vocab, doc.get("normalizer"))
    return vocab


def _normalizer_flags(vocab: Vocab, normalizer: Any) -> None:
    if not isinstance(normalizer, dict):
        return
    kind = normalizer.get("type")
    if kind == "Lowercase":
        vocab.lowercase = True
    elif kind == "StripAccents":
        vocab.strip_accents = True
    elif kind == "BertNormalizer":
        if isinstance(normalizer.get("lowercase"), bool):
            vocab.lowercase = normalizer["lowercase"]
        if isinstance(normalizer.get("strip_accents"), bool):
            vocab.strip_accents = normalizer["strip_accents"]
    elif kind == "Sequence":
        for inner in normalizer.get("normalizers") or []:
            _normalizer_flags(vocab, inner)


def _parts(node: Any, key: str) -> list[dict[str, Any]]:
    """A tokenizer.json component and, for a `Sequence`, the components inside it."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        return [p for p in node.get(key) or [] if isinstance(p, dict)]
    return [node]


def _is_byte_level(doc: dict[str, Any]) -> bool:
    pre = _parts(doc.get("pre_tokenizer"), "pretokenizers")
    decoders = _parts(doc.get("decoder"), "decoders")
    return any(p.get("type") == "ByteLevel" for p in pre + decoders)


def _is_sentencepiece_style(doc: dict[str, Any], model: dict[str, Any]) -> bool:
    if model.get("byte_fallback"):
        return True
    pre = _parts(doc.get("pre_tokenizer"), "pretokenizers")
    normalizers = _parts(doc.get("normalizer"), "normalizers")
    return any(p.get("type") == "Metaspace" for p in pre) or any(
        n.get("type") == "Replace" and n.get("content") == "\u2581" for n in normalizers
    )


def _merges(model: dict[str, Any]) -> list[tuple[str, str]]:
    raw = model.get("merges") or []
    if not isinstance(raw, list):
        raise ConvertError("tokenizer.json's merges are not a list")
    pairs = []
    for m in raw:
        if isinstance(m, str) and m.count(" ") == 1:
            a, b = m.split(" ")
        elif isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m):
            a, b = m
        else:
            raise ConvertError(f"tokenizer.json has a malformed merge {m!r}")
        pairs.append((a, b))
    return pairs


def _byte_level_bpe(
    contents: list, added: dict[int, Any], doc: dict[str, Any], model: dict[str, Any]
) -> Vocab:
    tokens, types = [], []
    for i in range(len(contents)):
        tokens.append(_pad(contents, i))
        if contents[i] is None:
            types.append(UNUSED)
        elif i in added:
            types.append(CONTROL if added[i].get("special") else USER_DEFINED)
        else:
            types.append(NORMAL)
    # llama.cpp's merges are "a b"; a space inside a part is written as its byte-level glyph.
    merges = [" ".join(p.replace(" ", "\u0120") for p in pair) for pair in _merges(model)]
    return Vocab(model="gpt2", tokens=tokens, types=types, merges=merges, pre=_pre_name(doc))


def _pre_name(doc: dict[str, Any]) -> str:
    """llama.cpp's name for a byte-level BPE pre-tokenizer."""
    parts = _parts(doc.get("pre_tokenizer"), "pretokenizers")
    digest = hashlib.sha256()
    for p in parts:
        if p.get("type") == "Split":
            pattern = p.get("pattern")
            regex = pattern.get("Regex") if isinstance(pattern, dict) else None
            if regex:
                digest.update(regex.encode())
    name = _PRE_BY_SPLIT_DIGEST.get(digest.hexdigest())
    if name:
        return name
    shape = [(p.get("type"), p.get("individual_digits"), p.get("use_regex", True)) for p in parts]
    if shape == [("Digits", True, True), ("ByteLevel", None, True)]:
        return "smollm"  # digits one by one, then GPT-2's regex
    if shape == [("ByteLevel", None, True)]:
        return "gpt-2"
    log.warning("unknown pre-tokenizer %s, using the default", shape)
    return "default"


def _sentencepiece_bpe(
    contents: list, added: dict[int, Any], doc: dict[str, Any], model: dict[str, Any]
) -> Vocab:
    merges = _merges(model)
    ids = {text: i for i, text in enumerate(contents) if text is not None}
    scores = [0.0] * len(contents)
    has_score = [False] * len(contents)
    for rank, (a, b) in enumerate(merges):
        merged = ids.get(a + b)
        if merged is not None and not has_score[merged]:
            scores[merged] = -float(rank)
            has_score[merged] = True
    unk = model.get("unk_token")
    byte_fallback = bool(model.get("byte_fallback"))
    tokens, types = [], []
    for i in range(len(contents)):
        text = _pad(contents, i)
        if contents[i] is None:
            kind, score = UNUSED, -10000.0
        elif i in added and added[i].get("special"):
            kind, score = CONTROL, -1000.0
        elif i in added:
            # llama.cpp matches user-defined tokens in the raw text: spaces as spaces.
            kind, score = USER_DEFINED, -1000.0
            text = text.replace("\u2581", " ")
        elif text == unk:
            kind, score = UNKNOWN, 0.0
        elif byte_fallback and _BYTE_TOKEN.fullmatch(text):
            kind, score = BYTE, 0.0
        else:
            kind = NORMAL
            score = scores[i] if has_score[i] else -float(len(merges) + i)
        tokens.append(text)
        types.append(kind)
        scores[i] = score
    vocab = Vocab(model="llama", tokens=tokens, types=types, scores=scores)
    vocab.add_space_prefix = _adds_space_prefix(doc)
    return vocab


def _adds_space_prefix(doc: dict[str, Any]) -> bool:
    """Whether the text gets a leading `▁` (SentencePiece's dummy prefix) before tokenizing."""
    for n in _parts(doc.get("normalizer"), "normalizers"):
        if n.get("type") == "Prepend" and n.get("prepend") == "\u2581":
            return True
    for p in _parts(doc.get("pre_tokenizer"), "pretokenizers"):
        if p.get("type") == "Metaspace":
            scheme = p.get("prepend_scheme")
            return scheme in ("always", "first") if scheme else bool(p.get("add_prefix_space"))
    return False


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _special_tokens(
    vocab: Vocab,
    ids: dict[str, int],
    doc: dict[str, Any],
    tokenizer_config: dict[str, Any],
    config: dict[str, Any],
    source: Source,
) -> None:
    """Special token ids and add-flags, the way gguf-py's SpecialVocab finds them."""
    names: dict[str, str] = {}
    special_map = source.optional_json_object("special_tokens_map.json")
    for kind in SPECIAL_TYPES:
        text = _token_text(tokenizer_config.get(f"{kind}_token"))
        if text is None:
            text = _token_text(special_map.get(f"{kind}_token"))
        if text is not None:
            names[kind] = text
    # An encoder's [CLS] and [SEP] stand for BOS and EOS.
    if "bos" not in names and "cls" in names:
        names["bos"] = names["cls"]
    if "eos" not in names and "sep" in names:
        names["eos"] = names["sep"]
    add: dict[str, bool] = {}
    processor = doc.get("post_processor")
    for p in _parts(processor, "processors"):
        step = p.get("type")
        if step == "ByteLevel":
            add.setdefault("bos", False)
            add.setdefault("eos", False)
        elif step == "RobertaProcessing":
            add.update(bos=True, eos=True, sep=True)
        elif step == "TemplateProcessing":
            single = p.get("single") or []
            if len(single) > 1:
                first = _template_special(single[0])
                last = _template_special(single[-1])
                if first:
                    names.setdefault("bos", first)
                    add["bos"] = first in (names.get("bos"), names.get("cls"))
                if last:
                    if names.get("eos") not in (None, last):
                        names.setdefault("eot", names["eos"])
                    names["eos"] = last
                    add["eos"] = True
    for kind in ("bos", "eos", "sep"):
        flag = tokenizer_config.get(f"add_{kind}_token")
        if isinstance(flag, bool):
            add[kind] = flag
    special: dict[str, int] = {}
    for kind, text in names.items():
        if text in ids:
            special[kind] = ids[text]
    for kind in SPECIAL_TYPES:
        token_id = config.get(f"{kind}_token_id")
        if kind not in special and type(token_id) is int and 0 <= token_id < len(vocab.tokens):
            special[kind] = token_id
    vocab.special = special
    vocab.add = add


def _template_special(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("SpecialToken"), dict):
        value = item["SpecialToken"].get("id")
        return value if isinstance(value, str) else None
    return None


def _chat_template(source: Source, tokenizer_config: dict[str, Any]) -> str | None:
    template: Any = tokenizer_config.get("chat_template")
    if isinstance(template, list):
        named = [e for e in template if isinstance(e, dict) and e.get("name") == "default"]
        template = named[0].get("template") if named else None
    if isinstance(template, str) and template:
        return template
    if source.has("chat_template.jinja"):
        return source.text("chat_template.jinja")
    if source.has("chat_template.json"):
        value = source.json_object("chat_template.json").get("chat_template")
        if isinstance(value, str):
            return value
    return None
