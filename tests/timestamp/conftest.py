"""One test PKI per session with an ECDSA TSA (the default) and an RSA one, plus tool helpers."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from operator_sim.pki import PkiStore
from operator_sim.pki.profiles import RSA_2048, PrivateKey, tsa_spec
from operator_sim.timestamp import (
    DEFAULT_POLICY_OID,
    MemorySerials,
    SerialSource,
    TimeStampAuthority,
)

if shutil.which("openssl") is None:  # pragma: no cover
    pytest.skip("the openssl binary is required", allow_module_level=True)

#: The virtual "now" of most tests: yesterday, inside every certificate's validity.
FIXED_TIME = datetime.now(UTC).replace(microsecond=345600) - timedelta(days=1)


@dataclass(frozen=True)
class TsaMaterial:
    """A TSA certificate, key and chain as files (for openssl) and objects (for us)."""

    name: str
    certificate: x509.Certificate
    key_path: Path
    cert_path: Path
    chain: tuple[x509.Certificate, ...]
    store: PkiStore

    @functools.cached_property
    def key(self) -> PrivateKey:
        return serialization.load_pem_private_key(  # type: ignore[return-value]
            self.key_path.read_bytes(), password=None)

    def authority(self, *, clock: Callable[[], datetime] = lambda: FIXED_TIME,
                  serials: SerialSource | None = None, **kwargs: object) -> TimeStampAuthority:
        return TimeStampAuthority(self.certificate, self.key, self.chain, DEFAULT_POLICY_OID, clock,
                                  serials or MemorySerials(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiStore:
    store = PkiStore(tmp_path_factory.mktemp("tsa-pki") / "certs")
    now = datetime.now(UTC).replace(microsecond=0)
    store.initialise(now=now - timedelta(days=30), ca_key=RSA_2048)
    return store


def _servers_ca(store: PkiStore) -> x509.Certificate:
    return x509.load_pem_x509_certificate((store.directory / "ca" / "servers.pem").read_bytes())


@pytest.fixture(scope="session")
def ec_tsa(pki: PkiStore) -> TsaMaterial:
    """The PKI's own TSA (ECDSA P-256), as `pki init` makes it."""
    record = next(r for r in pki.records() if r.kind == "tsa")
    return TsaMaterial("ec", pki.certificate(record), pki.directory / record.key,
                       pki.directory / record.certificate, (_servers_ca(pki),), pki)


@pytest.fixture(scope="session")
def rsa_tsa(pki: PkiStore) -> TsaMaterial:
    """An RSA-2048 TSA issued by the same CA through the PKI's public issuing API."""
    key = RSA_2048.generate()
    servers = pki.ca("servers")
    spec = tsa_spec(key.public_key(), servers.key.public_key(),
                    now=servers.certificate.not_valid_before_utc, issuer_id="servers")
    record = pki.issue(spec, key, issuer="servers", kind="tsa-rsa", folder=Path("tsa-rsa"),
                       name="tsa-rsa")
    return TsaMaterial("rsa", pki.certificate(record), pki.directory / record.key,
                       pki.directory / record.certificate, (_servers_ca(pki),), pki)


@pytest.fixture(params=["ec", "rsa"])
def material(request: pytest.FixtureRequest) -> TsaMaterial:
    return request.getfixturevalue(f"{request.param}_tsa")


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real openssl binary; stdout and stderr merged, as text."""
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                          check=check)


def openssl_verify(store: PkiStore, data: Path, reply: Path) -> subprocess.CompletedProcess[str]:
    return openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", store.roots_path,
                   "-untrusted", store.intermediates_path, check=False)
