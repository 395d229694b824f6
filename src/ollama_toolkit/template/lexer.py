"""Tokeniser for Go `text/template` source, state for state like Go's `text/template/parse` lexer.

The token stream (including `SPACE` tokens, trim markers and where errors are detected) follows
Go's lexer because the parser's error messages and line numbers depend on it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from .gostrings import format_unicode, quote

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"
TRIM_MARKER_LEN = 2  # "-" plus one space


class T(IntEnum):
    """Token kinds; those after KEYWORD print as `<word>` in errors, like Go's."""

    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMPLEX = 4
    ASSIGN = 5
    DECLARE = 6
    EOF = 7
    FIELD = 8
    IDENTIFIER = 9
    LEFT_DELIM = 10
    LEFT_PAREN = 11
    NUMBER = 12
    PIPE = 13
    RAW_STRING = 14
    RIGHT_DELIM = 15
    RIGHT_PAREN = 16
    SPACE = 17
    STRING = 18
    TEXT = 19
    VARIABLE = 20
    KEYWORD = 21
    BLOCK = 22
    BREAK = 23
    CONTINUE = 24
    DOT = 25
    DEFINE = 26
    ELSE = 27
    END = 28
    IF = 29
    NIL = 30
    RANGE = 31
    TEMPLATE = 32
    WITH = 33


KEYWORDS = {
    ".": T.DOT,
    "block": T.BLOCK,
    "break": T.BREAK,
    "continue": T.CONTINUE,
    "define": T.DEFINE,
    "else": T.ELSE,
    "end": T.END,
    "if": T.IF,
    "range": T.RANGE,
    "nil": T.NIL,
    "template": T.TEMPLATE,
    "with": T.WITH,
}


@dataclass(frozen=True, slots=True)
class Item:
    typ: T
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """Go's `item.String()`, used verbatim in "unexpected X in Y" errors."""
        if self.typ == T.EOF:
            return "EOF"
        if self.typ == T.ERROR:
            return self.val
        if self.typ > T.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return quote(self.val[:10]) + "..."
        return quote(self.val)


def _is_space(ch: str) -> bool:
    return ch != "" and ch in SPACE_CHARS


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdigit()


def _left_trim_length(s: str, start: int) -> int:
    end = start
    while end < len(s) and s[end] in SPACE_CHARS:
        end += 1
    return end - start


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[Item] = []
        self._newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_at(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    # -- primitives ---------------------------------------------------------------------------

    def next(self) -> str:
        if self.pos >= len(self.text):
            self.pos += 1  # so that backup() after EOF is symmetric
            return ""
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def backup(self) -> None:
        self.pos -= 1

    def emit(self, typ: T) -> None:
        end = min(self.pos, len(self.text))
        self.items.append(
            Item(typ, self.start, self.text[self.start : end], self.line_at(self.start))
        )
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def accept(self, valid: str) -> bool:
        if self.peek() != "" and self.peek() in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.peek() != "" and self.peek() in valid:
            self.pos += 1

    def errorf(self, message: str) -> None:
        self.items.append(Item(T.ERROR, self.start, message, self.line_at(self.start)))

    def has_left_trim_marker(self, at: int) -> bool:
        return self.text[at : at + 1] == "-" and _is_space(self.text[at + 1 : at + 2])

    def has_right_trim_marker(self, at: int) -> bool:
        return _is_space(self.text[at : at + 1]) and self.text[at + 1 : at + 2] == "-"

    def at_right_delim(self) -> tuple[bool, bool]:
        if self.has_right_trim_marker(self.pos) and self.text.startswith(
            RIGHT_DELIM, self.pos + TRIM_MARKER_LEN
        ):
            return True, True
        if self.text.startswith(RIGHT_DELIM, self.pos):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        ch = self.peek()
        if ch == "" or _is_space(ch) or ch in ".,|:)(":
            return True
        return self.text.startswith(RIGHT_DELIM, self.pos)

    # -- states -------------------------------------------------------------------------------

    def lex_text(self) -> _State | None:
        x = self.text.find(LEFT_DELIM, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                if self.has_left_trim_marker(x + len(LEFT_DELIM)):
                    chunk = self.text[self.start : x]
                    trim = len(chunk) - len(chunk.rstrip(SPACE_CHARS))
                self.pos -= trim
                if self.pos > self.start:
                    self.emit(T.TEXT)
                self.pos += trim
                self.ignore()
            return self.lex_left_delim
        self.pos = len(self.text)
        if self.pos > self.start:
            self.emit(T.TEXT)
        self.emit(T.EOF)
        return None

    def lex_left_delim(self) -> _State | None:
        self.pos += len(LEFT_DELIM)
        trim = self.has_left_trim_marker(self.pos)
        after = TRIM_MARKER_LEN if trim else 0
        if self.text.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        self.emit(T.LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> _State | None:
        self.pos += len(LEFT_COMMENT)
        x = self.text.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            self.errorf("unclosed comment")
            return None
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            self.errorf("comment ends before closing delimiter")
            return None
        if trim:
            self.pos += TRIM_MARKER_LEN
        self.pos += len(RIGHT_DELIM)
        if trim:
            self.pos += _left_trim_length(self.text, self.pos)
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> _State | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += TRIM_MARKER_LEN
            self.ignore()
        self.pos += len(RIGHT_DELIM)
        self.emit(T.RIGHT_DELIM)
        if trim:
            self.pos += _left_trim_length(self.text, self.pos)
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> _State | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            self.errorf("unclosed left paren")
            return None
        ch = self.next()
        if ch == "":
            self.errorf("unclosed action")
            return None
        if _is_space(ch):
            self.backup()  # put the space back in case we have " -}}"
            return self.lex_space
        simple = {"=": T.ASSIGN, "|": T.PIPE}
        if ch in simple:
            self.emit(simple[ch])
            return self.lex_inside_action
        if ch == ":":
            if self.next() != "=":
                self.errorf("expected :=")
                return None
            self.emit(T.DECLARE)
            return self.lex_inside_action
        if ch == '"':
            return self.lex_quote
        if ch == "`":
            return self.lex_raw_quote
        if ch == "$":
            return self.lex_variable
        if ch == "'":
            return self.lex_char
        if ch == "." and self.peek() != "" and not "0" <= self.peek() <= "9":
            return self.lex_field
        if ch in "+-." or "0" <= ch <= "9":
            self.backup()
            return self.lex_number
        if _is_alnum(ch):
            self.backup()
            return self.lex_identifier
        if ch == "(":
            self.paren_depth += 1
            self.emit(T.LEFT_PAREN)
            return self.lex_inside_action
        if ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.errorf("unexpected right paren")
                return None
            self.emit(T.RIGHT_PAREN)
            return self.lex_inside_action
        if ord(ch) < 0x80 and ch.isprintable():
            self.emit(T.CHAR)
            return self.lex_inside_action
        self.errorf(f"unrecognized character in action: {format_unicode(ord(ch), True)}")
        return None

    def lex_space(self) -> _State | None:
        spaces = 0
        while _is_space(self.peek()):
            self.pos += 1
            spaces += 1
        # A trim-marked closing delimiter has a minus after a space: leave that space for it.
        if self.has_right_trim_marker(self.pos - 1) and self.text.startswith(
            RIGHT_DELIM, self.pos - 1 + TRIM_MARKER_LEN
        ):
            self.backup()
            if spaces == 1:
                return self.lex_right_delim
        self.emit(T.SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> _State | None:
        while _is_alnum(self.peek()):
            self.pos += 1
        word = self.text[self.start : self.pos]
        if not self.at_terminator():
            self.errorf(f"bad character {format_unicode(ord(self.peek()), True)}")
            return None
        if word in KEYWORDS:
            self.emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self.emit(T.BOOL)
        else:
            self.emit(T.IDENTIFIER)
        return self.lex_inside_action

    def lex_field(self) -> _State | None:
        return self._field_or_variable(T.FIELD)

    def lex_variable(self) -> _State | None:
        if self.at_terminator():  # nothing interesting follows: just "$"
            self.emit(T.VARIABLE)
            return self.lex_inside_action
        return self._field_or_variable(T.VARIABLE)

    def _field_or_variable(self, typ: T) -> _State | None:
        if self.at_terminator():  # nothing interesting follows: "." or "$"
            self.emit(T.VARIABLE if typ == T.VARIABLE else T.DOT)
            return self.lex_inside_action
        while _is_alnum(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            self.errorf(f"bad character {format_unicode(ord(self.peek()), True)}")
            return None
        self.emit(typ)
        return self.lex_inside_action

    def _lex_quoted(self, closing: str, typ: T, error: str) -> _State | None:
        while True:
            ch = self.next()
            if ch == "\\":
                ch = self.next()
                if ch not in ("", "\n"):
                    continue
            if ch in ("", "\n"):
                self.errorf(error)
                return None
            if ch == closing:
                break
        self.emit(typ)
        return self.lex_inside_action

    def lex_char(self) -> _State | None:
        return self._lex_quoted("'", T.CHAR_CONSTANT, "unterminated character constant")

    def lex_quote(self) -> _State | None:
        return self._lex_quoted('"', T.STRING, "unterminated quoted string")

    def lex_raw_quote(self) -> _State | None:
        x = self.text.find("`", self.pos)
        if x < 0:
            self.pos = len(self.text)
            self.errorf("unterminated raw quoted string")
            return None
        self.pos = x + 1
        self.emit(T.RAW_STRING)
        return self.lex_inside_action

    def lex_number(self) -> _State | None:
        if not self._scan_number():
            self.errorf(f"bad number syntax: {quote(self.text[self.start : self.pos])}")
            return None
        if self.peek() in ("+", "-") and self.peek() != "":
            # Complex: 1+2i. No spaces, must end in 'i'.
            if not self._scan_number() or self.text[self.pos - 1] != "i":
                self.errorf(f"bad number syntax: {quote(self.text[self.start : self.pos])}")
                return None
            self.emit(T.COMPLEX)
        else:
            self.emit(T.NUMBER)
        return self.lex_inside_action

    def _scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.pos += 1
            return False
        return True


_State = Callable[[], "_State | None"]


def lex(text: str) -> list[Item]:
    """Tokenise a whole template; the list ends with an EOF or an ERROR item."""
    lexer = _Lexer(text)
    state: _State | None = lexer.lex_text
    while state is not None:
        state = state()
    return lexer.items
