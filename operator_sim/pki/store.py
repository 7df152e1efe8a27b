"""The on-disk test PKI folder (default `certs/`): PEM files, keys, CRLs and an index.

Owns the layout, the index of issued certificates and revocations (rewritten atomically),
and private keys (mode 0600). It never decides trust (`trust.py` does) and never reads the
clock: every operation takes `now`.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .issue import Issued, Revocation, RevocationReason, build_crl, issue
from .profiles import (
    EC_P256,
    RSA_2048,
    RSA_4096,
    AgentSubject,
    CertSpec,
    KeySpec,
    PrivateKey,
    RgsLevel,
    agent_spec,
    intermediate_spec,
    ministere_spec,
    root_spec,
    tls_server_spec,
    tsa_spec,
)
from .trust import TrustStore

INDEX_VERSION = 1
ROOT, AGENTS_CA, SERVERS_CA = "root", "agents", "servers"
PUBLISHED_INTERMEDIATES = (AGENTS_CA, SERVERS_CA)
CRL_VALIDITY = {ROOT: timedelta(days=90), AGENTS_CA: timedelta(days=7),
                SERVERS_CA: timedelta(days=7)}
OPERATOR = AgentSubject("Opérateur de télétransmission de test operator-sim", "000000000",
                        "Opérateur operator-sim - signature des actes")
"""Who signs the acts the operator door builds (a fictitious SIREN, like the CAs')."""
CA_NAMES = {ROOT: "AC Racine de test operator-sim",
            AGENTS_CA: "AC Agents RGS de test operator-sim",
            SERVERS_CA: "AC Organisations et Serveurs de test operator-sim"}


class PkiError(Exception):
    """A PKI folder operation that cannot be done (unknown certificate, not initialised…)."""


@dataclass(frozen=True)
class CertRecord:
    """One issued certificate as the index remembers it (times in ISO 8601, UTC)."""

    serial: str  # upper-case hex
    issuer: str  # CA id ("root", "agents", "servers"), or "" for the root itself
    kind: str  # root | intermediate | agent | server | tsa | ministere | operator | catalogue
    subject: str
    fingerprint: str  # SHA-256 of the DER, lower-case hex
    not_before: str
    not_after: str
    certificate: str  # path relative to the PKI folder
    key: str
    revoked_at: str | None = None
    revocation_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class InitReport:
    """What `init` made, and where; `created` is empty when the folder was already there."""

    directory: Path
    created: tuple[Path, ...] = ()
    already_initialised: bool = False


@dataclass
class _Index:
    crl_numbers: dict[str, int] = field(default_factory=dict)
    certificates: list[CertRecord] = field(default_factory=list)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 fingerprint of the DER encoding, lower-case hex: the identity key of a cert."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class PkiStore:
    """A PKI folder. `initialise` creates it; every other method expects it initialised."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._trust_cache: tuple[int, TrustStore] | None = None
        self.index_file = os.fspath(self.index_path)
        """`index_path` as a string: stat at every request, with no Path built."""

    # -- layout -------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    @property
    def roots_path(self) -> Path:
        """Bundle of trust anchors: `--cacert` for curl, `-CAfile` for openssl."""
        return self.directory / "roots.pem"

    @property
    def intermediates_path(self) -> Path:
        return self.directory / "intermediates.pem"

    @property
    def server_chain_path(self) -> Path:
        """The TLS server certificate followed by its issuing CA."""
        return self.directory / "server" / "server-chain.pem"

    @property
    def server_key_path(self) -> Path:
        return self.directory / "server" / "server.key.pem"

    @property
    def identities_path(self) -> Path:
        """Where versions before the store kept agents' accounts (imported on start)."""
        return self.directory / "identities.json"

    @property
    def catalogue_dir(self) -> Path:
        return self.directory / "catalogue"

    def crl_path(self, ca_id: str) -> Path:
        return self.directory / "ca" / f"{ca_id}.crl.pem"

    @property
    def initialised(self) -> bool:
        return self.index_path.exists()

    # -- creation -----------------------------------------------------------------------
    def initialise(self, *, now: datetime, ca_key: KeySpec = RSA_4096,
                   intermediate_key: KeySpec = RSA_2048, service_key: KeySpec = EC_P256,
                   ) -> InitReport:
        """Create root, intermediates, service certificates and CRLs. Idempotent. (The catalogue
        of test certificates is built on top: `pki.provision.initialise_pki`.)"""
        if self.initialised:
            return InitReport(self.directory, already_initialised=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        index = _Index()
        created: list[Path] = []

        root_key = ca_key.generate()
        root = issue(root_spec(CA_NAMES[ROOT], root_key.public_key(), now=now), root_key, None)
        created += self._save(index, root, ROOT, "", "root", Path("ca"))
        for ca_id in PUBLISHED_INTERMEDIATES:
            key = intermediate_key.generate()
            spec = intermediate_spec(CA_NAMES[ca_id], key.public_key(), root_key.public_key(),
                                     now=now, issuer_id=ROOT)
            created += self._save(index, issue(spec, key, root), ca_id, ROOT, "intermediate",
                                  Path("ca"))
        servers = self.ca(SERVERS_CA, index)
        for name, make in (("server", tls_server_spec), ("tsa", tsa_spec),
                           ("ministere", ministere_spec)):
            key = service_key.generate()
            spec = make(key.public_key(), servers.key.public_key(), now=now, issuer_id=SERVERS_CA)
            created += self._save(index, issue(spec, key, servers), name, SERVERS_CA, name,
                                  Path(name))
        created += self._issue_operator(index, now=now, key_spec=service_key)
        write_atomic(self.server_chain_path,
                     _pem(self._load_cert(Path("server/server.pem")))
                     + _pem(servers.certificate))
        write_atomic(self.roots_path, _pem(root.certificate))
        write_atomic(self.intermediates_path, b"".join(
            _pem(self.ca(ca_id, index).certificate) for ca_id in PUBLISHED_INTERMEDIATES))
        created += [self.server_chain_path, self.roots_path, self.intermediates_path]
        self._write_index(index)
        created += self.regenerate_crls(now=now)
        created.append(self.index_path)
        return InitReport(self.directory, tuple(created))

    def _save(self, index: _Index, issued: Issued, name: str, issuer: str, kind: str,
              folder: Path) -> list[Path]:
        cert_rel, key_rel = folder / f"{name}.pem", folder / f"{name}.key.pem"
        write_atomic(self.directory / cert_rel, _pem(issued.certificate))
        write_atomic(self.directory / key_rel, _key_pem(issued.key), mode=0o600)
        index.certificates.append(_record(issued.certificate, issuer, kind, cert_rel, key_rel))
        return [self.directory / cert_rel, self.directory / key_rel]

    def issue(self, spec: CertSpec, key: PrivateKey, *, issuer: str, kind: str, folder: Path,
              name: str) -> CertRecord:
        """Sign `spec` by CA `issuer`, store cert and key under `folder`, record it."""
        index = self._read_index()
        self._save(index, issue(spec, key, self.ca(issuer, index)), name, issuer, kind, folder)
        self._write_index(index)
        return index.certificates[-1]

    def issue_agent(self, subject: AgentSubject, *, now: datetime,
                    level: RgsLevel = RgsLevel.TWO, signing: bool = False,
                    key_spec: KeySpec = EC_P256,
                    lifetime: timedelta = timedelta(days=2 * 365)) -> CertRecord:
        """Issue an RGS-style agent certificate from the agents CA into `agents/`."""
        key = key_spec.generate()
        agents = self.ca(AGENTS_CA)
        spec = agent_spec(subject, key.public_key(), agents.key.public_key(), now=now,
                          issuer_id=AGENTS_CA, level=level, signing=signing, lifetime=lifetime)
        name = f"{subject.siren}-{spec.serial_number:x}"[:28]
        return self.issue(spec, key, issuer=AGENTS_CA, kind="agent", folder=Path("agents"),
                          name=name)

    def _issue_operator(self, index: _Index, *, now: datetime, key_spec: KeySpec) -> list[Path]:
        """The operator's signing certificate: an agent-profile certificate (the signer of an
        act is judged like a TLS client) with nonRepudiation, from the agents CA."""
        key = key_spec.generate()
        agents = self.ca(AGENTS_CA, index)
        spec = agent_spec(OPERATOR, key.public_key(), agents.key.public_key(), now=now,
                          issuer_id=AGENTS_CA, signing=True)
        return self._save(index, issue(spec, key, agents), f"operator-{spec.serial_number:x}"[:24],
                          AGENTS_CA, "operator", Path("operator"))

    def ensure_operator(self, *, now: datetime, key_spec: KeySpec = EC_P256) -> CertRecord:
        """The operator's current signing certificate; issued now if the folder predates it
        or the last one is revoked or expired."""
        index = self._read_index()
        current = [r for r in index.certificates if r.kind == "operator" and not r.revoked
                   and datetime.fromisoformat(r.not_before) <= now
                   < datetime.fromisoformat(r.not_after)]
        if current:
            return current[-1]
        self._issue_operator(index, now=now, key_spec=key_spec)
        self._write_index(index)
        return index.certificates[-1]

    def _record_external(self, certificate: x509.Certificate, issuer: str, cert_path: Path,
                         key_path: Path | None) -> CertRecord:
        """Record a certificate signed by one of our CAs outside `issue` (the catalogue)."""
        index = self._read_index()
        relative = cert_path.relative_to(self.directory)
        key_relative = key_path.relative_to(self.directory) if key_path else Path("")
        index.certificates.append(_record(certificate, issuer, "catalogue", relative,
                                          key_relative))
        self._write_index(index)
        return index.certificates[-1]

    # -- revocation ---------------------------------------------------------------------
    def revoke(self, reference: str, *, now: datetime,
               reason: RevocationReason = RevocationReason.unspecified) -> CertRecord:
        """Revoke by serial (hex) or fingerprint (or a unique prefix), then reissue its CRL."""
        index = self._read_index()
        record = self._find(reference, index)
        if not record.issuer:
            raise PkiError("a root certificate cannot be revoked by its own CRL")
        if record.revoked:
            raise PkiError(f"certificate {record.serial} is already revoked")
        updated = replace(record, revoked_at=now.isoformat(), revocation_reason=reason.name)
        index.certificates[index.certificates.index(record)] = updated
        self._write_index(index)
        self.regenerate_crls(now=now, only=(record.issuer,))
        return updated

    def regenerate_crls(self, *, now: datetime, only: Iterable[str] | None = None) -> list[Path]:
        """Issue a fresh, higher-numbered CRL for each issuing CA (or those in `only`)."""
        index = self._read_index()
        written = []
        for ca_id in only or (ROOT, *PUBLISHED_INTERMEDIATES):
            number = index.crl_numbers.get(ca_id, 0) + 1
            revocations = [
                Revocation(int(r.serial, 16), datetime.fromisoformat(r.revoked_at),
                           RevocationReason[r.revocation_reason or "unspecified"])
                for r in index.certificates if r.issuer == ca_id and r.revoked_at]
            crl = build_crl(self.ca(ca_id, index), revocations, now=now,
                            validity=CRL_VALIDITY[ca_id], number=number)
            write_atomic(self.crl_path(ca_id), crl.public_bytes(serialization.Encoding.PEM))
            index.crl_numbers[ca_id] = number
            written.append(self.crl_path(ca_id))
        self._write_index(index)
        return written

    # -- reading ------------------------------------------------------------------------
    def records(self) -> list[CertRecord]:
        return list(self._read_index().certificates)

    def find(self, reference: str) -> CertRecord:
        return self._find(reference, self._read_index())

    def certificate(self, record: CertRecord) -> x509.Certificate:
        return self._load_cert(Path(record.certificate))

    def private_key(self, record: CertRecord) -> PrivateKey:
        return _load_private_key((self.directory / record.key).read_bytes())

    def ca(self, ca_id: str, index: _Index | None = None) -> Issued:
        """An issuing CA's certificate and key."""
        index = index or self._read_index()
        record = next((r for r in index.certificates
                       if r.certificate == f"ca/{ca_id}.pem"), None)
        if record is None:
            raise PkiError(f"no CA {ca_id!r} in {self.directory}")
        return Issued(self.certificate(record), self.private_key(record))

    def trust_store(self) -> TrustStore:
        """Roots, published intermediates and current CRLs; reloaded when the index changes."""
        stamp = os.stat(self.index_file).st_mtime_ns  # at every request: no Path built
        if self._trust_cache is None or self._trust_cache[0] != stamp:
            store = TrustStore(
                anchors=tuple(x509.load_pem_x509_certificates(self.roots_path.read_bytes())),
                intermediates=tuple(x509.load_pem_x509_certificates(
                    self.intermediates_path.read_bytes())),
                crls=tuple(x509.load_pem_x509_crl(self.crl_path(ca_id).read_bytes())
                           for ca_id in (ROOT, *PUBLISHED_INTERMEDIATES)))
            self._trust_cache = (stamp, store)
        return self._trust_cache[1]

    def export_p12(self, reference: str, out: Path, *, password: bytes | None = None) -> Path:
        """Write certificate + key + issuing chain as PKCS#12 (for browsers and curl)."""
        record = self.find(reference)
        chain = []
        if record.issuer:
            chain.append(self.ca(record.issuer).certificate)
        encryption = (serialization.BestAvailableEncryption(password) if password
                      else serialization.NoEncryption())
        data = pkcs12.serialize_key_and_certificates(
            name=record.subject.encode(), key=self.private_key(record),
            cert=self.certificate(record), cas=chain or None, encryption_algorithm=encryption)
        write_atomic(Path(out), data, mode=0o600)
        return Path(out)

    # -- index --------------------------------------------------------------------------
    def _find(self, reference: str, index: _Index) -> CertRecord:
        wanted = reference.lower().replace(":", "")
        matches = [r for r in index.certificates
                   if r.serial.lower() == wanted or r.fingerprint.startswith(wanted)]
        if len(matches) != 1:
            problem = "no" if not matches else "more than one"
            raise PkiError(f"{problem} certificate matches {reference!r}")
        return matches[0]

    def _load_cert(self, relative: Path) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.directory / relative).read_bytes())

    def _read_index(self) -> _Index:
        if not self.initialised:
            raise PkiError(f"{self.directory} is not an initialised PKI folder (run `pki init`)")
        raw = json.loads(self.index_path.read_text(encoding="utf-8"))
        return _Index(dict(raw["crl_numbers"]),
                      [CertRecord(**entry) for entry in raw["certificates"]])

    def _write_index(self, index: _Index) -> None:
        payload = {"version": INDEX_VERSION, "crl_numbers": index.crl_numbers,
                   "certificates": [asdict(r) for r in index.certificates]}
        write_atomic(self.index_path,
                     json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n")


def _record(certificate: x509.Certificate, issuer: str, kind: str, cert_path: Path,
            key_path: Path) -> CertRecord:
    return CertRecord(
        serial=f"{certificate.serial_number:X}", issuer=issuer, kind=kind,
        subject=certificate.subject.rfc4514_string(), fingerprint=fingerprint(certificate),
        not_before=certificate.not_valid_before_utc.isoformat(),
        not_after=certificate.not_valid_after_utc.isoformat(),
        certificate=cert_path.as_posix(), key=key_path.as_posix())


@functools.lru_cache(maxsize=32)
def _load_private_key(pem: bytes) -> PrivateKey:
    """Parse a PEM key once per process, keyed by the file's bytes (a regenerated or copied PKI
    is never served a stale key). The PKI generated and wrote these keys itself, so OpenSSL's
    RSA consistency check (~40 ms for 2048 bits, ~350 ms for 4096, paid on every start) is
    skipped."""
    return serialization.load_pem_private_key(  # type: ignore[return-value]
        pem, password=None, unsafe_skip_rsa_key_validation=True)
