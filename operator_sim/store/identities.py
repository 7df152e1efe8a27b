"""The identity directory over the store (certificate → agent accounts), cached in memory.

`StoreDirectory` is the `pki.identity.IdentityDirectory` the API middleware resolves every
request with: the store's `agent_certificates`/`agents` rows are the one source of truth, and a
bound certificate is answered from memory after its first request. A miss is never cached, so a
certificate enrolled by another process (`operator-sim pki issue-agent` beside a running
service) is found at its first request. Bindings only grow, and every write made through this
object refreshes its entry; no command changes an existing binding from outside the service.
Revocation needs no invalidation: the trust check refuses a revoked certificate before its
binding is looked up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from ..pki.catalogue import catalogue_bindings
from ..pki.identity import Account, CertificateBinding, read_identities_file
from ..pki.store import PkiStore
from .interface import AgentCertificate, IdentityStore, NewAgent, NewCertificate

IMPORTED_SUFFIX = ".imported"
log = logging.getLogger(__name__)


class StoreDirectory:
    """`IdentityDirectory` over an `IdentityStore`; thread-safe, positive lookups cached."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store
        self._cache: dict[str, CertificateBinding] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every write: a read that raced one is not cached

    def cached(self, fingerprint: str) -> CertificateBinding | None:
        return self._cache.get(fingerprint)

    def binding(self, fingerprint: str) -> CertificateBinding | None:
        print_ = fingerprint.lower()
        found = self._cache.get(print_)
        if found is not None:
            return found
        generation = self._generation
        row = self.store.agent_certificate(print_)
        if row is None:
            return None
        found = _binding(row)
        with self._lock:
            if generation == self._generation:
                self._cache[print_] = found
        return found

    def bind(self, binding: CertificateBinding, *, at: datetime) -> CertificateBinding:
        return self.enrol([binding], at=at)[0]

    def enrol(self, bindings: Sequence[CertificateBinding], *, at: datetime,
              keep_existing: bool = False) -> list[CertificateBinding]:
        """Store several bindings in one transaction (see `IdentityStore.enrol`)."""
        with self._lock:
            self._generation += 1
            for binding in bindings:
                self._cache.pop(binding.fingerprint.lower(), None)
        rows = self.store.enrol([_new_certificate(b) for b in bindings], at=at,
                                keep_existing=keep_existing)
        with self._lock:
            self._generation += 1
            for row in rows:
                self._cache.pop(row.fingerprint, None)
        return [_binding(row) for row in rows]


def adopt_pki_bindings(directory: StoreDirectory, pki: PkiStore, *, at: datetime) -> int:
    """On start: bind the catalogue's certificates and import the `identities.json` older
    versions kept in the PKI folder; how many certificates that file held (0: none).

    Certificates already bound are left as they are, so this is idempotent. The file is then
    renamed `identities.json.imported`: nothing reads or writes it any more, and renaming it
    back imports it again (into another data folder, say).
    """
    legacy = pki.identities_path
    imported = read_identities_file(legacy) if legacy.exists() else []
    if imported:
        records = {r.fingerprint: r for r in pki.records()}
        imported = [b if b.fingerprint not in records else CertificateBinding(
            b.fingerprint, b.siren, b.accounts, records[b.fingerprint].serial,
            records[b.fingerprint].subject) for b in imported]
    directory.enrol([*imported, *catalogue_bindings(pki)], at=at, keep_existing=True)
    if legacy.exists():
        target = legacy.with_name(legacy.name + IMPORTED_SUFFIX)
        try:
            legacy.rename(target)
        except OSError:  # a read-only folder: the import above is idempotent, it can stay
            target = legacy
        log.warning("imported %d certificate binding(s) from %s into the database; the file "
                    "is no longer read (kept as %s)", len(imported), legacy, target)
    return len(imported)


def _new_certificate(binding: CertificateBinding) -> NewCertificate:
    return NewCertificate(binding.fingerprint.lower(), binding.siren, tuple(
        NewAgent(a.name, a.roles, a.sirens, a.login, a.password_hash) for a in binding.accounts),
        binding.serial, binding.subject)


def _binding(row: AgentCertificate) -> CertificateBinding:
    return CertificateBinding(row.fingerprint, row.siren, tuple(
        Account(a.name, a.sirens, a.roles, a.login, a.password_hash) for a in row.agents),
        row.serial, row.subject)
