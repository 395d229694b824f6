"""The Serve application (ingress + engine replicas), its builder for `serve run` / `serve
deploy` (KubeRay), and `ollama-toolkit serve --ray`.

`serve run ollama_toolkit.distributed.app:build replicas=2 threads_per_replica=4` runs it on a
cluster of one's own; every `ScaleOut` field is an argument there (`min_replicas` and
`max_replicas` switch autoscaling on).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve.config import RequestRouterConfig

from ollama_toolkit import config
from ollama_toolkit.distributed.ingress import Ingress
from ollama_toolkit.distributed.replica import replica_class
from ollama_toolkit.distributed.router import DEFAULT_IMBALANCE, PrefixAffinityRouter

log = logging.getLogger(__name__)

APP_NAME = "ollama"
ROUTERS = ("prefix", "pow2")
OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""The object store's cap on a cluster `serve --ray` starts: answers cross as small messages."""


@dataclass
class ScaleOut:
    """How the engine is spread out. `threads_per_replica` is each replica's llama.cpp threads
    and logical CPUs (0: OLLAMA_NUM_THREAD's, one CPU reserved). Autoscaling is on when
    `max_replicas` is set: between `min_replicas` and it, aiming at
    `target_ongoing_requests` per replica."""

    replicas: int = 1
    threads_per_replica: int = 0
    router: str = "prefix"  # or "pow2": Ray's default router (power of two choices)
    imbalance: int = DEFAULT_IMBALANCE  # queue lengths apart before affinity gives way
    max_ongoing_requests: int = 0  # per replica; 0: 4 × OLLAMA_NUM_PARALLEL, at least 8
    min_replicas: int = 1
    max_replicas: int = 0
    target_ongoing_requests: float = 0  # 0: OLLAMA_NUM_PARALLEL

    def __post_init__(self) -> None:
        if self.router not in ROUTERS:
            raise ValueError(f"router must be one of {', '.join(ROUTERS)}: {self.router!r}")
        if self.replicas < 1 or self.threads_per_replica < 0:
            raise ValueError("replicas must be at least 1 and threads_per_replica at least 0")

    @property
    def replica_cpus(self) -> int:
        return self.threads_per_replica or 1


def ollama_env() -> dict[str, str]:
    """The settings (OLLAMA_* variables) the replicas and the ingress get from the process
    that deploys them, as on a cluster they do not share its environment."""
    return {k: v for k, v in os.environ.items() if k.startswith(("OLLAMA_", "GOMP_", "OMP_"))}


def build_app(opts: ScaleOut, env: dict[str, str] | None = None) -> Any:
    """The application: the ingress over the engine replicas' deployment."""
    env = ollama_env() if env is None else env
    slots = config.num_parallel()
    replica_options: dict[str, Any] = {
        "name": "EngineReplica",
        "ray_actor_options": {"num_cpus": opts.replica_cpus},
        "max_ongoing_requests": opts.max_ongoing_requests or max(8, 4 * slots),
        "health_check_period_s": 5,
        "graceful_shutdown_timeout_s": 5,
    }
    if opts.max_replicas:
        replica_options["autoscaling_config"] = {
            "min_replicas": opts.min_replicas,
            "initial_replicas": max(opts.min_replicas, min(opts.replicas, opts.max_replicas)),
            "max_replicas": opts.max_replicas,
            "target_ongoing_requests": opts.target_ongoing_requests or slots,
        }
    else:
        replica_options["num_replicas"] = opts.replicas
    if opts.router == "prefix":
        replica_options["request_router_config"] = RequestRouterConfig(
            request_router_class=PrefixAffinityRouter,  # type: ignore[arg-type]
            request_router_kwargs={"imbalance": opts.imbalance},
        )
    engine_cls = replica_class(config.max_loaded_models())
    engine = serve.deployment(**replica_options)(engine_cls).bind(env, opts.threads_per_replica)
    ingress = serve.deployment(
        name="Ingress",
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=10_000,  # the server's own limits (queue, body, auth) apply
    )(serve.ingress()(Ingress))
    return ingress.bind(engine, env)


def build(args: dict[str, str]) -> Any:
    """Serve's application builder: `serve run ollama_toolkit.distributed.app:build
    replicas=2 threads_per_replica=4 router=prefix` (any `ScaleOut` field)."""
    fields = {f.name: f for f in dataclasses.fields(ScaleOut)}
    values: dict[str, Any] = {}
    for key, value in args.items():
        if key not in fields:
            raise ValueError(f"unknown argument {key!r}: one of {', '.join(fields)}")
        kind = fields[key].type
        values[key] = value if kind == "str" else float(value) if kind == "float" else int(value)
    return build_app(ScaleOut(**values))


def serve_ray(opts: ScaleOut, address: str | None = None) -> None:
    """`ollama-toolkit serve --ray`: deploy on Ray Serve (a local cluster of its own, or the
    one at `address`), listen on OLLAMA_HOST, and run until SIGINT or SIGTERM."""
    import ray

    logging.basicConfig(
        level=logging.DEBUG if config.debug() else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    bind = config.host()
    if address:
        ray.init(address=address)
    else:
        # Each replica holds `replica_cpus` logical CPUs: enough for all of them, a replacement
        # among them, whatever the cores.
        cpus = max(os.cpu_count() or 1, opts.replica_cpus * (opts.replicas + 1) + 1)
        if opts.max_replicas:
            cpus = max(cpus, opts.replica_cpus * (opts.max_replicas + 1) + 1)
        ray.init(
            num_cpus=cpus,
            object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=False,
        )
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        serve.start(http_options={"host": bind.host, "port": bind.port})
        serve.run(build_app(opts), name=APP_NAME, route_prefix="/")
        log.info(
            "serving on http://%s:%d with Ray Serve (%s)",
            bind.host,
            bind.port,
            ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(opts).items()),
        )
        stopped.wait()
    finally:
        log.info("shutting down")
        if address:
            serve.delete(APP_NAME)
        else:
            serve.shutdown()
        ray.shutdown()
