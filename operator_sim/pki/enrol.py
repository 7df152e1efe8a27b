"""Enrolment: issue an agent certificate and bind it to an account, in one call.

What `pki issue-agent`, the service's first start and the pytest plugin all need; the account
acts for the certificate's SIREN with the agent roles, and its binding (one store transaction)
goes to the identity directory given.
"""

from __future__ import annotations

from datetime import datetime

from .identity import Account, CertificateBinding, IdentityDirectory
from .profiles import EC_P256, AgentSubject, KeySpec, RgsLevel
from .store import CertRecord, PkiStore


def enrol_agent(store: PkiStore, directory: IdentityDirectory, *, siren: str, name: str,
                now: datetime, collectivite: str | None = None, siret: str | None = None,
                email: str | None = None, level: RgsLevel = RgsLevel.TWO,
                signing: bool = False, key_spec: KeySpec = EC_P256,
                accounts: tuple[Account, ...] = ()) -> CertRecord:
    """Issue the certificate and record which SIREN its holder acts for; `accounts` (with
    logins) share it instead of the one account named `name`. Raises ValueError."""
    subject = AgentSubject(collectivite or f"Collectivité {siren}", siren, name, siret=siret,
                           email=email)
    record = store.issue_agent(subject, now=now, level=level, signing=signing,
                               key_spec=key_spec)
    directory.bind(bind_record(record, siren, *(accounts or (
        Account(name=name, sirens=frozenset({siren})),))), at=now)
    return record


def bind_record(record: CertRecord, siren: str, *accounts: Account) -> CertificateBinding:
    """The binding of an issued certificate (serial and subject as the PKI index has them)."""
    return CertificateBinding(record.fingerprint, siren, accounts, record.serial, record.subject)
