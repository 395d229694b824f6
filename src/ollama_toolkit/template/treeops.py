"""Ollama's two walks over parse trees: `Identifiers` (for `Vars`) and `deleteNode`.

Both are reproduced with their quirks, because observable behaviour depends on them: which
names count as "used" decides between chat and legacy rendering, and the response cut
decides where a legacy prompt ends.
"""

from __future__ import annotations

import copy

from .errors import TemplateError
from .nodes import (
    ActionNode,
    BranchNode,
    CommandNode,
    FieldNode,
    ListNode,
    Node,
    PipeNode,
    TemplateNode,
    VariableNode,
)


def identifiers(node: Node) -> list[str]:
    """Names Ollama's `Identifiers` finds: every field and variable name in actions/branches.

    Like Go's, it does not look inside chains (`(x).Field`) and rejects `{{template "x"}}`
    without a pipeline ("undefined template specified").
    """
    if isinstance(node, ListNode):
        return [name for child in node.nodes for name in identifiers(child)]
    if isinstance(node, TemplateNode):
        if node.pipe is None:
            raise TemplateError("undefined template specified")
        return identifiers(node.pipe)
    if isinstance(node, ActionNode):
        return identifiers(node.pipe)
    if isinstance(node, BranchNode):
        names = identifiers(node.pipe) + identifiers(node.list)
        if node.else_list is not None:
            names += identifiers(node.else_list)
        return names
    if isinstance(node, PipeNode):
        return [name for cmd in node.cmds for arg in cmd.args for name in identifiers(arg)]
    if isinstance(node, (FieldNode, VariableNode)):
        return list(node.ident)
    return []


def cut_after_response(root: ListNode) -> ListNode:
    """A copy of the tree that stops right after the first `.Response` field is rendered.

    Mirrors Ollama's `deleteNode`: nodes are visited in order; the first FieldNode naming
    `Response` is kept, and every node visited after it is dropped (including later arguments
    of the same command). Branch conditions and `{{template}}` pipelines are not searched.
    Changed nodes are copies, so the parsed tree stays intact for other executions.
    """
    cut = False

    def doomed(n: Node) -> bool:
        nonlocal cut
        if isinstance(n, FieldNode) and "Response" in n.ident:
            cut = True
            return False
        return cut

    def walk_list(n: ListNode) -> ListNode | None:
        if doomed(n):
            return None
        return ListNode(n.pos, [kept for kept in map(walk, n.nodes) if kept is not None])

    def walk_pipe(n: PipeNode) -> PipeNode | None:
        if doomed(n):
            return None
        pipe = copy.copy(n)
        pipe.cmds = []
        for cmd in n.cmds:
            kept = CommandNode(cmd.pos)
            kept.args = [arg for arg in map(walk, cmd.args) if arg is not None]
            if not kept.args:
                return None
            pipe.cmds.append(kept)
        return pipe

    def walk(n: Node) -> Node | None:
        if isinstance(n, ListNode):
            return walk_list(n)
        if isinstance(n, PipeNode):
            return walk_pipe(n)
        if doomed(n):
            return None
        if isinstance(n, BranchNode):
            branch = copy.copy(n)
            branch.list = walk_list(n.list) or ListNode(n.list.pos)
            # Go panics when the cut happened in the if-branch and an else follows; we drop it.
            branch.else_list = walk_list(n.else_list) if n.else_list is not None else None
            return branch
        if isinstance(n, ActionNode):
            pipe = walk_pipe(n.pipe)
            return None if pipe is None else ActionNode(n.pos, n.line, pipe)
        return n

    return walk_list(root) or ListNode(root.pos)
