"""Client side of RFC 3161: build queries, decode responses, verify tokens.

Owns the checks a relying party makes (status, imprint, nonce, signer pinned to the TSA
certificate, ESSCertID, CMS signature through `cryptography`). It never trusts a certificate
the token carries in place of the one it is given, and never reads a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


class TimestampError(Exception):
    """Base of every reason a response or token is not accepted."""


class MalformedToken(TimestampError):
    """Not a TimeStampResp / TimeStampToken, or a structure RFC 3161 forbids."""


class Rejected(TimestampError):
    """The TSA answered with a status other than granted."""

    def __init__(self, status: str, failures: frozenset[str], text: str) -> None:
        super().__init__(f"TSA answered {status}: {', '.join(sorted(failures)) or '-'} {text}")
        self.status, self.failures, self.text = status, failures, text


class ImprintMismatch(TimestampError):
    """The token stamps other data (or another hash algorithm) than the one given."""


class NonceMismatch(TimestampError):
    """The token does not echo the nonce of the query."""


class InvalidCertificate(TimestampError):
    """The token is not signed by the given TSA certificate, or not within its validity."""


class InvalidSignature(TimestampError):
    """The CMS signature or one of its signed attributes does not verify."""


@dataclass(frozen=True)
class TokenInfo:
    """What a token's TSTInfo states: decoded only, unverified unless from `verify_*`."""

    policy: str
    hash_algorithm: str
    digest: bytes
    serial_number: int
    gen_time: datetime
    accuracy: timedelta | None
    nonce: int | None
    token: bytes  # the DER TimeStampToken (ContentInfo) it was read from


@dataclass(frozen=True)
class VerifiedToken(TokenInfo):
    """A token whose imprint, nonce, signer and signature were all checked."""

    signer: x509.Certificate


def new_nonce() -> int:
    """A 64-bit random nonce, as `openssl ts -query` makes."""
    return secrets.randbits(64)


def build_query(digest: bytes, hash_alg: str = "sha256", *, nonce: int | None = None,
                cert_req: bool = True, policy: str | None = None) -> bytes:
    """A DER TimeStampReq for `digest`; pass `new_nonce()` to bind the answer to it."""
    request: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_alg},
                            "hashed_message": digest},
        "cert_req": cert_req,
    }
    if policy is not None:
        request["req_policy"] = policy
    if nonce is not None:
        request["nonce"] = nonce
    return tsp.TimeStampReq(request).dump()


def token_of(response: bytes) -> bytes:
    """The token of a granted TimeStampResp; raises `Rejected` or `MalformedToken`."""
    try:
        parsed = _Response.load(response, strict=True)
        status = parsed["status"]
        status_name = status["status"].native
        token = parsed["time_stamp_token"]
    except Exception as exc:
        raise MalformedToken(f"not a TimeStampResp: {exc}") from None
    if status_name not in ("granted", "granted_with_mods"):
        failures = status["fail_info"].native or set()
        text = "; ".join(status["status_string"].native or [])
        raise Rejected(str(status_name), frozenset(failures), text)
    if isinstance(token, core.Void):
        raise MalformedToken("granted response without a token")
    return token.dump()


def read_token(token: bytes) -> TokenInfo:
    """Decode a TimeStampToken's TSTInfo without verifying anything."""
    return _decode(token)[0]


def read_response(response: bytes, *, digest: bytes | None = None,
                  nonce: int | None = None) -> TokenInfo:
    """A granted response's TSTInfo, checked against the query (imprint, nonce) only.

    For a client that does not hold the TSA certificate yet: the signature is NOT checked;
    use `verify_response` for that.
    """
    info = read_token(token_of(response))
    if digest is not None and not hmac.compare_digest(info.digest, digest):
        raise ImprintMismatch("the token stamps other data")
    if nonce is not None and info.nonce != nonce:
        raise NonceMismatch(f"nonce {info.nonce} does not echo {nonce}")
    return info


def verify_response(response: bytes, *, tsa_certificate: x509.Certificate,
                    data: bytes | None = None, digest: bytes | None = None,
                    nonce: int | None = None) -> VerifiedToken:
    """`verify_token` of the token inside a granted TimeStampResp."""
    return verify_token(token_of(response), tsa_certificate=tsa_certificate, data=data,
                        digest=digest, nonce=nonce)


def verify_token(token: bytes, *, tsa_certificate: x509.Certificate,
                 data: bytes | None = None, digest: bytes | None = None,
                 nonce: int | None = None) -> VerifiedToken:
    """Check that `token` stamps `data` (or `digest`) and is signed by `tsa_certificate`.

    Exactly one of `data`/`digest` is required. Trust in `tsa_certificate` itself (chain,
    revocation) is the caller's: this pins the signer to it.
    """
    if (data is None) == (digest is None):
        raise TypeError("give exactly one of data= or digest=")
    info, signer_info, tst_bytes = _decode(token)
    if data is not None:
        try:
            digest = hashlib.new(info.hash_algorithm, data).digest()
        except ValueError:
            raise ImprintMismatch(f"unknown hash algorithm {info.hash_algorithm}") from None
    if not hmac.compare_digest(info.digest, digest or b""):
        raise ImprintMismatch("the token stamps other data")
    if nonce is not None and info.nonce != nonce:
        raise NonceMismatch(f"nonce {info.nonce} does not echo {nonce}")
    _check_signer(signer_info, tsa_certificate, info.gen_time)
    _check_signature(signer_info, tst_bytes, tsa_certificate)
    return VerifiedToken(**info.__dict__, signer=tsa_certificate)


# -- internals --------------------------------------------------------------------------------
class _Response(tsp.TimeStampResp):
    _fields = [  # noqa: RUF012 (asn1crypto's class-level field spec)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _decode(token: bytes) -> tuple[TokenInfo, cms.SignerInfo, bytes]:
    try:
        content_info = cms.ContentInfo.load(token, strict=True)
        if content_info["content_type"].native != "signed_data":
            raise MalformedToken("not a SignedData")
        signed_data = content_info["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise MalformedToken("eContentType is not id-ct-TSTInfo")
        tst_bytes = bytes(encap["content"])
        tst = tsp.TSTInfo.load(tst_bytes, strict=True)
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise MalformedToken("a time-stamp token has exactly one signer")
        accuracy = tst["accuracy"].native
        info = TokenInfo(
            policy=tst["policy"].dotted,
            hash_algorithm=tst["message_imprint"]["hash_algorithm"]["algorithm"].native,
            digest=tst["message_imprint"]["hashed_message"].native,
            serial_number=tst["serial_number"].native,
            gen_time=tst["gen_time"].native,
            accuracy=None if accuracy is None else timedelta(
                seconds=accuracy["seconds"] or 0, milliseconds=accuracy["millis"] or 0,
                microseconds=accuracy["micros"] or 0),
            nonce=tst["nonce"].native,
            token=token)
        return info, signer_infos[0], tst_bytes
    except TimestampError:
        raise
    except Exception as exc:
        raise MalformedToken(f"not a time-stamp token: {exc}") from None


def _attribute(signer_info: cms.SignerInfo, name: str) -> Any:  # an asn1crypto value
    values = [a["values"] for a in signer_info["signed_attrs"] if a["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        raise InvalidSignature(f"signed attribute {name} missing or repeated")
    return values[0][0]


def _check_signer(signer_info: cms.SignerInfo, certificate: x509.Certificate,
                  gen_time: datetime) -> None:
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    asn1_cert = ax509.Certificate.load(cert_der)
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        matches = (sid.chosen["issuer"] == asn1_cert.issuer
                   and sid.chosen["serial_number"].native == asn1_cert.serial_number)
    else:
        matches = sid.chosen.native == asn1_cert.key_identifier
    if not matches:
        raise InvalidCertificate("the token is signed by another certificate")
    if not (certificate.not_valid_before_utc <= gen_time <= certificate.not_valid_after_utc):
        raise InvalidCertificate("genTime is outside the TSA certificate's validity")
    # RFC 3161 §2.4.1 / RFC 5816: the signing-certificate attribute names the TSA certificate.
    try:
        v2 = _attribute(signer_info, "signing_certificate_v2")
        cert_id = v2["certs"][0]
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
    except InvalidSignature:
        cert_id = _attribute(signer_info, "signing_certificate")["certs"][0]
        algorithm = "sha1"
    if not hmac.compare_digest(cert_id["cert_hash"].native,
                               hashlib.new(algorithm, cert_der).digest()):
        raise InvalidCertificate("the signing-certificate attribute names another certificate")


def _check_signature(signer_info: cms.SignerInfo, tst_bytes: bytes,
                     certificate: x509.Certificate) -> None:
    if _attribute(signer_info, "content_type").native != "tst_info":
        raise InvalidSignature("signed contentType is not id-ct-TSTInfo")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise InvalidSignature(f"unsupported digest algorithm {digest_name}")
    message_digest = _attribute(signer_info, "message_digest").native
    if not hmac.compare_digest(message_digest, hashlib.new(digest_name, tst_bytes).digest()):
        raise InvalidSignature("messageDigest does not match the TSTInfo")
    # The signature covers the signed attributes as a universal SET OF (RFC 5652 §5.4).
    signed = signer_info["signed_attrs"].untag().dump()
    signature = signer_info["signature"].native
    algorithm = _HASHES[digest_name]()
    signature_algorithm: algos.SignedDigestAlgorithm = signer_info["signature_algorithm"]
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if signature_algorithm.signature_algo != "rsassa_pkcs1v15":
                raise InvalidSignature(f"unsupported RSA scheme {signature_algorithm.native}")
            public_key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed, ec.ECDSA(algorithm))
        else:
            raise InvalidSignature(f"unsupported key type {type(public_key).__name__}")
    except _CryptoInvalidSignature:
        raise InvalidSignature("the CMS signature does not verify") from None
