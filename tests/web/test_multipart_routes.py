"""The API's and admin port's multipart routes read parts as the S²LOW door does (one reader):
hand-written bodies with bare `name=…` and repeated names keep every part, in order, with the
name each file was posted under; a part that cannot be read refuses the whole request."""

from __future__ import annotations

import pytest

from operator_sim.testing import corpus

from .test_prefecture_flows import acknowledged_act, send

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

B = "Zx7KqW3bHfTn"
SIREN = corpus.COMMUNE.siren
PDFS = [corpus.minimal_pdf(f"Piece {i}") for i in range(3)]


def bare_field(name: str, value: str) -> bytes:
    return f"--{B}\r\nContent-Disposition: form-data; name={name}\r\n\r\n{value}\r\n".encode()


def bare_file(name: str, filename: str, content: bytes) -> bytes:
    return (f'--{B}\r\nContent-Disposition: form-data; name={name}; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"


def multipart(*parts: bytes) -> tuple[bytes, dict[str, str]]:
    return b"".join(parts) + f"--{B}--\r\n".encode(), \
        {"Content-Type": f"multipart/form-data; boundary={B}"}


async def test_operator_door_keeps_every_bare_named_annex_and_its_posted_name(served):
    fields = {"departement": "034", "arrondissement": "3", "nature_collectivite": "31",
              "date": "2024-03-12", "numero_interne": "DELIB2024_012", "nature": "DE",
              "matiere": "5.2", "objet": "Approbation", "typologie_acte": "99_DE"}
    body, headers = multipart(*(bare_field(k, v) for k, v in fields.items()),
                              bare_file("acte", "Délibération n°12.pdf", PDFS[0]),
                              bare_file("annexes", "plan été.pdf", PDFS[1]),
                              bare_file("annexes", "annexe 2.pdf", PDFS[2]))
    async with served.agent_session(served.enrol(SIREN)) as http, \
            http.post("/api/v1/actes", data=body, headers=headers) as r:
        answer = await r.json()
        assert r.status == 201, answer
    store = served.simulator.store
    documents = store.documents(answer["transaction"]["id"])
    assert [store.blobs.read(d.sha256) for d in documents] == PDFS
    assert [d.posted_name for d in documents] == ["Délibération n°12.pdf", "plan été.pdf",
                                                  "annexe 2.pdf"]


async def test_a_3_4_answer_with_bare_named_documents_keeps_them_all(served):
    async with served.agent_session(served.enrol(SIREN)) as http, served.admin_session() as admin:
        acte_id = await acknowledged_act(http)
        letter = await send(admin, acte_id, "3-1", text="Le plan, s'il vous plaît")
        body, headers = multipart(bare_field("code", "3-4"),
                                  bare_file("documents", "réponse.pdf", PDFS[0]),
                                  bare_file("documents", "plan.pdf", PDFS[1]))
        async with http.post(f"/api/v1/courriers/{letter['transaction']['id']}/reponse",
                             data=body, headers=headers) as r:
            answer = await r.json()
            assert r.status == 201, answer
    store = served.simulator.store
    documents = store.documents(answer["transaction"]["id"])
    assert [store.blobs.read(d.sha256) for d in documents] == PDFS[:2]
    assert [d.posted_name for d in documents] == ["réponse.pdf", "plan.pdf"]


async def test_a_nameless_part_refuses_the_answer_and_names_the_part(served):
    async with served.agent_session(served.enrol(SIREN)) as http, served.admin_session() as admin:
        acte_id = await acknowledged_act(http)
        letter = await send(admin, acte_id, "3-1", text="Le plan")
        body, headers = multipart(bare_field("code", "3-4"),
                                  bare_file("documents", "réponse.pdf", PDFS[0]),
                                  f'--{B}\r\nContent-Disposition: form-data; filename="plan.pdf"'
                                  "\r\n\r\n".encode() + PDFS[1] + b"\r\n")
        async with http.post(f"/api/v1/courriers/{letter['transaction']['id']}/reponse",
                             data=body, headers=headers) as r:
            refusal = await r.json()
            assert r.status == 400, refusal
    assert refusal["code"] == "BODY_MALFORMED"
    assert "partie n° 3 (plan.pdf)" in refusal["message_fr"]
    assert "part #3" in refusal["message_en"]
    assert await served.simulator.prefecture.answer_of(letter["transaction"]["id"]) is None


async def test_an_admin_letter_with_bare_names_sends_its_pdf(served):
    async with served.agent_session(served.enrol(SIREN)) as http, served.admin_session() as admin:
        acte_id = await acknowledged_act(http)
        body, headers = multipart(bare_field("code", "2-1"), bare_field("text", "Pour information"),
                                  bare_file("document", "courrier.pdf", PDFS[0]))
        async with admin.post(f"/admin/transactions/{acte_id}/courriers", data=body,
                              headers=headers) as r:
            sent = await r.json()
            assert r.status == 201, sent
    document = await served.simulator.prefecture.letter_document(sent["transaction"]["id"])
    assert served.simulator.store.blobs.read(document.sha256) == PDFS[0]


async def test_an_archive_form_with_a_second_part_is_refused_not_half_read(served):
    """The platform door's form carries the archive only: a field or a second file beside it
    was ignored in silence; it is refused, and nothing is stored."""
    built = corpus.build()
    archive = corpus._pack(built)[1]
    for extra in (bare_field("commentaire", "urgent"), bare_file("archive", "autre.tar.gz", archive)):
        body, headers = multipart(bare_file("archive", built.name, archive), extra)
        async with served.agent_session(served.enrol(SIREN)) as http, \
                http.post("/api/v1/archives", data=body, headers=headers) as r:
            refusal = await r.json()
            assert (r.status, refusal["code"]) == (422, "FIELD_UNKNOWN"), refusal
    assert served.simulator.store.list().total == 0
    assert list((served.simulator.config.data_dir / "uploads").iterdir()) == []
