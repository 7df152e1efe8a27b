"""RGS-style test PKI: profiles, issuance, CRLs, trust decisions and agent identity.

Public surface (everything else is internal):
- folder: `PkiStore`, `CertRecord`, `InitReport`, `PkiError`, `fingerprint`
- profiles: `AgentSubject`, `RgsLevel`, `KeySpec`, `RevocationReason`
- making a folder ready: `ensure_pki` (on start), `initialise_pki` (with the catalogue)
- catalogue: `build_catalogue`, `load_manifest`, `catalogue_bindings`, `CatalogueEntry`
- trust: `judge`, `TrustPolicy`, `TrustStore`, `Verdict`, `Reason`
- identity: `Identity`, `Account`, `CertificateBinding`, `IdentityDirectory` (implemented by
  `store.identities.StoreDirectory`), `resolve`, `identify`, `authorize`, `hash_password`,
  `read_identities_file` (older versions' JSON, imported on start), `IdentityError`
  (`UnknownCertificate`, `CredentialsRequired`, `BadCredentials`, `SirenMismatch`,
  `Forbidden`, `MissingRole`)
"""

from .._lazy import lazy_exports

# Loaded on first use: most callers need one corner (the trust decision, an identity), and
# issuance and the catalogue pull in more than they do.
_WHERE = {
    "Account": "identity",
    "AgentSubject": "profiles",
    "BadCredentials": "identity",
    "CatalogueEntry": "catalogue",
    "CertRecord": "store",
    "CertificateBinding": "identity",
    "CredentialsRequired": "identity",
    "Forbidden": "identity",
    "Identity": "identity",
    "IdentityDirectory": "identity",
    "IdentityError": "identity",
    "InitReport": "store",
    "KeySpec": "profiles",
    "MissingRole": "identity",
    "PkiError": "store",
    "PkiStore": "store",
    "Reason": "trust",
    "RevocationReason": "issue",
    "RgsLevel": "profiles",
    "SirenMismatch": "identity",
    "TrustPolicy": "trust",
    "TrustStore": "trust",
    "UnknownCertificate": "identity",
    "Verdict": "trust",
    "authorize": "identity",
    "build_catalogue": "catalogue",
    "catalogue_bindings": "catalogue",
    "ensure_pki": "provision",
    "fingerprint": "store",
    "hash_password": "identity",
    "identify": "identity",
    "initialise_pki": "provision",
    "judge": "trust",
    "load_manifest": "catalogue",
    "read_identities_file": "identity",
    "resolve": "identity",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
