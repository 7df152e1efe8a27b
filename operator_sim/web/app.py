"""The API port's application: the mutual-TLS routes of a simulator built by `simulator.py`.

`create_app(simulator)` returns the aiohttp application the CLI, the tests and the pytest plugin
all serve (through `web.server.running`); this file only assembles middlewares and routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ..simulator import Simulator, remove_leftovers
from . import api, callbacks, courriers, journal, s2low, scenarios
from .auth import Intermediaries, setup_client_auth
from .http import json_errors
from .keys import ENGINE, MAX_ARCHIVE_BYTES, READ_TIMEOUT, UPLOAD_DIR


def create_app(simulator: Simulator) -> web.Application:
    """The API application: JSON errors outermost, then client-certificate authentication."""
    app = web.Application(middlewares=[journal.record_requests, s2low.s2low_refusals,
                                       json_errors, scenarios.show_faults])
    prints, addresses = simulator.config.intermediaries()
    setup_client_auth(app, trust=simulator.pki.trust_store, directory=simulator.identities,
                      clock=simulator.clock.now,
                      intermediaries=Intermediaries(prints, addresses))
    upload_dir = simulator.config.data_dir / "uploads"
    upload_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(upload_dir)
    app[ENGINE] = simulator.engine
    app[UPLOAD_DIR] = upload_dir
    app[MAX_ARCHIVE_BYTES] = simulator.config.max_archive_bytes
    app[READ_TIMEOUT] = simulator.config.read_timeout
    journal.setup_journal(app, simulator.store)
    simulator.on_handshake_refused = journal.handshake_recorder(app)
    api.add_routes(app)
    courriers.add_routes(app, simulator.prefecture)
    s2low.add_routes(app, simulator.prefecture)
    callbacks.add_routes(app, simulator.callbacks)
    app.cleanup_ctx.append(_pumps(simulator))
    return app


def _pumps(simulator: Simulator) -> Callable[[web.Application], AsyncIterator[None]]:
    """The simulator's background work (`Simulator.pumps`) while the app is served."""
    async def run(_app: web.Application) -> AsyncIterator[None]:
        async with simulator.pumps():
            yield

    return run
