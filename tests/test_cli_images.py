"""Images on the command line, as `ollama run` takes them: `run MODEL "describe" ./photo.png`, or
a path inside the prompt; and the client's reading of image paths, as the official client's.

The path finding is checked on Ollama's own cases (cmd/interactive_test.go). Against the real
server the bundled text-only model answers that it does not support images: that 400 proves the
image was read and sent (the vision model's answers are tested in test_vision.py).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import ollama
import pytest

from ollama_toolkit.cli.run import (
    ImageFileError,
    extract_file_names,
    extract_images,
    normalize_file_path,
    prompt_and_images,
)
from ollama_toolkit.client import Client, ResponseError
from ollama_toolkit.client.payload import encode_image
from test_cli import Terminal, cli
from tiny_projector import png

# Ollama's TestExtractFilenames, both inputs as they are there.
UNIX = r""" some preamble 
 ./relative\ path/one.png inbetween1 ./not a valid two.jpg inbetween2 ./1.svg
/unescaped space /three.jpeg inbetween3 /valid\ path/dir/four.png "./quoted with spaces/five.JPG
/unescaped space /six.webp inbetween6 /valid\ path/dir/seven.WEBP"""  # noqa: W291

WINDOWS = r""" some preamble
 c:/users/jdoe/one.png inbetween1 c:/program files/someplace/two.jpg inbetween2 
 /absolute/nospace/three.jpeg inbetween3 /absolute/with space/four.png inbetween4
./relative\ path/five.JPG inbetween5 "./relative with/spaces/six.png inbetween6
d:\path with\spaces\seven.JPEG inbetween7 c:\users\jdoe\eight.png inbetween8 
 d:\program files\someplace\nine.png inbetween9 "E:\program files\someplace\ten.PNG
c:/users/jdoe/eleven.webp inbetween11 c:/program files/someplace/twelve.WebP inbetween12
d:\path with\spaces\thirteen.WEBP some ending
"""  # noqa: W291

# The JPEG of Ollama's TestExtractFileDataRemovesQuotedFilepath: a header, zeros, an end.
JPEG = bytes(
    [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, *b"JFIF", 0x00, 0x01, 0x01, 0x01]
    + [0x00] * 6
    + [0xFF, 0xD9]
).ljust(600, b"\0")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(png(1))
    return path


# --- finding the paths: Ollama's cases -------------------------------------------------------


def test_unix_paths_are_found_as_ollama_finds_them():
    found = extract_file_names(UNIX)
    assert len(found) == 7
    names = ["one.png", "two.jpg", "three.jpeg", "four.png", "five.JPG", "six.webp", "seven.WEBP"]
    for path, name in zip(found, names, strict=True):
        assert name in path
    assert '"' not in found[4]
    assert "inbetween1" not in found
    assert "./1.svg" not in found
    assert found[0] == r"./relative\ path/one.png"
    assert found[3] == r"/valid\ path/dir/four.png"


def test_windows_paths_are_found_as_ollama_finds_them():
    found = extract_file_names(WINDOWS)
    assert len(found) == 13
    assert "inbetween2" not in found
    names = [
        ("one.png", "c:"), ("two.jpg", "c:"), ("three.jpeg", ""), ("four.png", ""),
        ("five.JPG", ""), ("six.png", ""), ("seven.JPEG", "d:"), ("eight.png", "c:"),
        ("nine.png", "d:"), ("ten.PNG", "E:"), ("eleven.webp", "c:"), ("twelve.WebP", "c:"),
        ("thirteen.WEBP", "d:"),
    ]  # fmt: skip
    for path, (name, drive) in zip(found, names, strict=True):
        assert name in path and drive in path


def test_shell_escapes_are_undone_as_ollama_undoes_them():
    assert normalize_file_path(r"./relative\ path/one.png") == "./relative path/one.png"
    assert normalize_file_path(r"/a\(b\)\[c\]\{d\}\$\&\;\'\*\?\~.png") == "/a(b)[c]{d}$&;'*?~.png"
    assert normalize_file_path(r"/x\\\ y.png") == r"/x\ y.png"
    assert normalize_file_path(r"c:\users\jdoe\eight.png") == r"c:\users\jdoe\eight.png"


def test_a_quoted_path_is_removed_with_its_quotes(tmp_path):
    path = tmp_path / "img.jpg"
    path.write_bytes(JPEG)
    text, images = extract_images(f"before '{path}' after")
    assert (text, images) == ("before  after", [JPEG])


def test_a_path_with_escaped_spaces_is_read(tmp_path, capsys):
    folder = tmp_path / "my photos"
    folder.mkdir()
    (folder / "cat.png").write_bytes(png(2))
    escaped = str(folder / "cat.png").replace(" ", "\\ ")
    text, images = extract_images(f"What is in {escaped}?")
    assert (text, images) == ("What is in ?", [png(2)])
    assert f"Added image '{folder / 'cat.png'}'" in capsys.readouterr().err


def test_what_is_no_file_stays_text_untouched():
    text = "See https://example.com/cat.png and ./no/such/file.png \n"
    assert extract_images(text) == (text, [])


def test_a_file_that_is_no_image_is_refused(tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(ImageFileError, match="is not a JPEG, PNG or WebP image"):
        extract_images(f"read {notes}")


def test_words_that_are_image_files_are_images(tmp_path, monkeypatch, photo):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my photo.png").write_bytes(png(3))
    assert prompt_and_images(["describe this", "photo.png"]) == ("describe this", [png(1)])
    assert prompt_and_images(["my photo.png", "and", "./photo.png"]) == ("and", [png(3), png(1)])
    # Not files: a sentence that ends like one, a URL; and the text piped in comes first.
    words = ["what is a .png", "https://example.com/a.png"]
    assert prompt_and_images(words, "Hi.") == ("Hi. what is a .png https://example.com/a.png", [])
    with pytest.raises(ImageFileError, match=r"'missing\.png': No such file or directory"):
        prompt_and_images(["describe", "missing.png"])


# --- the client: paths, bytes and base64, as the official client reads them -----------------


def test_the_client_reads_images_as_the_official_client(photo):
    data = b64(png(1))
    for image in (photo, str(photo), png(1), data):
        assert encode_image(image) == data == ollama.Image(value=image).model_dump()
    missing = photo.parent / "missing.png"
    for image in (missing, str(missing), "not base64 !"):
        with pytest.raises(ValueError) as ours:
            encode_image(image)
        with pytest.raises(ValueError) as official:
            ollama.Image(value=image).model_dump()
        if isinstance(image, str):  # the official one words a missing Path as open() does
            assert str(ours.value) in str(official.value)


def test_the_client_sends_an_image_path(server, model, photo):
    with Client(server.url) as client, pytest.raises(ResponseError) as e:
        client.generate(model, "describe", images=[str(photo)])
    assert e.value.status_code == 400
    assert e.value.error == f'"{model}" does not support images'


# --- the command, against the real server -----------------------------------------------------


def test_run_sends_an_image_given_as_an_argument(server, model, photo):
    result = cli(server.env, "run", model, "describe", str(photo))
    assert result.returncode == 1
    assert f"Added image '{photo}'" in result.stderr
    assert result.stderr.strip().endswith(f'Error: "{model}" does not support images')


def test_run_takes_image_paths_out_of_the_prompt(server, model, photo):
    for prompt in (f"describe {photo} please", f"describe '{photo}'"):
        result = cli(server.env, "run", model, prompt)
        assert result.returncode == 1
        assert f"Added image '{photo}'" in result.stderr
        assert result.stderr.strip().endswith(f'Error: "{model}" does not support images')


def test_run_without_images_is_untouched(server, model):
    result = cli(server.env, "run", model, "The capital of France is", "--keepalive", "5m")
    assert result.returncode == 0, result.stderr
    assert "Added image" not in result.stderr


def test_a_missing_or_bad_image_file_is_a_clear_error(server, model, tmp_path):
    missing = tmp_path / "missing.png"
    result = cli(server.env, "run", model, "describe", str(missing))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: couldn't read image '{missing}': No such file or directory"
    )
    notes = tmp_path / "notes.jpg"
    notes.write_text("not an image")
    result = cli(server.env, "run", model, "describe", str(notes))
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: '{notes}' is not a JPEG, PNG or WebP image"


def test_the_interactive_session_sends_image_paths(server, model, photo):
    term = Terminal([sys.executable, "-m", "ollama_toolkit", "run", model], server.env)
    try:
        term.expect(">>> ")
        unsupported = f'"{model}" does not support images'
        answer = term.command(f"describe {photo}")
        assert f"Added image '{photo}'" in answer and unsupported in answer
        # A line that starts with an image's path is a message, not an unknown command.
        answer = term.command(f"{photo} what is this?")
        assert unsupported in answer and "Unknown command" not in answer
        missing = photo.parent / "missing.png"
        assert "Unknown command" in term.command(f"{missing} what is this?")
        term.type("/bye")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
