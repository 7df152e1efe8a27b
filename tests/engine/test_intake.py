"""The intake pipeline end to end below HTTP: real SQLite, blobs, PKI, TSA and signatures."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import subprocess
from datetime import UTC, datetime

import pytest

from operator_sim.engine.clock import VirtualClock
from operator_sim.engine.intake import Engine, IntakeRefused, RequestRefused
from operator_sim.engine.scenarios import DEFAULT_DECISION
from operator_sim.errors import Kind
from operator_sim.pki import Forbidden, Identity
from operator_sim.protocol.classification import default_classification
from operator_sim.protocol.codes import AnomalieNature, TransactionType
from operator_sim.protocol.codes import TransactionStatus as S
from operator_sim.protocol.messages import AnomalieActe, ARActe, parse_message
from operator_sim.signature import sign_outgoing
from operator_sim.store import AsyncStore, Collectivite, SqliteStore
from operator_sim.testing import corpus
from operator_sim.timestamp import authority_from_pki
from operator_sim.timestamp.verify import read_token
from operator_sim.validation.validator import ValidationPolicy

NOW = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
SIREN = corpus.COMMUNE.siren


def identity(*sirens: str) -> Identity:
    return Identity(fingerprint="ab" * 32, name="Alice", sirens=frozenset(sirens),
                    roles=frozenset({"read", "submit", "cancel", "answer"}),
                    certificate_siren=sirens[0] if sirens else "000000000")


@pytest.fixture
async def engine(tmp_path, pki):
    store = SqliteStore.open(tmp_path / "data")
    for siren in ("491011698", "253400014"):  # the strict profile refuses senders without
        store.ensure_convention(siren, "SLO")
    clock = VirtualClock(NOW)
    tsa = authority_from_pki(pki.directory, clock=clock.now)
    yield Engine(store=AsyncStore(store), clock=clock,
                 policy=lambda: ValidationPolicy(today=clock.today()),
                 stamp=tsa.stamp_digest, sign=lambda xml: sign_outgoing(xml, pki),
                 classification=default_classification)
    store.close()


async def submit(engine: Engine, built, folder, who=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = built.write(folder)
    return await engine.submit_archive(who or identity(SIREN), built.name, path)


async def test_valid_act_gets_an_ar_with_idacte_timestamp_and_signature(engine, tmp_path, pki):
    outcome = await submit(engine, corpus.build(), tmp_path)
    assert outcome.code == "1-2"
    assert outcome.id_acte == "034-491011698-20240312-DELIB2024_012-DE"
    row = outcome.transaction
    assert row.status is S.ACQUITTEMENT_RECU and row.id_acte == outcome.id_acte
    journal = await engine.store.journal(row.id)
    assert [e.to_status for e in journal] == [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION,
                                              S.TRANSMIS, S.ACQUITTEMENT_RECU]
    messages = {m.code: m for m in await engine.store.messages(row.id)}
    blobs = engine.sqlite.blobs
    ar = parse_message(blobs.read(messages["1-2"].xml_sha256))
    assert isinstance(ar, ARActe) and ar.id_acte == outcome.id_acte
    assert ar.date_reception == dt.date(2024, 3, 14)
    token = blobs.read(messages["1-2"].timestamp_token_sha256)
    archive = blobs.path(row.archive_sha256)
    xml, p7s = tmp_path / "ar.xml", tmp_path / "ar.p7s"
    xml.write_bytes(blobs.read(messages["1-2"].xml_sha256))
    p7s.write_bytes(blobs.read(messages["1-2"].signature_sha256))
    verified = subprocess.run(["openssl", "cms", "-verify", "-binary", "-content", str(xml),
                               "-inform", "DER", "-in", str(p7s), "-CAfile", str(pki.roots_path),
                               "-out", "/dev/null"], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    tsr = tmp_path / "archive.tst"
    tsr.write_bytes(token)
    stamped = subprocess.run(["openssl", "ts", "-verify", "-data", str(archive), "-in", str(tsr),
                              "-token_in", "-CAfile", str(pki.roots_path),
                              "-untrusted", str(pki.intermediates_path)],
                             capture_output=True, text=True)
    assert "Verification: OK" in stamped.stdout, stamped.stdout + stamped.stderr
    assert read_token(token).gen_time == NOW
    assert len(await engine.store.documents(row.id)) == 2


async def test_every_stored_blob_is_named_by_a_row(engine, tmp_path):
    """The enveloppe lives in the archive blob only: a separate copy would be an orphan."""
    row = (await submit(engine, corpus.build(), tmp_path)).transaction
    named = {row.archive_sha256}
    for m in await engine.store.messages(row.id):
        named |= {m.xml_sha256, m.signature_sha256, m.timestamp_token_sha256}
    named |= {d.sha256 for d in await engine.store.documents(row.id)}
    on_disk = {path.name for path in engine.sqlite.blobs.root.glob("??/??/*")}
    as_rows = {r["sha256"] for r in engine.sqlite.run_read(
        lambda db: list(db.query("select sha256 from small_blobs")))}
    assert on_disk | as_rows == named - {None} and not on_disk & as_rows
    assert len(on_disk | as_rows) == 1 + 1 + 3 + 2  # archive, 1-1 (+ token), 1-2 (+ signature), 2 PDFs


async def test_invalid_act_is_stored_with_an_anomalie_acte(engine, tmp_path):
    built = corpus.build(corpus.base_request(codes_matiere=(9, 9)))
    outcome = await submit(engine, built, tmp_path)
    assert outcome.code == "1-3" and outcome.id_acte is None
    assert outcome.anomalie[0] == "005"
    assert outcome.transaction.status is S.ERREUR
    messages = {m.code: m for m in await engine.store.messages(outcome.transaction.id)}
    anomalie = parse_message(engine.sqlite.blobs.read(messages["1-3"].xml_sha256))
    assert isinstance(anomalie, AnomalieActe) and anomalie.detail.startswith("CLASSIFICATION")


@pytest.mark.parametrize(("change", "said"), [
    ({"arrondissement": 2}, "Arrondissement 2 au lieu de 3"),
    ({"nature": "32"}, "Nature 32 au lieu de 31"),
    ({"departement": "030", "arrondissement": 1}, "Departement 030 au lieu de 034, "
                                                 "Arrondissement 1 au lieu de 3")])
async def test_an_idcl_that_contradicts_the_registered_collectivite_refuses_the_envelope(
        engine, tmp_path, change, said):
    registered = await submit(engine, corpus.build(), tmp_path / "a")
    assert registered.code == "1-2"
    other = dataclasses.replace(corpus.COMMUNE, **change)
    request = corpus.base_request(numero_interne="DELIB2024_013")
    built = corpus.build(request, other, numero=2)
    outcome = await submit(engine, built, tmp_path / "b")
    assert outcome.code == "ANO" and outcome.anomalie[0] == "005", outcome.anomalie
    assert outcome.anomalie[1] == (f"{built.name} -> IDCL_MISMATCH : l'émetteur (IDCL) ne "
                                   f"correspond pas à la collectivité {SIREN} enregistrée : {said}")
    assert [f.code for f in outcome.report.errors] == ["IDCL_MISMATCH"]
    assert outcome.transaction.status is S.ERREUR and outcome.transaction.id_acte is None
    # What was registered first stays; a consistent act is still acknowledged.
    again = await submit(engine, corpus.build(corpus.base_request(numero_interne="DELIB2024_014"),
                                              numero=3), tmp_path / "c")
    assert again.code == "1-2"


class _MovedWhileDeciding:
    """A scenario book that lets the admin move the commune to arrondissement 2 while the act
    is being decided, after the intake first compared the IDCL with the register."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def decide(self, facts):
        self.store.add_collectivite(Collectivite(SIREN, "034", "2", "31", "Commune"))
        return DEFAULT_DECISION


async def test_an_idcl_changed_in_the_register_during_the_intake_still_refuses_the_envelope(
        engine, tmp_path):
    assert (await submit(engine, corpus.build(), tmp_path / "a")).code == "1-2"
    engine.scenarios = _MovedWhileDeciding(engine.sqlite)
    request = corpus.base_request(numero_interne="DELIB2024_013")
    outcome = await submit(engine, corpus.build(request, numero=2), tmp_path / "b")
    assert (outcome.code, outcome.anomalie[0]) == ("ANO", "005"), outcome.anomalie
    assert outcome.anomalie[1].endswith("Arrondissement 3 au lieu de 2"), outcome.anomalie
    assert [f.code for f in outcome.report.errors] == ["IDCL_MISMATCH"]


async def test_unreadable_archive_is_refused_and_nothing_is_stored(engine, tmp_path):
    path = tmp_path / "SLO-EACT--491011698--20240314-1.tar.gz"
    path.write_bytes(b"not an archive")
    with pytest.raises(IntakeRefused) as refused:
        await engine.submit_archive(identity(SIREN), path.name, path)
    assert refused.value.kind is Kind.INVALID and refused.value.code == "ARCHIVE_NOT_GZIP"
    assert (await engine.store.list()).total == 0


async def test_agent_of_another_siren_may_not_submit(engine, tmp_path):
    with pytest.raises(Forbidden):
        await submit(engine, corpus.build(), tmp_path, who=identity("253400014"))
    assert (await engine.store.list()).total == 0


async def test_duplicate_act_gets_anomaly_doublon(engine, tmp_path):
    first = await submit(engine, corpus.build(), tmp_path / "a")
    again = await submit(engine, corpus.build(numero=2), tmp_path / "b")
    assert first.code == "1-2"
    assert again.code == "1-3" and again.anomalie[0] == "011"
    assert again.transaction.status is S.ERREUR


async def test_concurrent_duplicates_yield_one_ar(engine, tmp_path):
    dirs = [tmp_path / str(i) for i in range(5)]
    outcomes = await asyncio.gather(*(submit(engine, corpus.build(numero=i + 1), d)
                                      for i, d in enumerate(dirs)))
    assert sorted(o.code for o in outcomes) == ["1-2"] + ["1-3"] * 4


async def test_cancelling_an_acknowledged_act(engine, tmp_path):
    acte = await submit(engine, corpus.build(), tmp_path)
    cancel = await engine.cancel(identity(SIREN), acte.transaction.id)
    assert cancel.code == "6-2" and cancel.transaction.type is TransactionType.ANNULATION
    assert cancel.transaction.status is S.ACQUITTEMENT_RECU
    assert (await engine.store.get(acte.transaction.id)).status is S.ANNULE
    journal = await engine.store.journal(cancel.transaction.id)
    assert [(e.from_status, e.to_status, e.message) for e in journal] == [
        (None, S.POSTE, "Posté"),
        (S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, "Accepté par le TdT : validation OK"),
        (S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, "Transmis au MI"),
        (S.TRANSMIS, S.ACQUITTEMENT_RECU, "Annulation reçue par le MI")]
    assert {e.actor for e in journal[1:]} == {engine.actor}
    (answer,) = [m for m in await engine.store.messages(cancel.transaction.id) if m.code == "6-2"]
    assert journal[-1].message_id == answer.id and all(e.message_id is None for e in journal[1:-1])
    with pytest.raises(RequestRefused):
        await engine.cancel(identity(SIREN), acte.transaction.id)


async def test_classification_request_answers_7_2_then_7_3(engine, tmp_path):
    c = corpus.COMMUNE  # registered as the platform knows it, before any transmission
    engine.sqlite.add_collectivite(Collectivite(c.siren, c.departement, str(c.arrondissement),
                                                c.nature, "Commune"))
    fresh = await engine.request_classification(identity(SIREN), SIREN, None)
    assert fresh.code == "7-2"
    current = await engine.request_classification(identity(SIREN), SIREN, dt.date(2019, 3, 1))
    assert current.code == "7-3"
    old = await engine.request_classification(identity(SIREN), SIREN, dt.date(2004, 4, 1))
    assert old.code == "7-2"



async def _submit_held(engine, tmp_path):
    """A valid act held at "transmis" (the préfecture has not answered yet)."""
    folder = tmp_path / "held"
    folder.mkdir()
    built = corpus.build()
    return await engine.submit_archive(identity(SIREN), built.name, built.write(folder), hold=True)


async def test_held_act_waits_at_transmis_then_the_prefecture_acknowledges_it(engine, tmp_path):
    outcome = await _submit_held(engine, tmp_path)
    assert outcome.code is None and outcome.transaction.status is S.TRANSMIS
    assert outcome.transaction.id_acte is None
    assert [m.code for m in await engine.store.messages(outcome.transaction.id)] == ["1-1"]
    engine.clock.advance(dt.timedelta(days=2))
    answered = await engine.answer_acte(outcome.transaction.id)
    assert answered.code == "1-2" and answered.transaction.status is S.ACQUITTEMENT_RECU
    assert answered.transaction.id_acte == "034-491011698-20240312-DELIB2024_012-DE"
    messages = {m.code: m for m in await engine.store.messages(outcome.transaction.id)}
    ar = parse_message(engine.sqlite.blobs.read(messages["1-2"].xml_sha256))
    assert ar.date_reception == dt.date(2024, 3, 14)  # the day of receipt, not of the answer
    assert messages["1-2"].signature_sha256 and messages["1-2"].timestamp_token_sha256
    with pytest.raises(RequestRefused) as refused:  # answered once, never twice
        await engine.answer_acte(outcome.transaction.id)
    assert refused.value.code == "NOT_AWAITING_ANSWER"


async def test_held_act_can_be_refused_with_an_anomaly(engine, tmp_path):
    outcome = await _submit_held(engine, tmp_path)
    answered = await engine.answer_acte(outcome.transaction.id,
                                        anomalie=(AnomalieNature("001"), "Pièce illisible"))
    assert answered.code == "1-3" and answered.transaction.status is S.ERREUR
    messages = {m.code: m for m in await engine.store.messages(outcome.transaction.id)}
    anomaly = parse_message(engine.sqlite.blobs.read(messages["1-3"].xml_sha256))
    assert isinstance(anomaly, AnomalieActe) and anomaly.detail == "Pièce illisible"


async def test_hold_never_delays_the_refusal_of_an_invalid_act(engine, tmp_path):
    folder = tmp_path / "held"
    folder.mkdir()
    built = corpus.build(corpus.base_request(date=dt.date(2099, 1, 1)))
    outcome = await engine.submit_archive(identity(SIREN), built.name, built.write(folder),
                                          hold=True)
    assert outcome.code == "1-3" and outcome.transaction.status is S.ERREUR


async def test_return_serials_count_per_collectivite_and_day_and_a_full_day_is_a_429(engine, tmp_path):
    first = await submit(engine, corpus.build(), tmp_path / "a")
    ar = next(m for m in await engine.store.messages(first.transaction.id) if m.code == "1-2")
    assert ar.file_name.endswith("-1-2_1.xml")  # the first message to this SIREN today
    day = f"{engine.clock.today():%Y%m%d}"
    engine.sqlite.run_write(lambda db: db.execute(
        "update counters set value = 9999 where name = ?", [f"return-envelope-{SIREN}-{day}"]))
    before = engine.sqlite.list().total
    with pytest.raises(RequestRefused) as full:
        await submit(engine, corpus.build(corpus.base_request(numero_interne="DELIB2024_013")),
                     tmp_path / "b")
    assert full.value.kind is Kind.EXHAUSTED and full.value.code == "DAILY_SERIALS_EXHAUSTED"
    assert engine.sqlite.list().total == before  # nothing stored
    engine.clock.advance(dt.timedelta(days=1))  # a new day starts again at 1
    again = await submit(engine, corpus.build(corpus.base_request(numero_interne="DELIB2024_013")),
                         tmp_path / "c")
    ar = next(m for m in await engine.store.messages(again.transaction.id) if m.code == "1-2")
    assert again.code == "1-2" and ar.file_name.endswith("-1-2_1.xml")


async def test_an_act_answered_later_takes_no_serial_and_a_duplicate_takes_the_next(engine,
                                                                                    tmp_path):
    """The answer's serial is reserved in the same trip as the duplicate check, only for an
    act answered now: a held act leaves none unused, a DOUBLON is numbered like any answer."""
    held = await _submit_held(engine, tmp_path)
    assert held.code is None
    first = await submit(engine, corpus.build(corpus.base_request(numero_interne="DELIB2024_020")),
                         tmp_path / "a")
    again = await submit(engine, corpus.build(corpus.base_request(numero_interne="DELIB2024_020")),
                         tmp_path / "b")
    assert (first.code, again.code, again.anomalie[0]) == ("1-2", "1-3", "011")
    names = [next(m.file_name for m in await engine.store.messages(o.transaction.id)
                  if m.code == code) for o, code in ((first, "1-2"), (again, "1-3"))]
    assert names[0].endswith("-1-2_1.xml") and names[1].endswith("_2.xml"), names
