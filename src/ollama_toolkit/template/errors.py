"""The one exception this package raises, so callers never see a Python crash from a template."""

from __future__ import annotations


class TemplateError(Exception):
    """A template failed to parse or execute.

    The message has Go's shape (`template: :LINE: ...` for parse errors,
    `template: :LINE:COL: executing "" at <NODE>: ...` for execution errors) so that what a
    client sees matches what Ollama would report for the same template.
    """
