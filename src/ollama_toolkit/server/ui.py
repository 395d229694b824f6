"""The built-in web UI: a single-page app at `/ui`, served from the package's `ui/` files.

Plain ES modules and hand-written CSS, shipped as package data (no build step, no CDN: it works
offline). The files are read once, on the first request, into a fixed table of name → bytes;
a request names one of them or gets 404, so no request path ever reaches the file system.

Every answer carries a strict Content-Security-Policy (scripts, styles and fetches from this
origin only, no inline script, no plugins, not framed): even if model output were ever turned
into HTML by mistake, it could not run a script. `/ui` answers `index.html`, whose URLs are
absolute (`/ui/app.js`), so `/ui` and `/ui/` both work. The files are public, like `/` (see
server/auth.py): the page asks for an API key when the API answers 401, and sends it itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",  # attached images are previewed from data: URLs
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag) on each load: an upgrade shows at once
}

INDEX = "index.html"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


_assets: dict[str, Asset] | None = None


def assets() -> dict[str, Asset]:
    """The UI's files by name, read from the package once."""
    global _assets
    if _assets is None:
        found: dict[str, Asset] = {}
        folder = resources.files("ollama_toolkit.server").joinpath("ui")
        for entry in folder.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if not entry.is_file() or suffix not in CONTENT_TYPES:
                continue
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            found[entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)
        _assets = found
    return _assets


def _answer(request: Request, name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        return PlainTextResponse("404 page not found", 404, headers=_HEADERS)
    headers = {**_HEADERS, "ETag": asset.etag}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


async def ui_page(request: Request) -> Response:
    """`GET /ui`: the page."""
    return _answer(request, INDEX)


async def ui_asset(request: Request, path: str) -> Response:
    """`GET /ui/{path}`: one of the UI's files (the page again for `/ui/index.html`)."""
    return _answer(request, path or INDEX)
