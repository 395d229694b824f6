"""Parameter values typed from text, as `/set parameter` and Modelfile PARAMETER lines give them."""

from __future__ import annotations

from typing import Any


def parse_value(text: str) -> Any:
    """An int, a float or a bool when the text is one, else the text: the server checks the type
    each option needs and answers a clear error otherwise."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)
