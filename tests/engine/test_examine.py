"""`examine` takes the envelope and act the validator parsed instead of reading the archive
again: what it finds must be what reading every XML member finds, for every corpus case."""

from __future__ import annotations

import datetime as dt

import pytest

from operator_sim.engine.intake import examine
from operator_sim.protocol.archive import read_archive
from operator_sim.protocol.errors import ProtocolError
from operator_sim.protocol.messages import Acte, EnveloppeCLMISILL, message_from_element
from operator_sim.protocol.xmlsafe import parse_xml
from operator_sim.testing import corpus
from operator_sim.validation.validator import ValidationPolicy, inspect_archive

POLICY = ValidationPolicy(today=dt.date(2024, 3, 14))


def read_every_xml_member(path):
    """The first envelope and the first act among the XML members, in archive order."""
    enveloppe = acte = acte_file = None
    try:
        with read_archive(path, POLICY.limits) as archive:
            members = tuple((m.name, m.size, m.sha256) for m in archive)
            sha = archive.sha256
            for member in archive:
                if not member.name.endswith(".xml"):
                    continue
                try:
                    parsed = message_from_element(parse_xml(member.read()))
                except ProtocolError:
                    continue
                if isinstance(parsed, EnveloppeCLMISILL) and enveloppe is None:
                    enveloppe = parsed
                elif isinstance(parsed, Acte) and acte is None:
                    acte, acte_file = parsed, member.name
    except ProtocolError:
        return None, None, None, (), None
    return enveloppe, acte, acte_file, members, sha


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda case: case.slug)
def test_examine_finds_what_reading_every_member_finds(case, tmp_path):
    name, data = case.make()
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(data)
    exam = examine(path, name, POLICY)
    assert (exam.enveloppe, exam.acte, exam.acte_file, exam.members, exam.archive_sha256) \
        == read_every_xml_member(path)
    assert exam.report.valid == case.valid


def test_validation_hands_over_the_envelope_and_act_it_parsed(tmp_path):
    built = corpus.build()
    path = built.write(tmp_path)
    report, reading = inspect_archive(path, POLICY, name=built.name)
    assert report.valid and reading is not None
    assert reading.enveloppe is not None and len(reading.actes) == 1
    acte_file, acte = reading.actes[0]
    assert examine(path, built.name, POLICY).acte == acte
    assert acte_file.endswith("-1-1_0.xml")


@pytest.mark.parametrize("numero", [b"DEL-2024", b"DEL 2024", b"DEL.2024", "DÉL2024".encode("latin-1"), b""])
def test_a_numero_interne_no_idacte_can_carry_is_an_error_naming_the_field(numero, tmp_path):
    built = corpus.build(corpus.base_request(numero_interne="DEL2024"))
    built.members[built.message_name] = built.members[built.message_name].replace(
        b'NumeroInterne="DEL2024"', b'NumeroInterne="' + numero + b'"')
    exam = examine(built.write(tmp_path), built.name, POLICY)
    assert exam.acte is not None and not exam.report.valid
    (finding,) = [f for f in exam.report.errors if f.code == "NUMERO_INTERNE_INVALID"]
    assert finding.xpath == "/actes:Acte/@actes:NumeroInterne"
    assert exam.report.anomalie()[0].value == "004"
