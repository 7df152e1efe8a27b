"""One test PKI (with its catalogue) per session: key generation is the slow part."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from operator_sim.pki import (
    Account,
    AgentSubject,
    CatalogueEntry,
    PkiStore,
    TrustStore,
    hash_password,
    load_manifest,
)
from operator_sim.pki.enrol import bind_record
from operator_sim.pki.profiles import RSA_2048
from operator_sim.pki.provision import initialise_pki
from operator_sim.store import SqliteStore
from operator_sim.store.identities import StoreDirectory, adopt_pki_bindings


def load_chain(store: PkiStore, entry: CatalogueEntry) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate((store.directory / p).read_bytes())
            for p in entry.chain]


@pytest.fixture(scope="session")
def reference_time() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory, reference_time: datetime) -> PkiStore:
    """Read-only for tests: anything that revokes or rebinds builds its own folder."""
    store = PkiStore(tmp_path_factory.mktemp("pki") / "certs")
    initialise_pki(store, now=reference_time, ca_key=RSA_2048)
    return store


@pytest.fixture(scope="session")
def directory(tmp_path_factory: pytest.TempPathFactory, pki: PkiStore,
              reference_time: datetime) -> Iterator[StoreDirectory]:
    """The identity directory over a real store, with the catalogue's accounts enrolled."""
    with SqliteStore.open(tmp_path_factory.mktemp("data")) as store:
        identities = StoreDirectory(store)
        adopt_pki_bindings(identities, pki, at=reference_time)
        yield identities


@pytest.fixture(scope="session")
def manifest(pki: PkiStore) -> list[CatalogueEntry]:
    return load_manifest(pki.catalogue_dir / "manifest.json")


@pytest.fixture(scope="session")
def trust_store(pki: PkiStore) -> TrustStore:
    return pki.trust_store()


def entry_named(manifest: list[CatalogueEntry], name: str) -> CatalogueEntry:
    return next(e for e in manifest if e.name == name)


def manifest_path(pki: PkiStore) -> Path:
    return pki.catalogue_dir / "manifest.json"


@dataclass(frozen=True)
class AgentFiles:
    certificate: Path
    key: Path
    fingerprint: str


SHARED_PASSWORDS = {"alice": "correct horse", "bob": "battery staple"}


def _issue(pki: PkiStore, siren: str, name: str, now: datetime,
           directory: StoreDirectory | None = None, *accounts: Account) -> AgentFiles:
    record = pki.issue_agent(AgentSubject("Centre de gestion de test", siren, name), now=now)
    if directory is not None:
        directory.bind(bind_record(record, siren, *accounts), at=now)
    return AgentFiles(pki.directory / record.certificate, pki.directory / record.key,
                      record.fingerprint)


@pytest.fixture(scope="session")
def unbound_agent(pki: PkiStore, reference_time: datetime) -> AgentFiles:
    """A valid agent certificate that no account uses."""
    return _issue(pki, "491011698", "Agent sans compte", reference_time)


@pytest.fixture(scope="session")
def shared_agent(pki: PkiStore, directory: StoreDirectory,
                 reference_time: datetime) -> AgentFiles:
    """One certificate (SIREN 491011698) shared by alice (acts for it) and bob (253400014)."""
    return _issue(pki, "491011698", "Certificat partagé", reference_time, directory, *(
        Account(name=login, sirens=frozenset({siren}), login=login,
                password_hash=hash_password(SHARED_PASSWORDS[login]))
        for login, siren in (("alice", "491011698"), ("bob", "253400014"))))
