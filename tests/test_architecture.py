"""The package's shape: no import cycle anywhere, and the layers import-linter enforces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def cycles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """Strongly connected groups of two or more modules (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(frozenset(group))
    return found


class TestImports:
    def test_no_import_cycles(self) -> None:
        """No module reaches itself through imports, function-local and TYPE_CHECKING ones too."""
        graph = grimp.build_graph("bellwatch")
        assert [sorted(c) for c in cycles(graph)] == []

    def test_layers_contracts_hold(self) -> None:
        """import-linter's contracts in pyproject.toml (layers, one import site per extra) hold."""
        linter = Path(sys.executable).with_name("lint-imports")
        done = subprocess.run(
            [str(linter)], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
        )
        assert done.returncode == 0, done.stdout[-3000:]

    def test_the_cycle_finder_finds_a_cycle(self) -> None:
        """The finder itself: a two-module loop is reported."""
        graph = grimp.ImportGraph()
        for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
            graph.add_module(name)
        graph.add_import(importer="pkg.a", imported="pkg.b")
        graph.add_import(importer="pkg.b", imported="pkg.a")
        graph.add_import(importer="pkg.b", imported="pkg.c")
        assert cycles(graph) == [frozenset({"pkg.a", "pkg.b"})]
