"""The package's modules import each other without circles (module-level imports, those under
`if TYPE_CHECKING:` included): a reader can open them in the order of the pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "shrinkvis"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports at module level (functions' own imports left out)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    child = f"{target}.{alias.name}"
                    found.add(child if child in modules else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.If):  # if TYPE_CHECKING: …
                visit(node.body)

    visit(ast.parse(path.read_text()).body)
    return {module for module in found if module in modules and module != name}


def test_no_module_imports_one_that_imports_it_back() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = []
    for start in graph:
        # depth-first search for a way back to `start`
        seen, stack = set(), [(start, (start,))]
        while stack:
            current, way = stack.pop()
            for following in graph[current]:
                if following == start:
                    circles.append(" → ".join((*way, start)))
                elif following not in seen:
                    seen.add(following)
                    stack.append((following, (*way, following)))
    assert circles == []
