"""The collectivités and their conventions with a transmission operator."""

from __future__ import annotations

import json
from dataclasses import astuple
from datetime import date
from typing import Any

from sqlite_utils import Database

from .interface import Collectivite, Convention, NewConvention, NotFound
from .rows import fetch_all, fetch_one, inserted_id
from .writer import SqliteDatabase

TEST_CONVENTION_DATE = date(2001, 1, 1)
"""When conventions the test kits register were signed (before any act a test sends)."""


def convention_row(row: dict[str, Any]) -> Convention:
    return Convention(siren=row["siren"], date_signature=date.fromisoformat(row["date_signature"]),
                      operateur=row["operateur"], matieres=tuple(json.loads(row["matieres"])),
                      actes_budgetaires=bool(row["actes_budgetaires"]), id=row["id"],
                      statut=row["statut"],
                      date_resiliation=None if row["date_resiliation"] is None
                      else date.fromisoformat(row["date_resiliation"]))


class CollectiviteTables(SqliteDatabase):
    """`collectivites` and `conventions`."""

    def add_collectivite(self, collectivite: Collectivite) -> Collectivite:
        """Insert or replace a collectivité (the admin API and fixtures seed these)."""
        self.run_write(lambda db: db.table("collectivites").upsert(
            dict(zip(("siren", "departement", "arrondissement", "nature", "nom", "profil"),
                     astuple(collectivite), strict=True)), pk="siren"))
        return collectivite

    # -- conventions --

    def add_convention(self, new: NewConvention) -> Convention:
        """Register a signed convention (a collectivité may hold several over time)."""
        def write(db: Database) -> int:
            cursor = db.execute(
                "INSERT INTO conventions (siren, date_signature, operateur, matieres, "
                "actes_budgetaires) VALUES (?, ?, ?, ?, ?)",
                [new.siren, new.date_signature.isoformat(), new.operateur,
                 json.dumps(list(new.matieres)), int(new.actes_budgetaires)])
            return inserted_id(cursor.lastrowid)

        convention_id = self.run_write(write)
        return Convention(**new.__dict__, id=convention_id)

    def conventions(self, siren: str | None = None) -> list[Convention]:
        """Registered conventions (of `siren`, or all), oldest first."""
        sql, params = "SELECT * FROM conventions ORDER BY id", []
        if siren is not None:
            sql, params = "SELECT * FROM conventions WHERE siren = ? ORDER BY id", [siren]
        return [convention_row(row) for row in fetch_all(self._read_db(), sql, params)]

    def get_convention(self, convention_id: int) -> Convention | None:
        """One convention by its id, or None."""
        row = fetch_one(self._read_db(), "SELECT * FROM conventions WHERE id = ?", [convention_id])
        return None if row is None else convention_row(row)

    def terminate_convention(self, convention_id: int, on: date) -> Convention:
        """Mark a convention terminated (résiliée) as of `on`; NotFound if there is none."""
        def write(db: Database) -> None:
            cursor = db.execute("UPDATE conventions SET statut = 'resiliee', date_resiliation = ? "
                                "WHERE id = ?", [on.isoformat(), convention_id])
            if cursor.rowcount == 0:
                raise NotFound(f"convention {convention_id} not found")

        self.run_write(write)
        row = fetch_one(self._read_db(), "SELECT * FROM conventions WHERE id = ?", [convention_id])
        assert row is not None
        return convention_row(row)

    def ensure_convention(self, siren: str, operateur: str,
                          signed: date = TEST_CONVENTION_DATE) -> Convention:
        """The SIREN's newest convention, or a new one covering every matière and budget acts
        (the test kits give every SIREN they enrol an agent for one: strict refuses senders
        without). Signed on `signed`, early enough for a virtual clock set in the past."""
        known = self.conventions(siren)
        if known:
            return known[-1]
        return self.add_convention(NewConvention(siren, signed, operateur))

    def convention_in_force(self, siren: str, day: date) -> Convention | None:
        """The newest convention of `siren` in force on `day` (None: it may not transmit)."""
        return next((c for c in reversed(self.conventions(siren)) if c.in_force(day)), None)

    def get_collectivite(self, siren: str) -> Collectivite | None:
        row = fetch_one(self._read_db(), "select * from collectivites where siren = ?", [siren])
        return None if row is None else Collectivite(**row)

    def collectivites(self) -> list[Collectivite]:
        """Every registered collectivité, by SIREN."""
        return [Collectivite(**row) for row in
                self._read_db().query("select * from collectivites order by siren")]
