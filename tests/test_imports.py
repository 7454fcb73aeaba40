"""No import cycles in the package.

The graph is built from the source (``ast``), not by importing: every ``import`` and
``from … import`` anywhere in a module counts, at module level or inside a function (a
function-level import that only hides a cycle is still a cycle), relative imports are
resolved, and ``from pkg import mod`` counts as an import of ``pkg.mod``. A cycle fails the
test, named module by module (``edrql.a -> edrql.b -> edrql.a``).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edrql"


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is a package's __init__) for every module under root."""
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (p, is_pkg)
    return out


def imports_of(name: str, path: Path, is_pkg: bool, known) -> set[str]:
    """The package's modules that module ``name`` imports, anywhere in its source."""
    top = name.split(".")[0]
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # from pkg import sub: the submodule; from mod import obj: the module
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known and t.split(".")[0] == top:   # import a.b.c as x
                t = t.rpartition(".")[0]
            if t in known and t != name:
                found.add(t)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    return {n: imports_of(n, p, is_pkg, mods) for n, (p, is_pkg) in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected component with more than one
    module, or a module importing itself; iterative Tarjan (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)
    return [_path(graph, set(c)) for c in comps]


def _path(graph, comp: set[str]) -> list[str]:
    """A closed path through the component, from its first module back to it (BFS)."""
    first = min(comp)
    prev = {first: None}
    queue = [first]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & comp):
            if w == first:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return [first] + path[::-1][1:] + [first] if len(path) > 1 else [first, v, first]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)


def test_no_import_cycles():
    graph = import_graph(PACKAGE)
    assert len(graph) > 50 and "edrql.execute" in graph        # the package was read
    found = [" -> ".join(c) for c in cycles(graph)]
    assert found == [], "import cycles:\n  " + "\n  ".join(found)


def test_graph_sees_function_level_and_relative_imports():
    graph = import_graph(PACKAGE)
    assert "edrql.expr" in graph["edrql.execute"]             # from .expr import …
    assert "edrql.lineage" in graph["edrql.store"]            # inside Case.lineage
    assert "edrql.functions" in graph["edrql.repl.completer"]  # from ..functions import …


def test_a_cycle_is_found_and_named(tmp_path):
    pkg = tmp_path / "pk"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import x\n")
    (pkg / "c.py").write_text("import pk.a as alias\nx = 1\n")
    (pkg / "d.py").write_text("from . import a\n")
    graph = import_graph(pkg)
    assert graph["pk.a"] == {"pk.sub.b"} and graph["pk.sub.b"] == {"pk.c"}
    assert cycles(graph) == [["pk.a", "pk.sub.b", "pk.c", "pk.a"]]


def test_every_subpackage_ships_in_the_wheel():
    """pyproject lists its packages by hand: a new subpackage missing there installs from
    a clone with `pip install .` but fails to import (edrql.fnlib once did)."""
    import re
    root = Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(edrql(?:\.[a-z_]+)*)"', re.search(r"packages = \[([^\]]*)\]",
                                                                   text).group(1)))
    found = {".".join(p.relative_to(root).parts[:-1]) for p in (root / "edrql").rglob("__init__.py")}
    assert found - listed == set()


def test_a_one_shot_count_imports_no_ingest_readers_normalize_or_lineage(example_case, tmp_path):
    """`import edrql.cli` and `edrql CASE -c 'events | count'` (cli.main, in a fresh process)
    load neither the ingest machinery nor the lineage (issue 13: a one-shot process pays
    for what its query touches; more cases in tests/test_first_contact.py)."""
    from test_first_contact import _probe
    rc, out, err, mods = _probe(example_case.root, "-c", "events | count", cache=tmp_path)
    assert rc == 0 and out.splitlines() == ['"count"', str(example_case.events.num_rows)], err
    # the case was read: by the store, or from its manifest (edrql/quickcount.py answers this one)
    assert "edrql.cli" in mods and {"edrql.store", "edrql.quickcount"} & mods
    for heavy in ("edrql.ingest", "edrql.readers", "edrql.normalize", "edrql.lineage"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in mods), heavy
