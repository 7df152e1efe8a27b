"""Storage of the préfecture's pilotage @CTES: collectivités' fiches, paper deposits, and the
aggregates of the stored acts the indicators are computed from.

Rows in, rows out: what they mean (connected, inactive, NOTRe…) is `operator_sim.pilotage`'s.
Every write is one transaction, so an import either lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlite_utils import Database

from .collectivites import convention_row
from .database import SqliteStore
from .interface import Collectivite
from .rows import inserted_id, time_to_text

COUNTED = "t.type = 1 AND t.status NOT IN (-1, 0, 17, 18)"
"""A teletransmitted act: an act (type 1) posted, neither in error, cancelled, nor still
waiting to be posted or signed."""
AR_STATUS = 4  # TransactionStatus.ACQUITTEMENT_RECU


@dataclass(frozen=True)
class Fiche:
    """What the référent knows of a collectivité beyond its IDCL."""

    siren: str
    categorie: str  # commune | epci_fp | epci | departement | region | etablissement_public
    population: int | None = None
    contact_nom: str = ""
    contact_email: str = ""


@dataclass(frozen=True)
class NewDepot:
    """`nombre` acts of `nature` (1–6) and `matiere` received on paper on `date_depot`."""

    date_depot: date
    siren: str
    nature: int
    matiere: str
    nombre: int


@dataclass(frozen=True)
class DepotPapier(NewDepot):
    id: int = 0


@dataclass(frozen=True)
class ActesCount:
    """Teletransmitted acts of one SIREN, nature, month ("2024-03") and matière (first digit)."""

    siren: str
    nature: int
    mois: str
    matiere: str
    nombre: int


@dataclass(frozen=True)
class Delai:
    """Received → AR delays of one SIREN's acts of the period, in seconds."""

    siren: str
    nombre: int
    moyenne: float
    maximum: float


@dataclass(frozen=True)
class PilotageRows:
    """Everything the indicators of [du, au] are computed from."""

    collectivites: tuple[Collectivite, ...]
    fiches: dict[str, Fiche]
    conventions: tuple  # tuple[Convention, ...]
    actes: tuple[ActesCount, ...]
    derniere_transmission: dict[str, datetime]
    budget: frozenset[str]
    """SIRENs that teletransmitted a budget act (BF) up to `au`."""
    natures_teletransmises: dict[str, frozenset[int]]
    """Per SIREN, the natures it ever teletransmitted up to `au`."""
    delais: dict[str, Delai]
    depots: tuple[DepotPapier, ...]


def _day_start(day: date) -> str:
    return time_to_text(datetime.combine(day, time(), UTC))


def import_collectivites(store: SqliteStore,
                         lines: Sequence[tuple[Collectivite, Fiche]]) -> dict[str, int]:
    """Upsert every collectivité and its fiche in one transaction; counts of created, updated
    and unchanged ones (importing the same file twice changes nothing)."""
    def write(db: Database) -> dict[str, int]:
        counts = {"crees": 0, "modifies": 0, "inchanges": 0}
        for collectivite, fiche in lines:
            before = db.execute(
                "SELECT c.departement, c.arrondissement, c.nature, c.nom, f.categorie, "
                "f.population, f.contact_nom, f.contact_email FROM collectivites c "
                "LEFT JOIN pilotage_fiches f USING (siren) WHERE c.siren = ?",
                [collectivite.siren]).fetchone()
            after = (collectivite.departement, collectivite.arrondissement, collectivite.nature,
                     collectivite.nom, fiche.categorie, fiche.population, fiche.contact_nom,
                     fiche.contact_email)
            if before is None:
                counts["crees"] += 1
            elif tuple(before) == after:
                counts["inchanges"] += 1
                continue
            else:
                counts["modifies"] += 1
            db.execute(
                "INSERT INTO collectivites (siren, departement, arrondissement, nature, nom) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (siren) DO UPDATE SET departement = "
                "excluded.departement, arrondissement = excluded.arrondissement, nature = "
                "excluded.nature, nom = excluded.nom",
                [collectivite.siren, collectivite.departement, collectivite.arrondissement,
                 collectivite.nature, collectivite.nom])
            db.execute(
                "INSERT OR REPLACE INTO pilotage_fiches (siren, categorie, population, "
                "contact_nom, contact_email) VALUES (?, ?, ?, ?, ?)",
                [fiche.siren, fiche.categorie, fiche.population, fiche.contact_nom,
                 fiche.contact_email])
        return counts

    return store.run_write(write)


def fiches(store: SqliteStore) -> dict[str, Fiche]:
    return {row["siren"]: Fiche(**row)
            for row in store.run_read(lambda db: list(db.query("SELECT * FROM pilotage_fiches")))}


def add_depots(store: SqliteStore, depots: Sequence[NewDepot], *,
               at: datetime) -> list[DepotPapier]:
    """Record paper deposits, all or none."""
    def write(db: Database) -> list[DepotPapier]:
        stored = []
        for d in depots:
            cursor = db.execute(
                "INSERT INTO depots_papier (date_depot, siren, nature, matiere, nombre, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [d.date_depot.isoformat(), d.siren, d.nature, d.matiere, d.nombre,
                 time_to_text(at)])
            stored.append(DepotPapier(**d.__dict__, id=inserted_id(cursor.lastrowid)))
        return stored

    return store.run_write(write)


def _depot(row: dict) -> DepotPapier:
    return DepotPapier(date.fromisoformat(row["date_depot"]), row["siren"], row["nature"],
                       row["matiere"], row["nombre"], row["id"])


def depots(store: SqliteStore, du: date | None = None, au: date | None = None) -> list[DepotPapier]:
    """Paper deposits dated in [du, au] (bounds optional), oldest first."""
    sql = "SELECT * FROM depots_papier WHERE date_depot >= ? AND date_depot <= ? " \
          "ORDER BY date_depot, id"
    params = [(du or date.min).isoformat(), (au or date.max).isoformat()]
    return [_depot(r) for r in store.run_read(lambda db: list(db.query(sql, params)))]


def pilotage_rows(db: Database, du: date, au: date) -> PilotageRows:
    """The rows behind the indicators of the days [du, au], read in one snapshot (call it
    through `run_read`, or `AsyncStore.read` off the writer thread)."""
    start, end = _day_start(du), _day_start(au + timedelta(days=1))
    own = not db.conn.in_transaction
    if own:  # one read transaction: every aggregate sees the same rows
        db.execute("BEGIN")
    try:
        return _read_rows(db, du, au, start, end)
    finally:
        if own:
            db.execute("COMMIT")


def pilotage_rows_of(store: SqliteStore, du: date, au: date) -> PilotageRows:
    """`pilotage_rows` on the calling thread's read connection."""
    return store.run_read(lambda db: pilotage_rows(db, du, au))


def _read_rows(db: Database, du: date, au: date, start: str, end: str) -> PilotageRows:
    first, last_day = du.isoformat(), au.isoformat()
    # From the counters the triggers of 0012_pilotage keep (one row per SIREN, day, nature
    # and matière), never a scan of the acts themselves.
    actes = tuple(ActesCount(r[0], r[1], r[2], r[3], r[4]) for r in db.execute(
        "SELECT siren, nature, substr(jour, 1, 7), matiere, sum(n) FROM pilotage_actes "
        "WHERE jour >= ? AND jour <= ? AND n > 0 GROUP BY 1, 2, 3, 4", [first, last_day]))
    natures: dict[str, set[int]] = {}
    for siren, nature in db.execute("SELECT DISTINCT siren, nature FROM pilotage_actes "
                                    "WHERE jour <= ? AND n > 0", [last_day]):
        natures.setdefault(siren, set()).add(nature)
    last: dict[str, datetime] = {}
    for siren in natures:  # each SIREN's newest act, straight from (siren, created_at)
        row = db.execute(
            f"SELECT t.created_at FROM transactions t WHERE t.siren = ? AND t.created_at < ? "
            f"AND {COUNTED} AND t.nature IS NOT NULL ORDER BY t.created_at DESC LIMIT 1",
            [siren, end]).fetchone()
        if row is not None:
            last[siren] = datetime.fromisoformat(row[0])
    delais = {r[0]: Delai(r[0], r[1], r[2] / r[1], r[3]) for r in db.execute(
        "SELECT siren, sum(n), sum(total_s), max(max_s) FROM pilotage_delais "
        "WHERE jour >= ? AND jour <= ? GROUP BY 1 HAVING sum(n) > 0", [first, last_day])}
    deposits = tuple(_depot(r) for r in db.query(
        "SELECT * FROM depots_papier WHERE date_depot >= ? AND date_depot <= ? "
        "ORDER BY date_depot, id", [du.isoformat(), au.isoformat()]))
    return PilotageRows(
        collectivites=tuple(Collectivite(**r) for r in
                            db.query("SELECT * FROM collectivites ORDER BY siren")),
        fiches={r["siren"]: Fiche(**r) for r in db.query("SELECT * FROM pilotage_fiches")},
        conventions=tuple(convention_row(r) for r in
                          db.query("SELECT * FROM conventions ORDER BY id")),
        actes=actes, derniere_transmission=last,
        budget=frozenset(s for s, n in natures.items() if 5 in n),
        natures_teletransmises={s: frozenset(n) for s, n in natures.items()},
        delais=delais, depots=deposits)


INACTIVITE_SETTING = "pilotage.inactivite_jours"
INACTIVITE_DEFAULT = 90


def inactivite_jours(db: Database) -> int:
    """N: a connected collectivité with no act for N days is inactive (setting, default 90)."""
    rows = list(db.execute("SELECT value FROM settings WHERE name = ?", [INACTIVITE_SETTING]))
    return int(rows[0][0]) if rows else INACTIVITE_DEFAULT


def inactivite_jours_of(store: SqliteStore) -> int:
    """`inactivite_jours` on the calling thread's read connection."""
    return store.run_read(inactivite_jours)


def set_inactivite_jours(store: SqliteStore, days: int) -> int:
    store.run_write(lambda db: db.execute(
        "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) "
        "DO UPDATE SET value = excluded.value", [INACTIVITE_SETTING, str(days)]))
    return days
