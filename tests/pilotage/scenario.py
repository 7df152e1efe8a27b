"""One small département built row by row, and the indicators a person computes from it by hand.

Period 2025-01-01 … 2025-06-30, inactivity threshold 60 days.
- A (arr. 1, commune of 60,000: NOTRe-obliged), convention 2024-01-01: 2 DE on 2025-06-10 (one
  acknowledged 2 h later), 1 BF on 2025-05-15, 1 act in error (not counted). Compliant.
- B (arr. 1, commune of 800), convention 2024-01-01: one act on 2024-12-01 only: inactive.
- C (arr. 2, EPCI à fiscalité propre), no convention, 4 DE on paper (matière 5.7) on 2025-02-03.
- D (arr. 2, commune of 3,000), convention 2024-06-01: 1 DE on 2025-06-01 (acknowledged 4 h
  later), 2 BF on paper (matière 7.1) on 2025-04-01: partial, no budget acts.
- E (arr. 3, département), convention 2023-01-01 terminated 2025-03-01: 1 DE on 2025-02-20.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import UTC, datetime, timedelta
from pathlib import Path

from operator_sim.pilotage.registre import lire_collectivites
from operator_sim.protocol.codes import NatureActe, TransactionStatus
from operator_sim.store import NewConvention, SqliteStore
from operator_sim.store.pilotage import NewDepot, add_depots, import_collectivites
from tests.store.factories import new_acte

A, B, C, D, E = "213401722", "491011698", "240445296", "225774637", "237064332"
DU, AU = dt.date(2025, 1, 1), dt.date(2025, 6, 30)
INACTIVITE = 60
CSV = (
    "siren;nom;nature;population;arrondissement;contact_nom;contact_email\n"
    f"{A};Ville A;commune;60000;1;Alice;a@a.example\n"
    f"{B};Village B;commune;800;1;Bruno;b@b.example\n"
    f"{C};Communauté C;EPCI à fiscalité propre;25000;2;Chloé;c@c.example\n"
    f"{D};Bourg D;commune;3000;2;Denis;d@d.example\n"
    f"{E};Département E;departement;400000;3;Émile;e@e.example\n"
)


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _acte(store: SqliteStore, siren: str, numero: str, day: str, nature: NatureActe,
          matiere: str, *, ar_after_h: int | None = None,
          status: TransactionStatus = TransactionStatus.POSTE) -> None:
    new = dataclasses.replace(new_acte(store, numero, siren=siren, status=status),
                              nature=nature, matiere=matiere)
    row = store.create_transaction(new, at=at(day), actor="test")
    if ar_after_h is not None:
        store.transition(row.id, TransactionStatus.ACQUITTEMENT_RECU,
                         at=at(day) + timedelta(hours=ar_after_h), actor="test",
                         expected_from=TransactionStatus.POSTE)


DEPOTS = [{"date": "2025-02-03", "siren": C, "nature": "DE", "matiere": "5.7", "nombre": 4},
          {"date": "2025-04-01", "siren": D, "nature": "BF", "matiere": "7.1", "nombre": 2}]


def build(directory: Path) -> SqliteStore:
    """The whole scenario in a new store."""
    store = SqliteStore.open(directory)
    lecture = lire_collectivites(CSV, departement="034", connues={})
    assert lecture.ok, lecture.refus
    import_collectivites(store, lecture.lignes)
    activity(store)
    add_depots(store, [NewDepot(dt.date.fromisoformat(d["date"]), d["siren"],
                                int(NatureActe[d["nature"]]), d["matiere"], d["nombre"])
                       for d in DEPOTS], at=at("2025-07-01"))
    return store


def activity(store: SqliteStore) -> None:
    """Conventions and acts (the collectivités already registered)."""
    for siren, signed in ((A, "2024-01-01"), (B, "2024-01-01"), (D, "2024-06-01"),
                          (E, "2023-01-01")):
        store.add_convention(NewConvention(siren, dt.date.fromisoformat(signed), "SLO"))
    e_convention = store.conventions(E)[0]
    store.terminate_convention(e_convention.id, dt.date(2025, 3, 1))
    _acte(store, A, "A1", "2025-06-10", NatureActe.DE, "7.1.2", ar_after_h=2)
    _acte(store, A, "A2", "2025-06-10", NatureActe.DE, "7.1.2")
    _acte(store, A, "A3", "2025-05-15", NatureActe.BF, "7.1")
    _acte(store, A, "A4", "2025-05-16", NatureActe.DE, "7.1.2", status=TransactionStatus.ERREUR)
    _acte(store, B, "B1", "2024-12-01", NatureActe.DE, "7.1.2")
    _acte(store, D, "D1", "2025-06-01", NatureActe.DE, "7.1.2", ar_after_h=4)
    _acte(store, E, "E1", "2025-02-20", NatureActe.DE, "7.1.2")


EXPECTED = {
    A: dict(raccordee=True, derniere_transmission=at("2025-06-10").isoformat(),
            jours_sans_transmission=20, inactive=False, partielle=False, budget_integre=True,
            teletransmis=3, papier=0, taux=1.0, notre_obligee=True, notre_conforme=True,
            actes_avec_ar=1, delai_ar_moyen_s=7200.0, delai_ar_max_s=7200.0,
            raisons={}),
    B: dict(raccordee=True, derniere_transmission=at("2024-12-01").isoformat(),
            jours_sans_transmission=211, inactive=True, partielle=False, budget_integre=False,
            teletransmis=0, papier=0, taux=None, notre_obligee=False, notre_conforme=None,
            actes_avec_ar=0, delai_ar_moyen_s=None, delai_ar_max_s=None,
            raisons={"inactives": "dernier acte télétransmis le 01/12/2024, il y a 211 jours "
                                  "(seuil 60)",
                     "sans_budget": "aucun acte budgétaire (BF) télétransmis"}),
    C: dict(raccordee=False, derniere_transmission=None, jours_sans_transmission=None,
            inactive=False, partielle=False, budget_integre=False, teletransmis=0, papier=4,
            taux=0.0, notre_obligee=True, notre_conforme=False, actes_avec_ar=0,
            delai_ar_moyen_s=None, delai_ar_max_s=None,
            raisons={"non_connectees": "aucune convention signée avec la préfecture",
                     "notre_non_conformes": "obligée (EPCI à fiscalité propre) : pas de "
                                            "convention en vigueur ; 4 acte(s) reçu(s) sur "
                                            "papier depuis le 07/08/2020"}),
    D: dict(raccordee=True, derniere_transmission=at("2025-06-01").isoformat(),
            jours_sans_transmission=29, inactive=False, partielle=True, budget_integre=False,
            teletransmis=1, papier=2, taux=0.3333, notre_obligee=False, notre_conforme=None,
            actes_avec_ar=1, delai_ar_moyen_s=14400.0, delai_ar_max_s=14400.0,
            raisons={"partielles": "2 acte(s) déposé(s) sur papier alors que raccordée ; "
                                   "natures jamais télétransmises, reçues sur papier : BF",
                     "sans_budget": "aucun acte budgétaire (BF) télétransmis"}),
    E: dict(raccordee=False, derniere_transmission=at("2025-02-20").isoformat(),
            jours_sans_transmission=130, inactive=False, partielle=False, budget_integre=False,
            teletransmis=1, papier=0, taux=1.0, notre_obligee=True, notre_conforme=False,
            actes_avec_ar=0, delai_ar_moyen_s=None, delai_ar_max_s=None,
            raisons={"non_connectees": "convention résiliée le 01/03/2025",
                     "notre_non_conformes": "obligée (département) : pas de convention en "
                                            "vigueur"}),
}
ARRONDISSEMENTS = [
    {"arrondissement": "1", "collectivites": 2, "raccordees": 2, "inactives": 1, "partielles": 0,
     "budget_integre": 1, "notre_obligees": 1, "notre_non_conformes": 0, "teletransmis": 3,
     "papier": 0, "taux": 1.0},
    {"arrondissement": "2", "collectivites": 2, "raccordees": 1, "inactives": 0, "partielles": 1,
     "budget_integre": 0, "notre_obligees": 1, "notre_non_conformes": 1, "teletransmis": 1,
     "papier": 6, "taux": 0.1429},
    {"arrondissement": "3", "collectivites": 1, "raccordees": 0, "inactives": 0, "partielles": 0,
     "budget_integre": 0, "notre_obligees": 1, "notre_non_conformes": 1, "teletransmis": 1,
     "papier": 0, "taux": 1.0},
]
SERIES = {"mois": ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"],
          "teletransmis_par_mois": [0, 1, 0, 0, 1, 3], "papier_par_mois": [0, 4, 0, 2, 0, 0],
          "matieres": ["5", "7"], "teletransmis_par_matiere": [0, 5],
          "papier_par_matiere": [4, 2]}
LISTES = {"non_connectees": [E, C], "inactives": [B], "partielles": [D],
          "sans_budget": [D, B], "notre_non_conformes": [E, C]}
"""Each list by SIREN."""
