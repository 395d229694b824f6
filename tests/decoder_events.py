"""Receiving a Decoder's events in tests that drive it directly, without the runner's bridge."""

from __future__ import annotations

import queue
import threading

from ollama_toolkit.engine.runner import DoneEvent, ErrorEvent, TokenEvent


class Collector:
    """A request's events, received on the runner thread; `wait()` returns them all."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.done = threading.Event()

    def __call__(self, event) -> None:
        self.events.put(event)
        if isinstance(event, DoneEvent | ErrorEvent):
            self.done.set()

    def wait(self, timeout: float = 300) -> tuple[str, list[dict], DoneEvent]:
        assert self.done.wait(timeout), "request did not finish"
        text, logprobs, final = [], [], None
        while not self.events.empty():
            ev = self.events.get()
            if isinstance(ev, TokenEvent):
                text.append(ev.text)
                logprobs.extend(ev.logprobs or [])
            elif isinstance(ev, ErrorEvent):
                raise AssertionError(ev.message)
            else:
                final = ev
        assert final is not None
        return "".join(text), logprobs, final
