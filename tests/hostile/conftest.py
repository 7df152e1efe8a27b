"""Fixtures of the hostile-input tests: served simulators (real mutual TLS, real SQLite), a
loopback canary no XML may ever fetch, and a snapshot of all a refused input must leave alone.

One simulator per distinct configuration serves every case of a module, the way `served` of
tests/web builds it (`build_simulator` + `running`): a fresh one per case would cost ~0.5 s
each, and isolation is not what the assertions rely on — every case compares a full snapshot
taken just before and just after its own request, on a database that already holds data.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from operator_sim.config import Config
from operator_sim.pki.store import CertRecord
from operator_sim.signature.archive import Signer
from operator_sim.simulator import build_simulator
from operator_sim.testing.corpus import base_request, build
from operator_sim.web.server import RunningSimulator, running

from .corpus import SIREN, Material, pack


@dataclass
class Canary:
    """A TCP listener on 127.0.0.1; every connection it receives is a fetch that must not be."""

    url: str
    hits: list[bytes] = field(default_factory=list)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def canary() -> AsyncIterator[Canary]:
    found = Canary("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.hits.append(await reader.read(1024))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    found.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield found


@dataclass
class Target:
    """A served simulator, an enrolled agent with an open mTLS session, and signing material."""

    served: RunningSimulator
    agent: CertRecord
    http: aiohttp.ClientSession
    admin: aiohttp.ClientSession
    material: Material

    @property
    def data_dir(self) -> Path:
        return self.served.simulator.config.data_dir

    def snapshot(self) -> Snapshot:
        # Journal rows wait for the next commit (web/journal.py): take them in first.
        self.served.simulator.store.flush_deferred()
        return snapshot(self.data_dir, self.served.simulator.store.path)


@asynccontextmanager
async def _target(folder: Path, pki_dir: Path, canary_url: str,
                  options: dict[str, object]) -> AsyncIterator[Target]:
    config = Config(**{"data_dir": folder, "pki_dir": pki_dir, "workers": 1, "api_port": 0,
                       "admin_port": 0, **options})
    simulator = build_simulator(config, processes=False)
    try:
        async with running(simulator) as served:
            agent = served.enrol(SIREN)
            pki = simulator.pki

            @functools.cache
            def signer() -> Signer:
                record = served.enrol(SIREN, name="Maire signataire", signing=True)
                return Signer(pki.certificate(record), pki.private_key(record),
                              (pki.ca(record.issuer).certificate,))

            server = next(r for r in pki.records() if r.kind == "server")
            material = Material(canary_url, Signer(pki.certificate(server), pki.private_key(server),
                                                   (pki.ca(server.issuer).certificate,)), signer)
            async with served.agent_session(agent) as http, served.admin_session() as admin:
                await _seed(http)
                yield Target(served, agent, http, admin, material)
    finally:
        simulator.close()


async def _seed(http: aiohttp.ClientSession) -> None:
    """One acknowledged act stored first, so that 'unchanged' covers existing data too."""
    built = build(base_request(numero_interne="SEED2024_001"))
    async with http.post("/api/v1/archives", params={"name": built.name}, data=pack(built),
                         headers={"Content-Type": "application/gzip"}) as r:
        assert r.status == 201 and (await r.json())["outcome"] == "1-2"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def targets(tmp_path_factory: pytest.TempPathFactory, shared_pki_dir: Path,
                  canary: Canary) -> AsyncIterator[Callable[[dict[str, object]], Awaitable[Target]]]:
    """`await targets(options)`: the module's simulator for these config settings."""
    made: dict[tuple, Target] = {}
    async with AsyncExitStack() as stack:
        async def target(options: dict[str, object]) -> Target:
            key = tuple(sorted(options.items()))
            if key not in made:
                folder = tmp_path_factory.mktemp("hostile") / "data"
                made[key] = await stack.enter_async_context(
                    _target(folder, shared_pki_dir, canary.url, options))
            return made[key]

        yield target


@dataclass(frozen=True)
class Snapshot:
    """Every row of every table, and every file the data folder holds besides the database."""

    rows: dict[str, frozenset[tuple[tuple[str, object], ...]]]
    """Table → rows, each row as (column, value) pairs."""
    files: frozenset[str]


def snapshot(data_dir: Path, database: Path) -> Snapshot:
    """The state of a simulator's data folder; `database` is its SQLite file (inside it)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {}
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            rows[table] = frozenset(tuple(zip(columns, row, strict=True)) for row in cursor)
    finally:
        db.close()
    files = frozenset(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                      if p.is_file() and not p.name.startswith(database.name))
    return Snapshot(rows, files)
