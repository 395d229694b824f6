"""Go string-literal syntax: `strconv.Quote`, `strconv.Unquote`, `UnquoteChar` and `%U`.

Go strings are byte strings; Python's are code points. Bytes that are not valid UTF-8 (from
`"\\xff"` escapes or byte slicing) are carried as lone surrogates (Python's `surrogateescape`),
so they round-trip and are quoted as `\\xff` the way Go quotes them.
"""

from __future__ import annotations

_SIMPLE_ESCAPES = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
}
_QUOTE_ESCAPES = {
    value: "\\" + letter for letter, value in _SIMPLE_ESCAPES.items() if letter != "\\"
}
_HEX = "0123456789abcdefABCDEF"


def is_print(ch: str) -> bool:
    """Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space."""
    return ch.isprintable()


def to_bytes(s: str) -> bytes:
    """The Go byte string a Python string stands for."""
    return s.encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    """The Python stand-in for a Go byte string (invalid UTF-8 kept as lone surrogates)."""
    return b.decode("utf-8", "surrogateescape")


def quote(s: str, quote_char: str = '"', ascii_only: bool = False) -> str:
    """`strconv.Quote` (or `QuoteToASCII`, or `QuoteRune` with `quote_char="'"`)."""
    out = [quote_char]
    for ch in s:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an invalid UTF-8 byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == quote_char or ch == "\\":
            out.append("\\" + ch)
        elif (code < 0x80 or not ascii_only) and is_print(ch):
            out.append(ch)
        elif code in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote_char)
    return "".join(out)


def can_backquote(s: str) -> bool:
    """`strconv.CanBackquote`: a raw string literal can hold s unchanged."""
    return all(
        ch == "\t" or (ch >= " " and ch not in "`\x7f\ufeff" and not 0xD800 <= ord(ch) <= 0xDFFF)
        for ch in s
    )


def format_unicode(code: int, sharp: bool) -> str:
    """Go's `%U` (and `%#U`, which appends the quoted character when printable)."""
    text = f"U+{code:04X}"
    if sharp and 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF and is_print(chr(code)):
        text += f" '{chr(code)}'"
    return text


def unquote_char(s: str, i: int, quote_char: str) -> tuple[int, bool, int]:
    """Decode one (possibly escaped) character of a quoted literal, like `strconv.UnquoteChar`.

    Returns (value, is_byte, next index): `is_byte` marks `\\x`/octal escapes, which in Go
    stand for a single raw byte rather than a code point. Raises ValueError("invalid syntax").
    """
    ch = s[i]
    if ch == quote_char and quote_char in "'\"":
        raise ValueError("invalid syntax")
    if ch != "\\":
        return ord(ch), False, i + 1
    if i + 1 >= len(s):
        raise ValueError("invalid syntax")
    esc = s[i + 1]
    i += 2
    if esc in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[esc], False, i
    if esc in "xuU":
        width = {"x": 2, "u": 4, "U": 8}[esc]
        digits = s[i : i + width]
        if len(digits) != width or any(d not in _HEX for d in digits):
            raise ValueError("invalid syntax")
        value = int(digits, 16)
        if esc == "x":
            return value, True, i + width
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise ValueError("invalid syntax")
        return value, False, i + width
    if "0" <= esc <= "7":
        digits = s[i - 1 : i + 2]
        if len(digits) != 3 or any(d not in "01234567" for d in digits):
            raise ValueError("invalid syntax")
        value = int(digits, 8)
        if value > 255:
            raise ValueError("invalid syntax")
        return value, True, i + 2
    if esc in "'\"" and esc == quote_char:
        return ord(esc), False, i
    raise ValueError("invalid syntax")


def unquote(s: str) -> str:
    """`strconv.Unquote` for "double-quoted", `raw` and 'c' literals; ValueError on bad syntax."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'`":
        raise ValueError("invalid syntax")
    q, body = s[0], s[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if "\n" in body:
        raise ValueError("invalid syntax")
    buf = bytearray()
    i = 0
    count = 0
    while i < len(body):
        value, is_byte, i = unquote_char(body, i, q)
        buf += bytes([value]) if is_byte else to_bytes(chr(value))
        count += 1
    if q == "'" and count != 1:
        raise ValueError("invalid syntax")
    return from_bytes(bytes(buf))
