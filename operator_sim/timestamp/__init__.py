"""RFC 3161 time-stamping: the simulator's TSA and the verification of its tokens.

Public surface (everything else, `_der` above all, is internal):
- authority: `TimeStampAuthority`, `FailureInfo`, `TsaConfigurationError`, `ACCEPTED_HASHES`,
  `rejection_response`, `authority_from_pki`, `DEFAULT_POLICY_OID`
- serials: `SerialSource` (protocol: `next() -> int`), `MemorySerials`, `FileSerials`
- client side: `build_query`, `new_nonce`, `token_of`, `read_token`, `read_response`,
  `verify_token`, `verify_response`, `TokenInfo`, `VerifiedToken`, and the errors `TimestampError` ⊃
  `MalformedToken`, `Rejected`, `ImprintMismatch`, `NonceMismatch`, `InvalidCertificate`,
  `InvalidSignature`
"""

from .serials import FileSerials, MemorySerials, SerialSource
from .tsa import (
    ACCEPTED_HASHES,
    DEFAULT_POLICY_OID,
    FailureInfo,
    TimeStampAuthority,
    TsaConfigurationError,
    TsaMaterial,
    authority_from_pki,
    rejection_response,
)
from .verify import (
    ImprintMismatch,
    InvalidCertificate,
    InvalidSignature,
    MalformedToken,
    NonceMismatch,
    Rejected,
    TimestampError,
    TokenInfo,
    VerifiedToken,
    build_query,
    new_nonce,
    read_response,
    read_token,
    token_of,
    verify_response,
    verify_token,
)

__all__ = [
    "ACCEPTED_HASHES", "DEFAULT_POLICY_OID", "FailureInfo", "FileSerials", "ImprintMismatch",
    "InvalidCertificate", "InvalidSignature", "MalformedToken", "MemorySerials",
    "NonceMismatch", "Rejected", "SerialSource", "TimeStampAuthority", "TimestampError",
    "TokenInfo", "TsaConfigurationError", "TsaMaterial", "VerifiedToken", "authority_from_pki",
    "build_query", "new_nonce", "read_response", "read_token", "rejection_response", "token_of",
    "verify_response", "verify_token",
]
