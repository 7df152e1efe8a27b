"""An independent load driver: envelopes written from plain strings, posted over keep-alive mTLS.

Nothing here imports `operator_sim`: the envelopes (an EnveloppeCLMISILL, an Acte délibération
and two one-page PDFs, gzipped with `tarfile`) are made from templates, and the TLS context is
the standard library's. So the same driver can post to today's service and to an older
checkout's (`e2e.py --against`) and cannot share a bug with either. Each envelope is distinct
(its own NumeroInterne, and its PDFs name it).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import ssl
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

NS = ('xmlns:actes="http://www.interieur.gouv.fr/ACTES#v1.1-20040216" '
      'xmlns:insee="http://xml.insee.fr/schema" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
      'xsi:schemaLocation="http://www.interieur.gouv.fr/ACTES#v1.1-20040216 actesv1_1.xsd"')
PROLOGUE = '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
ACT_DATE = "2024-03-12"


@dataclass(frozen=True)
class Envelope:
    name: str
    data: bytes
    siren: str
    numero_interne: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (ASCII), with a correct cross-reference table."""
    content = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, start)
    return bytes(out)


def envelope(siren: str, numero_interne: str, numero: int) -> Envelope:
    """A valid délibération of `siren` (Hérault, arrondissement 3, commune) with one annex."""
    stem = f"034-{siren}-{ACT_DATE.replace('-', '')}-{numero_interne}-DE-1-1"
    acte_name, document, annexe = f"{stem}_0.xml", f"99_DE-{stem}_1.pdf", f"99_DE-{stem}_2.pdf"
    acte = (f'{PROLOGUE}<actes:Acte {NS} actes:Date="{ACT_DATE}" '
            f'actes:NumeroInterne="{numero_interne}" actes:CodeNatureActe="1">\n'
            '  <actes:CodeMatiere1 actes:CodeMatiere="5"/>\n'
            '  <actes:CodeMatiere2 actes:CodeMatiere="2"/>\n'
            f"  <actes:Objet>Délibération {numero_interne} du conseil municipal</actes:Objet>\n"
            "  <actes:ClassificationDateVersion>2019-03-01</actes:ClassificationDateVersion>\n"
            f"  <actes:Document><actes:NomFichier>{document}</actes:NomFichier></actes:Document>\n"
            '  <actes:Annexes actes:Nombre="1"><actes:Annexe>'
            f"<actes:NomFichier>{annexe}</actes:NomFichier></actes:Annexe></actes:Annexes>\n"
            "  <actes:DocumentPapier>N</actes:DocumentPapier>\n</actes:Acte>\n")
    base = f"EACT--{siren}--20240314-{numero}"
    enveloppe = (f"{PROLOGUE}<actes:EnveloppeCLMISILL {NS}>\n"
                 f'  <actes:Emetteur><actes:IDCL insee:SIREN="{siren}" actes:Departement="034" '
                 'actes:Arrondissement="3" actes:Nature="31"/></actes:Emetteur>\n'
                 "  <actes:AdressesRetour><actes:Email>actes@example.org</actes:Email>"
                 "</actes:AdressesRetour>\n"
                 "  <actes:FormulairesEnvoyes><actes:Formulaire>"
                 f"<actes:NomFichier>{acte_name}</actes:NomFichier>"
                 "</actes:Formulaire></actes:FormulairesEnvoyes>\n</actes:EnveloppeCLMISILL>\n")
    members = [(f"{base}.xml", enveloppe.encode("iso-8859-1")),
               (acte_name, acte.encode("iso-8859-1")),
               (document, pdf(f"Deliberation {numero_interne}")),
               (annexe, pdf(f"Annexe de {numero_interne}"))]
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return Envelope(f"SLO-{base}.tar.gz", raw.getvalue(), siren, numero_interne)


def envelopes(sirens: Sequence[str], tag: str, start: int = 0) -> Iterator[Envelope]:
    """Distinct envelopes spread over `sirens`, NumeroInterne `tag` + a counter."""
    i = start
    while True:
        yield envelope(sirens[i % len(sirens)], f"{tag}{i:07d}", 1 + i % 9999)
        i += 1


# -- posting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    siren: str
    certificate: Path
    key: Path


@dataclass(frozen=True)
class Result:
    status: int | None
    outcome: str | None
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 201 whose answer is the ARActe (1-2)."""
        return self.status == 201 and self.outcome == "1-2"


class Driver:
    """One keep-alive mutual-TLS session per agent; an envelope goes out as its SIREN's agent."""

    def __init__(self, api_url: str, roots: Path, agents: Sequence[Agent], *,
                 connections: int = 16, timeout: float = 120) -> None:
        per_agent = max(1, connections // max(1, len(agents)))
        self._sessions = {}
        for agent in agents:
            context = ssl.create_default_context(cafile=str(roots))
            context.load_cert_chain(agent.certificate, agent.key)
            self._sessions[agent.siren] = aiohttp.ClientSession(
                api_url, connector=aiohttp.TCPConnector(ssl=context, limit=per_agent),
                timeout=aiohttp.ClientTimeout(total=timeout))

    async def post(self, item: Envelope) -> Result:
        start = time.perf_counter()
        try:
            async with self._sessions[item.siren].post(
                    "/api/v1/archives", params={"name": item.name}, data=item.data,
                    headers={"Content-Type": "application/gzip"}) as response:
                body = await response.json(content_type=None)
                outcome = body.get("outcome") if isinstance(body, dict) else None
                return Result(response.status, outcome, time.perf_counter() - start)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return Result(None, None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")

    async def get(self, siren: str, path: str) -> int:
        """A GET as `siren`'s agent, body read; its HTTP status."""
        async with self._sessions[siren].get(path) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def closed_loop(driver: Driver, items: Sequence[Envelope], concurrency: int) -> list[Result]:
    """Post every envelope with `concurrency` in flight at all times; results in send order."""
    results: list[Result | None] = [None] * len(items)
    cursor = iter(range(len(items)))

    async def worker() -> None:
        for i in cursor:
            results[i] = await driver.post(items[i])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r for r in results if r is not None]
