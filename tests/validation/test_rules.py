"""Business rules and report details beyond the corpus."""

import datetime as dt
import io
from dataclasses import replace

from operator_sim.protocol.codes import AnomalieNature, NatureActe
from operator_sim.protocol.envelope import Piece
from operator_sim.testing import corpus
from operator_sim.validation.validator import ValidationPolicy, validate_archive


def _validate(built, policy, name=None):
    name_, data = corpus._pack(built)
    return validate_archive(io.BytesIO(data), policy, name=name or name_)


def test_missing_file_becomes_anomaly_006_like_the_platform(policy):
    built = corpus.build()
    annexe = built.acte.annexes[0].nom_fichier
    del built.members[annexe]
    report = _validate(built, policy)
    assert report.anomalie()[0] is AnomalieNature.FICHIER_INTROUVABLE
    assert annexe in report.anomalie()[1]


def test_outdated_classification_becomes_anomaly_002_with_odt_verif_01(policy):
    built = corpus.build(corpus.base_request(classification_date_version=dt.date(2004, 4, 1),
                                             codes_matiere=(5, 2)))
    nature, detail = _validate(built, policy).anomalie()
    assert nature is AnomalieNature.CLASSIFICATION_PERIMEE
    assert "ODT-VERIF-01" in detail


def test_the_2004_classification_is_accepted_when_it_is_the_one_in_force():
    old = ValidationPolicy(today=dt.date(2025, 1, 1), current_classification=dt.date(2004, 4, 1))
    built = corpus.build(corpus.base_request(classification_date_version=dt.date(2004, 4, 1)))
    report = _validate(built, old)
    assert report.valid, report.findings


def test_decision_dated_today_is_not_in_the_future():
    built = corpus.build(corpus.base_request(date=dt.date(2025, 1, 1)))
    assert _validate(built, ValidationPolicy(today=dt.date(2025, 1, 1))).valid
    assert "DATE_FUTURE" in _validate(built, ValidationPolicy(today=dt.date(2024, 12, 31))).codes


def test_findings_carry_file_xpath_and_line(policy):
    report = _validate(corpus.build(corpus.base_request(objet="x" * 501)), policy)
    finding = report.errors[0]
    assert finding.code == "SCHEMA_INVALID"
    assert finding.file.endswith("-1-1_0.xml")
    assert finding.xpath and "Objet" in finding.xpath
    assert finding.line and finding.line > 1
    assert finding.message_fr != finding.message_en


def test_archive_name_is_checked_against_the_rules(policy):
    report = _validate(corpus.build(), policy, name="acte.tar.gz")
    assert report.errors[0].code == "NAME_ARCHIVE"


def test_envelope_found_under_another_name_is_reported_as_mismatch(policy):
    built = corpus.build()
    report = _validate(built, policy, name=built.name.replace("-1.tar.gz", "-2.tar.gz"))
    assert "NAME_MISMATCH" in report.codes


def test_typology_of_another_matiere_is_only_a_warning(policy):
    built = corpus.build(corpus.base_request(
        nature=NatureActe.AI, codes_matiere=(4, 1, 2), numero_interne="AR1",
        document=Piece(corpus.minimal_pdf("x"), "pdf", "99_AI"),
        annexes=(Piece(corpus.minimal_pdf("plan"), "pdf", "22_PN"),)))
    report = _validate(built, policy)
    assert report.valid
    assert [f.code for f in report.warnings] == ["TYPOLOGIE_MATIERE"]
    assert report.profile == "fonction-publique"


def test_profile_selection_prefers_the_most_specific_matiere(policy):
    budget = _validate(corpus.build(corpus.budget_request()), policy)
    assert budget.valid, budget.findings
    assert budget.profile == "budget"
    assert _validate(corpus.build(), policy).profile == "default"


def test_xml_budget_must_come_with_pdf_annexes_only(policy):
    request = replace(corpus.budget_request(),
                      annexes=(Piece(corpus.minimal_png(), "png", "70_DE"),))
    report = _validate(corpus.build(request), policy)
    assert [f.code for f in report.errors] == ["DOCUMENT_FORMAT"]


def test_every_report_serialises_to_json_types(policy):
    report = _validate(corpus.build(corpus.base_request(date=dt.date(2099, 1, 1))), policy)
    data = report.to_dict()
    assert data["valid"] is False
    assert data["anomalie"]["nature"] == AnomalieNature.DATE.value
    assert data["findings"][0]["severity"] == "error"


def test_profile_for_remembers_select_profile_within_a_bound():
    from operator_sim.validation.profiles import select_profile
    from operator_sim.validation.registry import SchemaRegistry

    registry = SchemaRegistry()
    for codes in [(5, 2), (7, 1), (7, 1, 2), (2, 1, 2), (1, 1), (4, 1), (9, 9), (7,)]:
        assert registry.profile_for(codes) is select_profile(registry.profiles, codes)
        assert registry.profile_for(codes) is registry.profile_for(codes)
    for n in range(3000):  # made-up code paths do not grow the memory without end
        registry.profile_for((9, n))
    assert len(registry._by_codes) <= 1024


def test_an_envelope_or_classification_where_the_message_should_be_is_a_finding(policy):
    """The actes schema accepts every root it declares, so a message file holding an envelope
    or a RetourClassification passes the schema: it is refused, not read as a message."""
    built = corpus.build()
    envelope = next(iter(built.members))
    built.members[built.message_name] = built.members[envelope]
    report = _validate(built, policy)
    assert not report.valid
    wrong = [f for f in report.errors if f.code == "MESSAGE_WRONG_DIRECTION"]
    assert wrong and wrong[0].file == built.message_name
    assert "EnveloppeCLMISILL" in wrong[0].message_en
    assert report.messages == []
