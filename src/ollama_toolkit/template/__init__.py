"""Ollama's prompt templates: a Go `text/template` engine with Ollama's rendering rules.

Public API:

- `Template` / `parse(text)`: parse once, then `execute(Values(...))` per request (Ollama's
  chat, legacy and fill-in-the-middle modes) or `execute_raw(data)` for plain execution.
- `named_template(name)`: a built-in template and its default parameters.
- `template_for_jinja(chat_template)`: the built-in template Ollama picks for a GGUF.
- `render_jinja(...)`: fallback rendering of a GGUF's Jinja chat template.
- `TemplateError`: the only exception raised for bad templates.
"""

from .errors import TemplateError
from .jinja import render_jinja
from .named import named_template, template_for_jinja
from .render import Template, Values, parse

__all__ = [
    "Template",
    "TemplateError",
    "Values",
    "named_template",
    "parse",
    "render_jinja",
    "template_for_jinja",
]
