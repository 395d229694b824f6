"""Prometheus metrics: `GET /metrics`, the engine's observer, and the per-request bookkeeping
that the metrics and the request log (server/request_log.py) both read.

One pure ASGI middleware, outside every other, makes a `RequestRecord` per request: method,
status, the time of its first body byte, whether the client went away first, and its route
template once routing is done. The code below it enriches the record of the request it serves
through a context variable: `note_model` (server/prepare.py, when a model is looked up) and the
engine's `generation_done`, which the runner calls in the request's own task. When the request
ends the record is counted here, then handed to the request log.

Counters are updated once per request, load or generation, on the event loop; what changes per
decoding step (busy slots, KV cells, the queue) is read from the scheduler and its runners when
/metrics is scraped, so the decoder's thread never takes a lock or calls into prometheus_client.
Each app has a registry of its own, so several apps in one process do not clash.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_toolkit.engine.observer import EngineObserver, UnloadReason

if TYPE_CHECKING:
    from ollama_toolkit.engine.scheduler import Scheduler

log = logging.getLogger(__name__)


# The classic text format, which every Prometheus version and the Gateway API Inference
# Extension's scraper read (prometheus_client's newest default, version=1.0.0, is not).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

GENERATION_ROUTES = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/messages",
    }
)
"""The routes whose first body byte is a time to first token (each awaits its first chunk
before it answers: server/responses.py)."""

UNMATCHED = "unmatched"
"""The route label of a request for a path no route serves (never the raw path: unbounded)."""

# Bodies kept per request when the request log writes them (OLLAMA_REQUEST_LOG_BODIES).
BODY_CAPTURE_BYTES = 1 << 20

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LOAD_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_RATE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class RequestRecord:
    """What one request did, for the metrics and the request log. Plain attributes: handlers
    and the engine's observer fill in their part (`note_model`, `generation_done`)."""

    __slots__ = (
        "start",
        "time",
        "method",
        "route",
        "client",
        "model",
        "status",
        "first_byte",
        "end",
        "complete",
        "cancelled",
        "generations",
        "prompt_tokens",
        "cached_tokens",
        "generated_tokens",
        "prompt_seconds",
        "generate_seconds",
        "request_body",
        "response_body",
        "response_type",
    )

    def __init__(self, scope: Scope) -> None:
        self.start = time.perf_counter()
        self.time = time.time()  # wall clock, for the log
        self.method: str = scope.get("method", "")
        self.route = UNMATCHED  # the route's template, once routed
        self.client: tuple[str, int] | None = scope.get("client")
        self.model: str | None = None
        self.status = 0
        self.first_byte = 0.0  # perf_counter() when the first non-empty body chunk went out
        self.end = 0.0
        self.complete = False  # the response's last chunk was sent
        self.cancelled = False  # the client went away before that
        self.generations = 0
        self.prompt_tokens = 0
        self.cached_tokens = 0
        self.generated_tokens = 0
        self.prompt_seconds = 0.0
        self.generate_seconds = 0.0
        self.request_body: bytearray | None = None  # kept only when the log writes bodies
        self.response_body: bytearray | None = None
        self.response_type = ""


_current: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "ollama_request_record", default=None
)


def current_request() -> RequestRecord | None:
    """The record of the request this code serves (None outside a request)."""
    return _current.get()


def note_model(name: str) -> None:
    """Name the model the current request asked for (the first one named is kept)."""
    record = _current.get()
    if record is not None and record.model is None and name:
        record.model = name


class RequestSink(Protocol):
    """Where finished requests go besides the metrics: the request log."""

    bodies: bool  # whether request and response bodies must be kept for it

    def write(self, record: RequestRecord) -> None: ...


class Metrics(EngineObserver):
    """The app's registry and metrics; the engine's observer (passed to the Scheduler)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.scheduler: Scheduler | None = None  # set when the app starts; read at scrape time
        r = self.registry
        self.requests = Counter(
            "ollama_http_requests",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "ollama_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "ollama_time_to_first_token_seconds",
            "Time from an inference request's arrival to its first body byte (the first token "
            "streamed, or the whole answer when not streamed), by route template",
            ["route"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "ollama_prompt_tokens",
            "Prompt tokens of finished generations, cached ones included",
            ["model"],
            registry=r,
        )
        self.cached_tokens = Counter(
            "ollama_prompt_cached_tokens",
            "Prompt tokens whose KV-cache entries were reused (prefix hits), not evaluated",
            ["model"],
            registry=r,
        )
        self.generated_tokens = Counter(
            "ollama_generated_tokens",
            "Tokens generated by finished generations",
            ["model"],
            registry=r,
        )
        self.generation_rate = Histogram(
            "ollama_generation_tokens_per_second",
            "Generation rate of each finished generation (its tokens over its generation time)",
            ["model"],
            buckets=_RATE_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "ollama_queue_rejections",
            "Requests refused with 503 because OLLAMA_MAX_QUEUE requests were queued",
            registry=r,
        )
        self.load_seconds = Histogram(
            "ollama_model_load_duration_seconds",
            "Time to load a model",
            ["model"],
            buckets=_LOAD_BUCKETS,
            registry=r,
        )
        self.unloads = Counter(
            "ollama_model_unloads",
            "Models unloaded, by reason: lru, gpu_memory, keep_alive, reload, unload_request,"
            " shutdown",
            ["model", "reason"],
            registry=r,
        )
        r.register(_SchedulerState(self))

    # --- the engine's reports (EngineObserver), on the event loop -------------------------------

    def model_loaded(self, name: str, seconds: float) -> None:
        self.load_seconds.labels(name).observe(seconds)

    def model_unloaded(self, name: str, reason: UnloadReason) -> None:
        self.unloads.labels(name, reason).inc()

    def generation_done(
        self,
        name: str,
        prompt_tokens: int,
        cached_tokens: int,
        generated_tokens: int,
        prompt_seconds: float,
        generate_seconds: float,
    ) -> None:
        self.prompt_tokens.labels(name).inc(prompt_tokens)
        self.cached_tokens.labels(name).inc(cached_tokens)
        self.generated_tokens.labels(name).inc(generated_tokens)
        if generated_tokens > 0 and generate_seconds > 0:
            self.generation_rate.labels(name).observe(generated_tokens / generate_seconds)
        record = _current.get()
        if record is not None:  # a route may run several generations (OpenAI's `n`)
            record.generations += 1
            record.prompt_tokens += prompt_tokens
            record.cached_tokens += cached_tokens
            record.generated_tokens += generated_tokens
            record.prompt_seconds += prompt_seconds
            record.generate_seconds += generate_seconds

    def queue_rejected(self) -> None:
        self.rejections.inc()

    # --- requests ------------------------------------------------------------------------------

    def request_done(self, record: RequestRecord) -> None:
        route = record.route
        self.requests.labels(route, record.method, str(record.status)).inc()
        self.latency.labels(route).observe(record.end - record.start)
        if (
            record.first_byte
            and record.status == 200
            and route in GENERATION_ROUTES
            and (record.generations or record.cancelled)  # not a load-only or render-only reply
        ):
            self.ttft.labels(route).observe(record.first_byte - record.start)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _SchedulerState:
    """The gauges read from the scheduler and its runners at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        scheduler = self._metrics.scheduler
        loaded = scheduler.loaded if scheduler is not None else []
        pending = scheduler.pending if scheduler is not None else 0
        per_model: dict[str, list[int]] = {}  # name -> busy, slots, cells used, cells
        for entry in loaded:
            runner = entry.runner
            counts = per_model.setdefault(entry.spec.name, [0, 0, 0, 0])
            counts[0] += runner.slots_busy
            counts[1] += runner.slots_total
            counts[2] += runner.kv_cells_used
            counts[3] += runner.kv_cells_total
        families = [
            GaugeMetricFamily(
                "ollama_slots_busy", "Slots decoding a request, per model", labels=["model"]
            ),
            GaugeMetricFamily(
                "ollama_slots_total",
                "Slots per loaded model (OLLAMA_NUM_PARALLEL)",
                labels=["model"],
            ),
            GaugeMetricFamily(
                "ollama_kv_cells_used",
                "KV-cache cells held, per model: each slot's cached tokens (idle slots keep "
                "theirs for prefix reuse)",
                labels=["model"],
            ),
            GaugeMetricFamily(
                "ollama_kv_cells_total", "KV-cache cells per loaded model", labels=["model"]
            ),
        ]
        for name, counts in per_model.items():
            for family, value in zip(families, counts, strict=True):
                family.add_metric([name], value)
        yield from families
        yield GaugeMetricFamily("ollama_models_loaded", "Models loaded", value=len(loaded))
        yield GaugeMetricFamily(
            "ollama_queue_depth", "Requests holding or waiting for a loaded model", value=pending
        )
        # The Gateway API Inference Extension's "model server protocol": the endpoint picker
        # scrapes a queued-requests gauge and a KV-cache utilisation gauge (a fraction, 0 to 1),
        # and optionally a running-requests one. Its metric names are flags, with vLLM's names
        # as defaults, so an InferencePool of this server sets:
        #   --total-queued-requests-metric=ollama_num_requests_waiting
        #   --total-running-requests-metric=ollama_num_requests_running
        #   --kv-cache-usage-percentage-metric=ollama_kv_cache_usage_perc
        # Source: kubernetes-sigs/gateway-api-inference-extension,
        # docs/proposals/003-model-server-protocol/README.md (TotalQueuedRequests,
        # TotalRunningRequests, KVCacheUsagePercentage: vllm:num_requests_waiting,
        # vllm:num_requests_running, vllm:kv_cache_usage_perc) and the EPP's flags in
        # cmd/epp/runner ("Prometheus metric for the fraction of KV-cache blocks in use").
        running = sum(counts[0] for counts in per_model.values())
        used = sum(counts[2] for counts in per_model.values())
        cells = sum(counts[3] for counts in per_model.values())
        yield GaugeMetricFamily(
            "ollama_num_requests_waiting",
            "Requests queued: holding or waiting for a model but not yet in a decoding slot",
            value=max(0, pending - running),
        )
        yield GaugeMetricFamily(
            "ollama_num_requests_running",
            "Requests in a decoding slot, all models together",
            value=running,
        )
        yield GaugeMetricFamily(
            "ollama_kv_cache_usage_perc",
            "KV-cache utilisation as a fraction (0 to 1) of all loaded models' cells",
            value=min(1.0, used / cells) if cells else 0.0,
        )


async def metrics_route(request: Request) -> Response:
    """GET /metrics: the app's metrics in Prometheus' text format."""
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)


class RequestMetrics:
    """Pure ASGI middleware: a `RequestRecord` per HTTP request, counted when it ends and
    handed to the request log. Outside every other middleware, so refused requests count too."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, request_log: RequestSink | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.request_log = request_log
        self.bodies = request_log is not None and request_log.bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(scope)
        bodies = self.bodies
        if bodies:
            record.request_body = bytearray()
            record.response_body = bytearray()

        async def receive_watched() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not record.complete:
                    record.cancelled = True
            elif bodies:
                _keep(record.request_body, message.get("body", b""))
            return message

        async def send_watched(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not record.first_byte and message.get("body"):
                    record.first_byte = time.perf_counter()
                if not message.get("more_body", False):
                    record.complete = True
                if bodies:
                    _keep(record.response_body, message.get("body", b""))
            elif message["type"] == "http.response.start":
                record.status = message["status"]
                if bodies:
                    record.response_type = _content_type(message.get("headers", ()))
            try:
                await send(message)
            except OSError:  # the client went away (ASGI 2.4 servers raise)
                record.cancelled = True
                raise

        token = _current.set(record)
        try:
            await self.app(scope, receive_watched, send_watched)
        except BaseException as e:
            if not record.status:
                record.status = 500  # what the server sends for an unhandled error
            if not isinstance(e, Exception):  # cancelled: the server dropped the request
                record.cancelled = True
            raise
        finally:
            _current.reset(token)
            record.end = time.perf_counter()
            record.route = _route_template(scope)
            self._done(record)

    def _done(self, record: RequestRecord) -> None:
        try:
            self.metrics.request_done(record)
            if self.request_log is not None:
                self.request_log.write(record)
        except Exception:  # bookkeeping must never fail a request
            log.exception("recording a request failed")


def _keep(buffer: bytearray | None, data: bytes) -> None:
    if buffer is not None and len(buffer) < BODY_CAPTURE_BYTES:
        buffer += data[: BODY_CAPTURE_BYTES - len(buffer)]


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key.lower() == b"content-type":
            return value.decode("latin-1")
    return ""


def _route_template(scope: Scope) -> str:
    """The template of the route that served the request (`/api/blobs/{digest}`); for a request
    refused before routing (guard, auth), the template its path would have matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    router = getattr(scope.get("app"), "router", None)
    for candidate in getattr(router, "routes", ()):
        match, _ = candidate.matches(scope)
        if match != Match.NONE:
            return str(getattr(candidate, "path", UNMATCHED))
    return UNMATCHED
