"""What `Client` and `AsyncClient` share: every API method, defined once, and every decision.

Each method describes its request as a `Call`; the subclass sends it (`Client` blocking,
`AsyncClient` with `await`). So the two mirror each other method for method, with one docstring,
and retry and fallback rules live here, not in two copies of the I/O loop.

The overloads ahead of each method give its types for each client, told apart by the httpx client
they hold: on `Client` (`BaseClient[httpx.Client]`) `generate(...)` is a `GenerateResponse` and
with `stream=True` a `Stream` of them; on `AsyncClient` the same, wrapped in a coroutine to await,
with an `AsyncStream` for streaming.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import (
    AsyncGenerator,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, Literal, TypeAlias, TypeVar, overload

import httpx
from pydantic import BaseModel

from ollama_toolkit import config
from ollama_toolkit.api.types import (
    ChatRequest,
    ChatResponse,
    CopyRequest,
    CreateRequest,
    DeleteRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    PullRequest,
    PushRequest,
    ShowRequest,
    ShowResponse,
    StatusResponse,
    VersionResponse,
    WireModel,
)
from ollama_toolkit.client import payload
from ollama_toolkit.client.errors import STREAM_ERROR_STATUS, ResponseError
from ollama_toolkit.client.retry import RETRY_STATUS, RetryPolicy
from ollama_toolkit.version import __version__

FALLBACK_STATUS = frozenset({404, 500})
"""Errors that mean "this model cannot serve": not found (404), or it failed to load (500)."""

CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)

ContentFactory = Callable[[], Any]
"""Makes a fresh request body (an iterator of bytes) for each attempt, so a retry resends it."""

Format = Literal["", "json"] | dict[str, Any] | None
Options = Mapping[str, Any] | BaseModel | None
KeepAlive = float | str | None

T = TypeVar("T")
Stream: TypeAlias = Generator[T, None, None]
"""A streaming `Client` call: the response's lines as they arrive; `close()` ends the request."""
AsyncStream: TypeAlias = AsyncGenerator[T, None]
"""A streaming `AsyncClient` call, awaited: its lines as they arrive; `aclose()` ends it."""
Awaited: TypeAlias = Coroutine[Any, Any, T]
"""What an `AsyncClient` method returns: a coroutine to await for the answer."""

Http = TypeVar("Http", httpx.Client, httpx.AsyncClient)


@dataclass(frozen=True)
class Call:
    """One API request: where it goes, its JSON body, and how to read the answer."""

    method: str
    path: str
    result: type[WireModel]
    body: dict[str, Any] | None = None
    stream: bool = False
    fallback: bool = False

    def for_model(self, name: str) -> Call:
        return replace(self, body={**(self.body or {}), "model": name})


def decode_line(line: str, result: type[WireModel]) -> WireModel | None:
    """One NDJSON line as a typed chunk; an `{"error": ...}` line raises ResponseError."""
    if not line.strip():
        return None
    obj = json.loads(line)
    if isinstance(obj, dict) and obj.get("error"):
        raise ResponseError(str(obj["error"]), STREAM_ERROR_STATUS)
    return result.model_validate(obj)


def resolve_host(host: str | config.HostURL | None) -> config.HostURL:
    """The address a client connects to: `host`, else OLLAMA_HOST; a bind-all address becomes
    loopback."""
    if isinstance(host, config.HostURL):
        return host.connectable()
    return (config.parse_host(host) if host else config.host()).connectable()


def auth_header(headers: Mapping[str, str] | None) -> dict[str, str]:
    """`Authorization: Bearer $OLLAMA_API_KEY`, unless the variable is unset or `headers` (the
    caller's) has an Authorization header already, in any case."""
    key = config.api_key()
    if not key or any(name.lower() == "authorization" for name in headers or {}):
        return {}
    return {"Authorization": f"Bearer {key}"}


def falls_back(error: ResponseError) -> bool:
    return error.status_code in FALLBACK_STATUS


def file_digest(path: str | Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


class BaseClient(Generic[Http]):
    """Connection settings, retry and fallback policy, and the API methods of both clients.

    `host`: `[scheme://]host[:port][/path]`, default OLLAMA_HOST (parsed as the server parses it).
    `retries`: a `RetryPolicy` or a number of retries for connection failures and 503 answers.
    `fallback_models`: models tried in order when the requested one is not found (404) or fails
    to load (500) before any output; the response's `model` field names the one that answered.
    With OLLAMA_API_KEY set, requests carry `Authorization: Bearer <key>` unless `headers` has
    an `Authorization` of its own (as the official `ollama` client does).
    Other keyword arguments (`timeout`, `headers`, `verify`, ...) go to the httpx client.
    """

    _http_class: type[Http]
    _http: Http

    def __init__(
        self,
        host: str | config.HostURL | None = None,
        *,
        retries: int | RetryPolicy | None = None,
        fallback_models: Sequence[str] | None = None,
        timeout: Any = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        **kwargs: Any,
    ) -> None:
        self.base_url = resolve_host(host).base_url
        self.retry = RetryPolicy.of(retries)
        self.fallback_models = tuple(fallback_models or ())
        user_agent = (
            f"ollama-toolkit/{__version__} ({platform.machine()} {platform.system().lower()}) "
            f"Python/{platform.python_version()}"
        )
        self._http = self._http_class(
            base_url=self.base_url,
            timeout=timeout,
            follow_redirects=follow_redirects,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": user_agent,
                **auth_header(headers),
                **(headers or {}),
            },
            **kwargs,
        )

    # --- decisions shared by both I/O loops -----------------------------------------------

    def _candidates(self, call: Call) -> Iterator[tuple[Call, bool]]:
        """The call for the requested model, then for each fallback; True marks the last one."""
        if not call.fallback or not self.fallback_models:
            yield call, True
            return
        requested: str = (call.body or {}).get("model", "")
        names = [requested, *(m for m in self.fallback_models if m != requested)]
        for i, name in enumerate(names):
            yield call.for_model(name), i == len(names) - 1

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before trying again, or None to give up.

        `response` is None when the connection failed; a response is retried only on 503.
        """
        if attempt >= self.retry.max_retries:
            return None
        if response is None:
            return self.retry.delay(attempt)
        if response.status_code == RETRY_STATUS:
            return self.retry.delay(attempt, response.headers.get("retry-after"))
        return None

    @staticmethod
    def _result(call: Call, response: httpx.Response) -> WireModel:
        if call.result is StatusResponse:
            return StatusResponse(status="success")
        return call.result.model_validate(response.json())

    def _send(self, call: Call) -> Any:
        raise NotImplementedError

    # --- the API: one definition for both clients -----------------------------------------
    # Each method's overloads: Client's, then AsyncClient's; `stream: Literal[...]` picks one
    # answer or a stream, and a plain `bool` gets either. The docstring is the implementation's.

    @overload
    def generate(
        self: BaseClient[httpx.Client],
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: Literal[False] = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> GenerateResponse: ...

    @overload
    def generate(
        self: BaseClient[httpx.Client],
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: Literal[True],
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Stream[GenerateResponse]: ...

    @overload
    def generate(
        self: BaseClient[httpx.Client],
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: bool = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> GenerateResponse | Stream[GenerateResponse]: ...

    @overload
    def generate(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: Literal[False] = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Awaited[GenerateResponse]: ...

    @overload
    def generate(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: Literal[True],
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Awaited[AsyncStream[GenerateResponse]]: ...

    @overload
    def generate(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: bool = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Awaited[GenerateResponse | AsyncStream[GenerateResponse]]: ...

    def generate(
        self,
        model: str = "",
        prompt: str | None = None,
        suffix: str | None = None,
        *,
        system: str | None = None,
        template: str | None = None,
        context: Sequence[int] | None = None,
        stream: bool = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        raw: bool | None = None,
        format: Format = None,
        images: Sequence[payload.Image] | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Any:
        """Complete `prompt` with `model`: a `GenerateResponse`, or with `stream=True` an
        iterator of them (AsyncClient: awaitable, and an async iterator when streaming)."""
        body = payload.wire(
            GenerateRequest,
            model=model,
            prompt=prompt,
            suffix=suffix,
            system=system,
            template=template,
            context=list(context) if context is not None else None,
            stream=stream,
            think=think,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            raw=raw,
            format=format,
            images=[payload.encode_image(i) for i in images] if images else None,
            options=payload.as_dict(options) if options is not None else None,
            keep_alive=keep_alive,
            truncate=truncate,
            shift=shift,
        )
        return self._send(
            Call("POST", "/api/generate", GenerateResponse, body, stream=stream, fallback=True)
        )

    @overload
    def chat(
        self: BaseClient[httpx.Client],
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: Literal[False] = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> ChatResponse: ...

    @overload
    def chat(
        self: BaseClient[httpx.Client],
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: Literal[True],
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Stream[ChatResponse]: ...

    @overload
    def chat(
        self: BaseClient[httpx.Client],
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: bool = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> ChatResponse | Stream[ChatResponse]: ...

    @overload
    def chat(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: Literal[False] = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Awaited[ChatResponse]: ...

    @overload
    def chat(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: Literal[True],
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Awaited[AsyncStream[ChatResponse]]: ...

    @overload
    def chat(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: bool = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Awaited[ChatResponse | AsyncStream[ChatResponse]]: ...

    def chat(
        self,
        model: str = "",
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        tools: Sequence[Mapping[str, Any] | BaseModel | Callable[..., Any]] | None = None,
        stream: bool = False,
        think: bool | Literal["low", "medium", "high"] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        format: Format = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        truncate: bool | None = None,
        shift: bool | None = None,
    ) -> Any:
        """Answer the conversation `messages`: a `ChatResponse`, or an iterator of them when
        streaming. `tools` may be JSON schemas, `Tool` objects or plain Python functions."""
        body = payload.wire(
            ChatRequest,
            model=model,
            messages=payload.messages(messages),
            tools=payload.tools(tools) or None,
            stream=stream,
            think=think,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            format=format,
            options=payload.as_dict(options) if options is not None else None,
            keep_alive=keep_alive,
            truncate=truncate,
            shift=shift,
        )
        return self._send(
            Call("POST", "/api/chat", ChatResponse, body, stream=stream, fallback=True)
        )

    @overload
    def embed(
        self: BaseClient[httpx.Client],
        model: str = "",
        input: str | Sequence[str] = "",
        truncate: bool | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        dimensions: int | None = None,
    ) -> EmbedResponse: ...

    @overload
    def embed(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        input: str | Sequence[str] = "",
        truncate: bool | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        dimensions: int | None = None,
    ) -> Awaited[EmbedResponse]: ...

    def embed(
        self,
        model: str = "",
        input: str | Sequence[str] = "",
        truncate: bool | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
        dimensions: int | None = None,
    ) -> Any:
        """Embedding vectors for `input` (one text or several): an `EmbedResponse`."""
        body = payload.wire(
            EmbedRequest,
            model=model,
            input=input if isinstance(input, str) else list(input),
            truncate=truncate,
            options=payload.as_dict(options) if options is not None else None,
            keep_alive=keep_alive,
            dimensions=dimensions,
        )
        return self._send(Call("POST", "/api/embed", EmbedResponse, body, fallback=True))

    @overload
    def embeddings(
        self: BaseClient[httpx.Client],
        model: str = "",
        prompt: str | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
    ) -> EmbeddingsResponse: ...

    @overload
    def embeddings(
        self: BaseClient[httpx.AsyncClient],
        model: str = "",
        prompt: str | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
    ) -> Awaited[EmbeddingsResponse]: ...

    def embeddings(
        self,
        model: str = "",
        prompt: str | None = None,
        options: Options = None,
        keep_alive: KeepAlive = None,
    ) -> Any:
        """One embedding for `prompt` (Ollama's older endpoint; prefer `embed`)."""
        body = payload.wire(
            EmbeddingsRequest,
            model=model,
            prompt=prompt,
            options=payload.as_dict(options) if options is not None else None,
            keep_alive=keep_alive,
        )
        return self._send(Call("POST", "/api/embeddings", EmbeddingsResponse, body, fallback=True))

    @overload
    def pull(
        self: BaseClient[httpx.Client],
        model: str,
        *,
        insecure: bool = False,
        stream: Literal[False] = False,
    ) -> ProgressResponse: ...

    @overload
    def pull(
        self: BaseClient[httpx.Client], model: str, *, insecure: bool = False, stream: Literal[True]
    ) -> Stream[ProgressResponse]: ...

    @overload
    def pull(
        self: BaseClient[httpx.Client], model: str, *, insecure: bool = False, stream: bool = False
    ) -> ProgressResponse | Stream[ProgressResponse]: ...

    @overload
    def pull(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        *,
        insecure: bool = False,
        stream: Literal[False] = False,
    ) -> Awaited[ProgressResponse]: ...

    @overload
    def pull(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        *,
        insecure: bool = False,
        stream: Literal[True],
    ) -> Awaited[AsyncStream[ProgressResponse]]: ...

    @overload
    def pull(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        *,
        insecure: bool = False,
        stream: bool = False,
    ) -> Awaited[ProgressResponse | AsyncStream[ProgressResponse]]: ...

    def pull(self, model: str, *, insecure: bool = False, stream: bool = False) -> Any:
        """Download `model` from its registry: the final `ProgressResponse`, or every progress
        line when streaming."""
        body = payload.wire(PullRequest, model=model, insecure=insecure, stream=stream)
        return self._send(Call("POST", "/api/pull", ProgressResponse, body, stream=stream))

    @overload
    def push(
        self: BaseClient[httpx.Client],
        model: str,
        *,
        insecure: bool = False,
        stream: Literal[False] = False,
    ) -> ProgressResponse: ...

    @overload
    def push(
        self: BaseClient[httpx.Client], model: str, *, insecure: bool = False, stream: Literal[True]
    ) -> Stream[ProgressResponse]: ...

    @overload
    def push(
        self: BaseClient[httpx.Client], model: str, *, insecure: bool = False, stream: bool = False
    ) -> ProgressResponse | Stream[ProgressResponse]: ...

    @overload
    def push(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        *,
        insecure: bool = False,
        stream: Literal[False] = False,
    ) -> Awaited[ProgressResponse]: ...

    @overload
    def push(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        *,
        insecure: bool = False,
        stream: Literal[True],
    ) -> Awaited[AsyncStream[ProgressResponse]]: ...

    @overload
    def push(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        *,
        insecure: bool = False,
        stream: bool = False,
    ) -> Awaited[ProgressResponse | AsyncStream[ProgressResponse]]: ...

    def push(self, model: str, *, insecure: bool = False, stream: bool = False) -> Any:
        """Upload `model` to its registry, reporting progress like `pull`."""
        body = payload.wire(PushRequest, model=model, insecure=insecure, stream=stream)
        return self._send(Call("POST", "/api/push", ProgressResponse, body, stream=stream))

    @overload
    def create(
        self: BaseClient[httpx.Client],
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: Literal[False] = False,
    ) -> ProgressResponse: ...

    @overload
    def create(
        self: BaseClient[httpx.Client],
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: Literal[True],
    ) -> Stream[ProgressResponse]: ...

    @overload
    def create(
        self: BaseClient[httpx.Client],
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: bool = False,
    ) -> ProgressResponse | Stream[ProgressResponse]: ...

    @overload
    def create(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: Literal[False] = False,
    ) -> Awaited[ProgressResponse]: ...

    @overload
    def create(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: Literal[True],
    ) -> Awaited[AsyncStream[ProgressResponse]]: ...

    @overload
    def create(
        self: BaseClient[httpx.AsyncClient],
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: bool = False,
    ) -> Awaited[ProgressResponse | AsyncStream[ProgressResponse]]: ...

    def create(
        self,
        model: str,
        quantize: str | None = None,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        template: str | None = None,
        license: str | list[str] | None = None,
        system: str | None = None,
        renderer: str | None = None,
        parser: str | None = None,
        parameters: Options = None,
        messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        *,
        stream: bool = False,
    ) -> Any:
        """Create `model` from another model (`from_`) or uploaded blobs (`files`, name to
        digest, see `create_blob`), with its template, system prompt and parameters; `renderer`
        and `parser` name a built-in renderer and output parser (a Modelfile's RENDERER and
        PARSER)."""
        body = payload.wire(
            CreateRequest,
            model=model,
            quantize=quantize,
            **{"from": from_},
            files=files,
            adapters=adapters,
            template=template,
            license=license,
            system=system,
            renderer=renderer,
            parser=parser,
            parameters=payload.as_dict(parameters) if parameters is not None else None,
            messages=payload.messages(messages) if messages is not None else None,
            stream=stream,
        )
        return self._send(Call("POST", "/api/create", ProgressResponse, body, stream=stream))

    @overload
    def list(self: BaseClient[httpx.Client]) -> ListResponse: ...

    @overload
    def list(self: BaseClient[httpx.AsyncClient]) -> Awaited[ListResponse]: ...

    def list(self) -> Any:
        """The models in the store: a `ListResponse`."""
        return self._send(Call("GET", "/api/tags", ListResponse))

    @overload
    def show(
        self: BaseClient[httpx.Client], model: str, *, verbose: bool | None = None
    ) -> ShowResponse: ...

    @overload
    def show(
        self: BaseClient[httpx.AsyncClient], model: str, *, verbose: bool | None = None
    ) -> Awaited[ShowResponse]: ...

    def show(self, model: str, *, verbose: bool | None = None) -> Any:
        """A model's details, Modelfile, template, parameters and capabilities: `ShowResponse`."""
        body = payload.wire(ShowRequest, model=model, verbose=verbose)
        return self._send(Call("POST", "/api/show", ShowResponse, body))

    @overload
    def ps(self: BaseClient[httpx.Client]) -> ProcessResponse: ...

    @overload
    def ps(self: BaseClient[httpx.AsyncClient]) -> Awaited[ProcessResponse]: ...

    def ps(self) -> Any:
        """The models loaded in memory now: a `ProcessResponse`."""
        return self._send(Call("GET", "/api/ps", ProcessResponse))

    @overload
    def copy(self: BaseClient[httpx.Client], source: str, destination: str) -> StatusResponse: ...

    @overload
    def copy(
        self: BaseClient[httpx.AsyncClient], source: str, destination: str
    ) -> Awaited[StatusResponse]: ...

    def copy(self, source: str, destination: str) -> Any:
        """Copy a model under a new name: `StatusResponse(status="success")`."""
        body = payload.wire(CopyRequest, source=source, destination=destination)
        return self._send(Call("POST", "/api/copy", StatusResponse, body))

    @overload
    def delete(self: BaseClient[httpx.Client], model: str) -> StatusResponse: ...

    @overload
    def delete(self: BaseClient[httpx.AsyncClient], model: str) -> Awaited[StatusResponse]: ...

    def delete(self, model: str) -> Any:
        """Delete a model from the store: `StatusResponse(status="success")`."""
        body = payload.wire(DeleteRequest, model=model)
        return self._send(Call("DELETE", "/api/delete", StatusResponse, body))

    @overload
    def version(self: BaseClient[httpx.Client]) -> VersionResponse: ...

    @overload
    def version(self: BaseClient[httpx.AsyncClient]) -> Awaited[VersionResponse]: ...

    def version(self) -> Any:
        """The Ollama API version the server speaks: a `VersionResponse`."""
        return self._send(Call("GET", "/api/version", VersionResponse))
