"""The house's import rules, read from the source with ``ast`` (nothing is imported to check).

**Units.** ``bwsandbox/NAME/`` (a package) is one unit, ``NAME``; a module directly under
``bwsandbox/`` (``_errors.py``, ``_api.py``...) is a unit of its own; ``bwsandbox/__init__.py``
is the unit ``bwsandbox``, the public face.

1. **Layers** (:data:`LAYERS`, low to high, as drawn in docs/architecture.md): a module imports
   its own unit or a unit of a *lower* layer, never one of the same layer or above.
2. **Faces**: from outside a package, only the package itself (its ``__init__``, the *face*) is
   imported, never one of its private modules: ``from bwsandbox.runtime import probe_host``,
   not ``from bwsandbox.runtime._probe import probe_host``. A unit that is a single module is
   its own face. Every face is lazy: it imports nothing of bwsandbox at import time except
   ``bwsandbox._lazy``, so importing a face costs nothing and each name loads on first use.
3. **No cycles** among modules: none at all through run-time imports, and none through
   type-only imports either except the listed ones (two modules that name each other's types
   are one design, split in two files).

**How an import counts.**

- A run-time import is one at module level *or inside a function*: it runs, only later.
  A face's ``_LAZY`` table is a run-time import of each module it names.
- ``from bwsandbox.PKG import NAME`` counts as an import of the module that defines ``NAME``
  (looked up in the face's ``_LAZY`` table), so the layer and cycle checks see through faces.
- Imports under ``if TYPE_CHECKING:`` (type-only) obey the layer order (rule 1: a type from a
  higher layer is a dependency on it all the same) but are exempt from rule 2 (nothing runs;
  mypy and readers go to the defining module). For rule 3 they count only in the second,
  design-level check: they never execute, so they cannot make an import fail.

**Allowlists.** Each known violation that another change of this round removes is listed below
with its owner; the integrator deletes the entry when that change lands. A stale entry (the
violation is gone) fails too, so the lists only shrink. Anything else is a bug to fix, not to
list.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bwsandbox"

#: Units by layer, lowest first. A unit may import its own unit and the layers below.
LAYERS: tuple[tuple[str, ...], ...] = (
    # errors, faces, safe text, net constants, JSON text; @record, the value classes decorator
    ("_errors", "_lazy", "_printable", "_netconst", "_jsontext", "_record"),
    ("_audit", "_events", "_paths", "_netrules"),  # audit, where things live, the rule grammar
    ("_guard",),  # what a bind may never expose (uses _paths)
    ("policy",),  # TOML -> checked, merged, frozen Policy; its digest; seccomp vocabulary
    ("compile",),  # pure: Policy + HostFacts + Workspace -> SandboxPlan
    ("net",),  # filtered network: netns, nftables, DNS, proxy, live rule changes
    ("runtime",),  # probe the host, launch bwrap, supervise, clean up, session registry
    ("agents", "doctor", "mcp", "worktree"),  # features over the runtime, independent
    ("_prepare",),  # resolve once: options, profiles, agents, worktrees -> a prepared session
    ("_api", "_live", "testing"),  # the library's entry points; test helpers over them
    ("bwsandbox",),  # the public face, lazy
    ("cli", "pytest_plugin"),  # the front ends
)

#: Files other engineers rewrite this round (issue 11 items 1 and 2: launch and prepare): their
#: imports of private modules are not checked until those changes land; the integrator then
#: deletes this list (their imports are clean on this branch: every name is on a face).
BEING_REWRITTEN: frozenset[str] = frozenset()

#: Layer-order violations (importer, imported module) that other engineers remove this round.
KNOWN_DIRECTION: frozenset[tuple[str, str]] = frozenset()

#: Private modules imported from outside their package (importer, module as written), in
#: files other engineers rewrite this round; each fixes its imports when it lands.
KNOWN_PRIVATE: frozenset[tuple[str, str]] = frozenset()

#: Import cycles through type-only imports (their modules) that other engineers break this
#: round. There is no such list for run-time cycles: there are none.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing module
    written: str  # the module as the import names it
    target: str  # the module that defines what is imported (seen through faces)
    type_only: bool
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES: dict[str, ast.Module] = {name: ast.parse(p.read_bytes()) for name, p in MODULES.items()}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _lazy_table(module: str) -> dict[str, str]:
    """A face's ``_LAZY = {"Name": "module"}`` table (empty for other modules)."""
    for node in TREES[module].body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "_LAZY"
            and node.value is not None
        ):
            table = ast.literal_eval(node.value)
            assert isinstance(table, dict)
            return table
    return {}


LAZY: dict[str, dict[str, str]] = {m: _lazy_table(m) for m in MODULES if _is_package(m)}


def _defining(module: str, name: str) -> str:
    """The module that defines ``module.name``: a submodule, through faces, or ``module``."""
    seen = set()
    while (module, name) not in seen:
        seen.add((module, name))
        if f"{module}.{name}" in MODULES:
            return f"{module}.{name}"
        nxt = LAZY.get(module, {}).get(name)
        if nxt is None:
            return module
        module = nxt
    return module


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if _is_package(module) else parts[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports_of(module: str) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, True)
                for stmt in child.orelse:
                    visit_stmt(stmt, type_only)
            else:
                visit_stmt(child, type_only)

    def visit_stmt(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(
                Import(module, alias.name, alias.name, type_only, node.lineno)
                for alias in node.names
                if alias.name in MODULES
            )
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            if base.split(".")[0] == "bwsandbox":
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    written = sub if sub in MODULES else base
                    target = _defining(base, alias.name)
                    found.append(Import(module, written, target, type_only, node.lineno))
        visit(node, type_only)

    visit(TREES[module], False)
    for name, where in LAZY.get(module, {}).items():
        found.append(Import(module, where, _defining(where, name), False, 0))
    return found


IMPORTS: list[Import] = [imp for m in MODULES for imp in _imports_of(m)]
RANK: dict[str, int] = {u: rank for rank, units in enumerate(LAYERS) for u in units}


def direction_violations() -> set[tuple[str, str]]:
    bad = set()
    for imp in IMPORTS:
        src, dst = unit(imp.source), unit(imp.target)
        if src != dst and RANK[dst] >= RANK[src]:
            bad.add((imp.source, imp.target))
    return bad


def private_imports() -> set[tuple[str, str]]:
    """Run-time imports of a package's private module from outside that package."""
    bad = set()
    for imp in IMPORTS:
        parts = imp.written.split(".")
        inside_package = len(parts) > 2 and _is_package(".".join(parts[:2]))
        if not inside_package or imp.type_only or imp.source in BEING_REWRITTEN:
            continue
        if unit(imp.source) != parts[1]:
            bad.add((imp.source, imp.written))
    return bad


def cycles(*, type_only: bool = False) -> set[frozenset[str]]:
    """Strongly connected components (more than one module) of the import graph: run-time
    imports, and type-only ones too when ``type_only``.

    Edges go to the defining module (through faces). A face's imports of its own package (its
    ``_LAZY`` table and the type-only mirror of it) add no edge here: a face is a pass-through,
    already counted at the importer.
    """
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        through_face = _is_package(imp.source) and unit(imp.target) == unit(imp.source)
        if (type_only or not imp.type_only) and imp.target != imp.source and not through_face:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def connect(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(MODULES):
        if node not in index:
            connect(node)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit(m) for m in MODULES}
    assert units - set(RANK) == set(), "add the new unit to LAYERS (and docs/architecture.md)"
    assert set(RANK) - units == set(), "a unit in LAYERS no longer exists"


def test_the_architecture_page_draws_these_layers() -> None:
    """docs/architecture.md's layer table lists LAYERS, numbered from 1 at the bottom."""
    import re

    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (.*?) \|", page, flags=re.MULTILINE)
    drawn = {
        int(number): {re.sub(r"(/|\.py)$", "", name) for name in re.findall(r"`([^`]+)`", units)}
        for number, units in rows
    }
    assert drawn == {rank + 1: set(units) for rank, units in enumerate(LAYERS)}


def test_imports_point_down_the_layers() -> None:
    found = direction_violations()
    assert found - KNOWN_DIRECTION == set(), "an import points up or sideways (see LAYERS)"
    assert KNOWN_DIRECTION - found == set(), "fixed: delete these from KNOWN_DIRECTION"


def test_only_faces_are_imported_from_outside_a_package() -> None:
    found = private_imports()
    assert found - KNOWN_PRIVATE == set(), "import from the package's face (add the name there)"
    assert KNOWN_PRIVATE - found == set(), "fixed: delete these from KNOWN_PRIVATE"


def test_no_run_time_import_cycles() -> None:
    assert cycles() == set()


def test_no_import_cycles_counting_type_only_imports() -> None:
    found = cycles(type_only=True)
    assert found - KNOWN_CYCLES == set(), "an import cycle (through a type-only import)"
    assert KNOWN_CYCLES - found == set(), "broken: delete these from KNOWN_CYCLES"


@pytest.mark.parametrize("face", sorted(m for m in MODULES if _is_package(m)))
def test_faces_are_lazy(face: str) -> None:
    """A face imports nothing of bwsandbox when it loads, except the lazy helper."""
    eager = []
    for node in TREES[face].body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bwsandbox"):
            eager += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            eager += [a.name for a in node.names if a.name.startswith("bwsandbox")]
    assert [name for name in eager if name != "bwsandbox._lazy.lazy_attributes"] == []


@pytest.mark.parametrize("face", sorted(m for m in MODULES if _is_package(m) and LAZY[m]))
def test_lazy_tables_name_real_definitions(face: str) -> None:
    """Every ``_LAZY`` entry names a module that has the name, and ``__all__`` lists them."""
    import importlib

    package = importlib.import_module(face)
    for name, where in LAZY[face].items():
        assert hasattr(importlib.import_module(where), name), f"{where} has no {name}"
        assert name in package.__all__, f"{face}.__all__ lacks {name}"


#: Third-party modules the package imports, and where (docs/architecture.md#dependencies).
#: pyroute2, nftables (pip-nftables), dnslib and pyseccomp are test oracles only; python-prctl
#: is not used at all (prctl and setns go through ctypes).
THIRD_PARTY: dict[str, frozenset[str]] = {
    "typer": frozenset({"cli"}),  # never on the run/shell fast path (tests/unit/test_cli_cache)
    # the builtin sha256 of Python 3.12+ (3.11: _sha256, a stdlib name); hashlib's costs 2 ms
    "_sha2": frozenset({"policy"}),
    "cryptography": frozenset({"net"}),  # HTTPS inspection only (net/_tls_*), imported lazily
    "keyring": frozenset({"runtime"}),  # the optional keyring extra, inside a function
    "pytest": frozenset({"pytest_plugin"}),
    "typing_extensions": frozenset({"_api"}),  # type-only
}


def test_third_party_imports_are_the_declared_dependencies() -> None:
    import sys

    found: dict[str, set[str]] = defaultdict(set)
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in {"bwsandbox", "__future__"}:
                    found[top].add(unit(module))
    assert {top: frozenset(units) for top, units in found.items()} == THIRD_PARTY


# --- the checker checks itself: each rule catches a planted violation (the controls) ---

_REAL = list(IMPORTS)


def test_control_an_upward_import_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    planted = Import(
        "bwsandbox.policy._load", "bwsandbox.runtime", "bwsandbox.runtime._probe", True, 1
    )
    monkeypatch.setattr(f"{__name__}.IMPORTS", [*_REAL, planted])
    assert ("bwsandbox.policy._load", "bwsandbox.runtime._probe") in direction_violations()


def test_control_a_sideways_import_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    planted = Import("bwsandbox.mcp._hub", "bwsandbox.agents", "bwsandbox.agents._specs", False, 1)
    monkeypatch.setattr(f"{__name__}.IMPORTS", [*_REAL, planted])
    assert ("bwsandbox.mcp._hub", "bwsandbox.agents._specs") in direction_violations()


def test_control_a_private_import_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    planted = Import(
        "bwsandbox.cli._app", "bwsandbox.runtime._probe", "bwsandbox.runtime._probe", False, 1
    )
    monkeypatch.setattr(f"{__name__}.IMPORTS", [*_REAL, planted])
    assert ("bwsandbox.cli._app", "bwsandbox.runtime._probe") in private_imports()
    type_only = Import(
        "bwsandbox.cli._app", "bwsandbox.runtime._probe", "bwsandbox.runtime._probe", True, 1
    )
    monkeypatch.setattr(f"{__name__}.IMPORTS", [*_REAL, type_only])
    assert ("bwsandbox.cli._app", "bwsandbox.runtime._probe") not in private_imports()


def test_control_a_cycle_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    planted = Import(
        "bwsandbox.runtime._workdir",
        "bwsandbox.runtime._registry",
        "bwsandbox.runtime._registry",
        False,
        1,
    )
    monkeypatch.setattr(f"{__name__}.IMPORTS", [*_REAL, planted])
    assert any({"bwsandbox.runtime._workdir", "bwsandbox.runtime._registry"} <= c for c in cycles())
    type_only = Import(
        "bwsandbox.runtime._workdir",
        "bwsandbox.runtime._registry",
        "bwsandbox.runtime._registry",
        True,
        1,
    )
    monkeypatch.setattr(f"{__name__}.IMPORTS", [*_REAL, type_only])
    assert not any(
        {"bwsandbox.runtime._workdir", "bwsandbox.runtime._registry"} <= c for c in cycles()
    )
    assert any(
        {"bwsandbox.runtime._workdir", "bwsandbox.runtime._registry"} <= c
        for c in cycles(type_only=True)
    )


def test_control_faces_resolve_to_the_defining_module() -> None:
    assert _defining("bwsandbox.runtime", "probe_host") == "bwsandbox.runtime._probe"
    assert _defining("bwsandbox", "load_policy") == "bwsandbox.policy._load"  # two faces deep
    assert _defining("bwsandbox", "_paths") == "bwsandbox._paths"  # a submodule
