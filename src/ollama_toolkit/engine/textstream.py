"""Turning token bytes into text for a stream: UTF-8 safe, and never emitting a stop string.

Tokens can end in the middle of a UTF-8 sequence, and a stop string can span several tokens.
`TextStream.push` returns only text that is final: complete characters that cannot be the start
of a stop string. `finish` flushes the rest once generation ends without a stop.
"""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, stops: list[str]):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def push(self, piece: bytes) -> str:
        """Add one token's bytes; return the text that may be emitted now."""
        text = self._held + self._decoder.decode(piece)
        if not self._stops:
            self._held = ""
            return text
        for stop in self._stops:
            at = text.find(stop)
            if at >= 0:
                self.stopped = True
                self._held = ""
                return text[:at]
        keep = _longest_stop_prefix_suffix(text, self._stops)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def finish(self) -> str:
        """Whatever is still held when generation ends without a stop string."""
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return text


def _longest_stop_prefix_suffix(text: str, stops: list[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best
