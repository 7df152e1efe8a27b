"""Package surfaces that load their submodules on first use.

Heavy dependencies (pyHanko, issuance code) should only be imported by the callers that use
them; a package lists its public names and where they live, and this resolves them lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` resolving `name` from `package.<where[name]>` and caching it."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{where[name]}", package), name)
        namespace[name] = value
        return value

    return __getattr__
