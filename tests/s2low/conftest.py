"""The S²LOW-compatible API served for real (mutual TLS on 127.0.0.1, SQLite, the engine).

`s2low` gives a running simulator with the test collectivité registered and an RGS ** agent
enrolled, plus helpers that post S²LOW's forms with exactly S²LOW's field names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest

from operator_sim.pki.profiles import RgsLevel
from operator_sim.pki.store import CertRecord
from operator_sim.store import Collectivite
from operator_sim.testing import corpus
from operator_sim.web.server import RunningSimulator

SIREN = corpus.COMMUNE.siren
OTHER_SIREN = "253400014"
ACTES = "/modules/actes"
PDF = corpus.minimal_pdf("Deliberation 2024-012")
ANNEXE = corpus.minimal_pdf("Reglement interieur")
CREATE_FIELDS = {
    "api": "1", "nature_code": "1", "classif1": "5", "classif2": "2", "number": "DELIB2024_012",
    "decision_date": "2024-03-12", "subject": "Approbation du règlement intérieur",
    "document_papier": "0", "en_attente": "0", "type_acte": "99_DE",
}


def create_form(*, files: list[tuple[str, str, bytes]] | None = None,
                type_pj: list[str] | None = None, drop: tuple[str, ...] = (),
                encoding: str = "utf-8", **fields: str) -> aiohttp.FormData:
    """S²LOW's create form: its fields, `acte_pdf_file` and `acte_attachments[]` files."""
    form = aiohttp.FormData(charset=encoding)
    values = {**CREATE_FIELDS, **fields}
    for name, value in values.items():
        if name not in drop:
            form.add_field(name, value)
    for name in type_pj if type_pj is not None else ["99_DE"]:
        form.add_field("type_pj[]", name)
    if files is None:
        files = [("acte_pdf_file", "deliberation.pdf", PDF),
                 ("acte_attachments[]", "reglement.pdf", ANNEXE)]
    for name, filename, content in files:
        form.add_field(name, content, filename=filename, content_type="application/pdf")
    return form


def latin1(body: bytes) -> str:
    return body.decode("iso-8859-1")


@dataclass
class S2low:
    """A served simulator seen from an S²LOW client."""

    served: RunningSimulator
    agent: CertRecord
    _sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def session(self, agent: CertRecord | None = None, **options: object) -> aiohttp.ClientSession:
        session = self.served.agent_session(agent or self.agent, **options)
        self._sessions.append(session)
        return session

    async def create(self, form: aiohttp.FormData | None = None,
                     agent: CertRecord | None = None) -> tuple[int, str]:
        async with self.session(agent).post(f"{ACTES}/actes_transac_create.php",
                                             data=form or create_form()) as r:
            return r.status, latin1(await r.read())

    async def created(self, form: aiohttp.FormData | None = None,
                      agent: CertRecord | None = None) -> int:
        status, body = await self.create(form, agent)
        assert status == 200 and body.startswith("OK\n"), body
        return int(body.split("\n")[1])

    async def status(self, transaction_id: int) -> list[str]:
        async with self.session().get(f"{ACTES}/actes_transac_get_status.php",
                                      params={"transaction": str(transaction_id)}) as r:
            assert r.status == 200
            return latin1(await r.read()).split("\n", 2)

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()


@asynccontextmanager
async def s2low_client(served: RunningSimulator) -> AsyncIterator[S2low]:
    """The test collectivité registered, an RGS ** agent enrolled."""
    served.simulator.store.add_collectivite(Collectivite(SIREN, "034", "3", "31",
                                                         "Commune de Saint-Exemple"))
    client = S2low(served, served.enrol(SIREN, "Alice Martin", level=RgsLevel.TWO))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def s2low(served):
    async with s2low_client(served) as client:
        yield client
