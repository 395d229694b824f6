"""Thinking split from answers: the streaming parser, the tags inferred from templates, and
which models can think (Ollama's `thinking` capability, from a Go or a Jinja template)."""

from __future__ import annotations

import pytest

from ollama_toolkit.parsers.thinking import ThinkingParser, infer_tags
from ollama_toolkit.server.prompt import ChatTemplate
from ollama_toolkit.store.model import jinja_capabilities
from ollama_toolkit.template.funcs import BUILTINS, OLLAMA_FUNCS
from ollama_toolkit.template.parser import parse_trees
from test_chat_prompt import store_model


def root(text: str):
    return parse_trees(text, set(BUILTINS) | set(OLLAMA_FUNCS))[""].root


def run(pieces: list[str], opening: str = "<think>", closing: str = "</think>"):
    """Feed `pieces` one by one; return everything emitted, per piece and in total."""
    parser = ThinkingParser(opening, closing)
    emitted = [parser.add(p) for p in pieces]
    emitted.append(parser.finish())
    return emitted, "".join(t for t, _ in emitted), "".join(c for _, c in emitted)


def test_thinking_and_answer_are_split_and_whitespace_after_tags_dropped():
    _, thinking, content = run(["<think>\n  Let me see.\n</think>\n\nIt is blue."])
    assert thinking == "Let me see.\n"
    assert content == "It is blue."


def test_tags_split_across_pieces_are_held_back_until_decided():
    emitted, thinking, content = run(["<th", "ink>I", " wonder</", "thi", "nk>", " Yes", "."])
    assert thinking == "I wonder" and content == "Yes."
    assert emitted[0] == ("", "")  # "<th" may be the opening tag
    assert emitted[2] == (" wonder", "")  # "</" is held: it may close the thinking
    assert emitted[3] == ("", "")
    assert emitted[5] == ("", "Yes")


def test_output_without_an_opening_tag_is_all_content_with_its_whitespace():
    _, thinking, content = run(["  Hello", " <think>not thinking</think>"])
    assert thinking == ""
    assert content == "  Hello <think>not thinking</think>"


def test_a_prompt_that_opens_the_thinking_starts_the_parser_inside_it():
    parser = ThinkingParser("<think>", "</think>")
    parser.add("<think>")
    assert parser.add("pondering") == ("pondering", "")
    assert parser.add("</think>done") == ("", "done")


def test_unclosed_thinking_is_flushed_as_thinking_at_the_end():
    _, thinking, content = run(["<think>still going </thi"])
    assert thinking == "still going </thi" and content == ""


def test_partial_opening_tag_at_the_end_is_content_after_all():
    _, thinking, content = run(["\n<thi"])
    assert (thinking, content) == ("", "\n<thi")


def test_custom_tags():
    _, thinking, content = run(["◁think▷hmm◁/think▷ok"], "◁think▷", "◁/think▷")
    assert (thinking, content) == ("hmm", "ok")


def test_closing_tag_repeated_in_the_answer_stays_in_the_answer():
    _, thinking, content = run(["<think>a</think>b</think>c"])
    assert (thinking, content) == ("a", "b</think>c")


def test_tags_are_inferred_from_thinking_written_back_in_the_messages_range():
    text = (
        '{{- range .Messages }}{{ if eq .Role "assistant" }}'
        "{{ if .Thinking }}<think>\n{{ .Thinking }}\n</think>\n{{ end }}{{ .Content }}"
        "{{ end }}{{ end }}"
    )
    assert infer_tags(root(text)) == ("<think>", "</think>")


@pytest.mark.parametrize(
    "text",
    [
        "{{ .Thinking }}",  # not inside a range over .Messages
        "{{ range .Tools }}<t>{{ .Thinking }}</t>{{ end }}",
        "{{ range .Messages }}{{ .Content }}{{ end }}",
    ],
)
def test_no_tags_without_thinking_in_a_messages_range(text):
    assert infer_tags(root(text)) == ("", "")


def test_tags_come_from_the_nearest_list_around_thinking():
    # The last .Thinking wins; the nearest list is the `if` body, not the message turn.
    text = (
        "{{ range $i, $m := .Messages }}<turn>{{ if $m.Thinking }}"
        "<|begin_of_thought|>{{ .Thinking }}<|end_of_thought|>{{ end }}</turn>{{ end }}"
    )
    assert infer_tags(root(text)) == ("<|begin_of_thought|>", "<|end_of_thought|>")


# --- the thinking capability -------------------------------------------------------------------

PLAIN_JINJA = "{% for m in messages %}{{ m.content }}{% endfor %}"


@pytest.mark.parametrize(
    ("template", "thinks"),
    [
        # Thinking written back between tags inside the range over .Messages: a thinking model.
        (
            "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
            "{{ .Content }}{{ end }}{{ if .Think }}<think>{{ end }}",
            True,
        ),
        # Ollama needs both tags: reading .Think or .Thinking is not enough.
        ("{{ if .Think }}<think>{{ end }}{{ range .Messages }}{{ .Content }}{{ end }}", False),
        ("{{ .ThinkLevel }}{{ range .Messages }}{{ .Content }}{{ end }}", False),
        ("{{ .Thinking }}{{ range .Messages }}{{ .Content }}{{ end }}", False),
        ("{{ range .Messages }}{{ .Thinking }}{{ .Content }}{{ end }}", False),  # no tag
        ("{{ range .Messages }}<think>{{ .Thinking }}{{ .Content }}{{ end }}", False),  # one
        ("{{ range .Tools }}<t>{{ .Thinking }}</t>{{ end }}{{ .Prompt }}", False),
    ],
)
def test_a_go_template_thinks_when_it_writes_thinking_back_between_tags(tmp_path, template, thinks):
    model = store_model(tmp_path, PLAIN_JINJA, template=template)
    assert ("thinking" in model.capabilities()) is thinks
    assert ("thinking" in ChatTemplate(model).capabilities()) is thinks


@pytest.mark.parametrize(
    ("source", "caps"),
    [
        (PLAIN_JINJA, []),
        (
            "{% for m in messages %}{% if m.reasoning_content %}<think>{{ m.reasoning_content }}"
            "</think>{% endif %}{{ m.content }}{% endfor %}",
            ["thinking"],
        ),
        ("{% for m in messages %}<think>{{ m.content }}{% endfor %}", []),  # one tag only
        # Qwen's and DeepSeek's: earlier reasoning dropped by splitting at </think>.
        ("{{ messages[0].content.split('</think>')[-1] }}", ["thinking"]),
        ('{{ messages[0].content.split("</think>")[-1] }}', ["thinking"]),
        ("{{ messages[0].content.split('</think>')[-1] }}{{ reasoning_content }}", []),
        ("{{ messages[0].content.split('</think>')[-1] }}<SPECIAL_12>", []),
        # Tools: any mention of `tools` or `tool_call`, as Ollama looks for them.
        ("{% if tools %}{{ tools | length }}{% endif %}", ["tools"]),
        ("{# tools #}{{ messages[0].content }}", ["tools"]),
        ("{% for c in messages[0].tool_calls %}{{ c }}{% endfor %}", ["tools"]),
        ("{% if x %}<tool_call><think></think>{% endif %}", ["tools", "thinking"]),
    ],
)
def test_jinja_capabilities_are_ollamas_plain_text_tests(source, caps):
    assert jinja_capabilities(source) == caps


def test_a_jinja_template_that_thinks_makes_a_thinking_model_in_ollamas_order(tmp_path):
    source = (
        "{% for m in messages %}{% if m.thinking %}<think>{{ m.thinking }}</think>{% endif %}"
        "{{ m.content }}{% endfor %}{% if tools %}{{ tools | length }}{% endif %}"
    )
    model = store_model(tmp_path, source)
    assert ChatTemplate(model).jinja == source
    # The chat template's capabilities come first, then the GGUF's (server/images.go).
    assert model.capabilities() == ["tools", "thinking", "completion"]
    assert ChatTemplate(model).capabilities() == model.capabilities()


def test_a_template_layer_wins_over_the_jinja_templates_thinking(tmp_path):
    source = "{% for m in messages %}<think>{{ m.thinking }}</think>{% endfor %}"
    model = store_model(tmp_path, source, template="{{ .Prompt }}!")
    assert ChatTemplate(model).jinja is None
    assert model.capabilities() == ["completion"]
