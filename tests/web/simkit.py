"""Small factories for the simulation tests: served simulators (over real mutual TLS, or with
the in-process client), acts to submit, admin calls, a virtual clock start."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from operator_sim.config import Config
from operator_sim.pki.store import CertRecord
from operator_sim.protocol.codes import NatureActe
from operator_sim.protocol.envelope import Piece
from operator_sim.simulator import build_simulator
from operator_sim.testing import corpus
from operator_sim.web.server import RunningSimulator, running

SIREN, OTHER = corpus.COMMUNE.siren, "253400014"
KIT_SIRENS = (SIREN, OTHER, "212000046", "219740115", "213000018")
"""SIRENs the kit's simulators hold a convention for from the start (the strict profile
refuses senders without one): tests may submit through the engine without enrolling. The
corpus's other senders are among them (Corse-du-Sud, La Réunion, a made-up département)."""
TYPOLOGIES = {NatureActe.DE: "99_DE", NatureActe.AR: "99_AR", NatureActe.AI: "99_AI"}


CLIENT_CERTIFICATE = "X-Test-Client-Certificate"
"""The in-process client's header: its agent's certificate (DER, base64), which the API port
hands to the authentication where TLS would (`running(peer_from=...)`)."""


def certificate_header(request: web.Request) -> bytes | None:
    raw = request.headers.get(CLIENT_CERTIFICATE)
    return base64.b64decode(raw) if raw else None


class InProcess(RunningSimulator):
    """A simulator whose API port speaks plain HTTP on loopback: `agent_session` sends the
    agent's certificate in `CLIENT_CERTIFICATE` instead of presenting it in a handshake.
    Everything after the handshake (trust on the simulator clock, identity, every
    middleware and route) is the served simulator's own."""

    def agent_session(self, agent: CertRecord, **options: Any) -> aiohttp.ClientSession:
        der = self.simulator.pki.certificate(agent).public_bytes(Encoding.DER)
        headers = {CLIENT_CERTIFICATE: base64.b64encode(der).decode(), **options.pop("headers", {})}
        return aiohttp.ClientSession(self.api_url, headers=headers, **options)


@asynccontextmanager
async def serve(data_dir: Path, pki_dir: Path, *, processes: bool = False, tls: bool = True,
                **options: Any) -> AsyncIterator[RunningSimulator]:
    """Like the `served` fixture, with config `options` (virtual clock, scenarios file…);
    `processes` validates in worker processes, as `operator-sim serve` does; without `tls`,
    the API port is for the in-process client (`InProcess`)."""
    config = Config(**{"data_dir": data_dir, "pki_dir": pki_dir, "workers": 1, "api_port": 0,
                       "admin_port": 0, "callback_loopback": "allow", **options})
    simulator = build_simulator(config, processes=processes)
    for siren in KIT_SIRENS:
        simulator.store.ensure_convention(siren, config.itc)
    try:
        if tls:
            async with running(simulator) as served:
                yield served
        else:
            async with running(simulator, peer_from=certificate_header) as served:
                yield InProcess(served.simulator, served.api_url, served.admin_url,
                                served.connections)
    finally:
        simulator.close()


def openssl_cms_verify(folder: Path, content: bytes, signature: bytes,
                       roots: Path) -> subprocess.CompletedProcess[str]:
    """`openssl cms -verify` of a detached DER signature over `content`, trusting `roots`."""
    (folder / "signed").write_bytes(content)
    (folder / "signed.p7s").write_bytes(signature)
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                           "-content", str(folder / "signed"), "-in", str(folder / "signed.p7s"),
                           "-CAfile", str(roots), "-out", "/dev/null"],
                          capture_output=True, text=True)


def virtual_start() -> str:
    """Now, to the second: certificates issued by the shared PKI are valid then."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def act(numero: str, *, siren: str = SIREN, nature: NatureActe = NatureActe.DE,
        matiere: tuple[int, ...] = (5, 2), objet: str = "Approbation du règlement intérieur",
        envelope: int = 1, pdf: bytes | None = None) -> tuple[str, bytes]:
    """A valid act archive (name, bytes) with these facts (`pdf`: its document, a minimal
    one by default)."""
    document = Piece(corpus.minimal_pdf(numero) if pdf is None else pdf, "pdf", TYPOLOGIES[nature])
    request = corpus.base_request(numero_interne=numero, nature=nature, codes_matiere=matiere,
                                  objet=objet, document=document, annexes=())
    collectivite = dataclasses.replace(corpus.COMMUNE, siren=siren)
    return corpus._pack(corpus.build(request, collectivite, numero=envelope))


async def submit(session, archive: tuple[str, bytes],
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    name, data = archive
    async with session.post("/api/v1/archives", params={"name": name}, data=data,
                            headers={"Content-Type": "application/gzip", **(headers or {})}) as response:
        return response.status, await response.json()


async def admin(served, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with served.admin_session() as http, http.request(method, path, json=body) as response:
        return response.status, (None if response.status == 204 else await response.json())
