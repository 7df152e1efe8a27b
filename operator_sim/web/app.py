"""Assembling a simulator: PKI, store, clock, TSA and engine behind the mutual-TLS API.

`build_simulator(config)` makes every part from a `Config` (creating the PKI and the data
folder on first start); `create_app(simulator)` returns the aiohttp application the CLI, the
tests and the pytest plugin all serve.
"""

from __future__ import annotations

import datetime as dt
import secrets
import ssl
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from ..config import Config
from ..engine.clock import Clock, SystemClock, VirtualClock
from ..engine.intake import Engine
from ..pki.identity import JsonIdentityDirectory
from ..pki.store import PkiStore, ensure_pki
from ..protocol.classification import Classification, bundled_classifications
from ..signature.cms import sign_outgoing
from ..signature.policy import SignatureMode, SignaturePolicy
from ..store import AsyncStore, SqliteStore
from ..timestamp import TimeStampAuthority, authority_from_pki
from ..validation.validator import ValidationPolicy
from . import api
from .auth import setup_client_auth
from .tls import server_ssl_context


@dataclass
class Simulator:
    """One running instance's parts, owned together and closed together."""

    config: Config
    pki: PkiStore
    store: SqliteStore
    clock: Clock
    engine: Engine
    executor: ProcessPoolExecutor | None
    tsa: TimeStampAuthority
    admin_token: str

    def server_ssl_context(self) -> ssl.SSLContext:
        return server_ssl_context(certificate_chain=self.pki.server_chain_path,
                                  key=self.pki.server_key_path,
                                  client_cas=[self.pki.roots_path, self.pki.intermediates_path])

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
        self.store.close()


def build_simulator(config: Config, *, processes: bool = True) -> Simulator:
    """Every part of a simulator from its config; the PKI is created on first start."""
    clock: Clock = SystemClock()
    if config.clock == "virtual":
        start = (dt.datetime.fromisoformat(config.clock_start) if config.clock_start
                 else dt.datetime.now(dt.UTC))
        clock = VirtualClock(start)
    ensure_pki(config.pki_dir, now=clock.now())
    pki = PkiStore(config.pki_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore.open(config.data_dir)
    tsa = authority_from_pki(config.pki_dir, clock=clock.now)
    trust = pki.trust_store()
    signatures = SignaturePolicy(mode=SignatureMode(config.signatures))
    current = max(bundled_classifications().values(), key=lambda c: c.date)

    def policy() -> ValidationPolicy:
        return ValidationPolicy(today=clock.today(), signatures=signatures, trust=trust,
                                received_at=clock.now())

    def classification() -> Classification:
        return current

    executor = ProcessPoolExecutor(max_workers=config.workers) if processes else None
    engine = Engine(store=AsyncStore(store), clock=clock, policy=policy,
                    stamp=tsa.stamp_digest, sign=lambda xml: sign_outgoing(xml, pki),
                    classification=classification, executor=executor, itc=config.itc)
    token = config.admin_token or secrets.token_urlsafe(24)
    return Simulator(config, pki, store, clock, engine, executor, tsa, token)


def create_app(simulator: Simulator) -> web.Application:
    """The API application: JSON errors outermost, then client-certificate authentication."""
    app = web.Application(middlewares=[api.json_errors])
    setup_client_auth(app, trust=simulator.pki.trust_store,
                      directory=JsonIdentityDirectory(simulator.pki.identities_path),
                      clock=simulator.clock.now)
    upload_dir = simulator.config.data_dir / "uploads"
    upload_dir.mkdir(parents=True, exist_ok=True)
    app[api.ENGINE] = simulator.engine
    app[api.UPLOAD_DIR] = upload_dir
    app[api.MAX_ARCHIVE_BYTES] = simulator.config.max_archive_bytes
    api.add_routes(app)
    return app
