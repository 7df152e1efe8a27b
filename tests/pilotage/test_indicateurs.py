"""Indicators, lists and chart series computed from rows the test creates (see scenario.py)."""

from __future__ import annotations

import csv
import io

from operator_sim.pilotage.indicateurs import (
    INDICATEUR_COLONNES,
    LISTE_COLONNES,
    rapport,
    to_csv,
)
from operator_sim.protocol.codes import TransactionStatus
from operator_sim.store.pilotage import pilotage_rows
from tests.pilotage import scenario


def _rows(store):
    return store.run_read(lambda db: pilotage_rows(db, scenario.DU, scenario.AU))


def test_every_indicator_matches_the_hand_computed_figures(tmp_path):
    with scenario.build(tmp_path) as store:
        report = rapport(_rows(store), scenario.DU, scenario.AU, inactivite=scenario.INACTIVITE)
    got = {c["siren"]: c for c in report["collectivites"]}
    assert set(got) == set(scenario.EXPECTED)
    for siren, expected in scenario.EXPECTED.items():
        assert {k: got[siren][k] for k in expected} == expected, siren
    assert report["arrondissements"] == scenario.ARRONDISSEMENTS
    assert report["series"] == scenario.SERIES
    assert {name: [line["siren"] for line in lines]
            for name, lines in report["listes"].items()} == scenario.LISTES
    for lines in report["listes"].values():
        assert all(line["raison"] for line in lines)


def test_one_arrondissement_and_another_inactivity_threshold(tmp_path):
    with scenario.build(tmp_path) as store:
        rows = _rows(store)
    report = rapport(rows, scenario.DU, scenario.AU, inactivite=10, arrondissement="2")
    assert [c["siren"] for c in report["collectivites"]] == [scenario.D, scenario.C]
    assert report["listes"]["inactives"][0]["siren"] == scenario.D  # 29 days ≥ 10
    assert report["series"]["papier_par_mois"] == [0, 4, 0, 2, 0, 0]
    assert report["series"]["teletransmis_par_mois"] == [0, 0, 0, 0, 0, 1]


def test_csv_exports_carry_the_same_figures(tmp_path):
    with scenario.build(tmp_path) as store:
        report = rapport(_rows(store), scenario.DU, scenario.AU, inactivite=scenario.INACTIVITE)
    table = list(csv.DictReader(io.StringIO(to_csv(report["collectivites"],
                                                   INDICATEUR_COLONNES)), delimiter=";"))
    d = next(r for r in table if r["siren"] == scenario.D)
    assert (d["taux"], d["papier"], d["partielle"], d["budget_integre"]) == \
        ("0.3333", "2", "oui", "non")
    mailing = list(csv.DictReader(io.StringIO(to_csv(report["listes"]["partielles"],
                                                     LISTE_COLONNES)), delimiter=";"))
    assert mailing == [{"siren": scenario.D, "nom": "Bourg D", "arrondissement": "2",
                        "contact_nom": "Denis", "contact_email": "d@d.example",
                        "raison": scenario.EXPECTED[scenario.D]["raisons"]["partielles"]}]


def test_a_cell_a_spreadsheet_would_run_is_quoted():
    text = to_csv([{"nom": "=HYPERLINK(\"x\")", "taux": -1}], ("nom", "taux"))
    row = next(csv.reader(io.StringIO(text.splitlines()[1]), delimiter=";"))
    assert row == ["'=HYPERLINK(\"x\")", "-1"]


def test_the_counters_follow_an_act_that_leaves_or_enters_the_count(tmp_path):
    with scenario.build(tmp_path) as store:
        d1 = store.find_live_acte(scenario.D, "D1")
        store.transition(d1.id, TransactionStatus.ANNULE, at=scenario.at("2025-06-02"),
                         actor="test", expected_from=TransactionStatus.ACQUITTEMENT_RECU)
        report = rapport(_rows(store), scenario.DU, scenario.AU, inactivite=scenario.INACTIVITE)
        d = next(c for c in report["collectivites"] if c["siren"] == scenario.D)
        assert (d["teletransmis"], d["derniere_transmission"], d["taux"]) == (0, None, 0.0)
        assert report["series"]["teletransmis_par_mois"] == [0, 1, 0, 0, 1, 2]
