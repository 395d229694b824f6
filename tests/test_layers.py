"""The package's layers, read from its imports: what may import what, and no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "ollama_toolkit"

# (importer's layer, layers it must not import)
FORBIDDEN = [
    ("api", {"engine", "store", "server", "template", "client", "cli", "parsers", "translate"}),
    ("config", {"api", "engine", "store", "server", "template", "client", "cli"}),
    ("engine", {"store", "server", "template", "client", "cli", "parsers", "translate"}),
    ("store", {"server", "client", "cli"}),
    ("template", {"engine", "store", "server", "client", "cli"}),
    ("parsers", {"engine", "store", "server", "client", "cli"}),
    ("renderers", {"engine", "store", "server", "client", "cli"}),
    ("translate", {"engine", "store", "server", "client", "cli"}),
    ("client", {"engine", "store", "server", "template", "cli"}),
    ("server", {"client", "cli"}),
    ("distributed", {"client", "cli", "template", "parsers", "translate", "renderers"}),
]
# Ray is optional: only the command line reaches distributed/ (and imports it lazily).
FORBIDDEN = [
    (layer, banned if layer in ("distributed", "cli") else banned | {"distributed"})
    for layer, banned in FORBIDDEN
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The package's modules that `path` imports, anywhere in the file (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports the module pkg.mod when there is one, else pkg.
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.append(sub if sub in MODULES else node.module)
        found.update(n for n in names if n in MODULES)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize(("importer", "forbidden"), FORBIDDEN)
def test_a_layer_imports_only_the_layers_below_it(importer, forbidden):
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if layer(module) == importer
        for target in targets
        if layer(target) in forbidden
    )
    assert wrong == []


def test_the_server_reaches_the_engine_only_through_the_runner_interface():
    allowed = {"ollama_toolkit.engine", "ollama_toolkit.engine.runner"}
    allowed.add("ollama_toolkit.engine.scheduler")
    allowed.add("ollama_toolkit.engine.observer")  # what the engine reports, for metrics
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if layer(module) == "server"
        for target in targets
        if layer(target) == "engine" and target not in allowed
    )
    assert wrong == []


def test_no_two_modules_import_each_other_even_indirectly():
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == []


def test_the_rules_see_the_imports_they_judge():
    # A reader that found no imports would pass every rule above.
    assert "ollama_toolkit.engine.runner" in GRAPH["ollama_toolkit.server.generate"]
    assert "ollama_toolkit.api.options" in GRAPH["ollama_toolkit.engine.runner"]
