"""Pastell's S²LOW connector, replayed against the running simulator (REFERENCE.md §13).

`PastellS2low` does what Pastell's `connecteur/s2low` does, step by step and with the same
string handling (lines split on "\\n", ISO-8859-1 bodies, the date read 21 characters after
`actes:DateReception`, the IDActe by XPath on the ARActe); the test checks that each answer
is what Pastell expects.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
from lxml import etree
from pypdf import PdfReader

from operator_sim.pki.profiles import RgsLevel
from operator_sim.testing import corpus

from .conftest import SIREN

NS = {"actes": "http://www.interieur.gouv.fr/ACTES#v1.1-20040216"}


def sanitized(name: str) -> str:
    """Pastell's `getFilenameTransformation`."""
    return re.sub(r"[^a-zA-Z0-9._ ]", "_", name)


@dataclass
class PastellS2low:
    """The connector: its certificate, the stored classification, its settings."""

    http: aiohttp.ClientSession
    classification_file: bytes | None = None
    authentication_for_teletransmisson: bool = True

    async def exec(self, url: str, **kwargs: object) -> bytes:
        method = "POST" if "data" in kwargs else "GET"
        async with self.http.request(method, url, **kwargs) as r:
            return await r.read()

    async def test_connexion(self) -> None:
        assert (await self.exec("/api/test-connexion.php")).startswith(b"OK")

    async def get_classification(self) -> bytes:
        result = await self.exec("/modules/actes/actes_classification_fetch.php?api=1")
        assert result and not result.startswith(b"KO")
        return result

    async def verif_classif(self) -> None:
        assert self.classification_file == await self.get_classification(), \
            "La classification utilisée n'est plus à jour"

    async def send_actes(self, *, nature: int, number: str, objet: str, date: str,
                         classification: str, arrete: tuple[str, bytes], type_acte: str,
                         annexes: list[tuple[str, bytes]], type_pj: list[str]) -> str:
        await self.verif_classif()
        form = aiohttp.FormData(charset="iso-8859-1")  # utf8_decode($objet)
        form.add_field("api", "1")
        form.add_field("nature_code", str(nature))
        form.add_field("number", number)
        form.add_field("subject", objet)
        form.add_field("decision_date", date)
        form.add_field("en_attente", "1" if self.authentication_for_teletransmisson else "0")
        form.add_field("document_papier", "0")
        form.add_field("type_acte", type_acte)
        for typologie in type_pj:
            form.add_field("type_pj[]", typologie)
        form.add_field("acte_pdf_file", arrete[1], filename=sanitized(arrete[0]))
        for name, content in annexes:
            form.add_field("acte_attachments[]", content, filename=sanitized(name))
        for i, part in enumerate(classification.split(" ")[0].split(".")):
            form.add_field(f"classif{i + 1}", part)
        result = (await self.exec("/modules/actes/actes_transac_create.php", data=form)).decode(
            "iso-8859-1")
        assert re.match("^OK", result), f"Erreur lors de la transmission, S²low a répondu : {result}"
        return result.split("\n")[1].strip()

    async def get_status(self, transaction_id: str) -> tuple[str, bytes | None]:
        result = (await self.exec(f"/modules/actes/actes_transac_get_status.php?"
                                  f"transaction={transaction_id}")).decode("iso-8859-1")
        lines = result.split("\n")
        assert lines[0].strip() == "OK", lines[1]
        status = lines[1].strip()
        ar_actes = "\n".join(lines[2:]).encode("iso-8859-1") if status == "4" else None
        return status, ar_actes

    async def get_date_ar(self, transaction_id: str) -> str:
        result = (await self.exec(f"/modules/actes/actes_transac_get_status.php?"
                                  f"transaction={transaction_id}")).decode("iso-8859-1")
        start = result.index("actes:DateReception") + 21
        return result[start:start + 10]

    async def get_bordereau(self, transaction_id: str) -> bytes:
        return await self.exec(f"/modules/actes/actes_create_pdf.php?trans_id={transaction_id}")

    async def file_list(self, transaction_id: str) -> list[dict]:
        return json.loads(await self.exec(f"/modules/actes/actes_transac_get_files_list.php?"
                                          f"transaction={transaction_id}"))

    async def get_acte_tamponne(self, transaction_id: str) -> bytes | None:
        file_list = await self.file_list(transaction_id)
        if file_list[1]["mimetype"] != "application/pdf":
            return None
        return await self.exec(f"/modules/actes/actes_download_file.php?"
                               f"file={file_list[1]['id']}&tampon=true")

    async def get_annexes_tamponnees(self, transaction_id: str) -> list[dict]:
        file_list = (await self.file_list(transaction_id))[2:]
        return [{"filename": f["posted_filename"],
                 "content": await self.exec(f"/modules/actes/actes_download_file.php?"
                                            f"file={f['id']}&tampon=true")}
                for f in file_list if f["mimetype"] == "application/pdf"]

    async def get_list_document_prefecture(self) -> list[dict]:
        """Unread messages, each downloaded, unpacked and marked read (type 2 only at 21)."""
        result = json.loads(await self.exec("/modules/actes/api/list_document_prefecture.php"))
        documents = []
        for value in result:
            if value["type"] == "2" and value["last_status_id"] != 21:
                continue
            archive = await self.exec(f"/modules/actes/actes_transac_get_document.php?"
                                      f"id={value['id']}")
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
            marked = await self.exec(f"/modules/actes/api/document_prefecture_mark_as_read.php?"
                                     f"transaction_id={value['id']}")
            assert json.loads(marked) == {"result": "ok"}
            documents.append({**value, "files": files})
        return documents

    async def send_response(self, transaction_id: str, *, refus: bool, reponse: tuple[str, bytes],
                            type_acte: str) -> str:
        form = aiohttp.FormData()
        form.add_field("type_acte", type_acte)
        form.add_field("id", transaction_id)
        form.add_field("api", "1")
        form.add_field("type_envoie", "3" if refus else "4")
        form.add_field("acte_pdf_file", reponse[1], filename=reponse[0])
        result = (await self.exec("/modules/actes/actes_transac_reponse_create.php",
                                  data=form)).decode("iso-8859-1")
        assert re.match("^OK", result), result
        return result.split("\n")[1].strip()


async def test_pastell_s2low_call_sequence(s2low):
    simulator = s2low.served.simulator
    # S²LOW refuses any create from a TLS certificate that is not RGS: the connector's is.
    connector_cert = s2low.served.enrol(SIREN, "Connecteur Pastell", level=RgsLevel.TWO)
    pastell = PastellS2low(s2low.session(connector_cert))
    await pastell.test_connexion()

    # No classification was received yet: S²LOW answers KO until one is asked for
    # (Pastell's "demande de classification"), then serves the 7-2 received.
    assert (await pastell.exec("/modules/actes/actes_classification_fetch.php?api=1")
            ).startswith(b"KO\n")
    assert (await pastell.exec("/modules/actes/actes_classification_request.php?api=1")
            ).startswith(b"OK\n")
    # The administrator loaded the classification into the connector: it matches byte for byte.
    pastell.classification_file = await pastell.get_classification()
    assert b"RetourClassification" in pastell.classification_file

    annexes = [("Règlement intérieur.pdf", corpus.minimal_pdf("Reglement"))]
    transaction_id = await pastell.send_actes(
        nature=1, number="DELIB2024_012", objet="Approbation du règlement intérieur",
        date="2024-03-12", classification="5.2 Fonctionnement des assemblées",
        arrete=("Délibération n°12.pdf", corpus.minimal_pdf("Deliberation 2024-012")),
        type_acte="99_DE", annexes=annexes, type_pj=["99_DE"])
    assert transaction_id.isdigit()
    assert (await pastell.get_status(transaction_id)) == ("17", None)

    # Pastell sends the user's browser, with its RGS certificate, to the post-confirm URL.
    url_return = "https://pastell.example/Document/retour?error=%%ERROR%%&message=%%MESSAGE%%"
    async with s2low.session().get("/modules/actes/actes_transac_post_confirm_api.php",
                                   params={"id": transaction_id, "url_return": url_return},
                                   allow_redirects=False) as r:
        assert r.status == 302
        assert parse_qs(urlsplit(r.headers["Location"]).query)["error"] == ["0"]

    seen = []
    for _ in range(10):
        status, ar_actes = await pastell.get_status(transaction_id)
        seen.append(status)
        if status == "4":
            break
    assert seen[-1] == "4" and ar_actes is not None
    root = etree.fromstring(ar_actes)
    (acte_unique_id,) = root.xpath("//actes:ARActe/@actes:IDActe", namespaces=NS)
    assert acte_unique_id == "034-491011698-20240312-DELIB2024_012-DE"
    date_ar = await pastell.get_date_ar(transaction_id)
    assert date_ar == root.get(f"{{{NS['actes']}}}DateReception")

    bordereau = PdfReader(io.BytesIO(await pastell.get_bordereau(transaction_id)))
    assert acte_unique_id in bordereau.pages[0].extract_text()
    tamponne = PdfReader(io.BytesIO(await pastell.get_acte_tamponne(transaction_id)))
    assert f"ID : {acte_unique_id}" in tamponne.pages[0].extract_text()
    (annexe,) = await pastell.get_annexes_tamponnees(transaction_id)
    assert acte_unique_id in PdfReader(io.BytesIO(annexe["content"])).pages[0].extract_text()

    # The préfecture writes: a courrier simple and a lettre d'observations.
    prefecture = simulator.prefecture
    await prefecture.send_letter(int(transaction_id), "2-1", text="Pour information")
    await prefecture.send_letter(int(transaction_id), "4-1", text="Motif du recours gracieux")
    documents = await pastell.get_list_document_prefecture()
    assert [(d["type"], d["last_status_id"]) for d in documents] == [("2", 21), ("4", 8)]
    assert all(d["unique_id"] == acte_unique_id and d["number"] == "DELIB2024_012"
               and d["related_transaction_id"] == int(transaction_id) for d in documents)
    letter = documents[1]
    assert any(name.endswith(".pdf") for name in letter["files"])
    assert any(b"LettreObservations" in content for content in letter["files"].values())
    assert await pastell.get_list_document_prefecture() == []

    answer_id = await pastell.send_response(str(letter["id"]), refus=False, type_acte="99_DE",
                                            reponse=("justification.pdf",
                                                     corpus.minimal_pdf("Justification")))
    assert (await pastell.get_status(answer_id))[0] == "4"
    related = (await pastell.exec(f"/modules/actes/actes_transac_get_document.php?"
                                  f"id={transaction_id}")).decode("iso-8859-1")
    lines = [line.split("-") for line in related.strip().split("\n")]
    assert lines == [["2", "21", str(documents[0]["id"])], ["4", "4", answer_id]]
