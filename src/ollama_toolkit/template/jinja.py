"""Fallback rendering of a GGUF's own Jinja chat template, when no built-in Go template fits.

Runs in jinja2's immutable sandbox (the template comes from a downloaded file) with the
helpers chat templates expect from Hugging Face's `apply_chat_template`: `raise_exception`,
`strftime_now` and a `tojson` that does not HTML-escape.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any, NoReturn

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TemplateError


def _raise_exception(message: str) -> NoReturn:
    raise TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return dt.datetime.now().strftime(fmt)


@functools.lru_cache(maxsize=32)
def _compile(chat_template: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(chat_template)


def render_jinja(
    chat_template: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    template_kwargs: Mapping[str, Any] | None = None,
) -> str:
    """Render a Jinja chat template; any failure (syntax, sandbox, raise_exception) is a
    TemplateError. `template_kwargs` are further variables (llama.cpp's
    `chat_template_kwargs`, such as `enable_thinking`); they cannot replace the ones above."""
    try:
        return _compile(chat_template).render(
            {
                **(template_kwargs or {}),
                "messages": messages,
                "tools": tools,
                "add_generation_prompt": add_generation_prompt,
                "bos_token": bos_token,
                "eos_token": eos_token,
            }
        )
    except TemplateError:
        raise
    except Exception as e:  # jinja2 errors, sandbox violations, template-side type errors
        raise TemplateError(f"jinja: {e}") from e
