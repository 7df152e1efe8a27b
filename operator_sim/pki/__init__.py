"""RGS-style test PKI: profiles, issuance, CRLs, trust decisions and agent identity.

Public surface (everything else is internal):
- folder: `PkiStore`, `ensure_pki`, `CertRecord`, `InitReport`, `PkiError`, `fingerprint`
- profiles: `AgentSubject`, `RgsLevel`, `KeySpec`, `RevocationReason`
- catalogue: `build_catalogue`, `load_manifest`, `CatalogueEntry`
- trust: `judge`, `TrustPolicy`, `TrustStore`, `Verdict`, `Reason`
- identity: `Identity`, `Account`, `CertificateBinding`, `IdentityDirectory`,
  `JsonIdentityDirectory`, `resolve`, `authorize`, `hash_password`, `IdentityError`
  (`UnknownCertificate`, `CredentialsRequired`, `BadCredentials`, `SirenMismatch`,
  `Forbidden`, `MissingRole`)
"""

from .catalogue import CatalogueEntry, build_catalogue, load_manifest
from .identity import (
    Account,
    BadCredentials,
    CertificateBinding,
    CredentialsRequired,
    Forbidden,
    Identity,
    IdentityDirectory,
    IdentityError,
    JsonIdentityDirectory,
    MissingRole,
    SirenMismatch,
    UnknownCertificate,
    authorize,
    hash_password,
    resolve,
)
from .issue import RevocationReason
from .profiles import AgentSubject, KeySpec, RgsLevel
from .store import CertRecord, InitReport, PkiError, PkiStore, ensure_pki, fingerprint
from .trust import Reason, TrustPolicy, TrustStore, Verdict, judge

__all__ = [
    "Account", "AgentSubject", "BadCredentials", "CatalogueEntry", "CertRecord",
    "CertificateBinding", "CredentialsRequired", "Forbidden", "Identity", "IdentityDirectory",
    "IdentityError", "InitReport", "JsonIdentityDirectory", "KeySpec", "MissingRole",
    "PkiError", "PkiStore", "Reason", "RevocationReason", "RgsLevel", "SirenMismatch",
    "TrustPolicy", "TrustStore", "UnknownCertificate", "Verdict", "authorize",
    "build_catalogue", "ensure_pki", "fingerprint", "hash_password", "judge",
    "load_manifest", "resolve",
]
