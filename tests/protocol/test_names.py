"""@ctes naming rules: every name formats back to itself and refusals name the faulty field."""

from __future__ import annotations

import contextlib
import string
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from operator_sim.protocol.codes import MESSAGE_TYPES, NatureActe
from operator_sim.protocol.errors import InvalidName
from operator_sim.protocol.names import (
    MESSAGE_EXTENSIONS,
    ArchiveName,
    EnveloppeName,
    IDActe,
    MessageFileName,
    ascii_digits,
    is_service_id,
    is_strict_numero_interne,
)

# --- Strategies: valid field values --------------------------------------------------------------

DIGITS = string.digits
UPPER = string.ascii_uppercase

departements = st.one_of(
    st.sampled_from(["02A", "02B", "974", "976", "034", "001", "095"]),
    st.text(DIGITS, min_size=3, max_size=3),
)
sirens = st.text(DIGITS, min_size=9, max_size=9)
numeros_internes = st.text(string.ascii_letters + DIGITS + "_", min_size=1, max_size=15)
natures = st.sampled_from(list(NatureActe))
codes = st.sampled_from(sorted(MESSAGE_TYPES))
serials = st.integers(min_value=0, max_value=9999)
extensions = st.sampled_from(MESSAGE_EXTENSIONS)
typologies = st.none() | st.text(UPPER + DIGITS + "_", min_size=5, max_size=5)
appli = st.builds(lambda first, rest: first + rest, st.sampled_from("FQETD"),
                  st.text(UPPER, min_size=3, max_size=3))
itcs = st.text(UPPER, min_size=3, max_size=3)
services = st.one_of(
    st.builds(lambda d: f"PREF{d}", departements),
    st.builds(lambda d, a: f"SPREF{d}{a}", departements, st.sampled_from(DIGITS)),
    st.builds(lambda d: f"SGAR{d}", departements),
)


def ymd(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


id_actes = st.builds(IDActe, departements, sirens, st.dates(), numeros_internes, natures)


@st.composite
def message_file_names(draw: st.DrawFn) -> MessageFileName:
    with_acte = draw(st.booleans())
    return MessageFileName(
        departement=draw(departements),
        siren=draw(sirens),
        date=draw(st.dates()) if with_acte else None,
        numero_interne=draw(numeros_internes) if with_acte else None,
        nature=draw(natures) if with_acte else None,
        code=draw(codes),
        numero=draw(serials),
        extension=draw(extensions),
        typologie=draw(typologies),
    )


@st.composite
def enveloppe_names(draw: st.DrawFn, anomalie: bool | None = None) -> EnveloppeName:
    if draw(st.booleans()):
        emetteur, destinataire = draw(sirens), ""
    else:
        emetteur, destinataire = draw(services), draw(sirens)
    return EnveloppeName(
        appli=draw(appli),
        info_appli=draw(st.just("") | st.text(string.ascii_letters + DIGITS + "_", max_size=8)),
        emetteur=emetteur,
        destinataire=destinataire,
        date=draw(st.dates()),
        numero=draw(st.integers(min_value=1, max_value=9999)),
        anomalie=draw(st.booleans()) if anomalie is None else anomalie,
    )


archive_names = st.builds(ArchiveName, itcs, enveloppe_names(anomalie=False))


# --- Round trips ---------------------------------------------------------------------------------

@given(departements, sirens, st.dates(), numeros_internes, natures)
def test_id_acte_text_parses_and_formats_back_unchanged(dpt, siren, day, numero, nature):
    text = f"{dpt}-{siren}-{ymd(day)}-{numero}-{nature.name}"
    assert str(IDActe.parse(text)) == text


@given(id_actes)
def test_id_acte_formats_to_text_that_parses_back_to_it(id_acte):
    assert IDActe.parse(str(id_acte)) == id_acte


@given(typologies, departements, sirens, st.dates(), numeros_internes, natures, codes, serials,
       extensions)
def test_message_file_name_text_parses_and_formats_back_unchanged(
        typo, dpt, siren, day, numero, nature, code, serial, ext):
    prefix = f"{typo}-" if typo else ""
    text = f"{prefix}{dpt}-{siren}-{ymd(day)}-{numero}-{nature.name}-{code}_{serial}.{ext}"
    assert str(MessageFileName.parse(text)) == text


@given(departements, sirens, codes, serials)
def test_message_file_name_without_act_fields_formats_back_unchanged(dpt, siren, code, serial):
    text = f"{dpt}-{siren}----{code}_{serial}.xml"
    name = MessageFileName.parse(text)
    assert (name.date, name.numero_interne, name.nature, name.id_acte) == (None, None, None, None)
    assert str(name) == text


@given(message_file_names())
def test_message_file_name_formats_to_text_that_parses_back_to_it(name):
    assert MessageFileName.parse(str(name)) == name


@given(appli, sirens, st.dates(), st.integers(1, 9999), st.booleans())
def test_collectivite_enveloppe_text_parses_and_formats_back_unchanged(
        quad, siren, day, serial, ano):
    text = f"{'ANO_' if ano else ''}{quad}--{siren}--{ymd(day)}-{serial}.xml"
    assert str(EnveloppeName.parse(text)) == text


@given(appli, services, sirens, st.dates(), st.integers(1, 9999))
def test_service_enveloppe_text_parses_and_formats_back_unchanged(
        quad, service, siren, day, serial):
    text = f"{quad}--{service}-{siren}-{ymd(day)}-{serial}.xml"
    assert str(EnveloppeName.parse(text)) == text


@given(enveloppe_names())
def test_enveloppe_name_formats_to_text_that_parses_back_to_it(name):
    assert EnveloppeName.parse(str(name)) == name


@given(itcs, appli, sirens, st.dates(), st.integers(1, 9999))
def test_archive_name_text_parses_and_formats_back_unchanged(itc, quad, siren, day, serial):
    text = f"{itc}-{quad}--{siren}--{ymd(day)}-{serial}.tar.gz"
    assert str(ArchiveName.parse(text)) == text


@given(archive_names)
def test_archive_name_formats_to_text_that_parses_back_to_it(name):
    assert ArchiveName.parse(str(name)) == name


# --- Examples from the reference -----------------------------------------------------------------

def test_s2low_message_name_is_read_field_by_field():
    name = MessageFileName.parse("045-214502494-20170717-D201717-DE-1-1_0.xml")
    assert name == MessageFileName("045", "214502494", date(2017, 7, 17), "D201717",
                                   NatureActe.DE, "1-1", 0, "xml")
    assert str(name.id_acte) == "045-214502494-20170717-D201717-DE"
    assert name.message_type.root == "Acte"


def test_document_name_keeps_its_typology_prefix():
    text = "99_AI-999-999100057-20190429-20190429_TEST1-AI-1-1_1.pdf"
    name = MessageFileName.parse(text)
    assert name.typologie == "99_AI"
    assert (name.departement, name.numero_interne, name.nature) == ("999", "20190429_TEST1",
                                                                    NatureActe.AI)
    assert (name.numero, name.extension) == (1, "pdf")
    assert str(name) == text


def test_ministry_anomaly_message_has_empty_act_fields():
    name = MessageFileName.parse("044-214400152----1-3_1.xml")
    assert (name.departement, name.siren, name.code, name.numero) == ("044", "214400152", "1-3", 1)
    assert name.id_acte is None
    assert name.message_type.root == "AnomalieActe"


def test_classification_request_formats_with_four_dashes():
    name = MessageFileName("034", "491011698", None, None, None, "7-1", 0, "xml")
    assert str(name) == "034-491011698----7-1_0.xml"


def test_ministry_service_enveloppe_goes_to_the_collectivite():
    name = EnveloppeName.parse("EACT--SPREF0441-214400152-20181012-9.xml")
    assert name == EnveloppeName.from_service("SPREF0441", "214400152", date(2018, 10, 12), 9)
    assert (name.direction, name.siren, name.anomalie) == ("PREF", "214400152", False)


def test_s2low_test_enveloppe_with_tact_quadrigram_is_accepted():
    name = EnveloppeName.parse("TACT--SPREF0011-000000000-20170721-4.xml")
    assert (name.appli, name.emetteur, name.numero) == ("TACT", "SPREF0011", 4)


def test_enveloppe_anomaly_echoes_the_collectivite_enveloppe_name():
    name = EnveloppeName.parse("ANO_EACT--210703385--20170612-2.xml")
    assert name.anomalie
    assert name.direction == "CL"
    assert name.stem == "ANO_EACT--210703385--20170612-2"
    assert replace(name, anomalie=False) == EnveloppeName.from_collectivite(
        "210703385", date(2017, 6, 12), 2)


def test_enveloppe_anomaly_of_a_service_enveloppe_is_accepted():
    name = EnveloppeName.parse("ANO_EACT--SPREF0341-491011698-20240115-3.xml")
    assert (name.anomalie, name.direction, name.emetteur) == (True, "PREF", "SPREF0341")


def test_collectivite_enveloppe_is_built_from_its_siren():
    name = EnveloppeName.from_collectivite("491011698", date(2024, 1, 15), 1)
    assert str(name) == "EACT--491011698--20240115-1.xml"
    assert name.stem == "EACT--491011698--20240115-1"
    assert (name.direction, name.siren) == ("CL", "491011698")


def test_service_enveloppe_is_built_from_service_and_siren():
    name = EnveloppeName.from_service("SPREF0341", "491011698", date(2024, 1, 15), 3)
    assert str(name) == "EACT--SPREF0341-491011698-20240115-3.xml"


def test_archive_names_the_enveloppe_expected_inside():
    archive = ArchiveName.parse("SLO-EACT--214502494--20170717-5.tar.gz")
    assert archive.itc == "SLO"
    assert archive.enveloppe == EnveloppeName.from_collectivite("214502494", date(2017, 7, 17), 5)
    assert archive.enveloppe_file == "EACT--214502494--20170717-5.xml"


def test_stela_archive_with_its_own_trigram_is_accepted():
    archive = ArchiveName.parse("SIC-EACT--210600730--20180115-1.tar.gz")
    assert archive.enveloppe_file == "EACT--210600730--20180115-1.xml"


def test_id_acte_from_the_reference_is_read_field_by_field():
    id_acte = IDActe.parse("034-000000000-20170701-20170721D-AI")
    assert id_acte == IDActe("034", "000000000", date(2017, 7, 1), "20170721D", NatureActe.AI)


def test_id_acte_formats_with_dashes_and_nature_abbreviation():
    id_acte = IDActe("034", "491011698", date(2024, 1, 15), "DELIB2024_01", NatureActe.DE)
    assert str(id_acte) == "034-491011698-20240115-DELIB2024_01-DE"


def test_corsican_departements_are_accepted_everywhere():
    assert IDActe.parse("02A-123456789-20240115-A1-AR").departement == "02A"
    assert MessageFileName.parse("02B-123456789----7-1_0.xml").departement == "02B"
    assert EnveloppeName.parse("EACT--SPREF02A1-123456789-20240115-1.xml").emetteur == "SPREF02A1"


def test_lower_case_act_number_is_accepted_but_not_strict():
    id_acte = IDActe.parse("034-491011698-20240115-9999aaa-DE")
    assert id_acte.numero_interne == "9999aaa"
    assert not is_strict_numero_interne(id_acte.numero_interne)


def test_early_years_are_written_with_four_digits():
    id_acte = IDActe("034", "491011698", date(7, 3, 1), "A", NatureActe.AU)
    assert str(id_acte) == "034-491011698-00070301-A-AU"


# --- Helpers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("numero", "strict"), [
    ("DELIB2024_01", True),
    ("A", True),
    ("ABCDEFGHIJKLMNO", True),
    ("d2024", False),
    ("_A1", False),
    ("A1_", False),
    ("ABCDEFGHIJKLMNOP", False),
    ("A-1", False),
    ("", False),
])
def test_strict_numero_interne_follows_the_s2low_upper_case_rule(numero, strict):
    assert is_strict_numero_interne(numero) is strict


@pytest.mark.parametrize(("value", "valid"), [
    ("PREF034", True), ("SPREF0341", True), ("SGAR075", True), ("PREF02B", True),
    ("SPREF034", False), ("PREF34", False), ("SPREF03412", False), ("pref034", False),
    ("491011698", False),
])
def test_service_ids_are_prefecture_sous_prefecture_or_sgar(value, valid):
    assert is_service_id(value) is valid


# --- Refusals name the faulty field --------------------------------------------------------------

MSG = "034-491011698-20240115-DELIB-DE-1-1_0.xml"
ENV = "EACT--491011698--20240115-1.xml"

BAD_NAMES = [
    # (id, parser, text, field)
    ("departement_of_two_chars_with_letter", IDActe, "2C-491011698-20240115-A1-DE", "departement"),
    ("departement_of_two_digits", IDActe, "12-491011698-20240115-A1-DE", "departement"),
    ("corsica_as_2C", MessageFileName, "02C-491011698-20240115-A-DE-1-1_0.xml", "departement"),
    ("siren_of_eight_digits", IDActe, "034-49101169-20240115-A1-DE", "siren"),
    ("siren_with_letter", MessageFileName, "034-49101169X-20240115-A-DE-1-1_0.xml", "siren"),
    ("february_30th", IDActe, "034-491011698-20230230-A1-DE", "date"),
    ("month_13", MessageFileName, "034-491011698-20231301-A-DE-1-1_0.xml", "date"),
    ("date_with_dashes", IDActe, "034-491011698-2024-01-15-A1-DE", "date"),
    ("numero_interne_of_16_chars", IDActe, "034-491011698-20240115-ABCDEFGHIJKLMNOP-DE",
     "numero_interne"),
    ("numero_interne_with_dash", IDActe, "034-491011698-20240115-D2024-01-DE", "numero_interne"),
    ("numero_interne_with_dash_in_file", MessageFileName,
     "034-491011698-20240115-D2024-01-DE-1-1_0.xml", "numero_interne"),
    ("numero_interne_with_space", IDActe, "034-491011698-20240115-D 1-DE", "numero_interne"),
    ("nature_XX", IDActe, "034-491011698-20240115-A1-XX", "nature"),
    ("nature_lower_case", MessageFileName, "034-491011698-20240115-A1-de-1-1_0.xml", "nature"),
    ("date_missing_alone", MessageFileName, "034-491011698--A1-DE-1-1_0.xml", "date"),
    ("numero_interne_missing_alone", MessageFileName, "034-491011698-20240115--DE-1-1_0.xml",
     "numero_interne"),
    ("nature_missing_alone", MessageFileName, "034-491011698-20240115-A1--1-1_0.xml", "nature"),
    ("message_code_1_4", MessageFileName, "034-491011698-20240115-A1-DE-1-4_0.xml",
     "code_message"),
    ("message_code_8_1", MessageFileName, "034-491011698----8-1_0.xml", "code_message"),
    ("serial_of_five_digits", MessageFileName, "034-491011698-20240115-A1-DE-1-1_12345.xml",
     "numero"),
    ("serial_with_leading_zero", MessageFileName, "034-491011698-20240115-A1-DE-1-1_01.pdf",
     "numero"),
    ("serial_missing", MessageFileName, "034-491011698-20240115-A1-DE-1-1.xml", "numero"),
    ("exe_extension", MessageFileName, "034-491011698-20240115-A1-DE-1-1_1.exe", "extension"),
    ("upper_case_extension", MessageFileName, "034-491011698-20240115-A1-DE-1-1_1.PDF",
     "extension"),
    ("no_extension", MessageFileName, "034-491011698-20240115-A1-DE-1-1_1", "extension"),
    ("lower_case_typology", MessageFileName, "99_ai-034-491011698-20240115-A1-AI-1-1_1.pdf",
     "typologie"),
    ("too_few_parts", MessageFileName, "034-491011698-1-1_0.xml", "name"),
    ("act_fields_with_one_dash_missing", MessageFileName, "034-491011698---7-1_0.xml", "name"),
    ("too_few_parts_in_id_acte", IDActe, "034-491011698-20240115-DE", "name"),
    ("appli_XACT", EnveloppeName, "XACT--491011698--20240115-1.xml", "appli"),
    ("appli_lower_case", EnveloppeName, "eact--491011698--20240115-1.xml", "appli"),
    ("info_appli_with_dot", EnveloppeName, "EACT-a.b-491011698--20240115-1.xml", "info_appli"),
    ("emetteur_empty", EnveloppeName, "EACT----20240115-1.xml", "emetteur"),
    ("emetteur_of_eight_digits", EnveloppeName, "EACT--49101169--20240115-1.xml", "emetteur"),
    ("emetteur_spref_without_arrondissement", EnveloppeName,
     "EACT--SPREF034-491011698-20240115-1.xml", "emetteur"),
    ("siren_emetteur_with_destinataire", EnveloppeName,
     "EACT--491011698-PREF034-20240115-1.xml", "destinataire"),
    ("service_emetteur_without_destinataire", EnveloppeName,
     "EACT--PREF034--20240115-1.xml", "destinataire"),
    ("enveloppe_date_not_calendar", EnveloppeName, "EACT--491011698--20240431-1.xml", "date"),
    ("enveloppe_serial_of_five_digits", EnveloppeName, "EACT--491011698--20240115-12345.xml",
     "numero"),
    ("enveloppe_serial_empty", EnveloppeName, "EACT--491011698--20240115-.xml", "numero"),
    ("enveloppe_as_tar_gz", EnveloppeName, "EACT--491011698--20240115-1.tar.gz", "extension"),
    ("enveloppe_upper_case_extension", EnveloppeName, "EACT--491011698--20240115-1.XML",
     "extension"),
    ("enveloppe_missing_a_part", EnveloppeName, "EACT-491011698--20240115-1.xml", "name"),
    ("lower_case_itc", ArchiveName, "slo-EACT--491011698--20240115-1.tar.gz", "itc"),
    ("itc_of_four_letters", ArchiveName, "SLOW-EACT--491011698--20240115-1.tar.gz", "itc"),
    ("archive_as_tgz", ArchiveName, "SLO-EACT--491011698--20240115-1.tgz", "extension"),
    ("archive_as_xml", ArchiveName, "SLO-EACT--491011698--20240115-1.xml", "extension"),
    ("archive_of_anomaly", ArchiveName, "SLO-ANO_EACT--491011698--20240115-1.tar.gz", "appli"),
    ("archive_appli_XACT", ArchiveName, "SLO-XACT--491011698--20240115-1.tar.gz", "appli"),
    ("archive_without_itc", ArchiveName, "EACT--491011698--20240115-1.tar.gz", "itc"),
    ("archive_bad_date", ArchiveName, "SLO-EACT--491011698--20230229-1.tar.gz", "date"),
]


@pytest.mark.parametrize(("parser", "text", "field"), [row[1:] for row in BAD_NAMES],
                         ids=[f"{row[0]}_is_refused" for row in BAD_NAMES])
def test_bad_name_is_refused_naming_the_faulty_field(parser, text, field):
    with pytest.raises(InvalidName) as caught:
        parser.parse(text)
    assert caught.value.field == field
    assert caught.value.code.startswith("NAME_")
    assert caught.value.message_fr != caught.value.message_en


def test_february_30th_is_refused_as_date():
    with pytest.raises(InvalidName) as caught:
        IDActe.parse("034-491011698-20230230-A1-DE")
    assert (caught.value.field, caught.value.code) == ("date", "NAME_DATE")


def test_february_29th_of_a_leap_year_is_accepted():
    assert IDActe.parse("034-491011698-20240229-A1-DE").date == date(2024, 2, 29)


@pytest.mark.parametrize("build", [
    lambda: IDActe("34", "491011698", date(2024, 1, 15), "A", NatureActe.DE),
    lambda: MessageFileName("034", "491011698", date(2024, 1, 15), None, None, "1-1", 0, "xml"),
    lambda: MessageFileName("034", "491011698", None, None, None, "1-1", 10000, "xml"),
    lambda: EnveloppeName.from_service("PREF034", "", date(2024, 1, 15), 1),
    lambda: EnveloppeName.from_collectivite("491011698", date(2024, 1, 15), 1, appli="ACTE"),
    lambda: ArchiveName("SLO", replace(EnveloppeName.from_collectivite(
        "491011698", date(2024, 1, 15), 1), anomalie=True)),
], ids=["bad_departement", "partial_act_fields", "serial_over_9999", "service_without_siren",
        "bad_appli", "anomaly_in_archive"])
def test_constructing_an_invalid_name_is_refused(build):
    with pytest.raises(InvalidName):
        build()


def test_partial_act_fields_name_the_first_missing_one():
    with pytest.raises(InvalidName) as caught:
        MessageFileName("034", "491011698", date(2024, 1, 15), None, NatureActe.DE, "1-1", 0,
                        "xml")
    assert caught.value.field == "numero_interne"


# --- Robustness ----------------------------------------------------------------------------------

PARSERS = [IDActe, MessageFileName, EnveloppeName, ArchiveName]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(text=st.text())
@example(text="")
@example(text="-----")
@example(text="99_AI.pdf")
@example(text="034-491011698-٢٠٢٤٠١١٥-A-DE-1-1_0.xml")
@example(text="SLO-.tar.gz")
def test_random_text_is_refused_only_with_invalid_name(parser, text):
    with contextlib.suppress(InvalidName):
        parser.parse(text)


NAME_ALPHABET = st.sampled_from(string.ascii_letters + DIGITS + "-_.")


@st.composite
def mutated_names(draw: st.DrawFn) -> tuple[type, str]:
    parser, text = draw(st.one_of(
        message_file_names().map(lambda n: (MessageFileName, str(n))),
        enveloppe_names().map(lambda n: (EnveloppeName, str(n))),
        archive_names.map(lambda n: (ArchiveName, str(n))),
        id_actes.map(lambda n: (IDActe, str(n))),
    ))
    position = draw(st.integers(0, len(text) - 1))
    action = draw(st.sampled_from(["replace", "delete", "insert"]))
    char = draw(NAME_ALPHABET)
    if action == "replace":
        text = text[:position] + char + text[position + 1:]
    elif action == "delete":
        text = text[:position] + text[position + 1:]
    else:
        text = text[:position] + char + text[position:]
    return parser, text


@given(mutated_names())
def test_near_valid_name_is_either_refused_or_formats_back_unchanged(case):
    parser, text = case
    try:
        name = parser.parse(text)
    except InvalidName:
        return
    assert str(name) == text


@given(st.text(max_size=12))
@example("\u0661")  # Arabic-Indic one: int() reads it as 1
@example("\u00b2")  # superscript two: isdigit() yes, int() no
@example("1_0")
def test_ascii_digits_are_exactly_the_digits_people_type(text: str) -> None:
    assert ascii_digits(text) == (text != "" and all(c in "0123456789" for c in text))
