"""The package layout (harness/*/__init__.py say what each owns): no import circles among harness
modules, and a lower layer never imports an upper one, counting imports inside functions too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "harness"
# Lower layers first: a module may import its own layer or lower ones only.
LAYERS = {"core": 0, "grading": 1, "cost": 1, "report": 2, "experiments": 3, "serve": 4, "candidates": 4,
          "": 4}  # serve, candidates: beside cli/api
MAX_LINES = 420  # "about 400": a module past this must say why in its docstring ("Longer than ...")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def harness_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(HARNESS.rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The harness modules a file imports (``from harness.x import y`` counts harness.x.y when that is
    a module, else harness.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""]


def graph() -> dict[str, set[str]]:
    modules = harness_modules()
    return {m: imports_of(p, modules) - {m} for m, p in modules.items()}


def test_layers_only_import_downwards():
    bad = [f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
           for m, deps in graph().items() for d in deps if layer(d) > layer(m)]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [node, dep]) if dep in stack else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, stack + [node])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_graph_sees_known_edges():
    """Guard against a checker that finds nothing: edges that must exist are found."""
    g = graph()
    assert "harness.core.store" in g["harness.core.runner"]
    assert "harness.report.bootstrap" in g["harness.report.ranking"]
    assert layer("harness.report.site") == 2 and layer("harness.cli") == 4 and layer("harness.core") == 0


@pytest.mark.parametrize("package", sorted(k for k in LAYERS if k))
def test_every_package_says_what_it_owns(package):
    doc = ast.get_docstring(ast.parse((HARNESS / package / "__init__.py").read_text()))
    assert doc and "import" in doc.lower(), f"harness/{package}/__init__.py: say what it owns and may import"


def test_no_module_over_the_limit_without_a_reason():
    long = []
    for path in HARNESS.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and "Longer than" not in doc:
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, "\n".join(long)
