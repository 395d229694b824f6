"""The request log, opt-in (OLLAMA_REQUEST_LOG): one JSON line per request, rotated by size.

Each line: `time` (RFC 3339, UTC, when the request arrived), `method`, `route` (the template,
not the raw path), `model` (when the request named one), `status`, `duration` (seconds to the
end of the response), `time_to_first_byte`, `client` (address:port), `cancelled` (the client
went away before the end); for a generation, `prompt_tokens`, `cached_tokens`,
`generated_tokens`, `prompt_duration`, `generate_duration`. With OLLAMA_REQUEST_LOG_BODIES also
`input` (the request's prompt, system, suffix, messages, input, instructions and options, as
sent) and `output` (the generated text; thinking and tool calls left out). Every value goes
through `json.dumps` with ASCII escapes, so no client text (prompts, option keys, model names)
reaches the file raw: a line is one line.

The bookkeeping is the metrics middleware's `RequestRecord` (server/metrics.py); this module
only formats and writes it, through a RotatingFileHandler on a logger of its own that is not
in the logging tree (nothing propagates to the root logger, and several apps do not clash).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from ollama_toolkit import config
from ollama_toolkit.server.metrics import RequestRecord

BACKUPS = 3
"""Rotated files kept beside the log: `.1` (the newest) to `.3`."""

# The request fields that hold what the client asked the model, kept with bodies on.
_INPUT_FIELDS = ("system", "prompt", "suffix", "messages", "input", "instructions", "options")

# The events of an Anthropic stream (/v1/messages) that belong to its reply; `error` does not.
_ANTHROPIC_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)


class RequestLog:
    def __init__(self, path: Path, max_bytes: int, bodies: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.bodies = bodies
        self._handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger = logging.Logger("ollama_toolkit.request_log", logging.INFO)
        self._logger.propagate = False
        self._logger.addHandler(self._handler)

    @classmethod
    def from_config(cls) -> RequestLog | None:
        """The log OLLAMA_REQUEST_LOG asks for, or None when it is unset."""
        path = config.request_log()
        if path is None:
            return None
        return cls(path, config.request_log_max_bytes(), config.request_log_bodies())

    def write(self, record: RequestRecord) -> None:
        line = json.dumps(self.entry(record), ensure_ascii=True, separators=(",", ":"))
        self._logger.info(line)

    def close(self) -> None:
        self._handler.close()

    def entry(self, record: RequestRecord) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.time),
            "method": record.method,
            "route": record.route,
        }
        if record.model is not None:
            entry["model"] = record.model
        entry["status"] = record.status
        entry["duration"] = round(record.end - record.start, 6)
        if record.first_byte:
            entry["time_to_first_byte"] = round(record.first_byte - record.start, 6)
        entry["client"] = _address(record.client)
        entry["cancelled"] = record.cancelled
        if record.generations:
            entry["prompt_tokens"] = record.prompt_tokens
            entry["cached_tokens"] = record.cached_tokens
            entry["generated_tokens"] = record.generated_tokens
            entry["prompt_duration"] = round(record.prompt_seconds, 6)
            entry["generate_duration"] = round(record.generate_seconds, 6)
        if self.bodies:
            entry["input"] = _input(record.request_body)
            entry["output"] = _output(record.response_body, record.response_type)
        return entry


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _address(client: tuple[str, int] | None) -> str | None:
    if not client:
        return None
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _input(body: bytearray | None) -> dict[str, Any] | None:
    request = _json(bytes(body or b""))
    if not isinstance(request, dict):
        return None
    return {key: request[key] for key in _INPUT_FIELDS if key in request}


def _output(body: bytearray | None, content_type: str) -> str | None:
    """The text a response carried: an Ollama reply or NDJSON stream, an OpenAI object or SSE
    (chat, completions, a Response and its events), an Anthropic message or its events."""
    data = bytes(body or b"")
    if not data:
        return None
    if content_type.startswith("application/json"):
        objects = [_json(data)]
    elif content_type.startswith("application/x-ndjson"):
        objects = [_json(line) for line in data.splitlines()]
    elif content_type.startswith("text/event-stream"):
        objects = [
            _json(line[5:])
            for line in data.splitlines()
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]"
        ]
    else:
        return None
    pieces = [_text(obj) for obj in objects if isinstance(obj, dict)]
    text = "".join(p for p in pieces if p)
    return text if text or any(p is not None for p in pieces) else None


def _text(obj: dict[str, Any]) -> str | None:
    if isinstance(obj.get("response"), str):  # /api/generate
        return obj["response"]
    message = obj.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):  # /api/chat
        return message["content"]
    choices = obj.get("choices")
    if isinstance(choices, list):  # /v1: completions' text, chat's message or delta
        parts = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            part = choice.get("text")
            if part is None:
                inner = choice.get("message") or choice.get("delta") or {}
                part = inner.get("content") if isinstance(inner, dict) else None
            if isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    kind = obj.get("type")
    if obj.get("object") == "response":  # /v1/responses: its message items' text parts
        return _parts_text(
            part
            for item in _list(obj.get("output"))
            if item.get("type") == "message"
            for part in _list(item.get("content"))
            if part.get("type") == "output_text"
        )
    if kind == "message":  # /v1/messages: its text blocks
        return _parts_text(b for b in _list(obj.get("content")) if b.get("type") == "text")
    if isinstance(kind, str) and kind.startswith("response."):  # /v1/responses' events
        delta = obj.get("delta")
        if kind == "response.output_text.delta" and isinstance(delta, str):
            return delta  # not `.done` nor `response.completed`: they repeat the deltas
        return ""
    if kind in _ANTHROPIC_EVENTS:  # /v1/messages' events
        delta = obj.get("delta") if kind == "content_block_delta" else None
        if isinstance(delta, dict) and delta.get("type") == "text_delta":
            text = delta.get("text")
            return text if isinstance(text, str) else ""
        return ""
    return None


def _list(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (nothing for null or anything else)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _parts_text(parts: Iterable[dict[str, Any]]) -> str:
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str))


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
