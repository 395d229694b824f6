"""Conformance with Ollama's own test vectors: every built-in template renders every case
byte for byte, and every known GGUF Jinja template maps to its built-in template."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ollama_toolkit.template import Values, named_template, parse, template_for_jinja
from ollama_toolkit.template.named import levenshtein

DATA = Path(__file__).resolve().parent / "data" / "ollama-templates"
"""Ollama's `template/` folder (MIT, see LICENSE.ollama there), copied into the repository."""
# Ollama's TestTemplate drops one trailing space from these templates' output before comparing.
TRAILING_SPACE_TRIMMED = {"chatqa", "llama2-chat", "mistral-instruct", "openchat", "vicuna"}


def _template_names() -> list[str]:
    # Read at collection: a missing file is an error there, never an empty (skipped) parameter set.
    names = sorted(p.stem for p in DATA.glob("*.gotmpl"))
    if not names:
        raise FileNotFoundError(f"no Ollama template vectors (*.gotmpl) in {DATA}")
    return names


def _cases() -> dict[str, list[dict[str, str]]]:
    return json.loads((DATA / "cases.json").read_text())


def _jinja_lines() -> list[tuple[str, str]]:
    pairs = []
    for line in (DATA / "testdata" / "templates.jsonl").read_text().splitlines():
        pairs.extend(json.loads(line).items())
    return pairs


def test_the_vectors_are_all_there() -> None:
    for name in ("LICENSE.ollama", "README.md", "cases.json", "index.json"):
        assert (DATA / name).is_file(), DATA / name
    assert (DATA / "testdata" / "templates.jsonl").is_file()
    names = _template_names()
    assert len(names) >= 20, names
    cases = _cases()
    assert sorted(cases) == ["system-user-assistant-user", "user", "user-assistant-user"]
    assert len(_jinja_lines()) >= 20
    for name in names:
        assert (DATA / f"{name}.json").is_file(), name
        for case in cases:
            assert (DATA / "testdata" / f"{name}.gotmpl" / case).is_file(), (name, case)


@pytest.mark.parametrize("case", sorted(_cases()))
@pytest.mark.parametrize("name", _template_names())
def test_template_renders_case_exactly(name: str, case: str) -> None:
    template = parse((DATA / f"{name}.gotmpl").read_text())
    rendered = template.execute(Values(messages=_cases()[case]))
    if name in TRAILING_SPACE_TRIMMED and rendered.endswith(" "):
        rendered = rendered[:-1]
    expected = (DATA / "testdata" / f"{name}.gotmpl" / case).read_text()
    assert rendered == expected


@pytest.mark.parametrize(("name", "jinja"), _jinja_lines(), ids=lambda v: v[:24])
def test_jinja_template_maps_to_its_builtin(name: str, jinja: str) -> None:
    assert template_for_jinja(jinja) == name


@pytest.mark.parametrize("name", _template_names())
def test_bundled_copy_matches_the_vectors(name: str) -> None:
    found = named_template(name)
    assert found is not None
    text, params = found
    assert text == (DATA / f"{name}.gotmpl").read_text().replace("\r\n", "\n")
    assert params == json.loads((DATA / f"{name}.json").read_text())
    assert parse(text).text == text


def test_every_index_entry_names_a_parsable_builtin() -> None:
    index = json.loads((DATA / "index.json").read_text())
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
    index = json.loads((DATA / "index.json").read_text())
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
