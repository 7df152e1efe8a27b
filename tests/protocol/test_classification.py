"""Behaviour of the classification model and the 7-2 RetourClassification document."""

from __future__ import annotations

import contextlib
import datetime
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from operator_sim.protocol.classification import (
    ERROR_CODE,
    Classification,
    Matiere,
    NatureClassifiee,
    Typologie,
    bundled_classifications,
    default_classification,
)
from operator_sim.protocol.codes import NS_ACTES, NatureActe
from operator_sim.protocol.errors import ProtocolError

XSD = Path(__file__).resolve().parents[2] / "schemas" / "actes" / "actes.xsd"
DATE_2019 = datetime.date(2019, 3, 1)
DATE_2004 = datetime.date(2004, 4, 1)


# --------------------------------------------------------------------------------------------
# Factories


def make_classification(**overrides: object) -> Classification:
    """A small valid classification; keyword arguments replace its fields."""
    values: dict[str, object] = {
        "date": datetime.date(2024, 1, 15),
        "natures": (
            NatureClassifiee(
                NatureActe.DE, "Délibérations", "DE", (Typologie("99_DE", "Délibération"),)
            ),
        ),
        "matieres": (Matiere(7, "Finances locales", (Matiere(1, "Décisions budgétaires"),)),),
    }
    values.update(overrides)
    return Classification(**values)  # type: ignore[arg-type]


def document(
    *,
    date: str = "<actes:DateClassification>2024-01-15</actes:DateClassification>",
    natures: str = (
        '<actes:NatureActe actes:CodeNatureActe="1" actes:Libelle="Délibérations"'
        ' actes:TypeAbrege="DE">'
        '<actes:TypePJNatureActe actes:CodeTypePJ="99_DE" actes:Libelle="Délibération"/>'
        "</actes:NatureActe>"
    ),
    matieres: str = (
        '<actes:Matiere1 actes:CodeMatiere="7" actes:Libelle="Finances locales">'
        '<actes:Matiere2 actes:CodeMatiere="1" actes:Libelle="Décisions budgétaires"/>'
        "</actes:Matiere1>"
    ),
    root: str = "RetourClassification",
    namespace: str = NS_ACTES,
    encoding: str = "UTF-8",
) -> bytes:
    """A RetourClassification document whose parts can be replaced one by one."""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<actes:{root} xmlns:actes="{namespace}">'
        f"{date}<actes:NaturesActes>{natures}</actes:NaturesActes>"
        f"<actes:Matieres>{matieres}</actes:Matieres></actes:{root}>"
    )
    return text.encode(encoding)


def invalid(data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        Classification.from_xml(data)
    return info.value


# --------------------------------------------------------------------------------------------
# Lookup, labels, paths


def test_two_level_path_is_found() -> None:
    path = default_classification().lookup((7, 1))
    assert path is not None
    assert [m.code for m in path] == [7, 1]
    assert path[0].libelle == "Finances locales"
    assert path[1].libelle == "Décisions budgétaires"


def test_three_and_four_level_paths_of_2019_are_found() -> None:
    classification = default_classification()
    budgets = classification.lookup((7, 1, 1))
    assert budgets is not None and budgets[-1].libelle == "Budgets et comptes"
    commission = classification.lookup([5, 1, 2, 1])
    assert commission is not None and len(commission) == 4
    assert classification.lookup((1, 1, 2)) is not None
    assert classification.lookup((7, 10, 1)) is not None


@pytest.mark.parametrize(
    "codes",
    [(7, 99), (1, 1, 9), (10,), (10, 1), (7, 1, 1, 1), (), (1, 1, 1, 1, 1, 1), ("7", "1")],
)
def test_unknown_paths_are_not_found(codes: tuple) -> None:
    assert default_classification().lookup(codes) is None


def test_lookup_never_raises_on_odd_input() -> None:
    classification = default_classification()
    assert classification.lookup(None) is None  # type: ignore[arg-type]
    assert classification.lookup(([7], [1])) is None  # type: ignore[list-item]


def test_2019_levels_are_unknown_to_the_2004_classification() -> None:
    old = bundled_classifications()[DATE_2004]
    assert old.lookup((7, 1)) is not None
    assert old.lookup((7, 1, 1)) is None


def test_label_joins_the_codes_and_the_deepest_label() -> None:
    classification = default_classification()
    assert classification.label((7, 1)) == "7.1 Décisions budgétaires"
    assert classification.label((7,)) == "7 Finances locales"
    assert classification.label((7, 10, 1)) == "7.10.1 Fonds de compensation de la TVA (FCTVA)"
    assert classification.label((1, 6)) == "1.6 Actes relatifs à la maîtrise d'œuvre"


def test_label_of_an_unknown_path_raises_key_error() -> None:
    with pytest.raises(KeyError):
        default_classification().label((7, 99))


def test_paths_list_every_node_parents_first() -> None:
    classification = default_classification()
    paths = list(classification.paths())
    assert len(paths) == len(set(paths)) == 181
    assert sum(1 for p in paths if len(p) == 1) == 9
    assert sum(1 for p in paths if len(p) == 2) == 57
    assert max(len(p) for p in paths) == 4
    seen: set[tuple[int, ...]] = set()
    for path in paths:
        assert len(path) == 1 or path[:-1] in seen
        assert classification.lookup(path) is not None
        seen.add(path)


def test_2004_skeleton_has_every_matiere1_and_matiere2() -> None:
    old = bundled_classifications()[DATE_2004]
    counts = {m.code: len(m.children) for m in old.matieres}
    assert counts == {1: 7, 2: 3, 3: 6, 4: 5, 5: 8, 6: 5, 7: 10, 8: 9, 9: 4}
    assert len(list(old.paths())) == 66
    assert [m.code for m in default_classification().matieres] == list(range(1, 10))


# --------------------------------------------------------------------------------------------
# Natures and typologies


def test_budget_typology_is_allowed_for_bf_only() -> None:
    classification = default_classification()
    assert classification.is_typologie_allowed(NatureActe.BF, "99_BU")
    assert not classification.is_typologie_allowed(NatureActe.DE, "99_BU")
    assert classification.is_typologie_allowed(1, "99_DE")
    assert not classification.is_typologie_allowed(NatureActe.DE, "99_XX")


@pytest.mark.parametrize(
    ("nature", "default_code", "count"),
    [
        (NatureActe.DE, "99_DE", 18),
        (NatureActe.AR, "99_AR", 9),
        (NatureActe.AI, "99_AI", 36),
        (NatureActe.CC, "99_DC", 47),
        (NatureActe.BF, "99_BU", 3),
        (NatureActe.AU, "99_AU", 2),
    ],
)
def test_each_nature_lists_its_typologies(
    nature: NatureActe, default_code: str, count: int
) -> None:
    typologies = default_classification().typologies_for(nature)
    codes = [t.code for t in typologies]
    assert len(codes) == count
    assert codes[0] == default_code
    assert "99_SE" in codes
    assert all(t.libelle for t in typologies)


def test_typology_labels_carry_accents() -> None:
    by_code = {t.code: t.libelle for t in default_classification().typologies_for(NatureActe.BF)}
    assert by_code == {
        "99_BU": "Document budgétaire",
        "70_DE": "Délibération",
        "99_SE": "Fichier de signature électronique",
    }


def test_natures_have_their_2019_and_2004_labels() -> None:
    new = {n.code: n.libelle for n in default_classification().natures}
    old = {n.code: n.libelle for n in bundled_classifications()[DATE_2004].natures}
    assert new[NatureActe.AR] == "Actes réglementaires"
    assert old[NatureActe.AR] == "Arrêtés réglementaires"
    assert set(new) == set(old) == set(NatureActe)


def test_a_classification_without_typologies_allows_none() -> None:
    old = bundled_classifications()[DATE_2004]
    assert old.typologies_for(NatureActe.DE) == ()
    assert not old.is_typologie_allowed(NatureActe.DE, "99_DE")


def test_unknown_nature_has_no_typologies() -> None:
    only_de = make_classification()
    assert only_de.nature(NatureActe.BF) is None
    assert only_de.typologies_for(NatureActe.BF) == ()


# --------------------------------------------------------------------------------------------
# Bundled files


def test_bundled_classifications_are_keyed_by_date() -> None:
    bundled = bundled_classifications()
    assert set(bundled) == {DATE_2004, DATE_2019}
    assert bundled[DATE_2019] is default_classification()
    bundled.clear()
    assert len(bundled_classifications()) == 2


def test_default_classification_is_loaded_once() -> None:
    assert default_classification() is default_classification()
    assert default_classification().date == DATE_2019


def test_bundled_files_are_iso_8859_1_package_data() -> None:
    data = resources.files("operator_sim.protocol").joinpath("data")
    for name in ("classification-2019-03-01.xml", "classification-2004-04-01.xml"):
        raw = data.joinpath(name).read_bytes()
        assert raw.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


# --------------------------------------------------------------------------------------------
# XML round trip and encoding


@pytest.mark.parametrize("date", [DATE_2004, DATE_2019])
def test_bundled_classifications_survive_a_round_trip(date: datetime.date) -> None:
    classification = bundled_classifications()[date]
    assert Classification.from_xml(classification.to_xml()) == classification
    assert Classification.from_element(classification.to_element()) == classification


def test_output_is_iso_8859_1_with_prefixed_elements_and_attributes() -> None:
    data = default_classification().to_xml()
    assert data.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n')
    assert "Décisions budgétaires".encode("latin-1") in data
    assert b"&#339;" in data  # œ is outside ISO-8859-1: a character reference
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    root = etree.fromstring(data)
    assert root.tag == f"{{{NS_ACTES}}}RetourClassification"
    for el in root.iter():
        assert el.tag.startswith(f"{{{NS_ACTES}}}")
        assert el.prefix == "actes"
        for name in el.attrib:
            assert name.startswith(f"{{{NS_ACTES}}}") or name.endswith("schemaLocation")


def test_output_reparses_with_accented_labels_intact() -> None:
    again = Classification.from_xml(default_classification().to_xml())
    assert again.label((6, 1, 4)) == "6.1.4 Établissements recevant du public (ERP)"
    assert again.label((9, 4)) == "9.4 Vœux et motions"
    assert again.nature(NatureActe.DE).libelle == "Délibérations"  # type: ignore[union-attr]


def test_utf8_input_is_accepted() -> None:
    from_utf8 = Classification.from_xml(document(encoding="UTF-8"))
    from_latin1 = Classification.from_xml(document(encoding="ISO-8859-1"))
    assert from_utf8 == from_latin1 == make_classification()
    assert from_utf8.label((7, 1)) == "7.1 Décisions budgétaires"


def test_utf8_input_without_declaration_is_accepted() -> None:
    data = document().split(b"?>\n", 1)[1]
    assert Classification.from_xml(data) == make_classification()


def test_a_converted_utf8_copy_of_the_default_file_reads_the_same() -> None:
    latin1 = default_classification().to_xml()
    utf8 = latin1.decode("latin-1").replace("ISO-8859-1", "UTF-8", 1).encode("utf-8")
    assert Classification.from_xml(utf8) == default_classification()


def test_missing_code_nature_is_taken_from_type_abrege() -> None:
    natures = (
        '<actes:NatureActe actes:Libelle="Délibérations" actes:TypeAbrege="DE">'
        '<actes:TypePJNatureActe actes:CodeTypePJ="99_DE" actes:Libelle="Délibération"/>'
        "</actes:NatureActe>"
    )
    assert Classification.from_xml(document(natures=natures)) == make_classification()


def test_comments_and_time_zone_are_tolerated() -> None:
    data = document(
        date="<!-- v --><actes:DateClassification> 2024-01-15Z </actes:DateClassification>"
    )
    assert Classification.from_xml(data).date == datetime.date(2024, 1, 15)


# --------------------------------------------------------------------------------------------
# Bad documents


def test_missing_date_classification_is_refused() -> None:
    error = invalid(document(date=""))
    assert error.code == ERROR_CODE
    assert error.field == "RetourClassification/DateClassification"


@pytest.mark.parametrize("value", ["2024-13-01", "15/01/2024", "", "2024-02-30"])
def test_ill_typed_date_is_refused(value: str) -> None:
    error = invalid(document(date=f"<actes:DateClassification>{value}</actes:DateClassification>"))
    assert error.code == ERROR_CODE
    assert error.field == "RetourClassification/DateClassification"


@pytest.mark.parametrize("value", ["x", "7.1", "", "-1", "0", "1" * 40])
def test_code_matiere_that_is_not_a_positive_integer_is_refused(value: str) -> None:
    matieres = (
        '<actes:Matiere1 actes:CodeMatiere="7" actes:Libelle="Finances locales">'
        f'<actes:Matiere2 actes:CodeMatiere="{value}" actes:Libelle="Décisions budgétaires"/>'
        "</actes:Matiere1>"
    )
    error = invalid(document(matieres=matieres))
    assert error.code == ERROR_CODE
    assert error.field == "RetourClassification/Matieres/Matiere1[1]/Matiere2[1]/@CodeMatiere"


def test_matiere3_directly_under_matiere1_is_refused() -> None:
    matieres = (
        '<actes:Matiere1 actes:CodeMatiere="7" actes:Libelle="Finances locales">'
        '<actes:Matiere3 actes:CodeMatiere="1" actes:Libelle="Budgets et comptes"/>'
        "</actes:Matiere1>"
    )
    error = invalid(document(matieres=matieres))
    assert error.code == ERROR_CODE
    assert error.field == "RetourClassification/Matieres/Matiere1[1]/Matiere3"


@pytest.mark.parametrize(
    ("root", "namespace"),
    [
        ("DemandeClassification", NS_ACTES),
        ("ReponseClassificationSansChangement", NS_ACTES),
        ("RetourClassification", "http://www.interieur.gouv.fr/ACTES#v1.1-20040202"),
    ],
)
def test_wrong_root_is_refused(root: str, namespace: str) -> None:
    error = invalid(document(root=root, namespace=namespace))
    assert error.code == ERROR_CODE
    assert error.field == "RetourClassification"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"natures": ""}, "RetourClassification/NaturesActes/NatureActe"),
        ({"matieres": ""}, "RetourClassification/Matieres/Matiere1"),
        (
            {
                "natures": '<actes:NatureActe actes:CodeNatureActe="9" actes:Libelle="X"'
                ' actes:TypeAbrege="XX"/>'
            },
            "RetourClassification/NaturesActes/NatureActe[1]/@CodeNatureActe",
        ),
        (
            {
                "natures": '<actes:NatureActe actes:CodeNatureActe="1" actes:Libelle="X"'
                ' actes:TypeAbrege="BF"/>'
            },
            "RetourClassification/NaturesActes/NatureActe[1]/@TypeAbrege",
        ),
        (
            {"natures": '<actes:NatureActe actes:CodeNatureActe="1" actes:TypeAbrege="DE"/>'},
            "RetourClassification/NaturesActes/NatureActe[1]/@Libelle",
        ),
        (
            {
                "natures": '<actes:NatureActe actes:CodeNatureActe="1" actes:Libelle="D"'
                ' actes:TypeAbrege="DE"/><actes:NatureActe actes:CodeNatureActe="1"'
                ' actes:Libelle="D" actes:TypeAbrege="DE"/>'
            },
            "RetourClassification/NaturesActes/NatureActe[2]/@CodeNatureActe",
        ),
        (
            {
                "natures": '<actes:NatureActe actes:CodeNatureActe="5" actes:Libelle="B"'
                ' actes:TypeAbrege="BF"><actes:TypePJNatureActe actes:CodeTypePJ="99_BU"'
                ' actes:Libelle="a"/><actes:TypePJNatureActe actes:CodeTypePJ="99_BU"'
                ' actes:Libelle="b"/></actes:NatureActe>'
            },
            "RetourClassification/NaturesActes/NatureActe[1]/TypePJNatureActe[2]/@CodeTypePJ",
        ),
        (
            {
                "matieres": '<actes:Matiere1 actes:CodeMatiere="7" actes:Libelle="F"/>',
            },
            "RetourClassification/Matieres/Matiere1[1]/Matiere2",
        ),
        (
            {
                "matieres": '<actes:Matiere1 actes:CodeMatiere="7" actes:Libelle="F">'
                '<actes:Matiere2 actes:CodeMatiere="1" actes:Libelle="a"/>'
                '<actes:Matiere2 actes:CodeMatiere="1" actes:Libelle="b"/></actes:Matiere1>',
            },
            "RetourClassification/Matieres/Matiere1[1]/Matiere2[2]/@CodeMatiere",
        ),
        (
            {
                "matieres": '<actes:Matiere1 actes:CodeMatiere="7">'
                '<actes:Matiere2 actes:CodeMatiere="1" actes:Libelle="a"/></actes:Matiere1>',
            },
            "RetourClassification/Matieres/Matiere1[1]/@Libelle",
        ),
        (
            {
                "matieres": '<actes:Matiere1 actes:CodeMatiere="1" actes:Libelle="a">'
                '<actes:Matiere2 actes:CodeMatiere="1" actes:Libelle="b">'
                '<actes:Matiere3 actes:CodeMatiere="1" actes:Libelle="c">'
                '<actes:Matiere4 actes:CodeMatiere="1" actes:Libelle="d">'
                '<actes:Matiere5 actes:CodeMatiere="1" actes:Libelle="e">'
                '<actes:Matiere6 actes:CodeMatiere="1" actes:Libelle="f"/>'
                "</actes:Matiere5></actes:Matiere4></actes:Matiere3></actes:Matiere2>"
                "</actes:Matiere1>",
            },
            "RetourClassification/Matieres/Matiere1[1]/Matiere2[1]/Matiere3[1]/Matiere4[1]"
            "/Matiere5[1]/Matiere6",
        ),
        (
            {"date": "<actes:Date>2024-01-15</actes:Date>"},
            "RetourClassification/Date",
        ),
    ],
)
def test_bad_parts_are_refused_with_their_place(kwargs: dict[str, str], field: str) -> None:
    error = invalid(document(**kwargs))
    assert error.code == ERROR_CODE
    assert error.field == field
    assert error.message_fr and error.message_en


def test_five_levels_are_accepted() -> None:
    matieres = (
        '<actes:Matiere1 actes:CodeMatiere="1" actes:Libelle="a">'
        '<actes:Matiere2 actes:CodeMatiere="1" actes:Libelle="b">'
        '<actes:Matiere3 actes:CodeMatiere="1" actes:Libelle="c">'
        '<actes:Matiere4 actes:CodeMatiere="1" actes:Libelle="d">'
        '<actes:Matiere5 actes:CodeMatiere="1" actes:Libelle="e"/>'
        "</actes:Matiere4></actes:Matiere3></actes:Matiere2></actes:Matiere1>"
    )
    classification = Classification.from_xml(document(matieres=matieres))
    assert classification.label((1, 1, 1, 1, 1)) == "1.1.1.1.1 e"


def test_malformed_xml_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError) as info:
        Classification.from_xml(b"<actes:RetourClassification")
    assert info.value.code == "XML_MALFORMED"


def test_text_instead_of_bytes_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError) as info:
        Classification.from_xml(document().decode("utf-8"))  # type: ignore[arg-type]
    assert info.value.code == ERROR_CODE


def test_from_element_refuses_what_is_not_an_element() -> None:
    with pytest.raises(ProtocolError):
        Classification.from_element("RetourClassification")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        Classification.from_element(etree.Comment("x"))


# --------------------------------------------------------------------------------------------
# Model invariants


def test_sibling_codes_must_be_unique() -> None:
    with pytest.raises(ProtocolError) as info:
        Matiere(7, "F", (Matiere(1, "a"), Matiere(1, "b")))
    assert info.value.code == ERROR_CODE


def test_matiere1_codes_must_be_unique() -> None:
    with pytest.raises(ProtocolError) as info:
        make_classification(
            matieres=(Matiere(7, "a", (Matiere(1, "x"),)), Matiere(7, "b", (Matiere(1, "y"),)))
        )
    assert info.value.field == "Matiere1/@CodeMatiere"


def test_more_than_five_levels_is_refused() -> None:
    deep = Matiere(1, "f")
    for _ in range(5):
        deep = Matiere(1, "x", (deep,))
    with pytest.raises(ProtocolError):
        make_classification(matieres=(deep,))


def test_type_abrege_must_match_the_nature() -> None:
    with pytest.raises(ProtocolError):
        NatureClassifiee(NatureActe.DE, "Délibérations", "BF")


def test_labels_must_be_xml_characters() -> None:
    with pytest.raises(ProtocolError):
        Matiere(1, "bad\x00label")


def test_lists_are_stored_as_tuples() -> None:
    matiere = Matiere(7, "F", [Matiere(1, "a")])  # type: ignore[arg-type]
    assert isinstance(matiere.children, tuple)
    assert hash(make_classification()) == hash(make_classification())


# --------------------------------------------------------------------------------------------
# Properties

XML_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(
            min_codepoint=0x20, blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff"
        ),
        st.sampled_from("\t\n\r"),
    ),
    max_size=12,
)


def matieres_at(level: int) -> st.SearchStrategy[tuple[Matiere, ...]]:
    children = st.just(()) if level == 5 else matieres_at(level + 1)
    node = st.builds(Matiere, st.integers(1, 30), XML_TEXT, children)
    return st.lists(
        node, min_size=1 if level <= 2 else 0, max_size=3, unique_by=lambda m: m.code
    ).map(tuple)


TYPOLOGIES = st.lists(
    st.builds(Typologie, st.from_regex(r"[0-9]{2}_[A-Z]{2}", fullmatch=True), XML_TEXT),
    max_size=4,
    unique_by=lambda t: t.code,
).map(tuple)

NATURES = st.lists(st.sampled_from(list(NatureActe)), min_size=1, max_size=6, unique=True).flatmap(
    lambda codes: st.tuples(
        *(
            st.builds(NatureClassifiee, st.just(code), XML_TEXT, st.just(code.abrege), TYPOLOGIES)
            for code in codes
        )
    )
)

CLASSIFICATIONS = st.builds(
    Classification,
    date=st.dates(),
    natures=NATURES,
    matieres=matieres_at(1),
)


@pytest.mark.slow  # long property test
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CLASSIFICATIONS)
def test_random_trees_survive_a_round_trip(classification: Classification) -> None:
    data = classification.to_xml()
    assert data.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    again = Classification.from_xml(data)
    assert again == classification
    assert list(again.paths()) == list(classification.paths())


VALID = document(encoding="ISO-8859-1")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_damaged_document_raises_only_protocol_errors(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(VALID)))
    end = data.draw(st.integers(start, min(len(VALID), start + 40)))
    patch = data.draw(st.binary(max_size=8) | st.sampled_from([b"", b"<", b'"', b"x", b"99"]))
    damaged = VALID[:start] + patch + VALID[end:]
    with contextlib.suppress(ProtocolError):
        Classification.from_xml(damaged)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        Classification.from_xml(data)


# --------------------------------------------------------------------------------------------
# Schema


@pytest.fixture
def actes_xsd() -> Path:
    if not XSD.is_file():
        pytest.skip("schemas/actes/actes.xsd is not there")
    return XSD


def test_a_classification_without_typologies_is_refused_as_the_ministry_schema_does(
        actes_xsd: Path, tmp_path: Path) -> None:
    """The 2004 tree has no TypePJNatureActe: the ministry schema requires one per nature, and
    so does ours since it was aligned (it accepted none before); only the current tree is sent."""
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        pytest.skip("xmllint is not installed")
    target = tmp_path / "classification-2004.xml"
    target.write_bytes(bundled_classifications()[DATE_2004].to_xml())
    for xsd in (actes_xsd, XSD.parents[1] / "official" / "actesv1_1.xsd"):
        result = subprocess.run([xmllint, "--noout", "--schema", str(xsd), str(target)],
                                capture_output=True, text=True, check=False)
        assert result.returncode != 0 and "TypePJNatureActe" in result.stderr, result.stderr


@pytest.mark.parametrize("date", [DATE_2019])
def test_bundled_output_is_valid_for_lxml(actes_xsd: Path, date: datetime.date) -> None:
    schema = etree.XMLSchema(etree.parse(str(actes_xsd)))
    document_ = etree.fromstring(bundled_classifications()[date].to_xml())
    assert schema.validate(document_), schema.error_log


@pytest.mark.parametrize("date", [DATE_2019])
def test_bundled_output_is_valid_for_xmllint(
    actes_xsd: Path, tmp_path: Path, date: datetime.date
) -> None:
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        pytest.skip("xmllint is not installed")
    target = tmp_path / "classification.xml"
    target.write_bytes(bundled_classifications()[date].to_xml())
    result = subprocess.run(
        [xmllint, "--noout", "--schema", str(actes_xsd), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
