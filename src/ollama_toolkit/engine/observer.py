"""What the engine reports as it works, for whoever counts it (the server's metrics).

The scheduler takes an `EngineObserver` (a no-op one by default) and hands it to the runners it
makes with its default factory. Every call comes from the event loop, once per load, unload,
refusal or finished generation: never per token and never from a decoder thread, so an
implementation may take a lock. State that changes per step (busy slots, KV cells) is not
pushed here; it is read when asked, through the runner interface (`Runner.slots_busy` …).
"""

from __future__ import annotations

from typing import Literal

UnloadReason = Literal["lru", "gpu_memory", "keep_alive", "reload", "unload_request", "shutdown"]
"""Why a model was unloaded: evicted as least recently used, evicted for another model's room on
a GPU, its keep-alive expired, reloaded with other load-time options, unloaded on request
(keep_alive 0), or the server stopping."""


class EngineObserver:
    """The engine's reports. Every method does nothing here; override the ones you count."""

    def model_loaded(self, name: str, seconds: float) -> None:
        """A model finished loading, after `seconds`."""

    def model_unloaded(self, name: str, reason: UnloadReason) -> None:
        """A model was unloaded (its memory freed)."""

    def generation_done(
        self,
        name: str,
        prompt_tokens: int,
        cached_tokens: int,
        generated_tokens: int,
        prompt_seconds: float,
        generate_seconds: float,
    ) -> None:
        """A generation ended (stop or length; not an error or a cancellation). Called in the
        context (task) of the request that ran it, before its last event is delivered.
        `cached_tokens` of the `prompt_tokens` were reused from the KV cache, not evaluated."""

    def queue_rejected(self) -> None:
        """A request was refused because the queue was full (OLLAMA_MAX_QUEUE)."""


NO_OBSERVER = EngineObserver()
