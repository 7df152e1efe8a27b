"""The préfecture's flows below HTTP: held acts, letters 2-1…5-1 and the collectivité's answers,
on a real SQLite store, real blobs, a real test PKI (openssl checks the signatures) and the XSD."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from operator_sim.engine.clock import VirtualClock
from operator_sim.engine.intake import Engine, RequestRefused
from operator_sim.engine.prefecture import Prefecture
from operator_sim.errors import Kind
from operator_sim.pki import Forbidden, Identity
from operator_sim.protocol.classification import default_classification
from operator_sim.protocol.codes import AnomalieNature, Sender, TransactionType
from operator_sim.protocol.codes import TransactionStatus as S
from operator_sim.protocol.messages import (
    DefereTA,
    DemandePieceComplementaire,
    EnveloppeMISILLCL,
    PieceComplementaire,
    parse_message,
)
from operator_sim.signature import sign_outgoing
from operator_sim.store import AsyncStore, SqliteStore
from operator_sim.testing import corpus
from operator_sim.timestamp import authority_from_pki
from operator_sim.validation.validator import ValidationPolicy

NOW = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
SIREN = corpus.COMMUNE.siren
ID_ACTE = "034-491011698-20240312-DELIB2024_012-DE"
XSD = Path(__file__).resolve().parents[2] / "schemas" / "actes" / "actes.xsd"
PDF = corpus.minimal_pdf("pièce")


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def agent(*sirens: str, roles=("read", "submit", "cancel", "answer")) -> Identity:
    return Identity(fingerprint="cd" * 32, name="Bob", sirens=frozenset(sirens),
                    roles=frozenset(roles), certificate_siren=sirens[0])


@pytest.fixture
async def prefecture(tmp_path, pki):
    store = SqliteStore.open(tmp_path / "data")
    for siren in ("491011698", "253400014"):  # the strict profile refuses senders without
        store.ensure_convention(siren, "SLO")
    clock = VirtualClock(NOW)
    tsa = authority_from_pki(pki.directory, clock=clock.now)
    engine = Engine(store=AsyncStore(store), clock=clock,
                    policy=lambda: ValidationPolicy(today=clock.today()),
                    stamp=tsa.stamp_digest, sign=lambda xml: sign_outgoing(xml, pki),
                    classification=default_classification)
    yield Prefecture(engine)
    store.close()


async def held_act(prefecture: Prefecture, folder: Path, numero: int = 1, **request):
    folder.mkdir(parents=True, exist_ok=True)
    built = corpus.build(corpus.base_request(**request), numero=numero)
    return await prefecture.engine.submit_archive(agent(SIREN), built.name, built.write(folder),
                                                  hold=True)


async def acknowledged_act(prefecture: Prefecture, folder: Path) -> int:
    held = await held_act(prefecture, folder)
    return (await prefecture.acknowledge(held.transaction.id)).transaction.id


def stored(prefecture: Prefecture, sha: str) -> bytes:
    return prefecture.engine.sqlite.blobs.read(sha)


async def messages(prefecture: Prefecture, transaction_id: int) -> dict:
    return {m.code: m for m in await prefecture.engine.store.messages(transaction_id)}


async def journal(prefecture: Prefecture, transaction_id: int) -> list[S]:
    return [e.to_status for e in await prefecture.engine.store.journal(transaction_id)]


def assert_signed_and_valid(prefecture, message, schema, pki, tmp_path) -> None:
    """The stored message validates against actes.xsd and its CMS verifies with openssl."""
    xml = stored(prefecture, message.xml_sha256)
    document = etree.fromstring(xml)
    assert schema.validate(document), schema.error_log
    xml_path, p7s = tmp_path / f"{message.id}.xml", tmp_path / f"{message.id}.p7s"
    xml_path.write_bytes(xml)
    p7s.write_bytes(stored(prefecture, message.signature_sha256))
    verified = subprocess.run(["openssl", "cms", "-verify", "-binary", "-content", str(xml_path),
                               "-inform", "DER", "-in", str(p7s), "-CAfile", str(pki.roots_path),
                               "-out", "/dev/null"], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr


# -- the held act ---------------------------------------------------------------------------------

async def test_acknowledging_a_held_act_sends_the_ar(prefecture, tmp_path):
    held = await held_act(prefecture, tmp_path)
    assert held.transaction.status is S.TRANSMIS
    outcome = await prefecture.acknowledge(held.transaction.id, actor="agent-pref")
    assert outcome.code == "1-2" and outcome.id_acte == ID_ACTE
    events = await prefecture.engine.store.journal(held.transaction.id)
    assert events[-1].to_status is S.ACQUITTEMENT_RECU and events[-1].actor == "agent-pref"
    with pytest.raises(RequestRefused) as again:
        await prefecture.acknowledge(held.transaction.id)
    assert again.value.kind is Kind.CONFLICT and again.value.code == "NOT_AWAITING_ANSWER"


async def test_rejecting_a_held_act_sends_an_anomalie_with_nature_and_detail(prefecture, tmp_path):
    held = await held_act(prefecture, tmp_path)
    outcome = await prefecture.reject(held.transaction.id, AnomalieNature.SIGNATURE,
                                      "Signature absente")
    assert outcome.code == "1-3" and outcome.transaction.status is S.ERREUR
    anomalie = parse_message(stored(prefecture, (await messages(prefecture, held.transaction.id))
                                    ["1-3"].xml_sha256))
    assert anomalie.nature == "012" and anomalie.detail == "Signature absente"


async def test_racing_decisions_on_one_held_act_yield_one_answer(prefecture, tmp_path):
    held = await held_act(prefecture, tmp_path)
    results = await asyncio.gather(
        prefecture.acknowledge(held.transaction.id),
        prefecture.reject(held.transaction.id, AnomalieNature.DATE, "Date"),
        return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(r.kind is Kind.CONFLICT for r in results if isinstance(r, RequestRefused))
    assert (await journal(prefecture, held.transaction.id))[-1] in (S.ACQUITTEMENT_RECU, S.ERREUR)
    assert len([m for m in await prefecture.engine.store.messages(held.transaction.id)
                if m.direction is Sender.PREF]) == 1


# -- letters ----------------------------------------------------------------------------------------

async def test_courrier_simple_then_reponse(prefecture, tmp_path, schema, pki):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    prefecture.engine.clock.advance(dt.timedelta(days=3))
    letter = await prefecture.send_letter(acte_id, "2-1", text="Merci de préciser l'objet.")
    row = letter.transaction
    assert letter.code == "2-1" and row.type is TransactionType.COURRIER_SIMPLE
    assert row.status is S.DOCUMENT_RECU_PAS_D_AR and row.related_transaction_id == acte_id
    assert row.id_acte == ID_ACTE and row.siren == SIREN
    sent = (await messages(prefecture, row.id))["2-1"]
    assert sent.direction is Sender.PREF and sent.timestamp_token_sha256
    assert sent.file_name == f"{ID_ACTE}-2-1_{sent.file_name.rsplit('_', 1)[1]}"
    assert_signed_and_valid(prefecture, sent, schema, pki, tmp_path)
    # the préfecture's bundle: EnveloppeMISILLCL + message + the letter's PDF
    with tarfile.open(fileobj=prefecture.engine.sqlite.blobs.open(row.archive_sha256)) as tar:
        names = tar.getnames()
        envelope = parse_message(tar.extractfile(names[0]).read())
    assert isinstance(envelope, EnveloppeMISILLCL) and envelope.destinataire_siren == SIREN
    assert names[1] == sent.file_name and names[2] == f"{ID_ACTE}-2-1_1.pdf"
    assert row.archive_name == f"SLO-{names[0][:-4]}.tar.gz"
    document = await prefecture.letter_document(row.id)
    assert stored(prefecture, document.sha256).startswith(b"%PDF-")
    assert [r.id for r in await prefecture.letters([SIREN], pending_only=True)] == [row.id]

    answer = await prefecture.answer(agent(SIREN), row.id, "2-2",
                                     documents=[("reponse.pdf", PDF)])
    assert answer.code is None  # no receipt exists for 2-2
    assert answer.transaction.related_transaction_id == row.id
    assert await journal(prefecture, answer.transaction.id) == [
        S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS]
    reponse = (await messages(prefecture, answer.transaction.id))["2-2"]
    parsed = parse_message(stored(prefecture, reponse.xml_sha256))
    assert parsed.date_courrier_pref == dt.date(2024, 3, 17)  # echoes the letter's date
    assert schema.validate(etree.fromstring(stored(prefecture, reponse.xml_sha256)))
    assert await prefecture.letters([SIREN], pending_only=True) == ()
    assert (await prefecture.answer_of(row.id)).id == answer.transaction.id


async def test_demande_de_pieces_is_receipted_by_the_tdt_then_pieces_are_receipted(
        prefecture, tmp_path, schema, pki):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = await prefecture.send_letter(acte_id, "3-1", text="Annexe 2 signée")
    row = letter.transaction
    assert row.status is S.ACQUITTEMENT_ENVOYE
    assert await journal(prefecture, row.id) == [S.DOCUMENT_RECU, S.ACQUITTEMENT_ENVOYE]
    sent = await messages(prefecture, row.id)
    demande = parse_message(stored(prefecture, sent["3-1"].xml_sha256))
    assert isinstance(demande, DemandePieceComplementaire)
    assert demande.description_pieces == "Annexe 2 signée" and row.objet == "Annexe 2 signée"
    assert_signed_and_valid(prefecture, sent["3-1"], schema, pki, tmp_path)
    assert sent["3-2"].direction is Sender.CL
    assert schema.validate(etree.fromstring(stored(prefecture, sent["3-2"].xml_sha256)))

    answer = await prefecture.answer(agent(SIREN), row.id, "3-4", documents=[
        ("annexe2.pdf", PDF), ("plan.png", corpus.minimal_png())])
    assert answer.code == "3-5" and answer.transaction.status is S.ACQUITTEMENT_RECU
    assert await journal(prefecture, answer.transaction.id) == [
        S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU]
    got = await messages(prefecture, answer.transaction.id)
    pieces = parse_message(stored(prefecture, got["3-4"].xml_sha256))
    assert isinstance(pieces, PieceComplementaire)
    assert [d.nom_fichier for d in pieces.documents] == [f"{ID_ACTE}-3-4_1.pdf",
                                                          f"{ID_ACTE}-3-4_2.png"]
    assert [d.file_name for d in await prefecture.engine.store.documents(answer.transaction.id)] \
        == [f"{ID_ACTE}-3-4_1.pdf", f"{ID_ACTE}-3-4_2.png"]
    assert_signed_and_valid(prefecture, got["3-5"], schema, pki, tmp_path)
    receipt = parse_message(stored(prefecture, got["3-5"].xml_sha256))
    assert receipt.date_courrier_pref == dt.date(2024, 3, 14)
    with pytest.raises(RequestRefused) as twice:
        await prefecture.answer(agent(SIREN), row.id, "3-3", documents=[("refus.pdf", PDF)])
    assert twice.value.kind is Kind.CONFLICT and twice.value.code == "COURRIER_ALREADY_ANSWERED"


async def test_refus_de_pieces_is_receipted(prefecture, tmp_path):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = await prefecture.send_letter(acte_id, "3-1")
    answer = await prefecture.answer(agent(SIREN), letter.transaction.id, "3-3",
                                     documents=[("refus.pdf", PDF)])
    assert answer.code == "3-5" and answer.transaction.status is S.ACQUITTEMENT_RECU
    assert set(await messages(prefecture, answer.transaction.id)) == {"3-3", "3-5"}


@pytest.mark.parametrize("code", ["4-3", "4-4"])
async def test_lettre_d_observations_then_answer_or_rejet(prefecture, tmp_path, schema, pki, code):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = await prefecture.send_letter(acte_id, "4-1", text="Motif d'illégalité",
                                          document=corpus.minimal_pdf("Lettre"))
    assert letter.transaction.status is S.ACQUITTEMENT_ENVOYE
    sent = await messages(prefecture, letter.transaction.id)
    assert set(sent) == {"4-1", "4-2"}
    assert_signed_and_valid(prefecture, sent["4-1"], schema, pki, tmp_path)
    answer = await prefecture.answer(agent(SIREN), letter.transaction.id, code,
                                     documents=[("reponse.pdf", PDF)])
    assert answer.code == "4-5" and answer.transaction.status is S.ACQUITTEMENT_RECU
    got = await messages(prefecture, answer.transaction.id)
    assert schema.validate(etree.fromstring(stored(prefecture, got[code].xml_sha256)))
    assert_signed_and_valid(prefecture, got["4-5"], schema, pki, tmp_path)


async def test_defere_foresees_no_answer(prefecture, tmp_path, schema, pki):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = await prefecture.send_letter(acte_id, "5-1", text="Incompétence de l'auteur")
    row = letter.transaction
    assert row.type is TransactionType.DEFERE and row.status is S.DOCUMENT_RECU_PAS_D_AR
    sent = await messages(prefecture, row.id)
    assert set(sent) == {"5-1"}
    defere = parse_message(stored(prefecture, sent["5-1"].xml_sha256))
    assert isinstance(defere, DefereTA) and defere.nature_illegalite == "Incompétence de l'auteur"
    assert [p.nom_fichier for p in defere.pieces_jointes] == [f"{ID_ACTE}-5-1_1.pdf"]
    assert_signed_and_valid(prefecture, sent["5-1"], schema, pki, tmp_path)
    assert [r.id for r in await prefecture.letters([SIREN])] == [row.id]
    assert await prefecture.letters([SIREN], pending_only=True) == ()
    with pytest.raises(RequestRefused) as refused:
        await prefecture.answer(agent(SIREN), row.id, "2-2", documents=[("r.pdf", PDF)])
    assert refused.value.kind is Kind.CONFLICT and refused.value.code == "COURRIER_NOT_ANSWERABLE"


# -- refusals -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "text", "says"), [
    ("2-1", "Merci de préciser l'objet <de l'acte> & ses annexes.",
     "Merci de préciser l'objet <de l'acte> & ses annexes."),
    ("2-1", "", None),
    ("5-1", "", "Illégalité relevée lors du contrôle de légalité."),
    ("4-1", "Motif " * 660, ("Motif " * 660).strip()),  # MAX_TEXT is 4000
], ids=["2-1-with-markup", "2-1-empty", "5-1-default-text", "4-1-over-pages"])
async def test_a_generated_letter_reads_back_with_its_act_type_and_text(prefecture, tmp_path,
                                                                         code, text, says):
    """Without a document, the letter is drawn (reportlab): read back with pypdf, it names the
    letter's type, the act's IDActe, the collectivité and the day, and carries the text whole,
    wrapped over pages when long."""
    acte_id = await acknowledged_act(prefecture, tmp_path)
    letter = (await prefecture.send_letter(acte_id, code, text=text)).transaction
    pdf = stored(prefecture, (await prefecture.letter_document(letter.id)).sha256)
    reader = PdfReader(io.BytesIO(pdf))
    words = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert f"{letter.type.libelle} - acte {ID_ACTE}" in words
    assert f"SIREN {SIREN}" in words and "Le 14/03/2024" in words
    if says is not None:
        assert says in words
    assert (len(reader.pages) > 1) == (len(text) > 3000)  # long texts go on over pages
    assert reader.metadata["/CreationDate"] == "D:20240314093000Z"  # the simulator's clock


async def test_letters_need_an_acknowledged_act(prefecture, tmp_path):
    held = await held_act(prefecture, tmp_path)
    with pytest.raises(RequestRefused) as refused:
        await prefecture.send_letter(held.transaction.id, "3-1")
    assert refused.value.kind is Kind.CONFLICT and refused.value.code == "ACTE_NOT_ACKNOWLEDGED"
    with pytest.raises(RequestRefused) as unknown:
        await prefecture.send_letter(held.transaction.id, "1-2")
    assert unknown.value.kind is Kind.INVALID and unknown.value.code == "COURRIER_CODE"
    assert (await prefecture.engine.store.list()).total == 1


async def test_a_letter_document_must_be_a_whole_pdf(prefecture, tmp_path):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    for bad, code in ((corpus.minimal_png(), "DOCUMENT_FORMAT"),
                      (PDF[:-20], "DOCUMENT_PDF_INVALID")):
        with pytest.raises(RequestRefused) as refused:
            await prefecture.send_letter(acte_id, "2-1", document=bad)
        assert refused.value.code == code
    assert await prefecture.letters(None) == ()


async def test_answers_are_checked_for_code_documents_and_siren(prefecture, tmp_path):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = (await prefecture.send_letter(acte_id, "4-1")).transaction
    cases = [
        (agent("253400014"), "4-4", [("r.pdf", PDF)], Forbidden),
        (agent(SIREN, roles=("read",)), "4-4", [("r.pdf", PDF)], Forbidden),
        (agent(SIREN), "3-4", [("r.pdf", PDF)], "ANSWER_CODE"),
        (agent(SIREN), "9-9", [("r.pdf", PDF)], "ANSWER_CODE"),
        (agent(SIREN), "4-4", [], "DOCUMENTS_COUNT"),
        (agent(SIREN), "4-4", [("a.pdf", PDF), ("b.pdf", PDF)], "DOCUMENTS_COUNT"),
        (agent(SIREN), "4-4", [("r.pdf", corpus.minimal_png())], "DOCUMENT_FORMAT_MISMATCH"),
        (agent(SIREN), "4-4", [("r.txt", b"hello")], "DOCUMENT_FORMAT"),
        (agent(SIREN), "4-4", [("r.pdf", b"")], "DOCUMENT_EMPTY"),
    ]
    for who, code, documents, expected in cases:
        if expected is Forbidden:
            with pytest.raises(Forbidden):
                await prefecture.answer(who, letter.id, code, documents=documents)
            continue
        with pytest.raises(RequestRefused) as refused:
            await prefecture.answer(who, letter.id, code, documents=documents)
        assert refused.value.code == expected, (code, documents)
    with pytest.raises(RequestRefused) as not_a_letter:
        await prefecture.answer(agent(SIREN), acte_id, "4-4", documents=[("r.pdf", PDF)])
    assert not_a_letter.value.kind is Kind.NOT_FOUND and not_a_letter.value.code == "NOT_A_COURRIER"
    assert await prefecture.answer_of(letter.id) is None
    assert (await prefecture.engine.store.list()).total == 2


async def test_racing_answers_to_one_letter_yield_one(prefecture, tmp_path):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = (await prefecture.send_letter(acte_id, "3-1")).transaction
    results = await asyncio.gather(*(
        prefecture.answer(agent(SIREN), letter.id, code, documents=[("r.pdf", PDF)])
        for code in ("3-3", "3-4", "3-3", "3-4")), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert {r.code for r in results if isinstance(r, RequestRefused)} == {"COURRIER_ALREADY_ANSWERED"}


async def test_letters_can_be_marked_as_read_once(prefecture, tmp_path):
    acte_id = await acknowledged_act(prefecture, tmp_path / "a")
    letter = (await prefecture.send_letter(acte_id, "2-1")).transaction
    assert [r.id for r in await prefecture.letters([SIREN], unread_only=True)] == [letter.id]
    first = await prefecture.mark_as_read(agent(SIREN), letter.id)
    prefecture.engine.clock.advance(dt.timedelta(hours=1))
    assert await prefecture.mark_as_read(agent(SIREN), letter.id) == first == NOW
    assert await prefecture.letters([SIREN], unread_only=True) == ()
    with pytest.raises(Forbidden):
        await prefecture.mark_as_read(agent("253400014"), letter.id)
    assert await prefecture.letters(["253400014"]) == ()
