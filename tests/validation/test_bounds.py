"""What one archive may cost the validator: bounded findings, time and schema work.

Speed itself is measured by bench/validation_bounds.py, not here: these tests check the
bounds' behaviour (which refusal, which finding, how many), whatever the machine's speed.
"""

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from lxml import etree

from operator_sim.protocol.envelope import Piece
from operator_sim.protocol.xmlsafe import parse_xml
from operator_sim.testing import corpus
from operator_sim.validation.registry import LOCATED_ERRORS, default_registry
from operator_sim.validation.report import Severity
from operator_sim.validation.validator import validate_archive


def _validate(built, policy):
    name, data = corpus._pack(built)
    return validate_archive(io.BytesIO(data), policy, name=name)


def _with_message(change):
    built = corpus.build()
    built.members[built.message_name] = change(built.members[built.message_name])
    return built


def _annexes(xml: bytes, count: int, attributes: int) -> bytes:
    """`count` more Annexe elements, each with `attributes` undeclared attributes."""
    one = (b"<actes:Annexe" + b"".join(b' b%d="1"' % j for j in range(attributes))
           + b"><actes:NomFichier>x.pdf</actes:NomFichier></actes:Annexe>\n")
    return xml.replace(b"</actes:Annexes>", one * count + b"</actes:Annexes>", 1)


def test_an_attribute_bomb_is_refused_before_any_schema_sees_it(policy):
    bomb = b"".join(b' a%d="x"' % i for i in range(3000))
    built = _with_message(lambda xml: xml.replace(b"<actes:Acte ", b"<actes:Acte" + bomb + b" ", 1))
    report = _validate(built, policy)
    assert report.codes == ["XML_TOO_MANY_ATTRIBUTES"]
    assert "3004" in report.errors[0].message_en and "Acte" in report.errors[0].message_en


def test_few_schema_errors_are_each_located():
    built = corpus.build()
    schema = default_registry().actes
    root = parse_xml(_annexes(built.members[built.message_name], 5, 3))
    check = schema.check(root, limit=10)
    assert check.total == 15 and len(check.errors) == 10
    assert all(e.xpath and "Annexe" in e.xpath and e.line for e in check.errors)
    assert "'b0'" in check.errors[0].message and "actes:Annexe" in check.errors[0].message
    # lxml also keeps every thread's errors in one log: only this document's are reported.
    other = etree.fromstring(built.members[built.message_name].replace(
        b"<actes:Objet>", b"<actes:Objet><x/>", 1))
    errors = schema.check(other).errors
    assert len(errors) == 1 and "'b0'" not in errors[0].message


def test_many_schema_errors_are_counted_and_only_the_first_listed():
    built = corpus.build()
    root = parse_xml(_annexes(built.members[built.message_name], 1400, 60))
    check = default_registry().actes.check(root, limit=10)
    assert check.total == 1400 * 60 > LOCATED_ERRORS
    assert len(check.errors) == 10
    assert all("is not allowed" in e.message for e in check.errors)


def test_the_report_says_how_many_schema_errors_it_does_not_list(policy):
    report = _validate(_with_message(lambda xml: _annexes(xml, 5, 3)), policy)
    assert report.codes == ["SCHEMA_INVALID"] * 11
    assert report.findings[-1].message_en == "and 5 more schema error(s) not listed"


def test_findings_of_one_archive_are_bounded(policy):
    pieces = tuple(Piece(corpus.minimal_pdf(f"Annexe {i}"), "pdf", "99_DE") for i in range(150))
    built = corpus.build(corpus.base_request(annexes=pieces))
    for piece in built.acte.annexes:
        del built.members[piece.nom_fichier]
    report = _validate(built, replace(policy, max_findings=40))
    assert len(report.findings) == 41
    assert report.codes[:40] == ["FILE_MISSING"] * 40
    last = report.findings[-1]
    assert last.code == "FINDINGS_LIMIT" and last.severity is Severity.ERROR
    assert report.anomalie()[1].startswith("FILE_MISSING")


def test_a_message_naming_more_files_than_an_archive_holds_is_not_read_further(policy):
    built = _with_message(lambda xml: _annexes(xml, 600, 0))
    report = _validate(built, policy)
    assert report.codes == ["FILES_TOO_MANY"]
    assert "602 files" in report.errors[0].message_en


def test_a_validation_past_its_time_ends_with_a_clear_finding(policy):
    report = _validate(corpus.build(), replace(policy, max_seconds=0))
    assert report.codes == ["VALIDATION_TIMEOUT"]
    assert not report.valid
    assert "0 s" in report.errors[0].message_en


def test_documents_checked_at_once_by_threads_each_get_their_own_verdict():
    """Small documents are validated as trees on the one compiled schema: threads checking
    valid and invalid ones together (the service's threads, the pytest plugin's) each get
    their own document's errors, located."""
    built = corpus.build()
    schema = default_registry().actes
    xml = built.members[built.message_name]
    valid = parse_xml(xml)
    invalid = [parse_xml(_annexes(xml, 1, count)) for count in (1, 2, 3)]

    def check(index: int) -> tuple[int, list[str]]:
        if index % 2:
            return index, [e.message for e in schema.check(valid).errors]
        return index, [e.xpath or "" for e in schema.check(invalid[index % 3]).errors]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, range(400)))
    for index, found in results:
        if index % 2:
            assert found == [], found
        else:
            assert len(found) == index % 3 + 1 and all("Annexe" in path for path in found), found
