"""The référent @CTES's indicators over a period, and the lists of collectivités to act on.

Pure: computed from the store's rows (`store.pilotage.PilotageRows`), so the API, the CLI and
the dashboard show the same figures. Definitions (README "Pilotage"):

- connected: a convention in force on the period's last day;
- teletransmitted: acts (type 1) created in the period, not in error, cancelled or unposted;
- inactive: connected, and no act for `inactivite` days or more at the period's end;
- partial: connected, with paper deposits dated while a convention was in force, or natures
  deposited on paper it never teletransmitted;
- budget integrated: a budget act (BF) teletransmitted up to the period's end;
- rate: teletransmitted ÷ (teletransmitted + paper), in the period;
- NOTRe (art. 128): régions, départements, EPCI à fiscalité propre and communes of more than
  50,000 inhabitants are obliged; compliant when connected and no paper deposit of the period
  is dated on or after 2020-08-07;
- AR delay: from an act's reception to its acknowledgement (status 4), acts of the period.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..protocol.codes import NatureActe
from ..store import Convention
from ..store.pilotage import PilotageRows

NOTRE_DATE = dt.date(2020, 8, 7)
NOTRE_CATEGORIES = frozenset({"region", "departement", "epci_fp"})
NOTRE_POPULATION = 50_000
LISTES = ("non_connectees", "inactives", "partielles", "sans_budget", "notre_non_conformes")
LISTE_TITRES = {
    "non_connectees": "Collectivités non raccordées à @CTES",
    "inactives": "Raccordées mais inactives",
    "partielles": "Télétransmission partielle",
    "sans_budget": "Actes budgétaires non intégrés",
    "notre_non_conformes": "Obligées (loi NOTRe) non conformes",
}


PREMIER_JOUR, DERNIER_JOUR = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
MAX_JOURS = 3660


def periode_invalide(du: dt.date, au: dt.date) -> tuple[str, str, str] | None:
    """Why [du, au] cannot be reported on (field, French, English), or None."""
    for field, day in (("du", du), ("au", au)):
        if not PREMIER_JOUR <= day <= DERNIER_JOUR:
            return field, "date entre 1900 et 2999 attendue", "date between 1900 and 2999 expected"
    if du > au:
        return "du", "la période commence après sa fin", "the period starts after its end"
    if (au - du).days >= MAX_JOURS:
        return "du", f"période de {MAX_JOURS} jours au plus", f"period of at most {MAX_JOURS} days"
    return None


@dataclass(frozen=True)
class Indicateurs:
    """One collectivité's figures over the period."""

    siren: str
    nom: str
    arrondissement: str
    categorie: str | None
    population: int | None
    contact_nom: str
    contact_email: str
    raccordee: bool
    operateur: str | None
    date_convention: str | None
    derniere_transmission: str | None
    jours_sans_transmission: int | None
    inactive: bool
    partielle: bool
    budget_integre: bool
    teletransmis: int
    papier: int
    taux: float | None
    notre_obligee: bool
    notre_conforme: bool | None
    actes_avec_ar: int
    delai_ar_moyen_s: float | None
    delai_ar_max_s: float | None
    raisons: dict[str, str]
    """Why the collectivité is on each list it is on (list name → French reason)."""


def _in_force(conventions: Iterable[Convention], day: dt.date) -> Convention | None:
    return next((c for c in reversed(list(conventions)) if c.in_force(day)), None)


def _rate(tele: int, paper: int) -> float | None:
    return None if tele + paper == 0 else round(tele / (tele + paper), 4)


def _fr(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def indicateurs(rows: PilotageRows, du: dt.date, au: dt.date, *, inactivite: int,
                arrondissement: str | None = None) -> list[Indicateurs]:
    """Every registered collectivité's indicators over [du, au] (of one arrondissement)."""
    by_siren: dict[str, list[Convention]] = defaultdict(list)
    for c in rows.conventions:
        by_siren[c.siren].append(c)
    tele: dict[str, int] = defaultdict(int)
    for a in rows.actes:
        tele[a.siren] += a.nombre
    deposits = defaultdict(list)
    for d in rows.depots:
        deposits[d.siren].append(d)
    result = []
    for col in rows.collectivites:
        if arrondissement is not None and col.arrondissement != arrondissement:
            continue
        fiche = rows.fiches.get(col.siren)
        conventions = by_siren.get(col.siren, [])
        convention = _in_force(conventions, au)
        paper = sum(d.nombre for d in deposits[col.siren])
        last = rows.derniere_transmission.get(col.siren)
        idle = None if last is None else (au - last.date()).days
        raisons: dict[str, str] = {}
        if convention is None:
            ended = [c for c in conventions if c.date_resiliation is not None]
            raisons["non_connectees"] = (
                f"convention résiliée le {_fr(ended[-1].date_resiliation)}" if ended  # type: ignore[arg-type]
                else "aucune convention signée avec la préfecture")
        inactive = convention is not None and (idle is None or idle >= inactivite)
        if inactive:
            raisons["inactives"] = (
                f"aucun acte télétransmis depuis la convention du {_fr(convention.date_signature)}"  # type: ignore[union-attr]
                if last is None else
                f"dernier acte télétransmis le {_fr(last.date())}, il y a {idle} jours "
                f"(seuil {inactivite})")
        partial_reasons = []
        if convention is not None:
            while_connected = sum(d.nombre for d in deposits[col.siren]
                                  if _in_force(conventions, d.date_depot) is not None)
            if while_connected:
                partial_reasons.append(f"{while_connected} acte(s) déposé(s) sur papier "
                                       f"alors que raccordée")
            never = sorted({d.nature for d in deposits[col.siren]}
                           - rows.natures_teletransmises.get(col.siren, frozenset()))
            if never:
                partial_reasons.append("natures jamais télétransmises, reçues sur papier : "
                                       + ", ".join(NatureActe(n).abrege for n in never))
        if partial_reasons:
            raisons["partielles"] = " ; ".join(partial_reasons)
        budget = col.siren in rows.budget
        if convention is not None and not budget:
            raisons["sans_budget"] = "aucun acte budgétaire (BF) télétransmis" + (
                "" if convention.actes_budgetaires
                else " ; la convention n'inclut pas les actes budgétaires")
        categorie = fiche.categorie if fiche else None
        population = fiche.population if fiche else None
        # The category that makes the collectivité obliged, None when it is not.
        obliged_as = categorie if categorie in NOTRE_CATEGORIES or (
            categorie == "commune" and population is not None and population > NOTRE_POPULATION
        ) else None
        obliged = obliged_as is not None
        compliant: bool | None = None
        if obliged_as is not None:
            since = sum(d.nombre for d in deposits[col.siren] if d.date_depot >= NOTRE_DATE)
            compliant = convention is not None and since == 0
            if not compliant:
                why = [] if convention is not None else ["pas de convention en vigueur"]
                if since:
                    why.append(f"{since} acte(s) reçu(s) sur papier depuis le 07/08/2020")
                raisons["notre_non_conformes"] = "obligée (" + (
                    "population > 50 000" if obliged_as == "commune"
                    else {"region": "région", "departement": "département",
                          "epci_fp": "EPCI à fiscalité propre"}[obliged_as]) + ") : " + \
                    " ; ".join(why)
        delai = rows.delais.get(col.siren)
        result.append(Indicateurs(
            siren=col.siren, nom=col.nom, arrondissement=col.arrondissement,
            categorie=categorie, population=population,
            contact_nom=fiche.contact_nom if fiche else "",
            contact_email=fiche.contact_email if fiche else "",
            raccordee=convention is not None,
            operateur=convention.operateur if convention else None,
            date_convention=convention.date_signature.isoformat() if convention else None,
            derniere_transmission=None if last is None else last.isoformat(),
            jours_sans_transmission=idle, inactive=inactive,
            partielle=bool(partial_reasons), budget_integre=budget,
            teletransmis=tele[col.siren], papier=paper, taux=_rate(tele[col.siren], paper),
            notre_obligee=obliged, notre_conforme=compliant,
            actes_avec_ar=delai.nombre if delai else 0,
            delai_ar_moyen_s=round(delai.moyenne, 1) if delai else None,
            delai_ar_max_s=round(delai.maximum, 1) if delai else None,
            raisons=raisons))
    return result


def par_arrondissement(lignes: Iterable[Indicateurs]) -> list[dict[str, object]]:
    """The same figures summed per arrondissement."""
    groups: dict[str, list[Indicateurs]] = defaultdict(list)
    for line in lignes:
        groups[line.arrondissement].append(line)
    out = []
    for arr in sorted(groups):
        g = groups[arr]
        tele, paper = sum(i.teletransmis for i in g), sum(i.papier for i in g)
        out.append({
            "arrondissement": arr, "collectivites": len(g),
            "raccordees": sum(i.raccordee for i in g), "inactives": sum(i.inactive for i in g),
            "partielles": sum(i.partielle for i in g),
            "budget_integre": sum(i.budget_integre for i in g),
            "notre_obligees": sum(i.notre_obligee for i in g),
            "notre_non_conformes": sum(i.notre_conforme is False for i in g),
            "teletransmis": tele, "papier": paper, "taux": _rate(tele, paper)})
    return out


def listes(lignes: Iterable[Indicateurs]) -> dict[str, list[dict[str, object]]]:
    """The lists to act on; each line carries the reason it is there."""
    out: dict[str, list[dict[str, object]]] = {name: [] for name in LISTES}
    for i in lignes:
        for name, reason in i.raisons.items():
            out[name].append({"siren": i.siren, "nom": i.nom, "arrondissement": i.arrondissement,
                              "contact_nom": i.contact_nom, "contact_email": i.contact_email,
                              "raison": reason})
    return out


def _months(du: dt.date, au: dt.date) -> list[str]:
    months, y, m = [], du.year, du.month
    while (y, m) <= (au.year, au.month):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def series(rows: PilotageRows, du: dt.date, au: dt.date, sirens: Iterable[str]) -> dict:
    """What the charts draw: per month and per matière (first level), teletransmitted vs
    paper, of the collectivités `sirens`."""
    keep = frozenset(sirens)
    months = _months(du, au)
    tele_m = dict.fromkeys(months, 0)
    paper_m = dict.fromkeys(months, 0)
    tele_mat: dict[str, int] = defaultdict(int)
    paper_mat: dict[str, int] = defaultdict(int)
    for a in rows.actes:
        if a.siren in keep:
            tele_m[a.mois] = tele_m.get(a.mois, 0) + a.nombre
            tele_mat[a.matiere or "?"] += a.nombre
    for d in rows.depots:
        if d.siren in keep:
            key = d.date_depot.isoformat()[:7]
            paper_m[key] = paper_m.get(key, 0) + d.nombre
            paper_mat[d.matiere[:1]] += d.nombre
    matieres = sorted(set(tele_mat) | set(paper_mat))
    return {"mois": months, "teletransmis_par_mois": [tele_m[m] for m in months],
            "papier_par_mois": [paper_m[m] for m in months], "matieres": matieres,
            "teletransmis_par_matiere": [tele_mat[m] for m in matieres],
            "papier_par_matiere": [paper_mat[m] for m in matieres]}


def rapport(rows: PilotageRows, du: dt.date, au: dt.date, *, inactivite: int,
            arrondissement: str | None = None) -> dict[str, object]:
    """The whole report as JSON: indicators, per arrondissement, lists, chart series."""
    lignes = indicateurs(rows, du, au, inactivite=inactivite, arrondissement=arrondissement)
    return {"du": du.isoformat(), "au": au.isoformat(), "inactivite_jours": inactivite,
            "arrondissement": arrondissement,
            "collectivites": [asdict(i) for i in lignes],
            "arrondissements": par_arrondissement(lignes), "listes": listes(lignes),
            "series": series(rows, du, au, (i.siren for i in lignes))}


INDICATEUR_COLONNES = ("siren", "nom", "arrondissement", "categorie", "population",
                       "raccordee", "operateur", "date_convention", "derniere_transmission",
                       "jours_sans_transmission", "inactive", "partielle", "budget_integre",
                       "teletransmis", "papier", "taux", "notre_obligee", "notre_conforme",
                       "actes_avec_ar", "delai_ar_moyen_s", "delai_ar_max_s",
                       "contact_nom", "contact_email")
LISTE_COLONNES = ("siren", "nom", "arrondissement", "contact_nom", "contact_email", "raison")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not \
        text.lstrip("-").replace(".", "", 1).isdigit() else text


def to_csv(records: Iterable[dict[str, object]], colonnes: Iterable[str]) -> str:
    """A CSV for a mailing or a spreadsheet: ';'-separated, UTF-8, a header line."""
    out = io.StringIO()
    cols = list(colonnes)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(cols)
    for r in records:
        writer.writerow([_cell(r.get(c)) for c in cols])
    return out.getvalue()


EXPORTS = (*LISTES, "collectivites", "arrondissements")


def export_csv(report: dict, name: str) -> str:
    """One of the report's tables (`EXPORTS`) as CSV: a list for a mailing, or the indicators
    per collectivité or per arrondissement."""
    if name == "collectivites":
        return to_csv(report["collectivites"], INDICATEUR_COLONNES)
    if name == "arrondissements":
        rows = report["arrondissements"]
        return to_csv(rows, rows[0].keys() if rows else ("arrondissement",))
    return to_csv(report["listes"][name], LISTE_COLONNES)
