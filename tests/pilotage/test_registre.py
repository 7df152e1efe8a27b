"""The collectivités' CSV and paper deposits: idempotent imports, refused lines that store nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from operator_sim.pilotage.registre import (
    FichierInvalide,
    lire_collectivites,
    lire_depots,
)
from operator_sim.store import SqliteStore
from operator_sim.store.pilotage import depots, fiches, import_collectivites
from tests.pilotage import scenario

FIXTURE = Path(__file__).parents[2] / "fixtures" / "pilotage" / "collectivites-val-de-loirette.csv"
HEADER = "siren;nom;nature;population;arrondissement;contact_nom;contact_email\n"


def _import(store: SqliteStore, data: bytes | str, departement: str | None = "034"):
    lecture = lire_collectivites(data, departement=departement,
                                 connues={c.siren: c for c in store.collectivites()})
    return lecture, (import_collectivites(store, lecture.lignes) if lecture.ok else None)


def test_the_sample_file_imports_and_a_second_import_changes_nothing(tmp_path):
    with SqliteStore.open(tmp_path) as store:
        lecture, counts = _import(store, FIXTURE.read_bytes())
        assert lecture.refus == [] and counts == {"crees": 28, "modifies": 0, "inchanges": 0}
        before = (store.collectivites(), fiches(store))
        assert {f.categorie for f in before[1].values()} == {
            "commune", "epci_fp", "epci", "departement", "region", "etablissement_public"}
        _, again = _import(store, FIXTURE.read_bytes())
        assert again == {"crees": 0, "modifies": 0, "inchanges": 28}
        assert (store.collectivites(), fiches(store)) == before


def test_a_collectivite_known_from_its_envelopes_keeps_its_idcl(tmp_path):
    with scenario.build(tmp_path) as store:
        _, counts = _import(store, HEADER + f"{scenario.A};Ville A renommée;commune;61000;1;;\n",
                            departement=None)
        assert counts == {"crees": 0, "modifies": 1, "inchanges": 0}
        a = store.get_collectivite(scenario.A)
        assert (a.nom, a.departement, a.nature) == ("Ville A renommée", "034", "31")
        assert fiches(store)[scenario.A].population == 61000


@pytest.mark.parametrize(("line", "field", "reason"), [
    ("213401723;Ville;commune;10;1;;", "siren", "clé de Luhn"),
    ("21340172;Ville;commune;10;1;;", "siren", "9 chiffres"),
    ("213401722;Ville;hameau;10;1;;", "nature", "inconnue"),
    ("213401722;Ville;commune;-5;1;;", "population", "négative"),
    ("213401722;Ville;commune;10;12;;", "arrondissement", "chiffre"),
    ("213401722;Ville;commune;10;1;Marie;pas-une-adresse", "contact_email", "adresse"),
    ("213401722;;commune;10;1;;", "nom", "imprimable"),
])
def test_a_bad_line_is_refused_with_its_number_and_field_and_nothing_is_stored(
        tmp_path, line, field, reason):
    good = "491011698;Village;commune;800;1;Bruno;b@b.example"
    with SqliteStore.open(tmp_path) as store:
        lecture, counts = _import(store, HEADER + good + "\n" + line + "\n")
        assert counts is None
        assert [(r.ligne, r.champ) for r in lecture.refus] == [(3, field)]
        assert reason in lecture.refus[0].raison_fr and lecture.refus[0].raison_en
        assert store.collectivites() == [] and fiches(store) == {}


def test_a_duplicate_line_is_refused_naming_the_first(tmp_path):
    line = "491011698;Village;commune;800;1;Bruno;b@b.example\n"
    lecture = lire_collectivites(HEADER + line + line, departement="034", connues={})
    assert [(r.ligne, r.champ, r.raison_en) for r in lecture.refus] == [
        (3, "siren", "duplicate SIREN (already line 2)")]


def test_a_file_that_cannot_be_read_is_refused_as_a_whole():
    with pytest.raises(FichierInvalide, match="missing columns: population"):
        lire_collectivites("siren;nom;nature;arrondissement;contact_nom;contact_email\n",
                           departement="034", connues={})
    with pytest.raises(FichierInvalide, match="not UTF-8"):
        lire_collectivites((HEADER + "491011698;Ch\xe2teau;commune;1;1;;\n").encode("latin-1"),
                           departement="034", connues={})
    with pytest.raises(FichierInvalide, match="département"):
        lire_collectivites(HEADER, departement="999", connues={})


def test_deposits_for_an_unknown_siren_or_in_the_future_are_refused(tmp_path):
    today = dt.date(2025, 7, 1)
    with scenario.build(tmp_path) as store:
        before = depots(store)
        known = [c.siren for c in store.collectivites()]
        lecture = lire_depots(
            "date;siren;nature;matiere;nombre\n"
            f"2025-06-30;{scenario.B};DE;1.1;3\n"
            "2025-06-30;732829320;DE;1.1;3\n"
            f"2025-07-02;{scenario.B};DE;1.1;3\n"
            f"2025-06-30;{scenario.B};XX;1.1;3\n"
            f"2025-06-30;{scenario.B};BF;1.1;0\n", connus=known, today=today)
        assert [(r.ligne, r.champ) for r in lecture.refus] == [
            (3, "siren"), (4, "date"), (5, "nature"), (6, "nombre")]
        assert "inconnu" in lecture.refus[0].raison_fr
        assert "future" in lecture.refus[1].raison_fr
        ok = lire_depots([{"date": "2025-06-30", "siren": scenario.B, "nature": "BF",
                           "matiere": "7.1", "nombre": 2}], connus=known, today=today)
        assert ok.refus == [] and ok.lignes[0].nature == 5
        assert depots(store) == before


def test_a_comma_separated_file_with_a_bom_and_a_french_label_reads_the_same():
    text = "\ufeff" + HEADER.replace(";", ",") + "491011698,Village,Commune,800,1,Bruno,b@b.example\n"
    lecture = lire_collectivites(text.encode("utf-8"), departement="034", connues={})
    assert lecture.refus == []
    ((collectivite, fiche),) = lecture.lignes
    assert (collectivite.nature, fiche.categorie, fiche.population) == ("31", "commune", 800)
