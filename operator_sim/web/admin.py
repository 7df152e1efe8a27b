"""The loopback admin port: the public RFC 3161 TSA, and everything else behind a bearer token.

The préfecture side of the simulator (admin API under /admin/, the dashboard) is served here.
Feature modules own their routes (`add_admin_routes(app)`) and the guard is `guard.require_token`;
this file only assembles them.
"""

from __future__ import annotations

from aiohttp import web

from ..simulator import Simulator
from . import callbacks, dashboard, journal, pilotage, prefecture, scenarios
from .guard import require_token
from .http import json_errors
from .keys import ADMIN_TOKEN, SIMULATOR, UPLOAD_DIR
from .s2low import accounts
from .tsa import add_tsa_route


def create_admin_app(simulator: Simulator) -> web.Application:
    """The admin port's application: JSON errors outermost, then the token guard."""
    app = web.Application(middlewares=[json_errors, require_token])
    app[SIMULATOR] = simulator
    app[ADMIN_TOKEN] = simulator.admin_token
    app[UPLOAD_DIR] = simulator.config.data_dir / "uploads"  # letters' PDFs spool there too
    app[UPLOAD_DIR].mkdir(parents=True, exist_ok=True)
    add_tsa_route(app, simulator.tsa, read_timeout=simulator.config.read_timeout)
    app.router.add_get("/admin/health", scenarios.health)
    dashboard.add_admin_routes(app, pilotage.DASHBOARD_PAGES)
    prefecture.add_admin_routes(app)
    scenarios.add_admin_routes(app)
    callbacks.add_admin_routes(app)
    journal.add_admin_routes(app)
    accounts.add_admin_routes(app)
    pilotage.add_admin_routes(app)
    return app
