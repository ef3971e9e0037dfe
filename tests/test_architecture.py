"""Package structure: short modules, no import cycle, stages that do not import each other.

Read from the source with ``ast`` (imports inside functions count too), like scanpy's own
package-structure test, so a new arrow between stages shows up here before it shows up as a tangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "rxrank"
MAX_LINES = 650
#: the science stages; each may import the shared layers (io, errors, identifiers, gene_ids, ...)
STAGES = {
    "profiling": {"rxrank.profiling"},
    "coexpression": {"rxrank.coexpression"},
    "associations": {"rxrank.associations"},
    "sensitivity": {"rxrank.sensitivity", "rxrank.harmonise", "rxrank.ridge"},
    "survival": {"rxrank.survival"},
    "outcome": {"rxrank.outcome"},
    "ranking": {"rxrank.ranking"},
    "report": {"rxrank.report"},
}
#: arrows between stages that exist today, each with its reason; a new one fails the test, and so
#: does removing one without removing it here
KNOWN = {
    ("associations", "coexpression"): "gene-drug tests use the correlation kernels (corr, bh)",
    ("report", "ranking"): "the report takes component names and columns from ranking.COMPONENTS",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> set[str]:
    """The rxrank modules an import statement loads (a package's facade, or the submodule)."""
    if isinstance(node, ast.Import):
        names = {a.name for a in node.names}
    else:
        is_pkg = MODULES[importer].name == "__init__.py"
        base = importer.split(".")
        if node.level:
            base = base[: len(base) - node.level + (1 if is_pkg else 0)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
        # `from . import _figures` loads the submodule; the package itself only when names of it
        # (not submodules) are imported
        names = subs if len(subs) == len(node.names) else {target, *subs}
    return {n for n in names if n in MODULES}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _resolve(name, node)
        graph[name] = edges - {name}
    return graph


def _stage_of(module: str) -> str | None:
    for stage, roots in STAGES.items():
        if any(module == r or module.startswith(r + ".") for r in roots):
            return stage
    return None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_650_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines; split it by job (see docs/architecture.md)"


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_stages_do_not_import_each_other():
    arrows = {}
    for module, targets in _graph().items():
        src = _stage_of(module)
        for target in targets:
            dst = _stage_of(target)
            if src and dst and src != dst:
                arrows.setdefault((src, dst), f"{module} -> {target}")
    assert set(arrows) == set(KNOWN), {k: v for k, v in arrows.items() if k not in KNOWN}


def test_the_graph_sees_imports():
    """The parser finds real arrows: the check cannot pass by seeing nothing."""
    graph = _graph()
    assert "rxrank.io" in graph["rxrank.check"]
    assert "rxrank.report._env" in graph["rxrank.report.encrypt"]
    assert "rxrank.coexpression" in graph["rxrank.associations"]
