"""The storage boundary, read from the code: engine/ and web/ reach SQLite only through the
store's named methods, never through sqlite3, sqlite-utils or the SQLite implementation's
modules; engine/ imports nothing of the store but its interface (and the blob store, files and small rows)."""

import ast
from pathlib import Path

import operator_sim

PACKAGE = Path(operator_sim.__file__).parent
SQLITE = ("sqlite3", "sqlite_utils")
IMPLEMENTATION = tuple(f"operator_sim.store.{m}" for m in (
    "database", "writer", "rows", "transactions", "collectivites", "agents", "rules", "schedule",
    "callbacks", "state", "reset", "request_journal", "asyncstore"))
ENGINE_MAY_USE = ("operator_sim.store.interface", "operator_sim.store.blobs",
                  "operator_sim.store.small_blobs")
RAW_CALLS = frozenset({"run_read", "run_write", "submit_write", "defer_write", "execute",
                       "executemany", "executescript", "fetch_all", "fetch_one"})
"""Ways to hand SQL, or a function of a connection, to the store instead of naming a method."""


def imported(path: Path, root: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved against `root`'s package (a
    `from a import b` counts as importing `a` and `a.b`: b may be a module)."""
    module = path.relative_to(root.parent).with_suffix("").parts
    package = module[:-1]  # a module's package; for __init__, the package itself
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def violations(root: Path, layer: str, forbidden: tuple[str, ...],
               allowed_store: tuple[str, ...] | None = None) -> list[str]:
    """`file: module` for each import of `layer` (a folder of `root`) that names a forbidden
    module, or, with `allowed_store`, any store module other than those (and the package)."""
    found = []
    for path in sorted((root / layer).rglob("*.py")):
        for name in sorted(imported(path, root)):
            bad = any(name == f or name.startswith(f + ".") for f in forbidden)
            if allowed_store is not None and name.startswith(f"{root.name}.store."):
                bad = bad or not any(name == a or name.startswith(a + ".") for a in allowed_store)
            if bad:
                found.append(f"{path.relative_to(root.parent)}: {name}")
    return found


def raw_calls(root: Path, layer: str) -> list[str]:
    """`file:line name` for each call of a `RAW_CALLS` name (as a function or a method)."""
    found = []
    for path in sorted((root / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in RAW_CALLS:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {name}")
    return found


def test_the_engine_imports_only_the_store_interface():
    assert violations(PACKAGE, "engine", (*SQLITE, *IMPLEMENTATION), ENGINE_MAY_USE) == []


def test_the_web_layer_holds_no_sql():
    assert violations(PACKAGE, "web", (*SQLITE, *IMPLEMENTATION)) == []


def test_neither_the_engine_nor_the_web_layer_hands_sql_to_the_store():
    assert raw_calls(PACKAGE, "engine") == []
    assert raw_calls(PACKAGE, "web") == []


def test_the_check_finds_each_kind_of_violation(tmp_path):
    root = tmp_path / "operator_sim"
    for folder in ("engine", "web/s2low", "store"):
        (root / folder).mkdir(parents=True)
    (root / "engine" / "ok.py").write_text(
        "from ..store.interface import TransactionRow\nfrom ..store.blobs import BlobStore\n")
    (root / "engine" / "bad.py").write_text(
        "import sqlite3\nfrom ..store import database\nfrom ..store.identities import X\n")
    (root / "web" / "s2low" / "bad.py").write_text(
        "from sqlite_utils import Database\nfrom ...store.database import SqliteStore\n"
        "from operator_sim.store.rows import fetch_all\n")
    (root / "web" / "ok.py").write_text("from ..store import SqliteStore\nimport json\n")
    assert violations(root, "engine", (*SQLITE, *IMPLEMENTATION), ENGINE_MAY_USE) == [
        "operator_sim/engine/bad.py: operator_sim.store.database",
        "operator_sim/engine/bad.py: operator_sim.store.identities",
        "operator_sim/engine/bad.py: operator_sim.store.identities.X",
        "operator_sim/engine/bad.py: sqlite3",
    ]
    assert violations(root, "web", (*SQLITE, *IMPLEMENTATION)) == [
        "operator_sim/web/s2low/bad.py: operator_sim.store.database",
        "operator_sim/web/s2low/bad.py: operator_sim.store.database.SqliteStore",
        "operator_sim/web/s2low/bad.py: operator_sim.store.rows",
        "operator_sim/web/s2low/bad.py: operator_sim.store.rows.fetch_all",
        "operator_sim/web/s2low/bad.py: sqlite_utils",
        "operator_sim/web/s2low/bad.py: sqlite_utils.Database",
    ]
    (root / "web" / "raw.py").write_text(
        "async def handler(store):\n"
        "    store.run_write(lambda db: db.execute('delete from transactions'))\n"
        "    return fetch_all(store, 'select 1', [])\n")
    assert sorted(raw_calls(root, "web")) == ["operator_sim/web/raw.py:2 execute",
                                              "operator_sim/web/raw.py:2 run_write",
                                              "operator_sim/web/raw.py:3 fetch_all"]
