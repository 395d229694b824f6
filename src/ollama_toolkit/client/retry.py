"""When to try a request again, and how long to wait: exponential backoff with jitter."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

RETRY_STATUS = 503
"""Ollama answers 503 when its queue is full: the same request may succeed a moment later."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for connection failures and 503 answers; `max_retries=0` turns them off.

    A stream is retried only until its first byte: after that, a retry would repeat output.
    """

    max_retries: int = 2
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    jitter: bool = True

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based); honours a Retry-After header."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        wait = random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling
        if retry_after:
            with contextlib.suppress(ValueError):
                wait = max(wait, min(float(retry_after), self.max_backoff_s))
        return wait

    @classmethod
    def of(cls, retries: int | RetryPolicy | None) -> RetryPolicy:
        """Accept a policy, a number of retries, or None for the default."""
        if isinstance(retries, RetryPolicy):
            return retries
        return cls() if retries is None else cls(max_retries=max(0, retries))
