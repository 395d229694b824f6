"""Resumable, parallel blob downloads, kept on disk the way Ollama keeps them.

A blob is fetched into `blobs/sha256-<hex>-partial` in parts, each over its own connection with
a Range request; the progress of part N lives in `sha256-<hex>-partial-N` (JSON, Ollama's own
shape), so a download interrupted by anything, a killed process included, resumes where it
stopped — even one Ollama began. The file takes its digest name only once its sha256 matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ollama_toolkit import config
from ollama_toolkit.api.errors import InternalError
from ollama_toolkit.store.store import Store
from ollama_toolkit.version import __version__

log = logging.getLogger(__name__)

NUM_PARTS = 16
MAX_PART_SIZE = 1000 * 1000 * 1000
MAX_RETRIES = 6
_SAVE_EVERY_S = 0.25  # how often a part's progress is written down while it downloads
_MAX_BACKOFF_S = 30.0

USER_AGENT = f"ollama-toolkit/{__version__}"


def http_client() -> httpx.AsyncClient:
    """The client pulls and pushes use: redirects followed (registries redirect blobs to a
    CDN), connection errors quick, a stalled transfer noticed after 30 seconds."""
    return httpx.AsyncClient(
        follow_redirects=True,
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=NUM_PARTS + 2),
        headers={"User-Agent": USER_AGENT},
    )


@dataclass
class Part:
    n: int
    offset: int
    size: int
    completed: int = 0

    def to_json(self) -> dict[str, int]:
        return {"N": self.n, "Offset": self.offset, "Size": self.size, "Completed": self.completed}


class _Retry(Exception):
    """A failure worth another try: a dropped connection, a short body, a 5xx."""


class BlobDownload:
    """One blob being downloaded; pulls that need the same blob share it."""

    def __init__(self, store: Store, digest: str, size: int, url: str):
        self.digest = digest
        self.url = url
        self.total = size
        self.completed = 0
        self.path = store.blob_path(digest)
        self.partial = self.path.with_name(self.path.name + "-partial")
        self._store = store
        self._waiters = 0
        self._task = asyncio.create_task(self._run())

    async def wait(self, timeout: float) -> bool:
        """Whether the download has finished (raising its error if it failed), within `timeout`."""
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if done:
            self._task.result()
        return bool(done)

    def release(self) -> None:
        """A pull stops waiting; the last one to leave cancels the download (it stays resumable)."""
        self._waiters -= 1
        if self._waiters == 0 and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        parts = await asyncio.to_thread(self._prepare)
        self.completed = sum(p.completed for p in parts)
        fd = os.open(self.partial, os.O_RDWR)
        try:
            async with http_client() as client:
                tasks = [
                    asyncio.create_task(self._fetch_part(client, fd, part))
                    for part in parts
                    if part.completed < part.size
                ]
                try:
                    await asyncio.gather(*tasks)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            os.close(fd)
        await asyncio.to_thread(self._verify_and_adopt, parts)

    # --- parts on disk -------------------------------------------------------------------------

    def _part_path(self, n: int) -> Path:
        return self.partial.with_name(f"{self.partial.name}-{n}")

    def _part_files(self) -> list[Path]:
        pattern = re.compile(re.escape(self.partial.name) + r"-\d+")
        return [p for p in self.path.parent.iterdir() if pattern.fullmatch(p.name)]

    def _prepare(self) -> list[Part]:
        parts = self._load_parts()
        if parts is not None:
            log.info("resuming %s: %d of %d bytes", self.digest[7:19], _done(parts), self.total)
            return parts
        discard_partial(self._store, self.digest)
        part_size = min(max(self.total // NUM_PARTS, config.pull_part_size()), MAX_PART_SIZE)
        parts = [
            Part(n, offset, min(part_size, self.total - offset))
            for n, offset in enumerate(range(0, self.total, part_size))
        ]
        with open(self.partial, "wb") as f:
            f.truncate(self.total)
        for part in parts:
            self._save(part)
        log.info("downloading %s in %d part(s)", self.digest[7:19], len(parts))
        return parts

    def _load_parts(self) -> list[Part] | None:
        """The parts of an interrupted download, or None when there is nothing sound to resume."""
        try:
            if self.partial.stat().st_size != self.total:
                return None
            parts = []
            for path in self._part_files():
                doc = json.loads(path.read_text())
                parts.append(Part(doc["N"], doc["Offset"], doc["Size"], doc["Completed"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        parts.sort(key=lambda p: p.offset)
        offset = 0
        for part in parts:
            if part.offset != offset or not 0 <= part.completed <= part.size:
                return None
            offset += part.size
        return parts if parts and offset == self.total else None

    def _save(self, part: Part) -> None:
        # Written after the bytes it counts, replaced whole: a crash leaves an older count.
        path = self._part_path(part.n)
        tmp = path.with_name(".tmp-" + path.name)
        tmp.write_text(json.dumps(part.to_json()))
        os.replace(tmp, path)

    def _verify_and_adopt(self, parts: list[Part]) -> None:
        h = hashlib.sha256()
        with open(self.partial, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
            os.fsync(f.fileno())
        got = "sha256:" + h.hexdigest()
        if got != self.digest:
            discard_partial(self._store, self.digest)
            raise InternalError(
                f"digest mismatch, file must be downloaded again: want {self.digest}, got {got}"
            )
        self._store.adopt_blob_file(self.partial, self.digest)
        for part in parts:
            self._part_path(part.n).unlink(missing_ok=True)

    # --- transfer ------------------------------------------------------------------------------

    async def _fetch_part(self, client: httpx.AsyncClient, fd: int, part: Part) -> None:
        for attempt in range(MAX_RETRIES):
            try:
                await self._fetch_range(client, fd, part)
                return
            except (httpx.TransportError, _Retry) as e:
                if attempt == MAX_RETRIES - 1:
                    raise InternalError(f"max retries exceeded: {_describe(e)}") from None
                delay = min(2.0**attempt, _MAX_BACKOFF_S)
                log.info(
                    "%s part %d attempt %d failed: %s, retrying in %.0fs",
                    self.digest[7:19],
                    part.n,
                    attempt,
                    _describe(e),
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                self._save(part)

    async def _fetch_range(self, client: httpx.AsyncClient, fd: int, part: Part) -> None:
        start, end = part.offset + part.completed, part.offset + part.size
        headers = {"Range": f"bytes={start}-{end - 1}"}
        async with client.stream("GET", self.url, headers=headers) as response:
            if response.status_code >= 500:
                raise _Retry(f"{response.status_code} from {response.url}")
            if response.status_code >= 400:
                body = (await response.aread()).decode(errors="replace").strip()
                raise InternalError(f"{response.status_code}: {body}")
            # A server that ignores Range sends the whole blob: skip to where this part resumes.
            skip = start if response.status_code == 200 else 0
            saved_at = time.monotonic()
            async for chunk in response.aiter_bytes():
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                position = part.offset + part.completed
                chunk = chunk[: end - position]
                if chunk:
                    os.pwrite(fd, chunk, position)
                    part.completed += len(chunk)
                    self.completed += len(chunk)
                if part.completed == part.size:
                    break
                if time.monotonic() - saved_at >= _SAVE_EVERY_S:
                    self._save(part)
                    saved_at = time.monotonic()
        if part.completed < part.size:
            raise _Retry(f"connection closed at byte {part.offset + part.completed}")


# Downloads in progress in this process, by blob path: a second pull of the same blob waits on
# the first instead of writing the same file.
_active: dict[Path, BlobDownload] = {}


def start_download(store: Store, digest: str, size: int, url: str) -> BlobDownload:
    """Begin (or join) the download of a blob; call `release()` when no longer waiting."""
    path = store.blob_path(digest)
    download = _active.get(path)
    if download is None:
        download = BlobDownload(store, digest, size, url)
        _active[path] = download
        download._task.add_done_callback(lambda _t: _active.pop(path, None))
    download._waiters += 1
    return download


def discard_partial(store: Store, digest: str) -> None:
    """Remove what an earlier download of a blob left behind (data and part files)."""
    path = store.blob_path(digest)
    partial = path.name + "-partial"
    if not path.parent.is_dir():
        return
    for p in path.parent.iterdir():
        if p.name == partial or re.fullmatch(re.escape(partial) + r"-\d+", p.name):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _done(parts: list[Part]) -> int:
    return sum(p.completed for p in parts)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
