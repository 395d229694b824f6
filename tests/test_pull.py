"""Pull and push with Ollama's registry protocol, against a registry the tests run on loopback.

The registry is a small real HTTP server (Docker registry v2 routes, Range requests, optional
slow serving and CDN-style redirects) holding models the tests generate.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import ollama
import pytest

from conftest import copy_store, free_port, start_server
from ollama_toolkit.store.pull import RegistryModel
from test_store import assert_store_consistent, manifest_files, write_tiny_gguf
from tiny_projector import write_tiny_projector

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_ROUTE = re.compile(r"/v2/([^/]+)/([^/]+)/(manifests|blobs)/([^/]+)")


@dataclass
class BlobRequest:
    digest: str
    start: int
    end: int  # exclusive
    sent: int = 0


@dataclass
class Registry:
    """A registry on loopback: manifests and blobs in memory, every blob request recorded."""

    manifests: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[BlobRequest] = field(default_factory=list)
    delay_s: float = 0.0  # pause after each chunk sent: a slow link
    redirect_blobs: bool = False  # answer blob requests with a redirect, as Hugging Face does
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_model(self, name: str, layers: list[tuple[str, bytes]], **config_fields: str) -> bytes:
        """Serve `namespace/model:tag` with these layers and a config; return its manifest."""
        config = json.dumps(
            {"model_format": "gguf", "model_family": "llama", "file_type": "F32", **config_fields}
        ).encode()
        entries = []
        for media_type, data in layers:
            digest = self.add_blob(data)
            entries.append({"mediaType": media_type, "digest": digest, "size": len(data)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": self.add_blob(config),
                "size": len(config),
            },
            "layers": entries,
        }
        data = json.dumps(manifest, indent=2).encode()
        namespace, _, rest = name.partition("/")
        model, _, tag = rest.partition(":")
        self.manifests[(namespace, model, tag)] = data
        return data

    def add_blob(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def sent(self, digest: str, since: int = 0) -> int:
        """Bytes of a blob sent by the requests made since the `since`-th one."""
        return sum(r.sent for r in self.requests[since:] if r.digest == digest)


def _handler(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        def do_POST(self) -> None:
            if self.path.endswith("/blobs/uploads/"):
                self.send_response(202)
                self.send_header("Location", f"/upload/{uuid.uuid4().hex}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._reply(404, b"{}")

        def do_PUT(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if url.path.startswith("/upload/"):
                digest = parse_qs(url.query)["digest"][0]
                if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                    return self._reply(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                registry.add_blob(body)
                return self._reply(201, b"")
            m = _ROUTE.fullmatch(url.path)
            if m and m.group(3) == "manifests":
                registry.manifests[(m.group(1), m.group(2), m.group(4))] = body
                return self._reply(201, b"")
            self._reply(404, b"{}")

        def _route(self, head: bool) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/cdn/"):
                return self._blob(path[len("/cdn/") :], head)
            m = _ROUTE.fullmatch(path)
            if not m:
                return self._reply(404, b"{}")
            namespace, model, kind, ref = m.groups()
            if kind == "manifests":
                data = registry.manifests.get((namespace, model, ref))
                if data is None:
                    return self._reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                return self._reply(200, data, MANIFEST_TYPE, head)
            if registry.redirect_blobs and ref in registry.blobs:
                self.send_response(307)
                self.send_header("Location", f"http://{registry.host}/cdn/{ref}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._blob(ref, head)

        def _blob(self, digest: str, head: bool) -> None:
            data = registry.blobs.get(digest)
            if data is None:
                return self._reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            start, end = 0, len(data)
            wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if wanted:
                start = int(wanted.group(1))
                end = int(wanted.group(2)) + 1 if wanted.group(2) else len(data)
            self.send_response(206 if wanted else 200)
            self.send_header("Content-Length", str(end - start))
            if wanted:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            self.end_headers()
            if head:
                return None
            record = BlobRequest(digest, start, end)
            with registry.lock:
                registry.requests.append(record)
                registry.in_flight += 1
                registry.max_in_flight = max(registry.max_in_flight, registry.in_flight)
            try:
                for offset in range(start, end, 16384):
                    chunk = data[offset : min(offset + 16384, end)]
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    record.sent += len(chunk)
                    if registry.delay_s:
                        time.sleep(registry.delay_s)
            except OSError:
                pass  # the puller went away (killed, or cancelled)
            finally:
                with registry.lock:
                    registry.in_flight -= 1
            return None

        def _reply(self, status: int, body: bytes, kind: str = "", head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(reg))
    httpd.daemon_threads = True
    reg.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield reg
    httpd.shutdown()
    httpd.server_close()


def _tiny_model(registry: Registry, tmp_path: Path, name: str, **gguf_size: int) -> bytes:
    """A model whose weights no other test has (the seed comes from its name)."""
    seed = zlib.crc32(name.encode())
    gguf = write_tiny_gguf(tmp_path / f"{seed}.gguf", seed=seed, **gguf_size).read_bytes()
    return registry.add_model(
        name,
        [
            ("application/vnd.ollama.image.model", gguf),
            ("application/vnd.ollama.image.template", b"{{ .Prompt }}"),
            ("application/vnd.ollama.image.params", b'{"stop":["</s>"]}'),
        ],
    )


def test_pull_streamed_then_again_not_streamed(server, registry, tmp_path: Path):
    manifest = _tiny_model(registry, tmp_path, "library/tiny:latest")
    name = f"{registry.host}/library/tiny:latest"
    client = ollama.Client(host=server.url)

    lines = list(client.pull(name, insecure=True, stream=True))
    try:
        statuses = [line.status for line in lines]
        assert statuses[0] == "pulling manifest"
        assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
        doc = json.loads(manifest)
        for layer in [*doc["layers"], doc["config"]]:
            last = [x for x in lines if x.digest == layer["digest"]][-1]
            assert last.status == f"pulling {layer['digest'][7:19]}"
            assert last.total == last.completed == layer["size"]

        stored = manifest_files(server.models_dir)[name]
        assert stored.read_bytes() == manifest  # the registry's bytes, digest and all
        assert_store_consistent(server.models_dir)
        listed = {m.model: m for m in client.list().models}[name]
        assert listed.digest == hashlib.sha256(manifest).hexdigest()
        assert client.show(name).details.family == "llama"

        fetched = len(registry.requests)
        again = client.pull(name, insecure=True, stream=False)
        assert again.status == "success"
        assert len(registry.requests) == fetched  # every blob was already there
    finally:
        client.delete(name)
    assert_store_consistent(server.models_dir)


def test_pull_a_hugging_face_style_repository(server, registry, tmp_path: Path):
    """`hf.co/<user>/<repo>:<quant>` is a registry host like any other; Hugging Face answers
    blob requests with a redirect to its CDN, which the pull follows."""
    registry.redirect_blobs = True
    _tiny_model(registry, tmp_path, "bartowski/Tiny-GGUF:Q8_0")
    name = f"{registry.host}/bartowski/Tiny-GGUF:Q8_0"
    done = ollama.Client(host=server.url).pull(name, insecure=True)
    try:
        assert done.status == "success"
        assert name in {m.model for m in ollama.Client(host=server.url).list().models}
    finally:
        ollama.Client(host=server.url).delete(name)


def test_two_pulls_of_one_model_share_the_download(server, registry, tmp_path: Path):
    manifest = _tiny_model(registry, tmp_path, "library/shared:latest", n_embd=128, n_ff=256)
    weights = json.loads(manifest)["layers"][0]
    registry.delay_s = 0.01
    name = f"{registry.host}/library/shared:latest"
    client = ollama.Client(host=server.url)
    results: list[str] = []

    def pull() -> None:
        results.append(client.pull(name, insecure=True).status)

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert results == ["success", "success"]
        assert registry.sent(weights["digest"]) == weights["size"]  # fetched once
        assert_store_consistent(server.models_dir)
    finally:
        client.delete(name)


def test_hugging_face_and_mirror_names_map_to_registry_urls():
    hf = RegistryModel.parse("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")
    assert hf.manifest_url(insecure=False) == (
        "https://hf.co/v2/bartowski/Llama-3.2-1B-Instruct-GGUF/manifests/Q4_K_M"
    )
    assert (
        RegistryModel.parse("hf.co/user/repo")
        .manifest_url(False)
        .endswith("/v2/user/repo/manifests/latest")
    )
    mirror = RegistryModel.parse("127.0.0.1:5000/library/tiny")
    assert mirror.blob_url("sha256:" + "a" * 64, insecure=True) == (
        "http://127.0.0.1:5000/v2/library/tiny/blobs/sha256:" + "a" * 64
    )
    assert RegistryModel.parse("llama3.2").manifest_url(False) == (
        "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest"
    )
    assert RegistryModel.parse("http://h:1/ns/m:t").scheme == "http"


def test_without_a_registry_the_error_is_clear_and_immediate(server):
    client = ollama.Client(host=server.url)
    closed = f"127.0.0.1:{free_port()}/library/nothing"
    with pytest.raises(ollama.ResponseError) as refused:
        client.pull(closed, insecure=True)
    assert refused.value.status_code == 500
    assert refused.value.error.startswith(
        f"pull model manifest: could not reach 127.0.0.1:{closed.split(':')[1].split('/')[0]}"
    )
    with pytest.raises(ollama.ResponseError, match="pull model manifest: could not reach"):
        list(client.pull("no-such-host.invalid/library/nothing", stream=True))
    assert not [n for n in manifest_files(server.models_dir) if "nothing" in n]


def test_pull_refusals(server, registry):
    client = ollama.Client(host=server.url)
    for name, insecure, status, error in [
        (f"{registry.host}/library/absent", True, 500, "pull model manifest: file does not exist"),
        (f"http://{registry.host}/library/absent", False, 400, "insecure protocol http"),
        ("../../etc/passwd", False, 400, "invalid model name"),
    ]:
        with pytest.raises(ollama.ResponseError) as refused:
            client.pull(name, insecure=insecure)
        assert (refused.value.status_code, refused.value.error) == (status, error)


def test_an_unknown_renderer_or_parser_is_refused_before_the_weights_download(server, registry):
    client = ollama.Client(host=server.url)
    weights = b"GGUF weights that are never fetched"
    for kind in ("renderer", "parser"):
        name = f"library/new-{kind}:latest"
        registry.add_model(
            name, [("application/vnd.ollama.image.model", weights)], **{kind: "no-such-x"}
        )
        with pytest.raises(ollama.ResponseError) as refused:
            client.pull(f"{registry.host}/{name}", insecure=True)
        assert (refused.value.status_code, refused.value.error) == (
            400,
            f'unknown {kind} "no-such-x"',
        )
    weights_digest = "sha256:" + hashlib.sha256(weights).hexdigest()
    assert weights_digest not in {r.digest for r in registry.requests}
    # A name this server has is pulled.
    registry.add_model(
        "library/harmony:latest",
        [("application/vnd.ollama.image.model", weights)],
        renderer="harmony",
    )
    assert client.pull(f"{registry.host}/library/harmony", insecure=True).status == "success"


def test_a_blob_that_does_not_match_its_digest_is_never_kept(server, registry, tmp_path: Path):
    lying = "sha256:" + hashlib.sha256(b"what the manifest promises").hexdigest()
    registry.add_blob(b"something else entirely", digest=lying)
    config = registry.add_blob(b"{}")
    registry.manifests[("library", "liar", "latest")] = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "x", "digest": config, "size": 2},
            "layers": [
                {"mediaType": "application/vnd.ollama.image.model", "digest": lying, "size": 23}
            ],
        }
    ).encode()
    with pytest.raises(ollama.ResponseError, match="digest mismatch, file must be downloaded"):
        ollama.Client(host=server.url).pull(f"{registry.host}/library/liar", insecure=True)
    blobs = [p.name for p in (server.models_dir / "blobs").iterdir()]
    assert not [b for b in blobs if b.startswith(lying.replace(":", "-"))]
    assert not [n for n in manifest_files(server.models_dir) if "liar" in n]


def test_push_then_pull_back(server, registry, tmp_path: Path):
    client = ollama.Client(host=server.url)
    digest = client.create_blob(write_tiny_gguf(tmp_path / "p.gguf", seed=3))
    name = f"{registry.host}/team/pushed:v1"
    client.create(model=name, files={"p.gguf": digest}, system="Be brief.")
    local = manifest_files(server.models_dir)[name].read_bytes()

    lines = list(client.push(name, insecure=True, stream=True))
    assert lines[0].status == "retrieving manifest"
    assert [x.status for x in lines[-2:]] == ["pushing manifest", "success"]
    assert registry.manifests[("team", "pushed", "v1")] == local

    client.delete(name)
    assert client.pull(name, insecure=True).status == "success"
    try:
        assert manifest_files(server.models_dir)[name].read_bytes() == local
        assert client.show(name).modelfile.count('SYSTEM """Be brief."""') == 1
    finally:
        client.delete(name)


def test_a_pulled_projector_layer_makes_a_vision_model(server, registry, tmp_path: Path):
    seed = zlib.crc32(b"vision")
    gguf = write_tiny_gguf(tmp_path / "v.gguf", seed=seed).read_bytes()
    projector = write_tiny_projector(tmp_path / "mmproj.gguf").read_bytes()
    registry.add_model(
        "library/seeing:latest",
        [
            ("application/vnd.ollama.image.model", gguf),
            ("application/vnd.ollama.image.projector", projector),
        ],
    )
    name = f"{registry.host}/library/seeing:latest"
    client = ollama.Client(host=server.url)
    assert client.pull(name, insecure=True).status == "success"
    try:
        assert "vision" in client.show(name).capabilities
        shown = httpx.post(server.url + "/api/show", json={"model": name}).json()
        assert shown["projector_info"]["general.architecture"] == "clip"
    finally:
        client.delete(name)
    assert_store_consistent(server.models_dir)


def test_a_pull_killed_mid_transfer_resumes_where_it_stopped(
    seeded_store, registry, tmp_path: Path
):
    """Several connections fetch parts of the large blob; the server is killed with SIGKILL
    halfway; the restarted server finds a consistent store and fetches only what is missing."""
    manifest = _tiny_model(registry, tmp_path, "library/big:latest", n_embd=256, n_ff=512)
    weights = json.loads(manifest)["layers"][0]
    total = weights["size"]
    registry.delay_s = 0.1  # 16 KiB per 0.1 s per connection
    models = copy_store(seeded_store, tmp_path / "models")
    env = {"OLLAMA_TOOLKIT_PULL_PART_SIZE": str(128 * 1024)}
    server = start_server(models, tmp_path / "first.log", **env)
    name = f"{registry.host}/library/big:latest"
    try:
        with httpx.stream(
            "POST", f"{server.url}/api/pull", json={"model": name, "insecure": True}, timeout=60
        ) as response:
            for line in response.iter_lines():
                progress = json.loads(line)
                halfway = progress.get("completed", 0) >= total // 2
                if progress.get("digest") == weights["digest"] and halfway:
                    os.kill(server.proc.pid, signal.SIGKILL)
                    break
        server.proc.wait(timeout=30)
    finally:
        server.stop()

    assert registry.max_in_flight >= 2  # the blob came over several connections at once
    assert len({r.start for r in registry.requests if r.digest == weights["digest"]}) >= 2
    assert name not in manifest_files(models)
    assert_store_consistent(models)
    partial = models / "blobs" / (weights["digest"].replace(":", "-") + "-partial")
    assert partial.is_file()
    saved = [json.loads(p.read_text()) for p in partial.parent.glob(partial.name + "-*")]
    resumed_from = sum(part["Completed"] for part in saved)
    assert 0 < resumed_from < total

    first_run = len(registry.requests)
    registry.delay_s = 0.0
    restarted = start_server(models, tmp_path / "second.log", **env)
    try:
        done = ollama.Client(host=restarted.url).pull(name, insecure=True)
        assert done.status == "success"
        assert registry.sent(weights["digest"], since=first_run) == total - resumed_from
        assert manifest_files(models)[name].read_bytes() == manifest
        assert not list(partial.parent.glob(partial.name + "*"))
        assert_store_consistent(models)
    finally:
        restarted.stop()
