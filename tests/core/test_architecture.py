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


#: What a module outside chatserver/storage/ may take from SQLAlchemy: the type of the
#: connection storage's functions are handed, and the URL parser of the settings.
SQLALCHEMY_OUTSIDE_STORAGE = {"AsyncConnection", "Connection", "make_url"}
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
    """No module outside chatserver/storage/ builds an SQL statement (docs/architecture.md,
    "SQL"), nor imports from SQLAlchemy more than a connection's type and ``make_url``,
    so a statement cannot be built there by another spelling either."""
    found = {
        module_name(path): n
        for path in sources()
        if not module_name(path).startswith("chatserver.storage") and (n := statements(path))
    }
    assert not found, f"SQL statements outside storage: {found}"
    imports = {}
    for path in sources():
        if module_name(path).startswith("chatserver.storage"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "sqlalchemy" for a in node.names
            ):
                imports[module_name(path)] = "import sqlalchemy"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                names = {a.name for a in node.names} - SQLALCHEMY_OUTSIDE_STORAGE
                if names:
                    imports[module_name(path)] = f"from {node.module} import {sorted(names)}"
    assert not imports, f"SQLAlchemy outside storage: {imports}"


def test_the_sql_check_bites(tmp_path: Path) -> None:
    """The statement counter sees each spelling a module could use."""
    spellings = [
        "from sqlalchemy import select\nselect(1)",
        "from sqlalchemy import text as t\nt('select 1')",
        "from chatserver.storage import models as m\nm.staff.delete()",
        "async def f(conn):\n    await conn.exec_driver_sql('vacuum')",
    ]
    for n, source in enumerate(spellings):
        module = tmp_path / f"m{n}.py"
        module.write_text(source, "utf-8")
        assert statements(module) == 1, source


#: The only handlers that take a body's JSON without a body class: nested documents with
#: their own parsers that name each field's path (docs/architecture.md, "Input").
RAW_JSON_BODIES = {
    "chatserver.web.guards": 2,  # read_json and read_body themselves
    "chatserver.web.api.members": 1,  # enrolment and identity keys: teams.members
    "chatserver.web.api.hours": 1,  # a week of opening hours: teams.hours.parse_hours
}


def _called(f: ast.expr) -> str:
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def test_request_bodies_are_decoded_by_their_spec() -> None:
    """An HTTP handler reads its body with ``read_body(request, BodyClass, ...)``, the
    declarative check frames get; ``read_json`` alone only where RAW_JSON_BODIES says."""
    found = {}
    for path in sources():
        tree = ast.parse(path.read_text("utf-8"))
        n = sum(
            isinstance(node, ast.Call)
            and _called(node.func) in ("read_json", "loads")
            and module_name(path).startswith("chatserver.web")
            and "request" in ast.unparse(node)
            for node in ast.walk(tree)
        )
        if n:
            found[module_name(path)] = n
    assert found == RAW_JSON_BODIES
