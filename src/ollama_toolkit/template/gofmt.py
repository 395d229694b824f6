"""Go's `fmt` printing (`Sprint`, `Sprintln`, `Sprintf`) and `strconv.FormatFloat`.

Templates print every value through fmt (`{{ .x }}` is `fmt.Fprint`), and `print`/`printf`
expose it directly, so number formatting (`1e+06`, `3`), container syntax (`[a b]`,
`map[k:v]`, `{f1 f2}`) and the `%!verb(type=value)` error forms must be Go's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .gostrings import can_backquote, format_unicode, from_bytes, quote, to_bytes
from .values import GoList, GoMap, GoStruct, iter_fields, kind, sorted_items
from .values import stringer as stringer_of
from .values import type_name as go_type_name

_MAX_WIDTH = 1_000_000


def _shortest_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip digits of |x| and the decimal point: |x| = 0.DIGITS * 10**dp."""
    if x == 0:
        return "", 0
    parts = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, parts.digits))
    dp = len(digits) + int(parts.exponent)
    return digits.rstrip("0"), dp


def _fmt_e(digits: str, dp: int, prec: int, e_char: str) -> str:
    first = digits[:1] or "0"
    text = first
    if prec > 0:
        text += "." + digits[1 : prec + 1].ljust(prec, "0")
    exp = dp - 1 if digits else 0
    return f"{text}{e_char}{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def _fmt_f(digits: str, dp: int, prec: int) -> str:
    whole = digits[:dp].ljust(dp, "0") if dp > 0 else "0"
    if prec <= 0:
        return whole
    frac = "".join(digits[dp + i] if 0 <= dp + i < len(digits) else "0" for i in range(prec))
    return whole + "." + frac


def format_float(x: float, fmt: str, prec: int) -> str:
    """`strconv.FormatFloat(x, fmt, prec, 64)` for fmt in e, E, f, g, G (prec -1: shortest)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if prec >= 0:
        return sign + format(abs(x), f".{prec}{fmt}")
    digits, dp = _shortest_digits(x)
    e_char = "E" if fmt in "EG" else "e"
    if fmt in "gG":
        exp = dp - 1
        if exp < -4 or exp >= 6:
            return sign + _fmt_e(digits, dp, len(digits) - 1, e_char)
        return sign + _fmt_f(digits, dp, max(len(digits) - dp, 0))
    if fmt in "eE":
        return sign + _fmt_e(digits, dp, len(digits) - 1, e_char)
    return sign + _fmt_f(digits, dp, max(len(digits) - dp, 0))


class _Printer:
    """One formatting run, holding the current verb's flags like Go's `pp`/`fmt` pair."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.clear_flags()

    def clear_flags(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.width: int | None = None
        self.prec: int | None = None

    # -- padding ------------------------------------------------------------------------------

    def pad(self, s: str) -> None:
        if self.width is None or len(s) >= self.width:
            self.buf.append(s)
            return
        fill = (self.width - len(s)) * ("0" if self.zero and not self.minus else " ")
        self.buf.append(s + fill if self.minus else fill + s)

    def truncate(self, s: str) -> str:
        return s[: self.prec] if self.prec is not None else s

    # -- scalars ------------------------------------------------------------------------------

    def bad_verb(self, verb: str, value: Any) -> None:
        self.buf.append("%!" + verb + "(")
        if value is None:
            self.buf.append("<nil>")
        else:
            self.buf.append(go_type_name(value) + "=")
            self.print_value(value, "v", 0)
        self.buf.append(")")

    def fmt_bool(self, v: bool, verb: str) -> None:
        if verb in "tv":
            self.pad("true" if v else "false")
        else:
            self.bad_verb(verb, v)

    def fmt_integer(self, n: int, verb: str) -> None:
        if verb == "c":
            self.pad(chr(n) if 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else "\ufffd")
            return
        if verb == "q":
            valid = 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF
            self.pad(quote(chr(n) if valid else "\ufffd", "'", ascii_only=self.plus))
            return
        if verb == "U":
            self.pad(format_unicode(n, self.sharp))
            return
        bases = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
        if verb not in bases:
            self.bad_verb(verb, n)
            return
        base = bases[verb]
        negative = n < 0
        digits = {2: "b", 8: "o", 10: "d", 16: "x"}[base]
        text = format(abs(n), digits)
        if verb == "X":
            text = text.upper()
        if self.prec is not None:
            if self.prec == 0 and n == 0:
                saved, self.zero = self.zero, False
                self.pad("")
                self.zero = saved
                return
            text = text.rjust(self.prec, "0")
        elif self.zero and not self.minus and self.width is not None:
            room = self.width - (1 if negative or self.plus or self.space else 0)
            text = text.rjust(room, "0")
        if self.sharp and not self.sharp_v:
            if base == 2:
                text = "0b" + text
            elif base == 8 and not text.startswith("0"):
                text = "0" + text
            elif base == 16:
                text = ("0X" if verb == "X" else "0x") + text
        if verb == "O":
            text = "0o" + text
        if negative:
            text = "-" + text
        elif self.plus:
            text = "+" + text
        elif self.space:
            text = " " + text
        saved, self.zero = self.zero, False
        self.pad(text)
        self.zero = saved

    def fmt_float(self, x: float, verb: str) -> None:
        if verb == "v":
            fmt, prec = "g", -1
        elif verb in "gG":
            fmt, prec = verb, -1
        elif verb in "eEfF":
            fmt, prec = ("f" if verb == "F" else verb), 6
        else:
            self.bad_verb(verb, x)
            return
        if self.prec is not None and verb != "v":
            prec = self.prec
        num = format_float(x, fmt, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":  # infinities and NaN are never zero padded
            saved, self.zero = self.zero, False
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad(num)
            self.zero = saved
            return
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.width is not None and self.width > len(num):
                self.buf.append(num[0] + "0" * (self.width - len(num)) + num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    def fmt_complex(self, c: complex, verb: str) -> None:
        if verb not in "vgGeEfF":
            self.bad_verb(verb, c)
            return
        saved = self.plus
        self.buf.append("(")
        self.fmt_float(c.real, verb)
        self.plus = True
        self.fmt_float(c.imag, verb)
        self.buf.append("i)")
        self.plus = saved

    def fmt_hex(self, data: bytes, upper: bool) -> None:
        if self.prec is not None:
            data = data[: self.prec]
        prefix = ("0X" if upper else "0x") if self.sharp else ""
        parts = [format(b, "02X" if upper else "02x") for b in data]
        if self.space:
            text = " ".join(prefix + p for p in parts)
        else:
            text = prefix + "".join(parts) if parts else ""
        self.pad(text)

    def fmt_string(self, s: str, verb: str) -> None:
        if verb == "v" and self.sharp_v:
            self.pad(quote(s))
        elif verb in "vs":
            self.pad(self.truncate(s))
        elif verb in "xX":
            self.fmt_hex(to_bytes(self.truncate(s)), verb == "X")
        elif verb == "q":
            s = self.truncate(s)
            if self.sharp and can_backquote(s):
                self.pad("`" + s + "`")
            else:
                self.pad(quote(s, ascii_only=self.plus))
        else:
            self.bad_verb(verb, s)

    def fmt_bytes(self, data: bytes | bytearray, verb: str) -> None:
        if verb in "vd":
            if self.sharp_v:
                self.buf.append("[]byte{" + ", ".join(f"0x{b:x}" for b in data) + "}")
            else:
                self.buf.append("[")
                for i, b in enumerate(data):
                    if i:
                        self.buf.append(" ")
                    self.fmt_integer(b, verb)
                self.buf.append("]")
        elif verb in "sq":
            self.fmt_string(from_bytes(bytes(data)), verb)
        elif verb in "xX":
            self.fmt_hex(bytes(data), verb == "X")
        else:
            self.print_value(list(data), verb, 1)

    # -- composite values ---------------------------------------------------------------------

    def print_arg(self, arg: Any, verb: str) -> None:
        """Go's `printArg`: a top-level operand."""
        if arg is None:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
            return
        if verb == "T":
            self.pad(go_type_name(arg))
            return
        self.print_value(arg, verb, 0)

    def print_value(self, v: Any, verb: str, depth: int) -> None:
        """Go's `printValue` (plus `handleMethods` for Stringers)."""
        method = stringer_of(v)
        if method is not None and verb in "vsxXq" and not self.sharp_v:
            self.fmt_string(method(), verb)
            return
        k = kind(v)
        if k == "bool":
            self.fmt_bool(v, verb)
        elif k == "int":
            self.fmt_integer(v, verb)
        elif k == "float":
            self.fmt_float(v, verb)
        elif k == "complex":
            self.fmt_complex(v, verb)
        elif k == "string":
            self.fmt_string(v, verb)
        elif isinstance(v, (bytes, bytearray)):
            self.fmt_bytes(v, verb)
        elif k == "slice":
            self.print_slice(v, verb, depth)
        elif k == "map":
            self.print_map(v, verb, depth)
        elif k == "struct":
            self.print_struct(v, verb, depth)
        elif k == "ptr":
            if v.is_nil:
                self.pad("<nil>")
            elif depth == 0:
                self.buf.append("&")
                self.print_struct(v, verb, depth + 1)
            else:
                self.buf.append(f"0x{id(v):x}")
        elif k == "nil":
            self.pad("<nil>")
        elif k == "func":
            self.buf.append(f"0x{id(v):x}")
        elif k == "other" and verb in "vs":
            self.pad(str(v))
        elif k == "other":
            self.bad_verb(verb, v)
        else:
            self.buf.append("<invalid reflect.Value>")

    def print_slice(self, v: Sequence[Any], verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(go_type_name(v))
            if isinstance(v, GoList) and v.nil:
                self.buf.append("(nil)")
                return
            self.buf.append("{")
            for i, item in enumerate(v):
                if i:
                    self.buf.append(", ")
                self.print_value(item, verb, depth + 1)
            self.buf.append("}")
            return
        self.buf.append("[")
        for i, item in enumerate(v):
            if i:
                self.buf.append(" ")
            self.print_value(item, verb, depth + 1)
        self.buf.append("]")

    def print_map(self, v: dict[Any, Any], verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(go_type_name(v))
            if isinstance(v, GoMap) and v.nil:
                self.buf.append("(nil)")
                return
            self.buf.append("{")
        else:
            self.buf.append("map[")
        for i, (key, value) in enumerate(sorted_items(v)):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(key, verb, depth + 1)
            self.buf.append(":")
            self.print_value(value, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def print_struct(self, v: GoStruct, verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(v.go_type)
        self.buf.append("{")
        for i, (name, value) in enumerate(iter_fields(v)):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            if self.plus_v or self.sharp_v:
                self.buf.append(name + ":")
            self.print_value(value, verb, depth + 1)
        self.buf.append("}")

    # -- Printf -------------------------------------------------------------------------------

    def _arg_number(
        self, fmt: str, i: int, arg_num: int, n_args: int
    ) -> tuple[int, int, bool, bool]:
        """Parse an explicit `[n]` argument index: (arg_num, i, found, ok)."""
        if i >= len(fmt) or fmt[i] != "[":
            return arg_num, i, False, True
        close = fmt.find("]", i + 1)
        if close < 0:
            return arg_num, i, False, False
        try:
            index = int(fmt[i + 1 : close])
        except ValueError:
            return arg_num, close + 1, True, False
        if not 1 <= index <= n_args:
            return arg_num, close + 1, True, False
        return index - 1, close + 1, True, True

    def _parse_num(self, fmt: str, i: int) -> tuple[int | None, int]:
        start = i
        while i < len(fmt) and fmt[i].isdigit() and fmt[i].isascii():
            i += 1
        if i == start:
            return None, i
        value = int(fmt[start:i])
        return (value if value <= _MAX_WIDTH else None), i

    def _int_from_arg(self, args: Sequence[Any], arg_num: int) -> tuple[int | None, int]:
        if arg_num < len(args):
            arg = args[arg_num]
            if kind(arg) == "int" and abs(arg) <= _MAX_WIDTH:
                return arg, arg_num + 1
            return None, arg_num + 1
        return None, arg_num

    def printf(self, fmt: str, args: Sequence[Any]) -> None:
        arg_num = 0
        reordered = False
        i = 0
        end = len(fmt)
        while i < end:
            pct = fmt.find("%", i)
            if pct < 0:
                self.buf.append(fmt[i:])
                break
            self.buf.append(fmt[i:pct])
            i = pct + 1
            self.clear_flags()
            while i < end and fmt[i] in "#0+- ":
                flag = fmt[i]
                if flag == "#":
                    self.sharp = True
                elif flag == "0":
                    self.zero = not self.minus
                elif flag == "+":
                    self.plus = True
                elif flag == "-":
                    self.minus, self.zero = True, False
                else:
                    self.space = True
                i += 1
            arg_num, i, after_index, good = self._arg_number(fmt, i, arg_num, len(args))
            reordered = reordered or after_index
            if i < end and fmt[i] == "*":
                i += 1
                self.width, arg_num = self._int_from_arg(args, arg_num)
                if self.width is None:
                    self.buf.append("%!(BADWIDTH)")
                elif self.width < 0:
                    self.width, self.minus, self.zero = -self.width, True, False
                after_index = False
            else:
                self.width, i = self._parse_num(fmt, i)
                if after_index and self.width is not None:
                    good = False
            if i < end and fmt[i] == ".":
                i += 1
                if after_index:
                    good = False
                arg_num, i, after_index, ok = self._arg_number(fmt, i, arg_num, len(args))
                good = good and ok
                reordered = reordered or after_index
                if i < end and fmt[i] == "*":
                    i += 1
                    self.prec, arg_num = self._int_from_arg(args, arg_num)
                    if self.prec is not None and self.prec < 0:
                        self.prec = None
                    elif self.prec is None:
                        self.buf.append("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, i = self._parse_num(fmt, i)
                    if self.prec is None:
                        self.prec = 0
            if not after_index:
                arg_num, i, after_index, ok = self._arg_number(fmt, i, arg_num, len(args))
                good = good and ok
                reordered = reordered or after_index
            if i >= end:
                self.buf.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                self.buf.append("%")
            elif not good:
                self.buf.append(f"%!{verb}(BADINDEX)")
            elif arg_num >= len(args):
                self.buf.append(f"%!{verb}(MISSING)")
            else:
                if verb == "v":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(args[arg_num], verb)
                arg_num += 1
        if not reordered and arg_num < len(args):
            self.clear_flags()
            self.buf.append("%!(EXTRA ")
            for n, arg in enumerate(args[arg_num:]):
                if n:
                    self.buf.append(", ")
                if arg is None:
                    self.buf.append("<nil>")
                else:
                    self.buf.append(go_type_name(arg) + "=")
                    self.print_arg(arg, "v")
            self.buf.append(")")


def sprint(args: Sequence[Any]) -> str:
    """`fmt.Sprint`: a space between operands when neither side is a string."""
    p = _Printer()
    previous_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not previous_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        previous_string = is_string
    return "".join(p.buf)


def sprintln(args: Sequence[Any]) -> str:
    """`fmt.Sprintln`: always a space between operands, and a final newline."""
    p = _Printer()
    for i, arg in enumerate(args):
        if i > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return "".join(p.buf)


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """`fmt.Sprintf`, including Go's in-band error forms (`%!d(string=x)`, `%!v(MISSING)`)."""
    p = _Printer()
    p.printf(fmt, args)
    return "".join(p.buf)


def print_struct_value(v: GoStruct) -> str:
    """What a template prints for a pointer to a struct: Go's printer dereferences it first."""
    p = _Printer()
    p.print_struct(v, "v", 0)
    return "".join(p.buf)
