"""Executor for parsed Go templates, following `text/template/exec.go` step for step.

Go's evaluation rules are subtle in ways templates depend on (what a missing key yields,
when a nil is an error, the order arguments are checked in), so each method here corresponds
to the Go function of the same name. Errors carry Go's location and context:
`template: :LINE:COL: executing "" at <NODE>: MESSAGE`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import TemplateError
from .funcs import BUILTINS, FuncError, GoFunc
from .gofmt import print_struct_value, sprint
from .gostrings import quote, to_bytes
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
)
from .values import INVALID, GoStruct, go_method, kind, sorted_items, truth, type_name, zero_elem

# Go's text/template allows 100000 nested {{template}} calls (maxExecDepth, 64-bit). Here each
# call costs a few Python frames: the bound is far lower, so that it is reached (with the node's
# location in the error) before Python's recursion limit; a recursion that outruns the limit
# anyway (blocks nested in each call) reports the same error.
MAX_EXEC_DEPTH = 100
# A work budget per execution, which Go lacks: a template from a request
# (`{{range 100000}}{{range 100000}}{{end}}{{end}}`) must not run for hours or fill memory.
MAX_EXEC_STEPS = 1_000_000  # nodes walked, each range iteration's body included
MAX_EXEC_OUTPUT = 64 << 20  # characters written, and the longest string a function returns
_MISSING: Any = object()  # "no value from a previous pipeline stage" (Go's missingVal)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass(frozen=True)
class Program:
    """Everything an execution needs: the trees, the callable functions and the options.

    `missingkey_zero` is Go's `Option("missingkey=zero")`, which Ollama sets; without it a
    missing map key yields the invalid value (and chained fields on it are silently empty).
    """

    text: str
    trees: dict[str, Tree]
    funcs: dict[str, GoFunc]
    missingkey_zero: bool = True
    name: str = ""


class _Budget:
    """What one execution has spent so far, shared by the states of its {{template}} calls."""

    __slots__ = ("steps", "chars")

    def __init__(self) -> None:
        self.steps = 0
        self.chars = 0


class _State:
    __slots__ = ("prog", "out", "node", "vars", "depth", "budget")

    def __init__(
        self, prog: Program, out: list[str], dot: Any, depth: int = 0, budget: _Budget | None = None
    ) -> None:
        self.prog = prog
        self.out = out
        self.node: Node | None = None
        self.vars: list[list[Any]] = [["$", dot]]
        self.depth = depth
        self.budget = budget or _Budget()

    # -- errors and variables -----------------------------------------------------------------

    def errorf(self, message: str) -> TemplateError:
        name = self.prog.name
        node = self.node
        if node is None:
            return TemplateError(f"template: {name}: {message}")
        before = self.prog.text[: node.pos]
        newline = before.rfind("\n")
        column = len(to_bytes(before[newline + 1 :] if newline >= 0 else before))
        location = f"{name}:{before.count(chr(10)) + 1}:{column}"
        return TemplateError(
            f"template: {location}: executing {quote(name)} at <{node}>: {message}"
        )

    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.errorf(f"undefined variable: {name}")

    # -- walking ------------------------------------------------------------------------------

    def emit(self, text: str) -> None:
        budget = self.budget
        budget.chars += len(text)
        if budget.chars > MAX_EXEC_OUTPUT:
            raise self.errorf(f"execution exceeded the output limit ({MAX_EXEC_OUTPUT} characters)")
        self.out.append(text)

    def walk(self, dot: Any, node: Node) -> None:
        self.node = node
        budget = self.budget
        budget.steps += 1
        if budget.steps > MAX_EXEC_STEPS:
            raise self.errorf(f"execution exceeded the step limit ({MAX_EXEC_STEPS} steps)")
        t = type(node)
        if t is TextNode:
            self.emit(node.text)  # type: ignore[attr-defined]
        elif t is ActionNode:
            pipe = node.pipe  # type: ignore[attr-defined]
            value = self.eval_pipeline(dot, pipe)
            if not pipe.decl:
                self.print_value(node, value)
        elif t is ListNode:
            for child in node.nodes:  # type: ignore[attr-defined]
                self.walk(dot, child)
        elif t is IfNode or t is WithNode:
            self.walk_if_or_with(t is WithNode, dot, node)  # type: ignore[arg-type]
        elif t is RangeNode:
            self.walk_range(dot, node)  # type: ignore[arg-type]
        elif t is TemplateNode:
            self.walk_template(dot, node)  # type: ignore[arg-type]
        elif t is BreakNode:
            raise _Break
        elif t is ContinueNode:
            raise _Continue
        else:
            raise self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: Any, node: IfNode | WithNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if truth(value):
                self.walk(value if is_with else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def _range_items(self, node: RangeNode, value: Any) -> Iterable[tuple[Any, Any]]:
        k = kind(value)
        if k == "slice":
            return enumerate(value)
        if k == "map":
            return sorted_items(value)
        if k == "int":
            if len(node.pipe.decl) > 1:
                raise self.errorf(f"can't use {value} to iterate over more than one variable")
            return ((INVALID, i) for i in range(value))
        if k == "invalid":
            return ()
        shown = print_struct_value(value) if k == "ptr" and not value.is_nil else sprint([value])
        raise self.errorf(f"range can't iterate over {shown}")

    def walk_range(self, dot: Any, node: RangeNode) -> None:
        self.node = node
        outer = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            mark = len(self.vars)
            decl = node.pipe.decl
            ran = False
            for index, elem in self._range_items(node, value):
                ran = True
                if decl:
                    if node.pipe.is_assign:
                        self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                    else:
                        self.vars[-1][1] = elem
                if len(decl) > 1:
                    if node.pipe.is_assign:
                        self.set_var(decl[1].ident[0], elem)
                    else:
                        self.vars[-2][1] = index
                try:
                    self.walk(elem, node.list)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark:]
            if not ran and node.else_list is not None:
                self.walk(dot, node.else_list)
        except _Break:
            pass
        finally:
            del self.vars[outer:]

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        self.node = node
        tree = self.prog.trees.get(node.name)
        if tree is None:
            raise self.errorf(f"template {quote(node.name)} not defined")
        if self.depth == MAX_EXEC_DEPTH:
            raise self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, node.pipe)
        # No dynamic scoping: the invoked template sees only `$`.
        _State(self.prog, self.out, dot, self.depth + 1, self.budget).walk(dot, tree.root)

    def print_value(self, node: Node, value: Any) -> None:
        if type(value) is str:
            self.emit(value)
            return
        self.node = node
        if value is INVALID:
            self.emit("<no value>")
        elif kind(value) == "func":
            raise self.errorf(f"can't print {node} of type {type_name(value)}")
        elif isinstance(value, GoStruct) and value.go_pointer and not value.is_nil:
            self.emit(print_struct_value(value))
        else:
            self.emit(sprint([value]))

    # -- evaluation ---------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return INVALID
        self.node = pipe
        value = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # a nil interface: dig down to "no value"
                value = INVALID
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append([var.ident[0], value])
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        t = type(first)
        if t is FieldNode:
            return self.eval_field_node(dot, first, cmd.args, final)  # type: ignore[arg-type]
        if t is ChainNode:
            return self.eval_chain_node(dot, first, cmd.args, final)  # type: ignore[arg-type]
        if t is IdentifierNode:
            return self.eval_function(dot, first, cmd, cmd.args, final)  # type: ignore[arg-type]
        if t is PipeNode:
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)  # type: ignore[arg-type]
        if t is VariableNode:
            return self.eval_variable_node(dot, first, cmd.args, final)  # type: ignore[arg-type]
        self.node = first
        self.not_a_function(cmd.args, final)
        if t is BoolNode:
            return first.value  # type: ignore[attr-defined]
        if t is DotNode:
            return dot
        if t is NilNode:
            raise self.errorf("nil is not a command")
        if t is NumberNode:
            return self.ideal_constant(first)  # type: ignore[arg-type]
        if t is StringNode:
            return first.text  # type: ignore[attr-defined]
        raise self.errorf(f"can't evaluate command {quote(str(first))}")

    def ideal_constant(self, node: NumberNode) -> Any:
        """A literal number with no type context: Go's syntax decides int, float or complex."""
        self.node = node
        n, text = node.value, node.text
        if n.is_complex:
            return n.complex128
        is_hex_int = text[:2] in ("0x", "0X") and not any(c in text for c in "pP")
        if n.is_float and not is_hex_int and text[0] != "'" and any(c in text for c in ".eEpP"):
            return n.float64
        if n.is_int:
            return n.int64
        if n.is_uint:
            raise self.errorf(f"{text} overflows int")
        return INVALID

    def eval_field_node(
        self, dot: Any, field: FieldNode, args: list[Node] | None, final: Any
    ) -> Any:
        self.node = field
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(
        self, dot: Any, chain: ChainNode, args: list[Node] | None, final: Any
    ) -> Any:
        self.node = chain
        if isinstance(chain.node, NilNode):
            raise self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable_node(
        self, dot: Any, var: VariableNode, args: list[Node] | None, final: Any
    ) -> Any:
        self.node = var
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            if args is not None:  # without args (an argument position) there is no final
                self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        ident: list[str],
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _MISSING, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(
        self,
        dot: Any,
        name: str,
        node: Node,
        args: list[Node] | None,
        final: Any,
        receiver: Any,
    ) -> Any:
        if receiver is INVALID:
            return INVALID
        if receiver is None:
            raise self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        method = go_method(receiver, name)
        if method is not None:
            return self.eval_call(dot, GoFunc(method), False, node, name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, dict):
            if has_args:
                raise self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            return zero_elem(receiver) if self.prog.missingkey_zero else INVALID
        if isinstance(receiver, GoStruct) and name in receiver.go_field_names():
            if not name[:1].isupper():
                raise self.errorf(
                    f"{name} is an unexported field of struct type {type_name(receiver)}"
                )
            if receiver.is_nil:
                raise self.errorf(f"nil pointer evaluating {type_name(receiver)}.{name}")
            if has_args:
                raise self.errorf(f"{name} has arguments but cannot be invoked as function")
            return getattr(receiver, name)
        raise self.errorf(f"can't evaluate field {name} in type {type_name(receiver)}")

    def eval_function(
        self,
        dot: Any,
        node: IdentifierNode,
        cmd: Node,
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        self.node = node
        name = node.ident
        fn = self.prog.funcs.get(name)
        builtin = fn is None
        if fn is None:
            fn = BUILTINS.get(name)
        if fn is None:
            raise self.errorf(f"{quote(name)} is not a defined function")
        return self.eval_call(dot, fn, builtin, cmd, name, args, final)

    def eval_call(
        self,
        dot: Any,
        fn: GoFunc,
        builtin: bool,
        node: Node,
        name: str,
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        arg_nodes = args[1:] if args is not None else []
        num_in = len(arg_nodes) + (final is not _MISSING)
        num_fixed = len(arg_nodes)
        if fn.variadic is not None:
            num_fixed = len(fn.params)
            if num_in < num_fixed:
                raise self.errorf(
                    f"wrong number of args for {name}: want at least {num_fixed} "
                    f"got {len(arg_nodes)}"
                )
        elif num_in != len(fn.params):
            raise self.errorf(
                f"wrong number of args for {name}: want {len(fn.params)} got {num_in}"
            )
        if builtin and name in ("and", "or"):
            value = INVALID
            for arg in arg_nodes:
                value = self.eval_arg(dot, "value", arg)
                if truth(value) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self.validate_type(final, "value")
            return value
        argv = [self.eval_arg(dot, fn.params[i], a) for i, a in enumerate(arg_nodes[:num_fixed])]
        if fn.variadic is not None:
            argv += [self.eval_arg(dot, fn.variadic, a) for a in arg_nodes[num_fixed:]]
        if final is not _MISSING:
            if fn.variadic is None:
                param = fn.params[-1]
            else:
                param = fn.params[num_in - 1] if num_in - 1 < num_fixed else fn.variadic
            argv.append(self.validate_type(final, param))
        if builtin and name == "call":
            argv.insert(0, str(arg_nodes[0]) if arg_nodes else "")
        try:
            result = fn.fn(*argv)
        except FuncError as e:
            self.node = node
            raise self.errorf(f"error calling {name}: {e}") from None
        if type(result) is str and len(result) > MAX_EXEC_OUTPUT:  # `$s = print $s $s` doubling
            self.node = node
            raise self.errorf(f"execution exceeded the output limit ({MAX_EXEC_OUTPUT} characters)")
        return result

    def validate_type(self, value: Any, param: str | None) -> Any:
        """Check a computed argument against a parameter kind (see funcs.GoFunc)."""
        if value is INVALID:
            if param is None or param == "value":
                return INVALID
            if param == "any":
                return None
            raise self.errorf(f"invalid value; expected {param}")
        if param == "string" and not isinstance(value, str):
            raise self.errorf(f"wrong type for value; expected string; got {type_name(value)}")
        return value

    def eval_arg(self, dot: Any, param: str | None, node: Node) -> Any:
        self.node = node
        t = type(node)
        if t is DotNode:
            return self.validate_type(dot, param)
        if t is NilNode:
            if param in ("value", "any"):
                return INVALID if param == "value" else None
            raise self.errorf(f"cannot assign nil to {param}")
        if t is FieldNode:
            value = self.eval_field_node(dot, node, [node], _MISSING)  # type: ignore[arg-type]
        elif t is VariableNode:
            value = self.eval_variable_node(dot, node, None, _MISSING)  # type: ignore[arg-type]
        elif t is PipeNode:
            value = self.eval_pipeline(dot, node)  # type: ignore[arg-type]
        elif t is IdentifierNode:
            value = self.eval_function(dot, node, node, None, _MISSING)  # type: ignore[arg-type]
        elif t is ChainNode:
            value = self.eval_chain_node(dot, node, None, _MISSING)  # type: ignore[arg-type]
        elif param == "string":
            if t is StringNode:
                return node.text  # type: ignore[attr-defined]
            raise self.errorf(f"expected string; found {node}")
        elif t is BoolNode:
            return node.value  # type: ignore[attr-defined]
        elif t is NumberNode:
            return self.ideal_constant(node)  # type: ignore[arg-type]
        elif t is StringNode:
            return node.text  # type: ignore[attr-defined]
        else:
            raise self.errorf(f"can't handle assignment of {node} to empty interface argument")
        return self.validate_type(value, param)


def execute(prog: Program, data: Any) -> str:
    """Run the program's main template on data and return the output text.

    Raises TemplateError for every execution failure, including runaway recursion.
    """
    out: list[str] = []
    dot = INVALID if data is None else data
    root = prog.trees[prog.name].root
    try:
        _State(prog, out, dot).walk(dot, root)
    except RecursionError:
        raise TemplateError(
            f"template: {prog.name}: exceeded maximum template depth ({MAX_EXEC_DEPTH})"
        ) from None
    text = "".join(out)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Byte-level slicing left invalid UTF-8 (as Go would emit); show it as U+FFFD.
        text = to_bytes(text).decode("utf-8", "replace")
    return text
