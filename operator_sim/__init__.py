"""operator-sim: a self-hostable simulator of the French @ctes chain.

What a user's code needs, importable from here:

- `Config` and `build_simulator(config)`: a simulator's parts, made from its settings;
- `running(simulator)`: an async context manager serving it on real sockets (mutual-TLS API
  and loopback admin port; port 0 picks a free one), as `operator-sim serve` and the pytest
  plugin do;
- `Client`: the async client of its /api/v1 over mutual TLS;
- `validate_archive(path, ValidationPolicy(today=…))`: the offline validator's verdict on one
  envelope archive.

Each loads on first use: importing the package (as the command line does) costs nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .client import Client
    from .config import Config
    from .simulator import build_simulator
    from .validation.validator import ValidationPolicy, validate_archive
    from .web.server import running

__version__ = "0.1.0"

_WHERE = {
    "Client": "client",
    "Config": "config",
    "ValidationPolicy": "validation.validator",
    "build_simulator": "simulator",
    "running": "web.server",
    "validate_archive": "validation.validator",
}

__all__ = ["Client", "Config", "ValidationPolicy", "build_simulator", "running",
           "validate_archive"]

__getattr__ = lazy_exports(__name__, _WHERE)
