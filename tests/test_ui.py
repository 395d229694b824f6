"""The web UI at /ui, in a real browser: Debian's Chromium (the system's package, never a
browser Playwright downloads) driven by Playwright, headless, against a real server on
loopback with the bundled models.

Waits are bounded (WAIT_MS) but measure nothing: a reply "streams" when the page shows it at
two lengths or more, a stop "stops" when the reply does not grow while a later request runs.
The run saves chat.png and models.png of the pages: into $OLLAMA_TOOLKIT_SCREENSHOTS when it is
set (`OLLAMA_TOOLKIT_SCREENSHOTS=docs/screenshots` makes the README's), else into a temporary
directory, so that a test run leaves the working tree as it was.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from playwright import sync_api as playwright
from playwright.sync_api import Page, expect

from conftest import ServerProcess, wait_until
from ollama_toolkit.server.ui import CONTENT_SECURITY_POLICY
from ollama_toolkit.store.bundled import BUNDLED_MODEL
from ollama_toolkit.store.model import load_model
from ollama_toolkit.store.modelfile import ModelfileError, parse
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import Store
from test_pull import _tiny_model, registry  # noqa: F401 - `registry` is a fixture
from tiny_projector import png, write_tiny_projector

# Debian's Chromium, which .ci/run installs (apt-get install chromium): a machine without it
# fails these tests rather than skipping them.
CHROMIUM = shutil.which("chromium")

UI_FILES = resources.files("ollama_toolkit.server").joinpath("ui")
CONTENT_TYPES = {"js": "text/javascript", "css": "text/css", "html": "text/html"}
SCREENSHOTS = Path(
    os.environ.get("OLLAMA_TOOLKIT_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "ollama-toolkit-screenshots"
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 120_000  # a bound on each wait for the server or the page: it measures nothing
VISION = "gemma3-vision:tiny"
API_KEY = "ui-test-key"

# --- the browser and the page ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_ui(browser) -> Iterator[Callable[..., Page]]:
    """Open the UI of a server in a fresh browser context (its own storage); the page must
    raise no uncaught error."""
    contexts = []
    errors: list[str] = []

    def open_(server: ServerProcess, view: str = "", viewport=DESKTOP, ready=True) -> Page:
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.url}/ui{view}")
        if ready:
            page.wait_for_selector("body[data-ready]")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert errors == []


def set_options(page: Page, **options: object) -> None:
    """Fill the chat's settings (system, temperature, num_ctx, num_predict)."""
    if page.eval_on_selector("#settings", "d => !d.open"):
        page.click("#settings summary")
    ids = {"system": "#opt-system", "temperature": "#opt-temperature"}
    ids |= {"num_ctx": "#opt-num-ctx", "num_predict": "#opt-num-predict"}
    for name, value in options.items():
        page.fill(ids[name], str(value))


def send(page: Page, text: str):
    """Type a message, press Enter; the reply's element."""
    before = page.locator(".message.assistant").count()
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    reply = page.locator(".message.assistant").nth(before)
    expect(reply).to_be_visible()
    return reply


def finished(reply) -> None:
    """Wait for a reply to end with its statistics, and no error."""
    reply.locator(".stats, .error").first.wait_for()
    assert reply.locator(".error").count() == 0, reply.locator(".error").text_content()


def reply_text(reply) -> str:
    return reply.locator(".content").text_content() or ""


def chat_bodies(page: Page) -> list[dict]:
    """The bodies of the page's /api/chat requests, recorded from now on."""
    bodies: list[dict] = []
    page.on(
        "request",
        lambda r: bodies.append(r.post_data_json) if r.url.endswith("/api/chat") else None,
    )
    return bodies


def slots_busy(server: ServerProcess) -> float:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    lines = [line for line in text.splitlines() if line.startswith("ollama_slots_busy{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def tags(server: ServerProcess) -> list[str]:
    return [m["name"] for m in httpx.get(server.url + "/api/tags", timeout=30).json()["models"]]


def seed_conversation(page: Page, messages: list[dict], model: str = "") -> None:
    """Put one conversation in the page's storage, as the page keeps them, and reload."""
    conversation = {"id": "seeded", "title": "Seeded", "model": model, "messages": messages}
    page.evaluate(
        """(c) => {
            localStorage.setItem('ollama-toolkit.conversations', JSON.stringify([c]));
            localStorage.setItem('ollama-toolkit.current', c.id);
        }""",
        conversation,
    )
    page.reload()
    page.wait_for_selector("body[data-ready]")


def png_width(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", data[16:20])[0]


# --- serving -----------------------------------------------------------------------------------


def test_the_ui_is_served_from_package_data_with_a_strict_policy(private_server):
    names = {entry.name for entry in UI_FILES.iterdir()}
    assert {"index.html", "app.js", "chat.js", "models.js", "markdown.js", "style.css"} <= names
    url = private_server.url
    page = httpx.get(url + "/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/ui/app.js">' in page.text
    for name in sorted(names):
        served = httpx.get(f"{url}/ui/{name}")
        assert served.status_code == 200, name
        kind = CONTENT_TYPES[name.split(".")[-1]]
        assert served.headers["content-type"].startswith(kind), name
        assert served.content == UI_FILES.joinpath(name).read_bytes()
    head = httpx.head(url + "/ui")
    assert head.status_code == 200 and head.content == b""
    again = httpx.get(url + "/ui/app.js", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 200  # another file's tag
    cached = httpx.get(url + "/ui", headers={"If-None-Match": page.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    for missing in ("/ui/nope.js", "/ui/..%2Fui.py", "/ui/%2e%2e", "/ui/ui.py"):
        assert httpx.get(url + missing).status_code == 404, missing
    assert httpx.get(url + "/").text == "Ollama is running"  # what clients probe stays


# --- chat --------------------------------------------------------------------------------------


def test_a_reply_streams_into_the_page(private_server, chat_model, open_ui):
    page = open_ui(private_server)
    page.select_option("#model-select", chat_model)
    set_options(page, temperature=0, num_predict=96)
    bodies = chat_bodies(page)
    # Every change of the page records the reply's length: observations, not times.
    page.evaluate(
        """() => {
            window.lengths = [];
            new MutationObserver(() => {
                const all = document.querySelectorAll('.message.assistant .content:not(.waiting)');
                if (all.length) window.lengths.push(all[all.length - 1].textContent.length);
            }).observe(document.getElementById('messages'),
                       {childList: true, subtree: true, characterData: true});
        }"""
    )
    page.fill("#prompt", "Write a Python function that reverses a string.")
    page.press("#prompt", "Shift+Enter")  # a new line, not a send
    assert page.input_value("#prompt").endswith("\n")
    assert page.locator(".message").count() == 0
    page.press("#prompt", "Backspace")
    page.press("#prompt", "Enter")
    reply = page.locator(".message.assistant").first
    finished(reply)

    lengths = [n for n in page.evaluate("window.lengths") if n > 0]
    final = len(reply_text(reply))
    # Seen at two lengths at least before the end (not always growing: Markdown's `**` vanish
    # once closed).
    assert len({n for n in lengths if n < final}) >= 2, (lengths, final)
    stats = reply.locator(".stats").text_content() or ""
    assert "tokens/s" in stats and "first token" in stats
    assert bodies[0]["stream"] is True and bodies[0]["model"] == chat_model
    assert bodies[0]["options"] == {"temperature": 0, "num_predict": 96}
    expect(page.locator(".message.user .content")).to_have_text(
        "Write a Python function that reverses a string."
    )
    page.click("#settings summary")  # folded, for the picture
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat.png"))


def test_a_conversation_survives_a_reload_and_exports_as_json(private_server, chat_model, open_ui):
    page = open_ui(private_server)
    page.select_option("#model-select", chat_model)
    set_options(page, system="Answer in one short sentence.", num_predict=12)
    reply = send(page, "Say hello.")
    finished(reply)
    text = reply_text(reply)  # as shown (paragraphs run together)
    raw = page.evaluate(
        "JSON.parse(localStorage.getItem('ollama-toolkit.conversations'))[0].messages[1].content"
    )
    assert raw.strip()

    page.reload()
    page.wait_for_selector("body[data-ready]")
    expect(page.locator(".conversations li.active .conv")).to_have_text("Say hello.")
    expect(page.locator(".message.user .content")).to_have_text("Say hello.")
    expect(page.locator(".message.assistant .content")).to_have_text(text)
    assert page.input_value("#opt-system") == "Answer in one short sentence."

    page.click("#new-chat")
    expect(page.locator(".message")).to_have_count(0)
    page.get_by_role("button", name="Say hello.", exact=True).click()
    expect(page.locator(".message.assistant .content")).to_have_text(text)

    with page.expect_download() as download:
        page.click("#export-chat")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["model"] == chat_model
    assert exported["system"] == "Answer in one short sentence."
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]
    assert exported["messages"][1]["content"] == raw
    assert exported["messages"][1]["stats"]["eval_count"] > 0


def test_stop_cancels_a_long_reply_and_frees_the_slot(private_server, model, open_ui):
    page = open_ui(private_server)
    # The pretrained Gemma counts on, greedily, without an end of its own.
    page.select_option("#model-select", model)
    set_options(page, temperature=0, num_ctx=512, num_predict=100_000)
    grown = """(n) => {
        const c = document.querySelectorAll('.message.assistant .content:not(.waiting)');
        return c.length === n && c[n - 1].textContent.length >= 16;
    }"""
    first = send(page, "1, 2, 3, 4, 5, 6,")
    page.wait_for_function(grown, arg=1)
    page.click("#stop")
    expect(first.locator(".note")).to_have_text("Stopped.")
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()
    stopped = reply_text(first)
    wait_until(lambda: slots_busy(private_server) == 0, "the stopped request kept its slot", 60)

    second = send(page, "1, 2, 3, 4, 5, 6, 7, 8,")  # Escape stops too
    page.wait_for_function(grown, arg=2)
    page.keyboard.press("Escape")
    expect(second.locator(".note")).to_have_text("Stopped.")

    set_options(page, num_predict=4)
    third = send(page, "10, 11, 12,")
    finished(third)  # the server serves the next request
    assert reply_text(first) == stopped  # and the stopped reply never grew again
    wait_until(lambda: slots_busy(private_server) == 0, "a slot is still busy", 60)
    assert model in [m["name"] for m in httpx.get(private_server.url + "/api/ps").json()["models"]]


def test_switching_models_then_unloading_one(private_server, chat_model, model, open_ui):
    page = open_ui(private_server)
    set_options(page, num_predict=4)
    bodies = chat_bodies(page)
    for name in (chat_model, model):
        page.select_option("#model-select", name)
        reply = send(page, "Hello")
        finished(reply)
        expect(reply.locator(".who")).to_have_text(name)
    assert [b["model"] for b in bodies] == [chat_model, model]
    assert [m["role"] for m in bodies[1]["messages"]] == ["user", "assistant", "user"]

    page.click("#nav-models")
    for name in (chat_model, model):
        row = page.locator(f"#ps-table tr[data-model='{name}']")
        expect(row).to_contain_text(" min")  # when it unloads: "in 5 min"
    expect(page.locator(f"#models-table tr[data-model='{model}'] .cap").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "models.png"))

    row = page.locator(f"#ps-table tr[data-model='{model}']")
    row.get_by_role("button", name=f"Unload {model}").click()
    expect(row).to_have_count(0)
    running = [m["name"] for m in httpx.get(private_server.url + "/api/ps").json()["models"]]
    assert model not in running and chat_model in running


def test_server_errors_show_in_the_page(private_server, chat_model, open_ui):
    url = private_server.url
    httpx.post(url + "/api/copy", json={"source": chat_model, "destination": "ui-ghost"})
    page = open_ui(private_server)
    page.select_option("#model-select", "ui-ghost:latest")
    httpx.request("DELETE", url + "/api/delete", json={"model": "ui-ghost"})  # behind its back
    reply = send(page, "Hello?")
    error = httpx.post(url + "/api/chat", json={"model": "ui-ghost:latest"}).json()["error"]
    expect(reply.locator(".error")).to_have_text(error)  # the server's own words
    expect(page.locator("#send")).to_be_visible()


# --- models ------------------------------------------------------------------------------------


def test_pull_shows_a_moving_progress_bar(private_server, registry, tmp_path, open_ui):  # noqa: F811
    _tiny_model(registry, tmp_path, "library/ui-tiny:latest", n_embd=128, n_ff=256)
    registry.delay_s = 0.03  # per 16 KiB: the pull takes a few progress reports
    name = f"{registry.host}/library/ui-tiny:latest"
    page = open_ui(private_server, view="#models")
    page.evaluate(
        """() => {
            window.fractions = [];
            const bar = document.getElementById('pull-progress');
            new MutationObserver(() => window.fractions.push(bar.value / bar.max))
                .observe(bar, {attributes: true, attributeFilter: ['value', 'max']});
        }"""
    )
    try:
        page.fill("#pull-name", name)
        page.check("#pull-insecure")
        page.click("#pull-button")
        expect(page.locator("#pull-status")).to_contain_text("success", timeout=WAIT_MS)
        moving = {f for f in page.evaluate("window.fractions") if 0 < f < 1}
        assert len(moving) >= 2, page.evaluate("window.fractions")
        assert page.eval_on_selector("#pull-progress", "b => b.value === b.max")
        expect(page.locator(f"#models-table tr[data-model='{name}']")).to_have_count(1)
        page.click("#nav-chat")
        expect(page.locator(f"#model-select option[value='{name}']")).to_have_count(1)
    finally:
        httpx.request("DELETE", private_server.url + "/api/delete", json={"model": name})


def test_delete_asks_first(private_server, chat_model, open_ui):
    name = "ui-doomed:latest"
    httpx.post(private_server.url + "/api/copy", json={"source": chat_model, "destination": name})
    page = open_ui(private_server, view="#models")
    row = page.locator(f"#models-table tr[data-model='{name}']")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name=f"Delete {name}").click()
    assert asked and name in asked[0]
    assert name in tags(private_server)  # dismissed: kept
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Delete {name}").click()
    expect(row).to_have_count(0)
    assert name not in tags(private_server)


MODELFILE = '''FROM smollm2:135m
# a comment
SYSTEM """You are a pirate.
Answer in one line."""
PARAMETER temperature 0.25
PARAMETER stop "<|im_end|>"
PARAMETER stop Arr
MESSAGE user Hello
MESSAGE assistant Ahoy!
LICENSE MIT
'''


def test_create_from_a_modelfile_typed_in_the_page(private_server, open_ui):
    page = open_ui(private_server, view="#models")
    status = page.locator("#create-status")
    page.fill("#create-name", "ui-pirate")
    page.fill("#create-modelfile", "FROM ./model.gguf\n")  # refused by the page itself
    page.click("#create-button")
    expect(status).to_contain_text("cannot read files")
    expect(status).to_have_class("status error")

    bad = "FROM smollm2:135m\nPARAMETER temperature hot\n"  # refused by the server
    page.fill("#create-modelfile", bad)
    page.click("#create-button")
    refusal = httpx.post(
        private_server.url + "/api/create",
        json={"model": "ui-pirate", "from": "smollm2:135m", "parameters": {"temperature": "hot"}},
    ).json()["error"]
    expect(status).to_have_text(refusal)

    page.fill("#create-modelfile", MODELFILE)
    page.click("#create-button")
    expect(status).to_contain_text("success")
    expect(page.locator("#models-table tr[data-model='ui-pirate:latest']")).to_have_count(1)
    shown = httpx.post(private_server.url + "/api/show", json={"model": "ui-pirate"}).json()
    assert shown["system"] == "You are a pirate.\nAnswer in one line."
    assert shown["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Ahoy!"},
    ]
    assert shown["license"] == "MIT"
    parameters = shown["parameters"].split("\n")
    assert any(p.split() == ["temperature", "0.25"] for p in parameters), parameters
    assert sum(p.split()[0] == "stop" for p in parameters if p.strip()) == 2, parameters
    httpx.request("DELETE", private_server.url + "/api/delete", json={"model": "ui-pirate"})


MODELFILES = [
    MODELFILE,
    'from gemma3:270m-pt\nparameter NUM_CTX 256\ntemplate """{{ .Prompt }}"""\n',
    "FROM a\nSYSTEM   spaced out  \n\n# c\nMESSAGE system Be brief.\n",
    'FROM a\nSYSTEM "one\ntwo"\nlicense """x\n\ny"""\n',
    "FROM a\nPARAMETER\n",
    "FROM a\nMESSAGE bot hi\n",
    'FROM a\nSYSTEM """never closed\n',
    "FROMA b\n",
    "FROM a\nRENDERER harmony\nparser  harmony\n",
    "SYSTEM no from\n",
]


def test_the_page_reads_a_modelfile_as_the_server_s_parser_does(private_server, open_ui):
    page = open_ui(private_server, view="#models")
    read = page.evaluate(
        """async (texts) => {
            const { parseModelfile } = await import('/ui/modelfile.js');
            return texts.map((text) => {
                try {
                    const commands = parseModelfile(text).map(({instruction, name, value}) =>
                        instruction === 'from' ? ['model', value]
                        : instruction === 'message' ? ['message', `${name}: ${value}`]
                        : [name, value]);
                    return commands.some(([name]) => name === 'model') ? commands : null;
                } catch (error) {
                    return null;
                }
            });
        }""",
        MODELFILES,
    )
    for text, commands in zip(MODELFILES, read, strict=True):
        try:
            expected = [[c.name, c.args] for c in parse(text)]
        except ModelfileError:
            expected = None
        assert commands == expected, text


# --- images ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vision_model(private_server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Gemma 3 270M with a tiny random projector (tests/tiny_projector.py), as test_vision
    makes it: a model that takes images."""
    projector = write_tiny_projector(tmp_path_factory.mktemp("ui-projector") / "mmproj.gguf")
    gemma = load_model(Store(private_server.models_dir), ModelName.parse(BUNDLED_MODEL))
    client = ollama.Client(host=private_server.url)
    files = {"model.gguf": client.create_blob(gemma.model_path)}
    files["mmproj.gguf"] = client.create_blob(projector)
    list(client.create(model=VISION, files=files, stream=True))
    return VISION


def test_an_image_attached_for_a_vision_model(private_server, chat_model, vision_model, open_ui):
    page = open_ui(private_server)
    page.select_option("#model-select", chat_model)
    expect(page.locator("#model-caps")).to_contain_text("completion")
    expect(page.locator("#attach-label")).to_be_hidden()  # no images for a text model
    page.select_option("#model-select", vision_model)
    expect(page.locator("#model-caps")).to_contain_text("vision")
    expect(page.locator("#attach-label")).to_be_visible()

    image = png(1)
    page.set_input_files(
        "#attach", files=[{"name": "dots.png", "mimeType": "image/png", "buffer": image}]
    )
    expect(page.locator("#attachments img")).to_have_count(1)
    set_options(page, temperature=0, num_predict=4)
    bodies = chat_bodies(page)
    reply = send(page, "What is in this picture?")
    finished(reply)
    expect(page.locator(".message.user img")).to_have_count(1)
    expect(page.locator("#attachments img")).to_have_count(0)
    assert bodies[0]["messages"][-1]["images"] == [base64.b64encode(image).decode()]


# --- API keys ----------------------------------------------------------------------------------


def test_a_server_with_api_keys_asks_for_one(make_server, chat_model, open_ui):
    server = make_server(OLLAMA_API_KEYS=API_KEY)
    assert httpx.get(server.url + "/api/tags").status_code == 401
    assert httpx.get(server.url + "/ui").status_code == 200  # the page itself is public
    assert httpx.get(server.url + "/ui/app.js").status_code == 200
    assert httpx.post(server.url + "/ui").status_code == 401  # reading it only

    page = open_ui(server, ready=False)
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#key-note")).to_contain_text("needs an API key")
    page.fill("#key-input", "not-the-key")
    page.click("#key-submit")
    expect(page.locator("#key-note")).to_contain_text("refused")
    page.fill("#key-input", API_KEY)
    page.press("#key-input", "Enter")
    page.wait_for_selector("body[data-ready]")
    expect(dialog).to_be_hidden()

    headers: list[dict] = []
    page.on("request", lambda r: headers.append(r.headers) if "/api/chat" in r.url else None)
    page.select_option("#model-select", chat_model)
    set_options(page, num_predict=4)
    finished(send(page, "Hello"))
    assert headers[0]["authorization"] == f"Bearer {API_KEY}"
    assert page.evaluate("sessionStorage.getItem('ollama-toolkit.api-key')") == API_KEY
    assert page.evaluate("localStorage.getItem('ollama-toolkit.api-key')") is None


# --- what a model writes is text ---------------------------------------------------------------

CRAFTED = """# Title <b>bold</b>
<img src=x onerror="window.pwned=1">
<script>window.pwned=2</script>
**strong <i>x</i>** and `<code>` and [click](javascript:window.pwned=3) and [ok](https://example.org/a)
- item <iframe src="javascript:window.pwned=4"></iframe>
  - nested *em*
```html
<svg onload="window.pwned=5"></svg>
```
> quote <a href="javascript:window.pwned=6">x</a>, see https://example.org/b.

| a | b |
|---|---|
| <img src=x onerror=window.pwned=7> | ~~2~~ |
"""


def test_the_markdown_renderer_makes_no_element_from_text(private_server, open_ui):
    page = open_ui(private_server)
    found = page.evaluate(
        """async (text) => {
            const { renderMarkdown } = await import('/ui/markdown.js');
            const box = document.createElement('div');
            box.append(renderMarkdown(text));
            document.body.append(box);
            await new Promise((resolve) => setTimeout(resolve, 100));  // a handler would run
            const all = [...box.querySelectorAll('*')];
            return {
                tags: all.map((e) => e.tagName.toLowerCase()),
                attributes: all.flatMap((e) => [...e.attributes].map((a) => a.name)),
                hrefs: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                text: box.textContent,
                pwned: window.pwned ?? null,
            };
        }""",
        CRAFTED,
    )
    assert found["pwned"] is None
    made = set(found["tags"])
    assert made <= {"h1", "p", "br", "strong", "em", "del", "code", "pre", "a", "ul", "li"} | {
        "blockquote",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }, made
    assert {"h1", "strong", "em", "code", "pre", "ul", "li", "blockquote", "table", "del"} <= made
    assert found["hrefs"] == ["https://example.org/a", "https://example.org/b"]
    assert set(found["attributes"]) <= {"href", "target", "rel", "class", "data-language"}
    for shown in ('<img src=x onerror="window.pwned=1">', "<script>", "<b>bold</b>", "<svg"):
        assert shown in found["text"], shown


def test_stored_replies_show_html_as_text_thinking_folded_and_tool_calls(
    private_server, chat_model, open_ui
):
    page = open_ui(private_server)
    html = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    seed_conversation(
        page,
        [
            {"role": "user", "content": f"Echo {html}"},
            {
                "role": "assistant",
                "model": chat_model,
                "content": f"Here: {html}",
                "thinking": "The user wants an echo.",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
                ],
                "stats": {"eval_count": 10, "eval_duration": 500_000_000, "ttft_ms": 42},
            },
        ],
        chat_model,
    )
    reply = page.locator(".message.assistant")
    expect(reply.locator(".content")).to_have_text(f"Here: {html}")
    expect(page.locator(".message.user .content")).to_have_text(f"Echo {html}")
    assert page.locator("#messages img, #messages script").count() == 0
    thinking = reply.locator("details.thinking")
    expect(thinking).to_have_count(1)
    assert thinking.get_attribute("open") is None  # folded
    expect(thinking.locator(".thinking-text")).to_be_hidden()
    thinking.locator("summary").click()
    expect(thinking.locator(".thinking-text")).to_have_text("The user wants an echo.")
    expect(reply.locator(".tool-call")).to_contain_text("get_weather")
    expect(reply.locator(".tool-call")).to_contain_text('"city": "Oslo"')
    expect(reply.locator(".stats")).to_have_text("10 tokens · 20.0 tokens/s · first token 42 ms")
    assert page.evaluate("window.pwned ?? null") is None


# --- phones and keyboards ----------------------------------------------------------------------

NO_OVERFLOW = """() => [document.documentElement, ...document.querySelectorAll(
    '#messages, #view-models, .chat-bar, .composer, .sidebar, .panel')]
    .filter((e) => e.offsetParent !== null || e === document.documentElement)
    .filter((e) => e.scrollWidth > e.clientWidth + 1)
    .map((e) => `${e.id || e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"""


def test_a_phone_sized_screen_has_no_horizontal_overflow(
    private_server, chat_model, open_ui, tmp_path
):
    page = open_ui(private_server, viewport=PHONE)
    long_line = "print(" + "'a very long line of code that goes on', " * 8 + ")"
    seed_conversation(
        page,
        [
            {"role": "user", "content": "x" * 300},
            {
                "role": "assistant",
                "model": chat_model,
                "content": f"```python\n{long_line}\n```\n\n{'y' * 300} https://example.org/"
                + "z" * 200
                + "\n\n| a | b | c | d | e | f |\n|---|---|---|---|---|---|\n"
                + "| 1 | 2 | 3 | 4 | 5 | 6 |\n",
            },
        ],
        chat_model,
    )
    set_options(page, system="s")
    for view in ("#chat", "#models"):
        page.goto(f"{private_server.url}/ui{view}")
        page.wait_for_selector("body[data-ready]")
        if view == "#models":
            expect(page.locator("#models-table tbody tr").first).to_be_visible()
        assert page.evaluate(NO_OVERFLOW) == [], view
        shot = page.screenshot(path=str(tmp_path / f"phone-{view[1:]}.png"), full_page=True)
        assert png_width(shot) == PHONE["width"], view


def test_controls_are_labelled_and_reachable_by_keyboard(private_server, open_ui):
    page = open_ui(private_server)
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                           && !e.textContent.trim())
            .map((e) => e.id || e.outerHTML.slice(0, 60))"""
    )
    assert unlabelled == []
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
        if reached[-1] == "send":
            break
    wanted = ["nav-chat", "nav-models", "new-chat", "model-select", "prompt", "send"]
    assert [r for r in reached if r in wanted] == wanted, reached
    page.fill("#prompt", "")
    page.keyboard.press("Enter")  # nothing to send: nothing happens
    assert page.locator(".message").count() == 0
