"""The house's dependency rules, checked over the sources with ``ast`` (ARCHITECTURE.md, issue 10).

* nothing in ``p7keras`` imports ``tuner`` at import time (``p7keras tune`` hands over lazily, inside a
  function);
* ``tuner`` never imports ``p7keras.cli``;
* the lower rooms (``p7keras.losses``, ``layers``, ``ops``, ``config``, ``verdict``) import nothing of the
  data, training, callbacks, evaluation or CLI rooms; evaluation does not import training;
* ``p7keras.models`` imports nothing of the callbacks, evaluation, training or CLI rooms, nor the tuner (what
  switches the model, its saving and export live under ``models/``), not even inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_backend  # reads the source only

ROOT = Path(__file__).resolve().parent.parent


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Modules ``path`` imports (absolute names); ``top_level_only`` skips imports inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.iter_child_nodes(tree) if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif top_level_only and isinstance(node, (ast.If, ast.Try)):
            found |= {name for child in ast.walk(node) if isinstance(child, (ast.Import, ast.ImportFrom))
                      for name in ([a.name for a in child.names] if isinstance(child, ast.Import)
                                   else [child.module or ""])}
    return found


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _offenders(folder: str, forbidden: tuple[str, ...], top_level_only: bool = False) -> dict[str, list[str]]:
    bad = {}
    for path in _sources(folder):
        hits = sorted(name for name in imports(path, top_level_only)
                      if any(name == f or name.startswith(f + ".") for f in forbidden))
        if hits:
            bad[_module(path)] = hits
    return bad


def test_p7keras_never_imports_tuner_at_import_time():
    assert _offenders("p7keras", ("tuner",), top_level_only=True) == {}


def test_tuner_never_imports_the_p7keras_command_line():
    assert _offenders("tuner", ("p7keras.cli",)) == {}


@pytest.mark.parametrize("room, forbidden", [
    ("p7keras/losses.py", ("p7keras.data", "p7keras.training", "p7keras.callbacks", "p7keras.evaluation",
                           "p7keras.cli", "tuner")),
    ("p7keras/layers", ("p7keras.data", "p7keras.training", "p7keras.callbacks", "p7keras.evaluation",
                        "p7keras.cli", "tuner")),
    ("p7keras/config.py", ("p7keras", "keras", "tensorflow", "numpy")),
    ("p7keras/evaluation", ("p7keras.training", "p7keras.cli", "tuner")),
    ("p7keras/data", ("p7keras.training", "p7keras.evaluation", "p7keras.cli", "tuner")),
    ("p7keras/models", ("p7keras.callbacks", "p7keras.evaluation", "p7keras.training", "p7keras.cli", "tuner")),
])
def test_lower_rooms_do_not_import_higher_ones(room, forbidden):
    paths = [ROOT / room] if room.endswith(".py") else _sources(room)
    bad = {_module(p): sorted(n for n in imports(p) if any(n == f or n.startswith(f + ".") for f in forbidden
                                                         if not (f == "p7keras" and n == "p7keras.config")))
           for p in paths}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_checker_sees_a_forbidden_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import os\nfrom tuner.search import main\n\ndef f():\n    import p7keras.cli.main\n")
    assert imports(path, top_level_only=True) == {"os", "tuner.search", "tuner.search.main"}
    assert "p7keras.cli.main" in imports(path)


def test_no_pickle_anywhere():
    """Issue 13: nothing in p7keras or tuner imports pickle or loads arrays with allow_pickle=True."""
    for path in [*ROOT.joinpath("p7keras").rglob("*.py"), *ROOT.joinpath("tuner").rglob("*.py")]:
        found = {name for name in imports(path) if name.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle")}
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"
        assert "allow_pickle=True" not in path.read_text(encoding="utf-8"), path


def _module_graph() -> dict[str, set[str]]:
    """Every module of p7keras and tuner -> the modules of both it imports (at any depth of its code).

    ``import a.b.c`` names the module ``a.b.c`` (or the deepest existing prefix), not the packages above it:
    a package's ``__init__`` re-exporting its rooms is no circle with them.
    """
    files = [*ROOT.joinpath("p7keras").rglob("*.py"), *ROOT.joinpath("tuner").rglob("*.py")]
    modules = {_module(p): p for p in files}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in map(known, found) if m and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    """Issue 20: no two modules import each other, directly or round a circle, even inside functions."""
    assert _cycles(_module_graph()) == []


def test_the_cycle_finder_sees_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
