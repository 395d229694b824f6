"""How Go values are represented in Python, and the few reflect-level questions asked of them.

Plain JSON-like data maps onto Go's dynamic types: `dict` is `map[string]interface {}`,
`list` is `[]interface {}`, `int` is `int`, `float` is `float64`, `None` is a nil interface,
`bytes` is `[]uint8`. Typed Go values that Ollama's templates see (structs with json tags,
named slices and maps with `String()` methods, nil slices) use the classes below, because
their behaviour differs from the plain types in ways templates can observe (`json` output,
printing, field errors).

`INVALID` stands for Go's zero `reflect.Value`: what a pipeline yields for a nil interface
or, under `missingkey=invalid`, a missing map key. It prints as `<no value>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


class GoStruct:
    """Base of Python stand-ins for Go structs (subclasses are slotted dataclasses).

    Field names are the Go names, so templates reach them as `.Role`, `.Function.Name`.
    `go_json` maps a field to its json tag (name, omitempty); untagged fields use the Go name.
    Methods listed in `go_methods` are callable from templates (`{{ .String }}`); a `String`
    method also makes the value a fmt.Stringer for printing.
    """

    __slots__ = ()
    go_type: ClassVar[str] = "struct {}"
    go_pointer: ClassVar[bool] = False
    go_json: ClassVar[dict[str, tuple[str, bool]]] = {}
    go_methods: ClassVar[tuple[str, ...]] = ()

    @property
    def is_nil(self) -> bool:
        """Only meaningful for pointer types: a nil pointer still knows its type and methods."""
        return False

    @classmethod
    def go_field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


class GoList(list):  # type: ignore[type-arg]
    """A typed Go slice; `nil=True` is a nil slice (it marshals to JSON `null`)."""

    __slots__ = ("go_type", "nil")
    default_type: ClassVar[str] = "[]interface {}"
    go_methods: ClassVar[tuple[str, ...]] = ()

    def __init__(self, items: Iterable[Any] = (), *, go_type: str = "", nil: bool = False):
        super().__init__(items)
        self.go_type = go_type or self.default_type
        self.nil = nil

    def derive(self, items: Iterable[Any]) -> GoList:
        """A slice of the same Go type (what slicing a named slice type yields in Go)."""
        return type(self)(items, go_type=self.go_type)


class GoMap(dict):  # type: ignore[type-arg]
    """A typed Go map with string keys; missing keys read as `elem_zero()`."""

    __slots__ = ("go_type", "nil", "elem_zero")
    default_type: ClassVar[str] = "map[string]interface {}"
    go_methods: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        items: Iterable[tuple[str, Any]] | dict[str, Any] = (),
        *,
        go_type: str = "",
        nil: bool = False,
        elem_zero: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(items)
        self.go_type = go_type or self.default_type
        self.nil = nil
        self.elem_zero = elem_zero


def zero_elem(mapping: dict[Any, Any]) -> Any:
    """The zero value of a map's element type (nil interface for plain dicts)."""
    if isinstance(mapping, GoMap) and mapping.elem_zero is not None:
        return mapping.elem_zero()
    return None


def kind(v: Any) -> str:
    """The reflect.Kind-like category of a value, as the template engine needs it.

    One of: invalid, nil, bool, int, float, complex, string, slice, map, struct, ptr, func,
    other.
    """
    if v is INVALID:
        return "invalid"
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple, bytes, bytearray)):
        return "slice"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, GoStruct):
        return "ptr" if v.go_pointer else "struct"
    if callable(v):
        return "func"
    return "other"  # a Python object with no Go counterpart: printed with str()


_SCALAR_TYPES = {
    "bool": "bool",
    "int": "int",
    "float": "float64",
    "complex": "complex128",
    "string": "string",
}


def type_name(v: Any) -> str:
    """Go's name for the dynamic type of v (`%T`, and the type in error messages)."""
    k = kind(v)
    if k in _SCALAR_TYPES:
        return _SCALAR_TYPES[k]
    if isinstance(v, (GoList, GoMap)):
        return v.go_type
    if isinstance(v, GoStruct):
        return ("*" if v.go_pointer else "") + v.go_type
    if isinstance(v, (bytes, bytearray)):
        return "[]uint8"
    if k == "slice":
        return "[]interface {}"
    if k == "map":
        return "map[string]interface {}"
    if k == "nil":
        return "interface {}"
    if k == "func":
        return "func"
    return type(v).__name__


def is_nil(v: Any) -> bool:
    """Go's `isNil`: the invalid value, a nil interface, or a nil slice/map/pointer."""
    if v is INVALID or v is None:
        return True
    if isinstance(v, (GoList, GoMap)):
        return v.nil
    return isinstance(v, GoStruct) and v.is_nil


def truth(v: Any) -> bool:
    """Go's `isTrue` after unwrapping interfaces: false for zero values, true for structs."""
    k = kind(v)
    if k in ("invalid", "nil"):
        return False
    if k in ("slice", "map", "string"):
        return len(v) > 0
    if k in ("bool", "int", "float", "complex"):
        return v != 0
    if k == "ptr":
        return not v.is_nil
    return True


def sorted_items(mapping: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in Go's `fmtsort` order (sorted keys), as range, fmt and json see them."""
    try:
        return sorted(mapping.items(), key=lambda kv: kv[0])
    except TypeError:
        return sorted(mapping.items(), key=lambda kv: (type(kv[0]).__name__, str(kv[0])))


def go_method(v: Any, name: str) -> Callable[[], Any] | None:
    """The zero-argument Go method `name` of v, if its type declares one."""
    if isinstance(v, (GoStruct, GoList, GoMap)) and name in type(v).go_methods:
        method: Callable[[], Any] = getattr(v, name)
        return method
    return None


def stringer(v: Any) -> Callable[[], str] | None:
    """v's `String()` method when v is a fmt.Stringer (fmt prints it instead of the value)."""
    return go_method(v, "String")


def iter_fields(v: GoStruct) -> Iterator[tuple[str, Any]]:
    for name in v.go_field_names():
        yield name, getattr(v, name)
