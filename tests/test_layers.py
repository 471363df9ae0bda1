"""The package's layers, read from the source with ``ast`` (imports inside functions included).

No import cycle inside ``faceedit``; ``faceedit/models`` (the networks) imports nothing from the app side.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "faceedit"
#: What a network file may import from faceedit: other network files, the typed errors, the device choice.
MODELS_MAY_IMPORT = ("faceedit.models", "faceedit.errors", "faceedit.device")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the faceedit modules it imports anywhere in its body (function-level imports too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets.add(base)
                targets.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
        edges = set()
        for t in targets:
            while t and t not in modules:  # `from faceedit.x import function` -> faceedit.x
                t = t.rpartition(".")[0]
            if t.startswith("faceedit") and t != name and t != "faceedit":
                edges.add(t)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_checker_sees_a_cycle_and_a_function_level_import() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert "faceedit.parsing.landmark" in graph["faceedit.editors.lite"]  # imported inside landmark_parse()


def test_no_import_cycle_inside_faceedit() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_models_import_nothing_from_the_app_side() -> None:
    bad = {m: sorted(t for t in targets if not t.startswith(MODELS_MAY_IMPORT))
           for m, targets in import_graph().items() if m.startswith("faceedit.models")}
    bad = {m: t for m, t in bad.items() if t}
    assert not bad, f"network files importing app-side modules: {bad}"


def test_the_mask_guided_network_and_the_app_agree_on_the_helen_classes() -> None:
    from faceedit import helen
    from faceedit.models import mask_guided

    assert mask_guided.HELEN_CLASSES == helen.HELEN_CLASSES and mask_guided.NUM_CLASSES == helen.NUM_HELEN == 11


@pytest.mark.parametrize("name", ["mask_guided.py", "mask_guided_runtime.py"])
def test_the_mask_guided_network_files_have_no_array_api(name: str) -> None:
    """The network and its fast runtime compute on tensors; the numpy side is ``faceedit.mask_guided_official``."""
    tree = ast.parse((PACKAGE / "models" / name).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in ("numpy", "PIL")}, sorted(imported)
