"""Thinking split from answers: the streaming parser and the tags inferred from templates."""

from __future__ import annotations

import pytest

from ollama_toolkit.parsers.thinking import ThinkingParser, infer_tags
from ollama_toolkit.template.funcs import BUILTINS, OLLAMA_FUNCS
from ollama_toolkit.template.parser import parse_trees


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
