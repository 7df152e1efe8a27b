"""The operator door through real mutual TLS: fields + files in, a signed @ctes archive built by
the simulator, then the same pipeline and stored transaction as the platform door."""

from __future__ import annotations

import io
import subprocess
from contextlib import asynccontextmanager

import aiohttp
import pytest

from operator_sim.config import Config
from operator_sim.protocol.archive import ArchiveLimits, read_archive
from operator_sim.protocol.messages import Acte, parse_message
from operator_sim.simulator import build_simulator
from operator_sim.testing import corpus
from operator_sim.web.server import running

SIREN, OTHER = corpus.COMMUNE.siren, "253400014"
PDF = corpus.minimal_pdf("Deliberation 2024-012")
ANNEXE = corpus.minimal_pdf("Reglement interieur")
FIELDS = {"departement": "034", "arrondissement": "3", "nature_collectivite": "31",
          "date": "2024-03-12", "numero_interne": "DELIB2024_012", "nature": "DE",
          "matiere": "5.2", "objet": "Approbation du règlement intérieur",
          "classification_date": "2019-03-01", "typologie_acte": "99_DE"}


def form(fields: dict[str, str] | None = None, *, acte=(("deliberation.pdf", PDF),),
         annexes=(("reglement.pdf", ANNEXE),), **changes: str | None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in {**(FIELDS if fields is None else fields), **changes}.items():
        if value is not None:
            data.add_field(name, value)
    for key, files in (("acte", acte), ("annexes", annexes)):
        for filename, content in files:
            data.add_field(key, io.BytesIO(content), filename=filename,
                           content_type="application/octet-stream")
    return data


async def post(session: aiohttp.ClientSession, data) -> tuple[int, dict]:
    async with session.post("/api/v1/actes", data=data) as response:
        return response.status, await response.json()


@asynccontextmanager
async def serving(tmp_path, pki_dir, **settings):
    simulator = build_simulator(Config(data_dir=tmp_path / "own", pki_dir=pki_dir, workers=1,
                                       api_port=0, admin_port=0, **settings), processes=False)
    try:
        async with running(simulator) as served:
            yield served
    finally:
        simulator.close()


async def test_an_act_from_fields_and_files_is_built_signed_and_acknowledged(served, tmp_path):
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http:
        status, body = await post(http, form())
        assert status == 201, body
        assert body["outcome"] == "1-2"
        assert body["id_acte"] == "034-491011698-20240312-DELIB2024_012-DE"
        transaction = body["transaction"]
        assert transaction["archive_name"].startswith("SLO-EACT--491011698--")
        assert transaction["nature"] == "DE" and transaction["matiere"] == "5.2"
        async with http.get(f"/api/v1/transactions/{transaction['id']}") as r:
            detail = await r.json()
        assert [h["to"] for h in detail["history"]] == [1, 2, 3, 4]
        async with http.get(f"/api/v1/transactions/{transaction['id']}/archive") as r:
            archive = await r.read()
    (tmp_path / "a.tar.gz").write_bytes(archive)
    with read_archive(tmp_path / "a.tar.gz", ArchiveLimits()) as members:
        files = {m.name: m.read() for m in members}
    acte = next(m for m in map(parse_message, (v for k, v in files.items() if k.endswith("_0.xml")))
                if isinstance(m, Acte))
    assert files[acte.document.nom_fichier] == PDF
    assert [files[a.nom_fichier] for a in acte.annexes] == [ANNEXE]
    assert acte.document.nom_fichier.startswith("99_DE-")
    # The operator's detached CMS verifies with OpenSSL against the test roots.
    pki = served.simulator.pki
    operator = next(r for r in pki.records() if r.kind == "operator")
    for fichier in (acte.document, *acte.annexes):
        (tmp_path / "doc").write_bytes(files[fichier.nom_fichier])
        (tmp_path / "doc.p7s").write_bytes(fichier.signature)
        check = subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
             "-content", str(tmp_path / "doc"), "-in", str(tmp_path / "doc.p7s"),
             "-CAfile", str(pki.roots_path),
             "-signer", str(tmp_path / "signer.pem"), "-out", "/dev/null"],
            capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        assert (tmp_path / "signer.pem").read_text() == (pki.directory / operator.certificate).read_text()


async def test_signatures_required_deployment_accepts_the_operator_signature(tmp_path, shared_pki_dir):
    async with serving(tmp_path, shared_pki_dir, signatures="required") as served, \
            served.agent_session(served.enrol(SIREN)) as http:
        status, body = await post(http, form())
    assert status == 201 and body["outcome"] == "1-2", body


async def test_a_budget_sent_as_xml_plus_pdf_puts_the_xml_first(served):
    budget = corpus.budget_document(SIREN + "00013")
    async with served.agent_session(served.enrol(SIREN)) as http:
        status, body = await post(http, form(
            acte=(("deliberation.pdf", PDF), ("budget.xml", budget)), annexes=(),
            nature="BF", matiere="7.1.1", numero_interne="BP2024", typologie_acte="99_BU",
            objet="Budget primitif 2024"))
        assert status == 201 and body["outcome"] == "1-2", body
        tid = body["transaction"]["id"]
    documents = served.simulator.store.documents(tid)
    assert [(d.role, d.mimetype) for d in documents] == [("main", "application/xml"),
                                                         ("annexe", "application/pdf")]


async def test_a_known_collectivite_needs_no_departement_and_a_duplicate_is_an_anomaly(served):
    async with served.agent_session(served.enrol(SIREN)) as http:
        status, body = await post(http, form(departement=None))
        assert status == 422 and body["field"] == "departement", body
        assert (await post(http, form()))[0] == 201
        status, body = await post(http, form(departement=None, arrondissement=None))
    assert status == 201 and body["outcome"] == "1-3", body
    assert "DOUBLON" in body["anomalie"]["detail"]


async def test_fields_left_out_come_from_the_registered_collectivite_and_a_contradiction_refused(
        served):
    async with served.agent_session(served.enrol(SIREN)) as http:
        assert (await post(http, form()))[0] == 201  # registers 034, arrondissement 3, nature 31
        status, body = await post(http, form(numero_interne="DELIB2024_013", arrondissement=None,
                                             nature_collectivite=None))
        assert (status, body["outcome"]) == (201, "1-2"), body
        status, body = await post(http, form(numero_interne="DELIB2024_014", arrondissement="2"))
    assert (status, body["outcome"], body["anomalie"]["nature"]) == (201, "ANO", "005"), body
    assert "-> IDCL_MISMATCH : " in body["anomalie"]["detail"], body
    assert body["anomalie"]["detail"].endswith("Arrondissement 2 au lieu de 3"), body


@pytest.mark.parametrize(("changes", "field", "code"), [
    ({"objet": None}, "objet", "FIELD_REQUIRED"),
    ({"date": "12/03/2024"}, "date", "FIELD_INVALID"),
    ({"nature": "XX"}, "nature", "FIELD_INVALID"),
    ({"matiere": "cinq"}, "matiere", "FIELD_INVALID"),
    ({"departement": "1234"}, "departement", "NAME_DEPARTEMENT"),
    ({"numero_interne": "2024-012"}, "numero_interne", "NAME_NUMERO_INTERNE"),
    ({"arrondissement": "12"}, "arrondissement", "FIELD_INVALID"),
    ({"nature_collectivite": "99"}, "nature_collectivite", "FIELD_INVALID"),
    ({"couleur": "bleu"}, "couleur", "FIELD_UNKNOWN"),
    ({"acte": ()}, "acte", "FIELD_REQUIRED"),
    ({"annexes": (("notes.docx", b"PK"),)}, "annexes", "FIELD_INVALID"),
    ({"typologie_annexe": "99_DE", "annexes": ()}, "typologie_annexe", "FIELD_INVALID"),
])
async def test_a_faulty_field_is_a_422_naming_it_and_nothing_is_stored(served, changes, field, code):
    files = {k: changes.pop(k) for k in ("acte", "annexes") if k in changes}
    async with served.agent_session(served.enrol(SIREN)) as http:
        status, body = await post(http, form(**files, **changes))
    assert (status, body["field"], body["code"]) == (422, field, code), body
    assert body["message_fr"] and body["message_en"]
    assert served.simulator.store.list().total == 0
    assert list((served.simulator.config.data_dir / "uploads").iterdir()) == []


async def test_another_sirens_collectivite_is_forbidden(served):
    async with served.agent_session(served.enrol(OTHER)) as http:
        status, body = await post(http, form(siren=SIREN))
    assert status == 403 and body["code"] == "FORBIDDEN_SIREN"
    assert served.simulator.store.list().total == 0


async def test_not_multipart_is_415_and_oversized_files_are_413(tmp_path, shared_pki_dir):
    async with serving(tmp_path, shared_pki_dir, max_archive_bytes=4096) as served:
        async with served.agent_session(served.enrol(SIREN)) as http:
            async with http.post("/api/v1/actes", json=FIELDS) as r:
                assert r.status == 415 and (await r.json())["code"] == "UNSUPPORTED_MEDIA_TYPE"
            status, body = await post(http, form(annexes=(("big.pdf", b"%PDF" + b"0" * 8192),)))
        assert (status, body["code"], body["field"]) == (413, "ARCHIVE_TOO_LARGE", "annexes")
        assert list((served.simulator.config.data_dir / "uploads").iterdir()) == []
