"""The stamped act (tampon) and the bordereau d'acquittement: real PDFs read back with pypdf."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen.canvas import Canvas

from operator_sim.engine.clock import paris_date
from operator_sim.pdf.bordereau import BordereauFacts, Etape, Fichier, render_bordereau
from operator_sim.pdf.tampon import Tampon, TamponError, stamp_pdf

from .conftest import ACTES, ANNEXE, create_form, latin1

ID_ACTE = "034-491011698-20240312-DELIB2024_012-DE"


def pages_pdf(count: int, *, rotate_first: int = 0) -> bytes:
    """A real multi-page PDF whose pages say "Page N"."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(595, 842), invariant=True)
    for n in range(1, count + 1):
        canvas.drawString(72, 720, f"Page {n} de la deliberation")
        canvas.showPage()
    canvas.save()
    if not rotate_first:
        return buffer.getvalue()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    writer.pages[0].rotate(rotate_first)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


TAMPON = Tampon(ID_ACTE, dt.date(2024, 3, 14), dt.date(2024, 3, 15))


def test_stamp_keeps_every_page_and_writes_the_four_lines_on_the_first():
    original = pages_pdf(3)
    stamped = stamp_pdf(original, TAMPON)
    before, after = texts(original), texts(stamped)
    assert len(after) == 3 and after[1:] == before[1:]
    assert before[0] in after[0]
    for line in ("Envoyé en préfecture le 14/03/2024", "Reçu en préfecture le 15/03/2024",
                 "Publié le", f"ID : {ID_ACTE}"):
        assert line in after[0]


def test_stamp_of_a_rotated_page_and_a_publication_date():
    stamped = stamp_pdf(pages_pdf(2, rotate_first=90),
                        Tampon(ID_ACTE, dt.date(2024, 3, 14), dt.date(2024, 3, 14),
                               dt.date(2024, 4, 1)))
    reader = PdfReader(io.BytesIO(stamped))
    assert len(reader.pages) == 2 and "Publié le 01/04/2024" in reader.pages[0].extract_text()


@pytest.mark.parametrize("content", [b"", b"not a pdf at all", b"%PDF-1.4\n%%EOF\n"])
def test_unreadable_document_is_a_tampon_error(content):
    with pytest.raises(TamponError):
        stamp_pdf(content, TAMPON)


def test_bordereau_lists_idacte_dates_nature_matiere_objet_and_files():
    facts = BordereauFacts(
        transaction_id=7, type_transaction="Transmission d'actes", collectivite="Commune",
        siren="491011698", agent="Alice Martin", id_acte=ID_ACTE, numero_interne="DELIB2024_012",
        date_decision=dt.date(2024, 3, 12), nature="Délibérations",
        matiere="5.2 Fonctionnement des assemblées", objet="Règlement intérieur " * 20,
        document_papier=True, envoye_le=dt.datetime(2024, 3, 14, 9, 0, tzinfo=dt.UTC),
        recu_le=dt.date(2024, 3, 14),
        fichiers=tuple(Fichier(f"99_DE-034-491011698-20240312-DELIB2024_012-DE-1-1_{i}.pdf",
                               f"fichier{i}.pdf", "application/pdf", 1000 + i) for i in range(1, 40)),
        cycle=(Etape(dt.datetime(2024, 3, 14, 9, 0, tzinfo=dt.UTC), "Posté", "Dépôt initial"),))
    pdf = render_bordereau(facts, generated_at=dt.datetime(2024, 3, 20, 8, 0, tzinfo=dt.UTC))
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2  # 39 files do not fit one page
    for expected in (ID_ACTE, "DELIB2024_012", "12/03/2024", "14/03/2024 à 10:00:00",
                     "Délibérations", "5.2 Fonctionnement des assemblées", "Règlement intérieur",
                     "OUI", "(fichier39.pdf)", "Édité le 20/03/2024 à 09:00:00"):
        assert expected in text, expected
    assert all(f.nom in text.replace("\n", "") for f in facts.fichiers)
    assert reader.metadata["/CreationDate"] == "D:20240320080000Z"


# -- through the S²LOW API ----------------------------------------------------------------------


async def files_of(s2low, transaction_id):
    async with s2low.session().get(f"{ACTES}/actes_transac_get_files_list.php",
                                   params={"transaction": str(transaction_id)}) as r:
        return json.loads(await r.read())


async def download(s2low, path, **params):
    async with s2low.session().get(f"{ACTES}/{path}", params=params) as r:
        assert r.status == 200, latin1(await r.read())
        return r.headers["Content-Type"], await r.read()


async def test_acknowledged_act_and_annexes_download_stamped_with_the_ar_date(s2low):
    original = pages_pdf(3)
    transaction_id = await s2low.created(create_form(files=[
        ("acte_pdf_file", "deliberation.pdf", original),
        ("acte_attachments[]", "reglement.pdf", ANNEXE)]))
    received = paris_date(s2low.served.simulator.clock.now()).strftime("%d/%m/%Y")
    files = await files_of(s2low, transaction_id)
    kind, stamped = await download(s2low, "actes_download_file.php", file=str(files[1]["id"]),
                                   tampon="true")
    after = texts(stamped)
    assert kind == "application/pdf" and len(after) == 3 and after[1:] == texts(original)[1:]
    assert f"ID : {ID_ACTE}" in after[0] and f"Reçu en préfecture le {received}" in after[0]
    _, annexe = await download(s2low, "actes_download_file.php", file=str(files[2]["id"]),
                               tampon="true", date_affichage="2024-04-02")
    assert "Publié le 02/04/2024" in texts(annexe)[0] and ID_ACTE in texts(annexe)[0]
    _, plain = await download(s2low, "actes_download_file.php", file=str(files[1]["id"]))
    assert plain == original
    _, legacy = await download(s2low, "actes_transac_get_tampon.php",
                               transaction=str(transaction_id))
    assert texts(legacy) == after


async def test_bordereau_of_an_acknowledged_act(s2low):
    transaction_id = await s2low.created(create_form(document_papier="1"))
    kind, pdf = await download(s2low, "actes_create_pdf.php", trans_id=str(transaction_id))
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    today = paris_date(s2low.served.simulator.clock.now()).strftime("%d/%m/%Y")
    assert kind == "application/pdf"
    for expected in (ID_ACTE, "DELIB2024_012", "12/03/2024", today, "Délibérations",
                     "5.2 Fonctionnement des assemblées", "Approbation du règlement intérieur",
                     "Alice Martin", "Commune de Saint-Exemple", "OUI", "Acquittement reçu"):
        assert expected in text, expected
    for f in await files_of(s2low, transaction_id):
        assert f["name"] in text.replace("\n", "")
