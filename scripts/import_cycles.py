"""List the import cycles among our own modules (mimo_core, app), counting imports made inside
functions too (they close a cycle as soon as the function runs).

    .venv/bin/python scripts/import_cycles.py [--packages mimo_core,app] [--quiet]

An edge A -> B means A's source names B in an import statement: ``import B``, ``from B import x``
(or ``from B import sub`` -> the submodule ``B.sub`` when it is one). Parent packages that Python
also runs on the way (``B``'s ``__init__``) are not added: with them every package whose
``__init__`` imports a submodule would be a cycle. Imports under ``if TYPE_CHECKING:`` never run
and are left out. Printed: each elementary cycle, an edge shown as ``->`` (module level) or
``~>`` (inside a function); the exit status is the number of cycles (capped at 100).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_names(packages: list[str]) -> dict[str, Path]:
    names = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported module of ours, inside a function) for every import statement that runs."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, bool]] = []

    def ours(name: str) -> str | None:          # the module itself, or the package named
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
        if isinstance(node, ast.Import):
            found.extend((ours(alias.name), in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:            # a submodule when it is one, else the module
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in modules else ours(target), in_function))
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(path.read_text()), False)
    return [(name, f) for name, f in found if name is not None and name != module]


def graph(modules: dict[str, Path]) -> dict[str, dict[str, bool]]:
    """module -> {imported module: True when every import of it is inside a function}."""
    edges: dict[str, dict[str, bool]] = {}
    for module, path in modules.items():
        edges[module] = {}
        for name, in_function in imports(module, path, modules):
            edges[module][name] = edges[module].get(name, True) and in_function
    return edges


def cycles(edges: dict[str, dict[str, bool]]) -> list[list[str]]:
    """Every elementary cycle, each started at its smallest module name."""
    found = []
    for start in sorted(edges):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges[node]):
                if nxt == start:
                    found.append(path)
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return sorted(found, key=lambda c: (len(c), c))


def describe(cycle: list[str], edges: dict[str, dict[str, bool]]) -> str:
    out = cycle[0]
    for a, b in zip(cycle, cycle[1:] + cycle[:1]):
        out += (" ~> " if edges[a][b] else " -> ") + b
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default="mimo_core,app")
    parser.add_argument("--quiet", action="store_true", help="print the count only")
    args = parser.parse_args()
    edges = graph(module_names(args.packages.split(",")))
    found = cycles(edges)
    if not args.quiet:
        for cycle in found:
            print(describe(cycle, edges))
    print(f"{len(found)} import cycles")
    return min(len(found), 100)


if __name__ == "__main__":
    sys.exit(main())
