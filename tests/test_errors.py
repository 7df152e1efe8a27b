"""The one error family: every `Refusal` has an answer in each reply dialect, and no module
below web/ speaks HTTP statuses (an AST scan). Each check is also run on a planted violation,
so that it is known to fail when the rule is broken."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import operator_sim
from operator_sim.errors import Kind, Refusal
from operator_sim.web import faults

ROOT = Path(operator_sim.__file__).parent
BELOW_WEB = ("engine", "store", "protocol", "validation", "signature", "pki", "timestamp",
             "pilotage", "errors.py")
TABLES: Mapping[str, Mapping[Kind, object]] = {
    "JSON API": faults.JSON_STATUS,
    "S²LOW KO": faults.S2LOW_STATUS,
    "dashboard page": faults.DASHBOARD_PAGE,
}
STATUS_NAMES = {"status", "http_status", "status_code"}
REFUSAL_CALLEE = ("Refused", "Refusal", "Error", "Fault", "BadRequest", "KO", "Exception")


def refusal_classes() -> list[type[Refusal]]:
    """Every subclass of `Refusal` defined in operator_sim (each module imported first)."""
    for module in pkgutil.walk_packages([str(ROOT)], "operator_sim."):
        importlib.import_module(module.name)
    found, todo = [], [Refusal]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("operator_sim."):
                found.append(sub)
    return found


def unmapped(classes: Iterable[type[Refusal]],
             tables: Mapping[str, Mapping[Kind, object]]) -> list[str]:
    """`class: table` for each class whose kind a table does not map, and each kind missing."""
    missing = [f"{cls.__module__}.{cls.__qualname__} ({cls.kind.name}): {name}"
               for cls in classes for name, table in tables.items() if cls.kind not in table]
    return missing + [f"{kind.name}: {name}" for name, table in tables.items()
                      for kind in Kind if kind not in table]


def _is_status(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and type(value.value) is int and 400 <= value.value <= 599


def _named(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def status_mentions(source: str) -> list[str]:
    """Where `source` speaks HTTP: a 4xx/5xx given to a refusal or stored as a status, a status
    compared, `HTTPStatus`, aiohttp's server side (`aiohttp.web`). Delivering callbacks with
    aiohttp's client is not answering a request, and stays allowed."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and _named(node.func).endswith(REFUSAL_CALLEE) \
                and any(_is_status(a) for a in [*node.args, *(k.value for k in node.keywords)]):
            found.append(f"{line}: status given to {_named(node.func)}")
        elif isinstance(node, ast.keyword) and node.arg in STATUS_NAMES and _is_status(node.value):
            found.append(f"{line}: {node.arg}=")
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None \
                and _is_status(node.value) and any(
                    _named(t) in STATUS_NAMES
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
            found.append(f"{line}: status assigned")
        elif isinstance(node, ast.Compare) and any(_is_status(c) for c in node.comparators) \
                and _named(node.left) in STATUS_NAMES:
            found.append(f"{line}: status compared")
        elif isinstance(node, ast.Name | ast.Attribute) and _named(node) == "HTTPStatus":
            found.append(f"{line}: HTTPStatus")
        elif isinstance(node, ast.Import) and any(a.name.startswith("aiohttp.web") for a in node.names):
            found.append(f"{line}: imports aiohttp.web")
        elif isinstance(node, ast.ImportFrom) and node.module is not None and (
                node.module.startswith("aiohttp.web") or node.module == "http"
                or (node.module == "aiohttp" and any(a.name.startswith("web") for a in node.names))):
            found.append(f"{line}: imports {node.module}")
    return found


def below_web() -> list[Path]:
    return sorted(p for part in BELOW_WEB for p in
                  ([ROOT / part] if part.endswith(".py") else (ROOT / part).rglob("*.py")))


def test_every_refusal_has_an_answer_in_each_dialect():
    classes = refusal_classes()
    assert len(classes) >= 20  # the families: engine, store, protocol, identity, scenarios…
    assert unmapped(classes, TABLES) == []


def test_an_unmapped_kind_is_reported():
    class Planted(Refusal):
        kind = Kind.GONE

    tables = {"partial": {k: 200 for k in Kind if k is not Kind.GONE}}
    assert unmapped([Planted], tables) == [
        f"{__name__}.{Planted.__qualname__} (GONE): partial", "GONE: partial"]


def test_no_module_below_web_mentions_an_http_status():
    modules = below_web()
    assert len(modules) > 40
    assert {str(p.relative_to(ROOT)): status_mentions(p.read_text()) for p in modules
            if status_mentions(p.read_text())} == {}


@pytest.mark.parametrize("planted", [
    "raise RequestRefused(409, 'X', 'fr', 'en')",
    "raise Refusal('X', 'fr', 'en', status=404)",
    "class Refused(Refusal):\n    status = 403",
    "if error.status == 503:\n    pass",
    "from http import HTTPStatus",
    "code = HTTPStatus.NOT_FOUND",
    "from aiohttp import web",
    "import aiohttp.web",
])
def test_a_planted_status_is_found(planted):
    assert status_mentions(planted)


def test_sizes_and_page_numbers_are_not_statuses():
    assert status_mentions("MAX_PAGE = 500\nmax_members: int = 500\nhead = data[:512]\n"
                           "import aiohttp\nfrom aiohttp.resolver import ThreadedResolver") == []
