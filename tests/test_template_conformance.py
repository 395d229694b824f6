"""Conformance with Ollama's own test vectors: every built-in template renders every case
byte for byte, and every known GGUF Jinja template maps to its built-in template."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ollama_toolkit.template import Values, named_template, parse, template_for_jinja
from ollama_toolkit.template.named import levenshtein

SHARED = Path(__file__).resolve().parents[2] / "shared" / "ollama-templates"
# Ollama's TestTemplate drops one trailing space from these templates' output before comparing.
TRAILING_SPACE_TRIMMED = {"chatqa", "llama2-chat", "mistral-instruct", "openchat", "vicuna"}

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"Ollama's template test vectors not found at {SHARED}"
)


def _template_names() -> list[str]:
    return sorted(p.stem for p in SHARED.glob("*.gotmpl")) if SHARED.is_dir() else []


def _cases() -> dict[str, list[dict[str, str]]]:
    return json.loads((SHARED / "cases.json").read_text()) if SHARED.is_dir() else {}


def _jinja_lines() -> list[tuple[str, str]]:
    if not SHARED.is_dir():
        return []
    pairs = []
    for line in (SHARED / "testdata" / "templates.jsonl").read_text().splitlines():
        pairs.extend(json.loads(line).items())
    return pairs


@pytest.mark.parametrize("case", sorted(_cases()))
@pytest.mark.parametrize("name", _template_names())
def test_template_renders_case_exactly(name: str, case: str) -> None:
    template = parse((SHARED / f"{name}.gotmpl").read_text())
    rendered = template.execute(Values(messages=_cases()[case]))
    if name in TRAILING_SPACE_TRIMMED and rendered.endswith(" "):
        rendered = rendered[:-1]
    expected = (SHARED / "testdata" / f"{name}.gotmpl" / case).read_text()
    assert rendered == expected


@pytest.mark.parametrize(("name", "jinja"), _jinja_lines(), ids=lambda v: v[:24])
def test_jinja_template_maps_to_its_builtin(name: str, jinja: str) -> None:
    assert template_for_jinja(jinja) == name


@pytest.mark.parametrize("name", _template_names())
def test_bundled_copy_matches_the_shared_data(name: str) -> None:
    found = named_template(name)
    assert found is not None
    text, params = found
    assert text == (SHARED / f"{name}.gotmpl").read_text().replace("\r\n", "\n")
    assert params == json.loads((SHARED / f"{name}.json").read_text())
    assert parse(text).text == text


def test_every_index_entry_names_a_parsable_builtin() -> None:
    index = json.loads((SHARED / "index.json").read_text())
    for entry in index:
        found = named_template(entry["name"])
        assert found is not None, entry["name"]
        assert "messages" in parse(found[0]).vars()


def test_unknown_and_unsafe_names_are_not_found() -> None:
    assert named_template("no-such-template") is None
    assert named_template("../builtin/chatml") is None
    assert named_template("index") is None


def test_unrelated_jinja_template_has_no_match() -> None:
    assert template_for_jinja("{% for m in messages %}{{ m.content }}{% endfor %}" * 20) is None


def test_near_miss_jinja_template_still_matches() -> None:
    index = json.loads((SHARED / "index.json").read_text())
    first = index[0]
    edited = first["template"].replace("'", '"', 5) + "\n"
    assert template_for_jinja(edited) == first["name"]


def test_levenshtein_agrees_with_the_textbook_algorithm() -> None:
    def reference(a: str, b: str) -> int:
        previous = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            current = [i]
            for j, cb in enumerate(b, 1):
                current.append(
                    min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
                )
            previous = current
        return previous[-1]

    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choice("abcé") for _ in range(rng.randint(0, 15)))
        b = "".join(rng.choice("abcé") for _ in range(rng.randint(0, 15)))
        assert levenshtein(a, b) == reference(a, b), (a, b)
    assert levenshtein("kitten", "sitting") == 3
