"""Chat prompt rendering: a GGUF's own Jinja template, the conversation, truncation."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import gguf
import pytest

from ollama_toolkit.api.errors import InternalError
from ollama_toolkit.api.types import Message, Tool
from ollama_toolkit.server.prompt import ChatTemplate, chat_prompt, conversation
from ollama_toolkit.store.model import Model, load_model
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import MEDIA_MODEL, MEDIA_SYSTEM, MEDIA_TEMPLATE, Layer, Store

JINJA = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if tools %}<|tools|>{{ tools | map(attribute='function') "
    "| map(attribute='name') | join(',') }}\n{% endif %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TOOL = Tool.model_validate({"type": "function", "function": {"name": "get_weather"}})


def tiny_gguf(path: Path, chat_template: str, add_bos: bool) -> bytes:
    """A GGUF holding only metadata: enough for everything but running the model."""
    writer = gguf.GGUFWriter(path, "gemma3")
    writer.add_token_list(["<pad>", "<bos>", "<eos>", "a"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(add_bos)
    writer.add_chat_template(chat_template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def store_model(
    tmp_path: Path,
    chat_template: str,
    add_bos: bool = True,
    template: str | None = None,
    system: str | None = None,
) -> Model:
    """A model in a fresh store whose weights layer is a tiny GGUF with `chat_template`."""
    store = Store(tmp_path / "models")
    blob = store.write_blob_bytes(tiny_gguf(tmp_path / "tiny.gguf", chat_template, add_bos))
    layers = [Layer(MEDIA_MODEL, blob.digest, blob.size)]
    for media, text in ((MEDIA_TEMPLATE, template), (MEDIA_SYSTEM, system)):
        if text is not None:
            written = store.write_blob_bytes(text.encode())
            layers.append(Layer(media, written.digest, written.size))
    name = ModelName.parse("tiny:latest")
    store.write_manifest(name, store.write_config({"model_format": "gguf"}), layers)
    return load_model(store, name)


def msgs(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


def test_jinja_template_renders_when_no_builtin_matches(tmp_path):
    model = store_model(tmp_path, JINJA)
    template = ChatTemplate(model)
    assert template.jinja == JINJA
    prompt = template.render(msgs(("system", "S"), ("user", "hi")), None, None)
    # The tokenizer adds BOS itself, so the template's bos_token is empty.
    assert prompt == "<|system|>S<eos>\n<|user|>hi<eos>\n<|assistant|>"
    assert template.render(msgs(("user", "hi")), [TOOL], None) == (
        "<|user|>hi<eos>\n<|tools|>get_weather\n<|assistant|>"
    )


def test_jinja_template_writes_bos_when_the_tokenizer_does_not(tmp_path):
    template = ChatTemplate(store_model(tmp_path, JINJA, add_bos=False))
    assert template.render(msgs(("user", "hi")), None, None).startswith("<bos><|user|>hi")


def test_jinja_template_that_uses_tools_gives_the_tools_capability(tmp_path):
    template = ChatTemplate(store_model(tmp_path, JINJA))
    assert "tools" in template.capabilities()
    assert template.tool_call_tag() == "{"
    plain = ChatTemplate(
        store_model(tmp_path, "{% for m in messages %}{{ m.content }}{% endfor %}")
    )
    assert "tools" not in plain.capabilities()


def test_jinja_errors_are_template_errors(tmp_path):
    template = ChatTemplate(store_model(tmp_path, "{{ raise_exception('no system role') }}"))
    with pytest.raises(InternalError) as e:
        template.render(msgs(("user", "hi")), None, None)
    assert e.value.message == "template error: no system role"


def test_a_template_layer_wins_over_the_jinja_template(tmp_path):
    model = store_model(tmp_path, JINJA, template="{{ .Prompt }}!")
    template = ChatTemplate(model)
    assert template.jinja is None
    assert template.render(msgs(("user", "hi")), None, None) == "hi!"


def test_jinja_matching_a_builtin_uses_the_builtin_go_template(tmp_path):
    index = json.loads(
        (resources.files("ollama_toolkit.template") / "builtin" / "index.json").read_text()
    )
    chatml = next(e["template"] for e in index if e["name"] == "chatml")
    template = ChatTemplate(store_model(tmp_path, chatml))
    assert template.jinja is None
    assert template.render(msgs(("user", "hi")), None, None) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_conversation_puts_the_model_system_first_unless_the_request_has_one(tmp_path):
    model = store_model(tmp_path, JINJA, system="Model system.")
    assert conversation(model, [Message(role="User", content="hi")]) == [
        {"role": "system", "content": "Model system."},
        {"role": "user", "content": "hi"},
    ]
    assert conversation(model, [Message(role="system", content="Mine.")]) == [
        {"role": "system", "content": "Mine."}
    ]


def words(text: str) -> int:
    return len(text.split())


def render(messages: list[dict]) -> str:
    return " ".join(f"{m['role']}: {m['content']}" for m in messages)


def test_truncation_drops_the_oldest_turns_and_keeps_system_messages():
    messages = msgs(
        ("system", "be nice"),
        ("user", "one two three"),
        ("assistant", "four five six"),
        ("user", "seven"),
    )
    assert chat_prompt(render, messages, words, 100, True) == render(messages)
    assert chat_prompt(render, messages, words, 7, True) == "system: be nice user: seven"
    assert chat_prompt(render, messages, words, 10, True) == (
        "system: be nice assistant: four five six user: seven"
    )


def test_the_last_message_is_kept_even_when_it_alone_is_too_long():
    messages = msgs(("user", "a b"), ("user", "c d e f g"))
    assert chat_prompt(render, messages, words, 3, True) == "user: c d e f g"


def test_without_truncation_everything_is_rendered():
    messages = msgs(("user", "a b"), ("user", "c d e f g"))
    assert chat_prompt(render, messages, words, 3, False) == render(messages)


@pytest.mark.parametrize(
    "think, expected",
    [
        (None, "false||false"),
        (False, "false||true"),
        (True, "true|medium|true"),
        ("high", "true|high|true"),
    ],
)
def test_think_reaches_the_template_as_ollama_sets_it(tmp_path, think, expected):
    template = "{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}{{ range .Messages }}{{ end }}"
    chat = ChatTemplate(store_model(tmp_path, JINJA, template=template))
    assert chat.render(msgs(("user", "hi")), None, think) == expected
