"""Envelope-level faults answered as the platform does: an `ANO_…` AnomalieEnveloppe echoing
the envelope, stored, signed by the ministère (detached CMS) and time-stamped; its XML valid
under the ministry's schema (`xmllint`), its signature verified by `openssl cms -verify`."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from operator_sim.engine.outcomes import ANO
from operator_sim.protocol.codes import Sender
from operator_sim.protocol.codes import TransactionStatus as S
from operator_sim.protocol.messages import AnomalieEnveloppe, parse_message
from operator_sim.testing import corpus

from .test_intake import identity, submit

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = ROOT / "schemas" / "official" / "actesv1_1.xsd"
PROJECT = ROOT / "schemas" / "actes" / "actes.xsd"
NEWCOMER = "213400005"


def _without_formulaire(built):
    """The envelope lists the act, but the act's message is not in the archive."""
    del built.members[built.message_name]
    return built


def _renamed(built):
    """The archive named with another envelope number than its envelope's."""
    built.name = built.name.replace("-1.tar.gz", "-2.tar.gz")
    return built


CASES = {
    "sender-without-convention": (
        lambda: corpus.build(corpus.base_request(), dataclasses.replace(corpus.COMMUNE,
                                                                        siren=NEWCOMER)),
        NEWCOMER, "005", "PREF-VERIF-02"),
    "idcl-contradicting-the-registered-one": (
        lambda: corpus.build(corpus.base_request(), dataclasses.replace(corpus.COMMUNE,
                                                                        arrondissement=2)),
        corpus.COMMUNE.siren, "005", "IDCL_MISMATCH"),
    "message-missing": (lambda: _without_formulaire(corpus.build()), corpus.COMMUNE.siren, "004",
                        "FILE_MISSING"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_an_envelope_fault_gets_a_signed_time_stamped_anomalie_enveloppe(
        case, engine, tmp_path, pki):
    make, siren, nature, code = CASES[case]
    if code == "IDCL_MISMATCH":  # the collectivité registered as 034 / 3 / 31 beforehand
        first = await submit(engine, corpus.build(corpus.base_request(numero_interne="FIRST"),
                                                  numero=9), tmp_path / "first")
        assert first.code == "1-2"
    built = make()
    outcome = await submit(engine, built, tmp_path / "in", who=identity(siren))
    assert outcome.code == ANO and outcome.anomalie[0] == nature
    assert outcome.anomalie[1].startswith(f"{built.name} -> {code}"), outcome.anomalie
    row = outcome.transaction
    assert row.status is S.ERREUR and row.archive_name == built.name
    journal = await engine.store.journal(row.id)
    assert journal[-1].message.startswith(f"Refusé par le MI : Enveloppe rejetée ({nature} : ")
    (message,) = [m for m in await engine.store.messages(row.id) if m.code == ANO]
    envelope_file = next(iter(built.members))
    assert message.file_name == f"ANO_{envelope_file}" and message.direction is Sender.PREF
    blobs = engine.sqlite.blobs
    xml = blobs.read(message.xml_sha256)
    parsed = parse_message(xml)
    assert isinstance(parsed, AnomalieEnveloppe) and parsed.nature == nature
    assert parsed.enveloppe_recue.emetteur.siren == siren

    folder = tmp_path / "out"
    folder.mkdir()
    (folder / message.file_name).write_bytes(xml)
    for xsd in (OFFICIAL, PROJECT):
        lint = subprocess.run(["xmllint", "--noout", "--schema", str(xsd),
                               str(folder / message.file_name)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stderr
    (folder / "ano.p7s").write_bytes(blobs.read(message.signature_sha256))
    verified = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                               "-content", str(folder / message.file_name),
                               "-in", str(folder / "ano.p7s"), "-CAfile", str(pki.roots_path),
                               "-out", "/dev/null"], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    (folder / "archive.tar.gz").write_bytes(blobs.read(row.archive_sha256))
    (folder / "token.tst").write_bytes(blobs.read(message.timestamp_token_sha256))
    stamped = subprocess.run(["openssl", "ts", "-verify", "-data", str(folder / "archive.tar.gz"),
                              "-in", str(folder / "token.tst"), "-token_in",
                              "-CAfile", str(pki.roots_path),
                              "-untrusted", str(pki.intermediates_path)],
                             capture_output=True, text=True)
    assert "Verification: OK" in stamped.stdout, stamped.stdout + stamped.stderr


async def test_a_wrong_archive_name_gets_an_anomalie_enveloppe_002(engine, tmp_path):
    built = corpus.build()
    path = built.write(tmp_path)
    wrong = built.name.replace("-1.tar.gz", "-2.tar.gz")
    outcome = await engine.submit_archive(identity(corpus.COMMUNE.siren), wrong, path)
    assert (outcome.code, outcome.anomalie[0]) == (ANO, "002")
    assert outcome.anomalie[1].startswith(f"{wrong} -> NAME_MISMATCH : "), outcome.anomalie
    # The act itself was readable: it is stored with the refused envelope, not acknowledged.
    messages = await engine.store.messages(outcome.transaction.id)
    assert sorted(m.code for m in messages) == ["1-1", ANO]
    assert outcome.transaction.id_acte is None
