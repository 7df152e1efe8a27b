"""S²LOW's multipart routes fed the exact bytes real clients send, checked by what is stored.

`fixtures/pastell/*.http` are requests captured on a loopback socket from Pastell's
`lib/CurlWrapper.php` run under PHP 8.2 (Debian's php-cli, php-curl), called in the order
`connecteur/s2low/S2low.php` calls it (`sendActes`, `sendReponseType`): with repeated names
(two or more `type_pj[]`, `acte_attachments[]`) CurlWrapper writes the body itself, names
unquoted; with one annex PHP's curl (CURLFile) writes it. The commons-httpclient body is built
here as Lutèce's `S2lowService` has commons-httpclient 3 build it (StringPart, FilePart).
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from pypdf import PdfReader

from operator_sim.protocol.messages import Acte, message_from_element
from operator_sim.protocol.xmlsafe import parse_xml
from operator_sim.store import TransactionFilter
from operator_sim.testing import corpus

from .conftest import ACTES, SIREN, latin1

FIXTURES = Path(__file__).parent / "fixtures" / "pastell"
ACTE_PDF = corpus.minimal_pdf("Deliberation 2024-012")
ANNEXES = [corpus.minimal_pdf(f"Annexe {i + 1}") for i in range(5)]
ANNEX_NAMES = ["Annexe 1 — plan été.pdf", "annexe_2.pdf", "Budget annexe n°3.pdf", "annexe 4.pdf",
               "annexe-5.pdf"]


def pastell_name(name: str) -> str:
    """Pastell's getFilenameTransformation, byte by byte as PHP's preg_replace works."""
    return re.sub(rb"[^a-zA-Z0-9._ ]", b"_", name.encode()).decode()


def captured(name: str) -> tuple[str, dict[str, str], bytes]:
    """A captured request: its path, headers and body bytes."""
    head, body = (FIXTURES / name).read_bytes().split(b"\r\n\r\n", 1)
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return request_line.split()[1], headers, body


async def replay(s2low, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """The body's bytes as captured, with the client's Content-Type (and Expect)."""
    sent = {k: v for k, v in headers.items() if k in ("Content-Type", "Expect")}
    async with s2low.session().post(path, data=body, headers=sent) as r:
        return r.status, latin1(await r.read())


async def acknowledged(s2low, transaction_id: int) -> None:
    """Posted by the RGS agent (Pastell sends en_attente=1), then acknowledged."""
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api.php",
                                   params={"id": str(transaction_id)},
                                   allow_redirects=False) as r:
        assert r.status in (200, 302), await r.text()
    for _ in range(20):
        if (await s2low.status(transaction_id))[1] == "4":
            return
    raise AssertionError("not acknowledged")


def sent_1_1(served, transaction_id: int) -> tuple[Acte, dict[str, bytes]]:
    """The 1-1 as the préfecture receives it: the envelope archive's Acte and its files."""
    row = served.simulator.store.get(transaction_id)
    archive = served.simulator.store.blobs.read(row.archive_sha256)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    actes = [message_from_element(parse_xml(content)) for name, content in members.items()
             if name.endswith(".xml") and b"Acte" in content[:400]]
    (acte,) = [a for a in actes if isinstance(a, Acte)]
    return acte, members


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("annexes", [0, 1, 2, 5])
async def test_pastell_create_keeps_every_annex_byte_for_byte_and_in_order(s2low, annexes):
    served = s2low.served
    path, headers, body = captured(f"create-{annexes}.http")
    status, answer = await replay(s2low, path, headers, body)
    assert status == 200 and answer.startswith("OK\n"), answer
    transaction_id = int(answer.split("\n")[1])
    await acknowledged(s2low, transaction_id)
    posted = [pastell_name(n) for n in ANNEX_NAMES[:annexes]]

    # The 1-1 the préfecture receives: the act, then every annex, in the posted order.
    acte, members = sent_1_1(served, transaction_id)
    assert members[acte.document.nom_fichier] == ACTE_PDF
    assert [members[a.nom_fichier] for a in acte.annexes] == ANNEXES[:annexes]

    # The files list: S²LOW's posted_filename is the name the client uploaded.
    async with s2low.session().get(f"{ACTES}/actes_transac_get_files_list.php",
                                   params={"transaction": str(transaction_id)}) as r:
        files = await r.json(content_type=None)
    assert [f["name"] for f in files[1:]] == [acte.document.nom_fichier,
                                              *(a.nom_fichier for a in acte.annexes)]
    assert [f["posted_filename"] for f in files] == \
        ["", pastell_name("Délibération n°12.pdf"), *posted]
    assert [f["sign"] for f in files] == [""] * (annexes + 2)

    id_acte = served.simulator.store.get(transaction_id).id_acte
    for file, expected, label in zip(files[2:], ANNEXES, range(1, annexes + 1), strict=False):
        async with s2low.session().get(f"{ACTES}/actes_download_file.php",
                                       params={"file": str(file["id"])}) as r:
            assert await r.read() == expected
            (named,) = re.findall(r'filename="([^"]*)"', r.headers["Content-Disposition"])
            assert unquote(named) == file["posted_filename"]
        async with s2low.session().get(f"{ACTES}/actes_download_file.php",
                                       params={"file": str(file["id"]), "tampon": "true"}) as r:
            stamped = PdfReader(io.BytesIO(await r.read())).pages[0].extract_text()
            (named,) = re.findall(r'filename="([^"]*)"', r.headers["Content-Disposition"])
            assert unquote(named) == file["posted_filename"]
        assert id_acte in stamped and f"Annexe {label}" in stamped

    # The bordereau: every file, the posted names in its "nom déposé" column, in order.
    async with s2low.session().get(f"{ACTES}/actes_create_pdf.php",
                                   params={"trans_id": str(transaction_id)}) as r:
        slip = squeezed("".join(p.extract_text() for p in PdfReader(io.BytesIO(await r.read())).pages))
    where = [slip.index(squeezed(name)) for name in [pastell_name("Délibération n°12.pdf"), *posted]]
    assert where == sorted(where)


async def test_pastell_3_4_answer_keeps_both_pieces(s2low):
    served = s2low.served
    status, answer = await replay(s2low, *captured("create-0.http"))
    acte_id = int(answer.split("\n")[1])
    await acknowledged(s2low, acte_id)
    letter = await served.simulator.prefecture.send_letter(acte_id, "3-1",
                                                           text="Merci d'envoyer le plan")
    path, headers, body = captured("reponse-3-4.http")
    body = body.replace(b"name=id\r\n\r\n42\r\n", f"name=id\r\n\r\n{letter.transaction.id}\r\n".encode())
    status, answer = await replay(s2low, path, headers, body)
    assert status == 200 and answer.startswith("OK\n"), answer
    answer_id = int(answer.split("\n")[1])
    documents = served.simulator.store.documents(answer_id)
    contents = [served.simulator.store.blobs.read(d.sha256) for d in documents]
    assert contents == [corpus.minimal_pdf("Reponse"), corpus.minimal_pdf("Piece 1"),
                        corpus.minimal_pdf("Piece 2")]
    assert [d.posted_name for d in documents] == ["Réponse à la demande.pdf",
                                                  "Pièce 1 — plan.pdf", "piece_2.pdf"]


async def test_megacte_create_without_typologies_is_refused_naming_its_first_annex(s2low):
    """MegActe's client (requests, prepared offline: fixtures/megacte/create-2.http) posts
    `acte_attachments[]` without `type_pj[]`: S²LOW refuses, naming the annex; nothing is
    stored. (urllib3 writes `"` in a file name as %22: PHP keeps that text as the name.)"""
    head, body = (FIXTURES.parent / "megacte" / "create-2.http").read_bytes().split(b"\r\n\r\n", 1)
    content_type = next(line.split(": ", 1)[1] for line in head.decode().split("\r\n")
                        if line.startswith("Content-Type: "))
    _, answer = await replay(s2low, f"{ACTES}/actes_transac_create.php",
                             {"Content-Type": content_type}, body)
    assert answer == ("KO\nErreur lors de la réception du fichier annexe Annexe 1 — plan été.pdf :"
                      " typologie absente\n").replace("—", "?"), answer
    assert _stored_acts(s2low) == 0


# -- commons-httpclient 3 (Lutèce's S2lowService): every part with its Content-Type and CTE ------

BOUNDARY = b"Lq9Jbd7nW3_pQx-vRt2Ks8zYc1HfUe"


def string_part(name: str, value: bytes, charset: str = "US-ASCII") -> bytes:
    return (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name.encode()
            + b'"\r\nContent-Type: text/plain; charset=' + charset.encode()
            + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + value + b"\r\n")


def file_part(name: str, filename: bytes, content: bytes) -> bytes:
    return (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name.encode()
            + b'"; filename="' + filename + b'"\r\nContent-Type: application/octet-stream; '
            b"charset=ISO-8859-1\r\nContent-Transfer-Encoding: binary\r\n\r\n" + content + b"\r\n")


def commons_httpclient_create(number: str, annexes: list[tuple[bytes, bytes]]) -> bytes:
    fields = {"api": b"1", "nature_code": b"1", "classif1": b"5", "classif2": b"2",
              "number": number.encode(), "decision_date": b"2024-03-12", "en_attente": b"1",
              "type_acte": b"99_DE"}
    body = b"".join(string_part(k, v) for k, v in fields.items())
    body += string_part("subject", "Règlement intérieur".encode("iso-8859-1"), "ISO-8859-1")
    body += b"".join(string_part("type_pj[]", b"99_DE") for _ in annexes)
    body += file_part("acte_pdf_file", b"deliberation.pdf", ACTE_PDF)
    body += b"".join(file_part("acte_attachments[]", name, content) for name, content in annexes)
    return body + b"--" + BOUNDARY + b"--\r\n"


async def test_commons_httpclient_parts_are_read_whole(s2low):
    annexes = [("annexe \xe9t\xe9.pdf".encode("iso-8859-1"), ANNEXES[0]),
               (b"plan de situation.pdf", ANNEXES[1])]
    status, answer = await replay(
        s2low, f"{ACTES}/actes_transac_create.php",
        {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()},
        commons_httpclient_create("LUTECE_1", annexes))
    assert status == 200 and answer.startswith("OK\n"), answer
    transaction_id = int(answer.split("\n")[1])
    row = s2low.served.simulator.store.get(transaction_id)
    assert row.objet == "Règlement intérieur"
    documents = [d for d in s2low.served.simulator.store.documents(transaction_id)
                 if d.role == "annexe"]
    assert [s2low.served.simulator.store.blobs.read(d.sha256) for d in documents] == ANNEXES[:2]
    assert [d.posted_name for d in documents] == ["annexe été.pdf", "plan de situation.pdf"]


# -- every malformed part: refused whole, or stored whole; never stored in part -----------------

def create_with(second_annex: bytes, *, tail: bytes = b"--" + BOUNDARY + b"--\r\n") -> bytes:
    """A create post whose second annex part is `second_annex` (headers, blank line, content)."""
    body = commons_httpclient_create("MALFORME_1", [(b"annexe1.pdf", ANNEXES[0])])
    body = body.replace(string_part("type_pj[]", b"99_DE"), string_part("type_pj[]", b"99_DE") * 2)
    return body[:-len(b"--" + BOUNDARY + b"--\r\n")] + b"--" + BOUNDARY + b"\r\n" \
        + second_annex + b"\r\n" + tail


def annex(disposition: bytes, *extra: bytes, content: bytes = ANNEXES[1]) -> bytes:
    return b"\r\n".join([b"Content-Disposition: " + disposition, *extra, b"", content])


PDF_B64 = __import__("base64").encodebytes(ANNEXES[1])
REFUSED = {
    "no-content-disposition": annex(b"", content=ANNEXES[1]).replace(b"Content-Disposition: \r\n",
                                                                     b"Content-Type: application/pdf\r\n"),
    "disposition-without-name": annex(b'form-data; filename="annexe2.pdf"'),
    "empty-name": annex(b'form-data; name=""; filename="annexe2.pdf"'),
    "base64-transfer-encoding": annex(b'form-data; name="acte_attachments[]"; filename="a2.pdf"',
                                      b"Content-Transfer-Encoding: base64", content=PDF_B64),
    "quoted-printable": annex(b'form-data; name="acte_attachments[]"; filename="a2.pdf"',
                              b"Content-Transfer-Encoding: quoted-printable"),
    "header-without-colon": annex(b'form-data; name="acte_attachments[]"; filename="a2.pdf"',
                                  b"this is not a header"),
    "nul-in-header": annex(b'form-data; name="acte_attachments[]"; filename="a\x002.pdf"'),
    "header-line-too-long": annex(b'form-data; name="acte_attachments[]"; filename="a2.pdf"',
                                  b"X-Long: " + b"a" * 9000),
    "cut-inside-last-part": None,  # built below: no closing boundary
}
STORED = {
    "unquoted-array-name": (annex(b"form-data; name=acte_attachments[]; filename=\"annexe 2.pdf\""),
                            "annexe 2.pdf"),
    "single-quoted-name": (annex(b"form-data; name='acte_attachments[]'; filename='annexe2.pdf'"),
                           "annexe2.pdf"),
    "upper-case-keys": (annex(b'FORM-DATA; NAME=acte_attachments[]; FILENAME="annexe2.pdf"'),
                        "annexe2.pdf"),
    "rfc2231-filename": (annex(b"form-data; name=\"acte_attachments[]\"; filename=\"x.pdf\"; "
                               b"filename*=UTF-8''annexe%20%C3%A9t%C3%A9.pdf"), "annexe été.pdf"),
    "windows-path": (annex(b'form-data; name="acte_attachments[]"; filename="C:\\Users\\agent\\annexe2.pdf"'),
                     "annexe2.pdf"),
    "utf8-filename": (annex('form-data; name="acte_attachments[]"; filename="Pièce n°2 été.pdf"'.encode()),
                      "Pièce n°2 été.pdf"),
    "latin1-filename": (annex('form-data; name="acte_attachments[]"; filename="Pièce 2.pdf"'
                              .encode("latin-1")), "Pièce 2.pdf"),
    "wrong-part-content-length": (annex(b'form-data; name="acte_attachments[]"; filename="a2.pdf"',
                                        b"Content-Length: 5"), "a2.pdf"),  # PHP reads to the boundary
    "nested-multipart-type": (annex(b'form-data; name="acte_attachments[]"; filename="annexe2.pdf"',
                                    b"Content-Type: multipart/mixed; boundary=zz"), "annexe2.pdf"),
    "identity-8bit": (annex(b'form-data; name="acte_attachments[]"; filename="annexe2.pdf"',
                            b"Content-Transfer-Encoding: 8bit"), "annexe2.pdf"),
    "right-part-content-length": (annex(b'form-data; name="acte_attachments[]"; filename="annexe2.pdf"',
                                        f"Content-Length: {len(ANNEXES[1])}".encode()), "annexe2.pdf"),
}


async def _post_variant(s2low, body: bytes) -> tuple[int, str]:
    return await replay(s2low, f"{ACTES}/actes_transac_create.php",
                        {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()}, body)


def _stored_acts(s2low) -> int:
    return s2low.served.simulator.store.list(TransactionFilter(siren=SIREN)).total


def _uploads_left(s2low) -> list[str]:
    return sorted(p.name for p in (s2low.served.simulator.config.data_dir / "uploads").iterdir())


@pytest.mark.parametrize("variant", sorted(REFUSED))
async def test_a_malformed_part_refuses_the_whole_post(s2low, variant):
    body = create_with(REFUSED[variant]) if REFUSED[variant] is not None else \
        create_with(annex(b'form-data; name="acte_attachments[]"; filename="a2.pdf"'), tail=b"")[:-200]
    status, answer = await _post_variant(s2low, body)
    assert answer.startswith("KO\n") and status == 200, (status, answer)  # S²LOW: KO, HTTP 200
    assert "partie n° " in answer or "mal formé" in answer, answer
    assert _stored_acts(s2low) == 0
    assert _uploads_left(s2low) == []


@pytest.mark.parametrize("variant", sorted(STORED))
async def test_a_part_php_reads_is_stored_whole(s2low, variant):
    part, posted = STORED[variant]
    status, answer = await _post_variant(s2low, create_with(part))
    assert status == 200 and answer.startswith("OK\n"), answer
    transaction_id = int(answer.split("\n")[1])
    documents = [d for d in s2low.served.simulator.store.documents(transaction_id)
                 if d.role == "annexe"]
    assert [s2low.served.simulator.store.blobs.read(d.sha256) for d in documents] == ANNEXES[:2]
    assert [d.posted_name for d in documents] == ["annexe1.pdf", posted]
    assert _uploads_left(s2low) == []


async def test_sign_is_the_signature_file_posted_with_the_document(s2low):
    """S²LOW's `sign`: the text of `acte_pdf_file_sign` / `acte_attachments_sign[]`, trailing
    blanks removed; empty for a document posted without one."""
    body = commons_httpclient_create("SIGNE_1", [(b"annexe1.pdf", ANNEXES[0]),
                                                 (b"annexe2.pdf", ANNEXES[1])])
    body = body.replace(string_part("type_pj[]", b"99_DE"), b"", 1) \
        .replace(string_part("type_pj[]", b"99_DE"), string_part("type_pj[]", b"99_DE") * 2)
    body = body[:-len(b"--" + BOUNDARY + b"--\r\n")] \
        + file_part("acte_pdf_file_sign", b"acte.p7s", b"U0lHTkFUVVJFLUFDVEU=\n") \
        + file_part("acte_attachments_sign[]", b"a1.p7s", b"U0lHTkFUVVJFLUFOTkVYRQ==\r\n") \
        + b"--" + BOUNDARY + b"--\r\n"
    status, answer = await _post_variant(s2low, body)
    assert status == 200 and answer.startswith("OK\n"), answer
    transaction_id = int(answer.split("\n")[1])
    await acknowledged(s2low, transaction_id)
    async with s2low.session().get(f"{ACTES}/actes_transac_get_files_list.php",
                                   params={"transaction": str(transaction_id)}) as r:
        files = await r.json(content_type=None)
    assert [f["sign"] for f in files] == ["", "U0lHTkFUVVJFLUFDVEU=", "U0lHTkFUVVJFLUFOTkVYRQ==", ""]


async def test_explicit_array_indexes_are_walked_in_index_order(s2low):
    """web-delib posts `acte_attachments[$i]`: PHP's script walks the array by index."""
    body = commons_httpclient_create("INDEXES_1", [])
    body = body[:-len(b"--" + BOUNDARY + b"--\r\n")] \
        + string_part("type_pj[1]", b"99_DE") + string_part("type_pj[0]", b"99_DE") \
        + file_part("acte_attachments[1]", b"second.pdf", ANNEXES[1]) \
        + file_part("acte_attachments[0]", b"first.pdf", ANNEXES[0]) \
        + b"--" + BOUNDARY + b"--\r\n"
    status, answer = await _post_variant(s2low, body)
    assert status == 200 and answer.startswith("OK\n"), answer
    documents = [d for d in s2low.served.simulator.store.documents(int(answer.split("\n")[1]))
                 if d.role == "annexe"]
    assert [d.posted_name for d in documents] == ["first.pdf", "second.pdf"]
    assert [s2low.served.simulator.store.blobs.read(d.sha256) for d in documents] == ANNEXES[:2]


async def test_an_array_index_given_twice_refuses_the_post(s2low):
    """PHP would keep the second `acte_attachments[0]` only, dropping the first in silence."""
    body = commons_httpclient_create("INDEXES_2", [])
    body = body[:-len(b"--" + BOUNDARY + b"--\r\n")] \
        + string_part("type_pj[0]", b"99_DE") \
        + file_part("acte_attachments[0]", b"first.pdf", ANNEXES[0]) \
        + file_part("acte_attachments[0]", b"again.pdf", ANNEXES[1]) \
        + b"--" + BOUNDARY + b"--\r\n"
    status, answer = await _post_variant(s2low, body)
    assert answer.startswith("KO\n") and status == 200, answer  # S²LOW: KO, HTTP 200
    assert "partie n° 13 (acte_attachments[0])" in answer
    assert _stored_acts(s2low) == 0 and _uploads_left(s2low) == []
