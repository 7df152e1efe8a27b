"""Agent accounts and the certificates they authenticate with (the identity directory's rows)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlite_utils import Database

from .interface import Agent, AgentCertificate, IdentityConflict, NewAgent, NewCertificate
from .rows import fetch_all, fetch_one, inserted_id, time_from_text, time_to_text
from .writer import SqliteDatabase


class AgentTables(SqliteDatabase):
    """`agent_certificates`, `agents` and `agent_sirens`."""

    def add_agent(self, *, certificate_fingerprint: str, name: str, roles: Iterable[str],
                  sirens: Iterable[str], login: str | None = None,
                  password_hash: str | None = None) -> Agent:
        """One account behind a certificate; login + hash only for a shared certificate.

        Low-level: the certificate's own binding (its SIREN) is `enrol`'s job.
        """
        agent = NewAgent(name, frozenset(roles), frozenset(sirens), login, password_hash)
        agent_id = self.run_write(lambda db: self._insert_agent(db, certificate_fingerprint, agent))
        return Agent(agent_id, certificate_fingerprint, name, agent.roles, agent.sirens, login,
                     password_hash)

    @staticmethod
    def _insert_agent(db: Database, fingerprint: str, agent: NewAgent) -> int:
        agent_id = inserted_id(db.table("agents").insert({
            "certificate_fingerprint": fingerprint, "name": agent.name,
            "roles": json.dumps(sorted(agent.roles)), "login": agent.login,
            "password_hash": agent.password_hash,
        }).last_pk)
        db.table("agent_sirens").insert_all({"agent_id": agent_id, "siren": s}
                                            for s in sorted(agent.sirens))
        return agent_id

    def agents_for_certificate(self, fingerprint: str) -> tuple[Agent, ...]:
        """Every account bound to a certificate (several when it is shared)."""
        return self._agents(self._read_db(), fingerprint)

    @staticmethod
    def _agents(db: Database, fingerprint: str) -> tuple[Agent, ...]:
        rows = fetch_all(
            db, "select a.*, (select json_group_array(siren) from agent_sirens s"
            " where s.agent_id = a.id) as sirens"
            " from agents a where certificate_fingerprint = ? order by id", [fingerprint])
        return tuple(
            Agent(r["id"], r["certificate_fingerprint"], r["name"], frozenset(json.loads(r["roles"])),
                  frozenset(json.loads(r["sirens"])), r["login"], r["password_hash"])
            for r in rows)

    def enrol(self, certificates: Sequence[NewCertificate], *, at: datetime,
              keep_existing: bool = False) -> tuple[AgentCertificate, ...]:
        """Bind certificates to agent accounts, all in one commit.

        A new certificate is recorded with its SIREN; a known one gets the agents added (the
        SIRENs must agree) or, with `keep_existing` (imports), is left as it is. Raises
        `IdentityConflict` (other SIREN, login taken, unnamed account beside others); then
        nothing changed.
        """
        when = time_to_text(at)

        def write(db: Database) -> tuple[AgentCertificate, ...]:
            prints = []
            for new in certificates:
                print_ = new.fingerprint.lower()
                prints.append(print_)
                known = fetch_one(db, "select siren from agent_certificates where fingerprint = ?",
                                  [print_])
                if known is not None and keep_existing:
                    continue
                try:
                    if known is None:
                        db.execute("insert into agent_certificates (fingerprint, siren, serial,"
                                   " subject, enrolled_at) values (?, ?, ?, ?, ?)",
                                   [print_, new.siren, new.serial, new.subject, when])
                    elif known["siren"] != new.siren:
                        raise IdentityConflict(f"certificate {print_} is bound to SIREN "
                                               f"{known['siren']}, not {new.siren}")
                    for agent in new.agents:
                        self._insert_agent(db, print_, agent)
                except sqlite3.IntegrityError as error:
                    raise IdentityConflict(f"certificate {print_}: {error} (a login is taken,"
                                           " or the SIREN or credentials are malformed)") from error
                logins = [r["login"] for r in fetch_all(
                    db, "select login from agents where certificate_fingerprint = ?", [print_])]
                if len(logins) > 1 and not all(logins):
                    raise IdentityConflict(f"certificate {print_}: a certificate with several"
                                           " accounts needs a login on each")
            return tuple(filter(None, (self._agent_certificate(db, p) for p in prints)))

        return self.run_write(write)

    def agent_certificate(self, fingerprint: str) -> AgentCertificate | None:
        """A certificate's binding and accounts, or None when it is bound to none."""
        return self._agent_certificate(self._read_db(), fingerprint.lower())

    def _agent_certificate(self, db: Database, fingerprint: str) -> AgentCertificate | None:
        row = fetch_one(db, "select * from agent_certificates where fingerprint = ?", [fingerprint])
        if row is None:
            return None
        return AgentCertificate(row["fingerprint"], row["siren"], row["serial"], row["subject"],
                                time_from_text(row["enrolled_at"]), self._agents(db, fingerprint))

