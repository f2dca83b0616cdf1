"""The package's import rules: jobs/ knows no ads, only the CLI touches the sandbox, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "adanalysis"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """adanalysis modules path imports anywhere (functions too), except for type checking."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name.startswith("adanalysis")}


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def test_jobs_package_never_imports_ads() -> None:
    """The generic job system could be lifted into another project unchanged."""
    offenders = {
        name: sorted(i for i in _imports(path) if i.startswith("adanalysis.ads"))
        for name, path in _modules().items()
        if name.startswith("adanalysis.jobs")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_cli_and_the_sandbox_import_the_sandbox() -> None:
    """Production code never depends on the demo Graph API or the fake OpenAI."""
    allowed = ("adanalysis.sandbox", "adanalysis.cli")
    offenders = {
        name: sorted(i for i in _imports(path) if i.startswith(allowed[0]))
        for name, path in _modules().items()
        if not name.startswith(allowed)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles() -> None:
    """No two modules need each other, not even through an import inside a function."""
    modules = _modules()
    graph = {
        name: {i if i in modules else i.rsplit(".", 1)[0] for i in _imports(path)}
        & set(modules) - {name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
