"""Parser for Go `text/template`: tokens to Trees, with Go's grammar, checks and error messages.

The structure follows Go's recursive-descent parser (`parse.go`) closely on purpose: which
error a malformed template gets, and on which line, falls out of that structure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from .errors import TemplateError
from .gostrings import quote, unquote, unquote_char
from .lexer import Item, T, lex
from .nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    NumberValue,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
)

MAX_PAREN_DEPTH = 10000
_DECIMAL_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_OPERAND_START = {
    T.BOOL,
    T.CHAR_CONSTANT,
    T.COMPLEX,
    T.DOT,
    T.FIELD,
    T.IDENTIFIER,
    T.NUMBER,
    T.NIL,
    T.RAW_STRING,
    T.STRING,
    T.VARIABLE,
    T.LEFT_PAREN,
}


def _underscore_ok(s: str) -> bool:
    """Go's rule: underscores only between digits (a base prefix counts as a digit)."""
    if s[:1] in ("+", "-"):
        s = s[1:]
    saw = "^"
    i = 0
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for ch in s[i:]:
        if "0" <= ch <= "9" or (hexa and "a" <= ch.lower() <= "f"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _parse_int(text: str, signed: bool) -> int | None:
    """`strconv.ParseInt(text, 0, 64)` / `ParseUint`; None when Go would fail."""
    s = text
    negative = False
    if signed and s[:1] in ("+", "-"):
        negative, s = s[0] == "-", s[1:]
    if not s or ("_" in s and not _underscore_ok(s)):
        return None
    base, body = 10, s
    if len(s) > 1 and s[0] == "0":
        prefix = s[1].lower()
        base = {"x": 16, "o": 8, "b": 2}.get(prefix, 8)
        body = s[2:] if prefix in "xob" else s[1:]
    body = body.replace("_", "")
    if not body or not body.isascii():
        return None
    try:
        value = int(body, base)
    except ValueError:
        return None
    value = -value if negative else value
    if signed:
        return value if -(2**63) <= value < 2**63 else None
    return value if value < 2**64 else None


def _parse_float(text: str) -> float | None:
    """`strconv.ParseFloat(text, 64)` for the literals the lexer can produce."""
    if "_" in text and not _underscore_ok(text):
        return None
    s = text.replace("_", "")
    try:
        if s.lstrip("+-")[:2].lower() == "0x":
            value = float.fromhex(s) if "p" in s.lower() else None
        else:
            value = float(s) if _DECIMAL_FLOAT.fullmatch(s) else None
    except ValueError:
        return None
    if value is None or math.isinf(value):
        return None
    return value


def _simplify_complex(n: NumberValue) -> None:
    n.is_float = n.complex128.imag == 0
    if n.is_float:
        n.float64 = n.complex128.real
        n.is_int = n.float64.is_integer() and -(2**63) <= n.float64 < 2**63
        if n.is_int:
            n.int64 = int(n.float64)
        n.is_uint = n.float64.is_integer() and 0 <= n.float64 < 2**64
        if n.is_uint:
            n.uint64 = int(n.float64)


def parse_number(text: str, typ: T) -> NumberValue:
    """Every representation of a numeric literal, like Go's `newNumber`; ValueError if none."""
    n = NumberValue()
    if typ == T.CHAR_CONSTANT:
        value, _, end = unquote_char(text[1:], 0, text[0])
        if text[1 + end :] != "'":
            raise ValueError(f"malformed character constant: {text}")
        n.is_int = n.is_uint = n.is_float = True
        n.int64 = n.uint64 = value
        n.float64 = float(value)
        return n
    if typ == T.COMPLEX:
        n.complex128 = complex(text[:-1] + "j")
        n.is_complex = True
        _simplify_complex(n)
        return n
    if text.endswith("i"):
        imag = _parse_float(text[:-1])
        if imag is not None:
            n.is_complex = True
            n.complex128 = complex(0, imag)
            _simplify_complex(n)
            return n
    unsigned = _parse_int(text, signed=False)
    if unsigned is not None:
        n.is_uint, n.uint64 = True, unsigned
    signed = _parse_int(text, signed=True)
    if signed is not None:
        n.is_int, n.int64 = True, signed
        if signed == 0:
            n.is_uint, n.uint64 = True, 0
    if n.is_int:
        n.is_float, n.float64 = True, float(n.int64)
    elif n.is_uint:
        n.is_float, n.float64 = True, float(n.uint64)
    else:
        f = _parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError(f"integer overflow: {quote(text)}")
            n.is_float, n.float64 = True, f
            if f.is_integer() and -(2**63) <= f < 2**63:
                n.is_int, n.int64 = True, int(f)
            if f.is_integer() and 0 <= f < 2**64:
                n.is_uint, n.uint64 = True, int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise ValueError(f"illegal number syntax: {quote(text)}")
    return n


def _is_empty(node: Node) -> bool:
    """Go's `IsEmptyTree`: nothing but whitespace text."""
    if isinstance(node, ListNode):
        return all(_is_empty(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return node.text.strip() == ""
    return False


class _Parser:
    def __init__(self, text: str, funcs: Collection[str], name: str) -> None:
        self.items = lex(text)
        self.funcs = funcs
        self.name = name
        self.trees: dict[str, Tree] = {}
        self.i = 0
        self.seen = 0  # furthest token read: Go reports errors on that token's line
        self.vars = ["$"]
        self.range_depth = 0
        self.paren_depth = 0
        self.action_line = 0

    # -- token stream -------------------------------------------------------------------------

    def next(self) -> Item:
        item = self.items[min(self.i, len(self.items) - 1)]
        self.i += 1
        self.seen = max(self.seen, min(self.i, len(self.items)) - 1)
        return item

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Item:
        item = self.next()
        self.backup()
        return item

    def next_non_space(self) -> Item:
        item = self.next()
        while item.typ == T.SPACE:
            item = self.next()
        return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    # -- errors -------------------------------------------------------------------------------

    def errorf(self, message: str) -> TemplateError:
        line = self.items[self.seen].line
        return TemplateError(f"template: {self.name}:{line}: {message}")

    def unexpected(self, item: Item, context: str) -> TemplateError:
        if item.typ == T.ERROR:
            extra = ""
            if self.action_line not in (0, item.line):
                extra = f" in action started at {self.name}:{self.action_line}"
                if item.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{item}{extra}")
        return self.errorf(f"unexpected {item} in {context}")

    def expect(self, typ: T, context: str) -> Item:
        item = self.next_non_space()
        if item.typ != typ:
            raise self.unexpected(item, context)
        return item

    # -- trees --------------------------------------------------------------------------------

    def add(self, tree: Tree) -> None:
        existing = self.trees.get(tree.name)
        if existing is None or _is_empty(existing.root):
            self.trees[tree.name] = tree
        elif not _is_empty(tree.root):
            raise self.errorf(f"template: multiple definition of template {quote(tree.name)}")

    def parse(self) -> dict[str, Tree]:
        root = ListNode(self.peek().pos)
        while self.peek().typ != T.EOF:
            if self.peek().typ == T.LEFT_DELIM:
                start = self.i
                self.next()
                if self.next_non_space().typ == T.DEFINE:
                    self.parse_definition()
                    continue
                self.i = start
            node = self.text_or_action()
            if isinstance(node, (EndNode, ElseNode)):
                raise self.errorf(f"unexpected {node}")
            root.nodes.append(node)
        self.add(Tree(self.name, root))
        return self.trees

    def _sub_tree(self, context: str) -> ListNode:
        """Parse a `define`/`block` body with a fresh variable scope, as Go's new Tree does."""
        saved = (self.vars, self.range_depth, self.paren_depth, self.action_line)
        self.vars, self.range_depth, self.paren_depth, self.action_line = ["$"], 0, 0, 0
        root, end = self.item_list()
        if not isinstance(end, EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        self.vars, self.range_depth, self.paren_depth, self.action_line = saved
        return root

    def parse_definition(self) -> None:
        context = "define clause"
        item = self.next_non_space()
        if item.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(item, context)
        name = self.unquote(item.val)
        self.expect(T.RIGHT_DELIM, context)
        self.add(Tree(name, self._sub_tree(context)))

    def unquote(self, literal: str) -> str:
        try:
            return unquote(literal)
        except ValueError as e:
            raise self.errorf(str(e)) from None

    # -- lists and actions --------------------------------------------------------------------

    def item_list(self) -> tuple[ListNode, Node]:
        node_list = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T.EOF:
            node = self.text_or_action()
            if isinstance(node, (EndNode, ElseNode)):
                return node_list, node
            node_list.nodes.append(node)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        item = self.next_non_space()
        if item.typ == T.TEXT:
            return TextNode(item.pos, item.val)
        if item.typ == T.LEFT_DELIM:
            self.action_line = item.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(item, "input")

    def action(self) -> Node:
        item = self.next_non_space()
        controls = {
            T.BLOCK: self.block_control,
            T.ELSE: self.else_control,
            T.END: self.end_control,
            T.IF: lambda: self.branch(IfNode, "if"),
            T.RANGE: lambda: self.branch(RangeNode, "range"),
            T.TEMPLATE: self.template_control,
            T.WITH: lambda: self.branch(WithNode, "with"),
        }
        if item.typ in (T.BREAK, T.CONTINUE):
            return self.loop_control(item)
        if item.typ in controls:
            return controls[item.typ]()
        self.backup()
        start = self.peek()
        return ActionNode(start.pos, start.line, self.pipeline("command", T.RIGHT_DELIM))

    def loop_control(self, keyword: Item) -> Node:
        word = "{{" + keyword.val + "}}"
        item = self.next_non_space()
        if item.typ != T.RIGHT_DELIM:
            raise self.unexpected(item, word)
        if self.range_depth == 0:
            raise self.errorf(f"{word} outside {{{{range}}}}")
        node_type = BreakNode if keyword.typ == T.BREAK else ContinueNode
        return node_type(keyword.pos, keyword.line)

    def pipeline(self, context: str, end: T) -> PipeNode:
        start = self.peek_non_space()
        pipe = PipeNode(start.pos, start.line)
        self._declarations(pipe, context)
        while True:
            item = self.next_non_space()
            if item.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if item.typ in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(item, context)

    def _declarations(self, pipe: PipeNode, context: str) -> None:
        while True:
            var = self.peek_non_space()
            if var.typ != T.VARIABLE:
                return
            restart = self.i
            self.next()
            following = self.peek_non_space()
            if following.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = following.typ == T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(var.pos, var.val))
                self.vars.append(var.val)
                return
            if following.typ == T.CHAR and following.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(var.pos, var.val))
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue  # the second variable of `range $i, $e := ...`
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            self.i = restart  # not a declaration: $x is the first operand
            return

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def branch(self, node_type: type[BranchNode], context: str) -> BranchNode:
        saved_vars = len(self.vars)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        body, next_node = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_list: ListNode | None = None
        if isinstance(next_node, ElseNode):
            # `{{else if x}}` / `{{else with x}}` nest a new branch that shares our {{end}}.
            chained = {"if": T.IF, "with": T.WITH}.get(context)
            if chained is not None and self.peek().typ == chained:
                self.next()
                else_list = ListNode(next_node.pos, [self.branch(node_type, context)])
            else:
                else_list, next_node = self.item_list()
                if not isinstance(next_node, EndNode):
                    raise self.errorf(f"expected end; found {next_node}")
        del self.vars[saved_vars:]
        return node_type(pipe.pos, pipe.line, pipe, body, else_list)

    def end_control(self) -> Node:
        return EndNode(self.expect(T.RIGHT_DELIM, "end").pos)

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (T.IF, T.WITH):
            return ElseNode(peek.pos, peek.line)
        item = self.expect(T.RIGHT_DELIM, "else")
        return ElseNode(item.pos, item.line)

    def template_name(self, item: Item, context: str) -> str:
        if item.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(item, context)
        return self.unquote(item.val)

    def block_control(self) -> Node:
        context = "block clause"
        item = self.next_non_space()
        name = self.template_name(item, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        self.add(Tree(name, self._sub_tree(context)))
        return TemplateNode(item.pos, item.line, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        item = self.next_non_space()
        name = self.template_name(item, context)
        pipe: PipeNode | None = None
        if self.next_non_space().typ != T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(item.pos, item.line, name, pipe)

    # -- commands and operands ----------------------------------------------------------------

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            item = self.next()
            if item.typ == T.SPACE:
                continue
            if item.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif item.typ != T.PIPE:
                raise self.unexpected(item, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().typ != T.FIELD:
            return node
        chain = ChainNode(self.peek().pos, node)
        while self.peek().typ == T.FIELD:
            chain.fields.append(self.next().val[1:])
        if isinstance(node, FieldNode):
            return FieldNode(chain.pos, str(chain))
        if isinstance(node, VariableNode):
            return VariableNode(chain.pos, str(chain))
        if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
            raise self.errorf(f"unexpected . after term {quote(str(node))}")
        return chain

    def term(self) -> Node | None:
        item = self.next_non_space()
        typ = item.typ
        if typ == T.IDENTIFIER:
            if item.val not in self.funcs:
                raise self.errorf(f"function {quote(item.val)} not defined")
            return IdentifierNode(item.pos, item.val)
        if typ == T.DOT:
            return DotNode(item.pos)
        if typ == T.NIL:
            return NilNode(item.pos)
        if typ == T.VARIABLE:
            var = VariableNode(item.pos, item.val)
            if var.ident[0] not in self.vars:
                raise self.errorf(f"undefined variable {quote(var.ident[0])}")
            return var
        if typ == T.FIELD:
            return FieldNode(item.pos, item.val)
        if typ == T.BOOL:
            return BoolNode(item.pos, item.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            try:
                return NumberNode(item.pos, item.val, parse_number(item.val, typ))
            except ValueError as e:
                raise self.errorf(str(e)) from None
        if typ == T.LEFT_PAREN:
            if self.paren_depth >= MAX_PAREN_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.paren_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
            finally:
                self.paren_depth -= 1
        if typ in (T.STRING, T.RAW_STRING):
            return StringNode(item.pos, item.val, self.unquote(item.val))
        self.backup()
        return None


def parse_trees(text: str, funcs: Collection[str], name: str = "") -> dict[str, Tree]:
    """Parse a template and its `define`/`block` templates into Trees keyed by name.

    `funcs` are the function names the template may call (Go checks them at parse time).
    Raises TemplateError with Go's message for any syntax error.
    """
    parser = _Parser(text, funcs, name)
    try:
        return parser.parse()
    except RecursionError:  # Go allows deeper nesting, but must not crash us either
        raise parser.errorf("max expression depth exceeded") from None
