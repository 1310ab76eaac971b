"""The layers of docs/architecture.md, held against every import in chatserver/ and
retention/ (at the top of a module or inside a function alike): a module imports only
from its own layer or the layers below it, retention/ is imported by the application's
wiring and the command line alone, the SDK stands on the pure layer only, and no SQL
statement is built outside chatserver/storage/ but by the modules still listed here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

#: From the bottom up; a module is in the layer of its longest listed prefix.
LAYERS: list[tuple[str, ...]] = [
    ("chatserver.protocol", "chatserver.e2e", "chatserver"),  # pure: no I/O, no clock
    ("chatserver.config", "chatserver.metrics", "chatserver.retention_rules", "chatserver.policy"),
    ("chatserver.storage",),
    ("chatserver.staff",),
    ("chatserver.teams",),
    ("chatserver.records",),
    ("chatserver.chat",),
    ("retention",),
    ("chatserver.web",),
    ("chatserver.ops",),
]
#: Beside the layers: a client library standing on the pure layer alone.
SDK = "chatserver.sdk"
#: The only importers of retention/ (the app's wiring and the command line).
RETENTION_USERS = {"chatserver.web.app", "chatserver.web.state", "chatserver.ops.cli"}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> Iterator[Path]:
    for top in ("chatserver", "retention"):
        for path in sorted((REPO / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


MODULES = {module_name(p) for p in sources()}


def imports(path: Path) -> Iterator[Import]:
    """What ``path`` imports, as modules (a name imported from a module is that module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                # "from package import module" imports the module, else the name's module
                full = f"{base}.{alias.name}" if base else alias.name
                yield Import(name, full if full in MODULES else base, node.lineno)


def layer(module: str) -> int | None:
    """The layer's index, or None; "chatserver." stands for the package itself only (its
    ``__init__``, with the version constants), not for everything in it."""
    best: tuple[int, int] | None = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix.endswith("."):
                hit = module == prefix[:-1] or (
                    module.rpartition(".")[0] == prefix[:-1]
                    and (module.rpartition(".")[2].isupper())
                )
            else:
                hit = module == prefix or module.startswith(prefix + ".")
            if hit and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def ours(module: str) -> bool:
    return module.split(".")[0] in ("chatserver", "retention")


def all_imports() -> list[Import]:
    return [i for path in sources() for i in imports(path) if ours(i.imported)]


def test_every_module_has_a_layer() -> None:
    """A new package must be given its place in LAYERS (and in docs/architecture.md)."""
    unplaced = {m for m in MODULES if layer(m) is None and not m.startswith(SDK)}
    assert not unplaced


def test_imports_run_down_the_layers() -> None:
    """No module imports from a layer above its own."""
    upward = []
    for i in all_imports():
        if i.importer.startswith(SDK):
            continue
        a, b = layer(i.importer), layer(i.imported)
        assert a is not None and b is not None, i
        if b > a:
            upward.append(f"{i.importer}:{i.line} imports {i.imported}")
    assert not upward, "\n".join(upward)


def test_retention_is_imported_by_the_wiring_and_the_cli_only() -> None:
    """retention/ runs the sweeps; nothing of the chat depends on it."""
    wrong = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if i.imported.split(".")[0] == "retention"
        and not i.importer.startswith("retention")
        and i.importer not in RETENTION_USERS
    ]
    assert not wrong, "\n".join(wrong)


def test_the_sdk_stands_on_the_pure_layer() -> None:
    """The Python client needs the wire protocol and the end-to-end layer, nothing that
    runs the server; and nothing of the server needs it."""
    wrong = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in all_imports()
        if (i.importer.startswith(SDK) and not i.imported.startswith(SDK) and layer(i.imported))
        or (i.imported.startswith(SDK) and not i.importer.startswith(SDK))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("chatserver.storage.db", "chatserver.web.app", False),
        ("chatserver.web.app", "chatserver.storage.db", True),
        ("chatserver.e2e.password", "chatserver.config", False),
        ("chatserver.teams.members", "chatserver.staff.auth", True),
        ("chatserver.staff.accounts", "chatserver.teams.members", False),
    ],
)
def test_the_layer_check_bites(importer: str, imported: str, allowed: bool) -> None:
    """The table orders what docs/architecture.md draws (so the checks above can fail)."""
    a, b = layer(importer), layer(imported)
    assert a is not None and b is not None
    assert (b <= a) is allowed


#: Modules outside chatserver/storage/ that still build SQL, with how many statements:
#: the debt of docs/architecture.md ("SQL"). A count may only go down, and a module leaves
#: the list when it reaches zero; a module not listed builds none.
SQL_OUTSIDE_STORAGE: dict[str, int] = {
    "chatserver.records.preview": 7,
    "chatserver.records.retention": 13,
    "chatserver.records.stats": 2,
    "chatserver.teams.canned": 5,
    "chatserver.teams.consent": 4,
    "chatserver.teams.epoch_keys": 6,
    "chatserver.teams.epochs": 6,
    "chatserver.teams.hours": 3,
    "chatserver.teams.members": 32,
    "chatserver.teams.root_keys": 4,
    "chatserver.teams.teams": 15,
    "chatserver.web.api.hours": 2,
    "chatserver.web.api.retention": 2,
    "chatserver.web.api.teams": 2,
    "retention.cli": 3,
    "retention.locks": 1,
    "retention.sweeper": 24,
}
STATEMENTS = {"select", "insert", "update", "delete", "text"}


def statements(path: Path) -> int:
    """SQL statements built in a module: calls of SQLAlchemy's select, insert, update,
    delete and text (as imported there), of a table's own insert/update/delete/select,
    and raw ``exec_driver_sql``."""
    tree = ast.parse(path.read_text("utf-8"))
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name in STATEMENTS
    }
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            count += _builds_sql(node.func, names)
    return count


def _builds_sql(f: ast.expr, names: set[str]) -> bool:
    if isinstance(f, ast.Name):
        return f.id in names
    if not isinstance(f, ast.Attribute):
        return False
    table_method = (
        f.attr in STATEMENTS
        and isinstance(f.value, ast.Attribute)
        and isinstance(f.value.value, ast.Name)
        and f.value.value.id == "m"  # chatserver.storage.models as m
    )
    return f.attr == "exec_driver_sql" or table_method


def test_sql_is_built_in_storage_only() -> None:
    """Outside chatserver/storage/ only the modules of SQL_OUTSIDE_STORAGE build SQL, and
    none more than its count."""
    found = {
        module_name(path): n
        for path in sources()
        if not module_name(path).startswith("chatserver.storage") and (n := statements(path))
    }
    grown = {
        m: (n, SQL_OUTSIDE_STORAGE.get(m, 0))
        for m, n in found.items()
        if n > SQL_OUTSIDE_STORAGE.get(m, 0)
    }
    assert not grown, f"SQL outside storage (found, allowed): {grown}"
    shrunk = {
        m: (found.get(m, 0), n) for m, n in SQL_OUTSIDE_STORAGE.items() if found.get(m, 0) < n
    }
    assert not shrunk, f"lower these counts in SQL_OUTSIDE_STORAGE (found, listed): {shrunk}"
