"""Pre-encoded DER for RFC 3161 tokens: fixed parts encoded once by asn1crypto, spliced per token.

Owns the only byte-level assembly in the package (`tlv` headers around asn1crypto encodings);
its output must stay byte-identical to asn1crypto's naive encoding (tested). It never signs,
parses input, decides policy or reads a clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from hashlib import sha256

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509

# Identifier octets of the only constructions spliced here (X.690 §8.1.2).
SEQUENCE, SET, CONTEXT_0, OCTET_STRING = 0x30, 0x31, 0xA0, 0x04


def tlv(tag: int, content: bytes) -> bytes:
    """One DER value with a single-octet `tag`: definite length, minimal form (X.690 §10.1).

    The one piece of encoding written here rather than taken from asn1crypto, because
    `asn1crypto.parser.emit` costs ~5 µs a call (type checks) and a token needs ten; tests
    compare it with `emit` over every length class.
    """
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


def _sequence(content: bytes) -> bytes:
    return tlv(SEQUENCE, content)


def _set(content: bytes) -> bytes:
    return tlv(SET, content)


def _context0(content: bytes) -> bytes:
    """[0], constructed: EXPLICIT [0] wrappers and IMPLICIT [0] SET OF alike."""
    return tlv(CONTEXT_0, content)


def encode_integer(value: int) -> bytes:
    return core.Integer(value).dump()


def encode_octets(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def encode_gen_time(value: datetime) -> bytes:
    """GeneralizedTime as RFC 3161 wants it: UTC, `Z`, fraction without trailing zeros."""
    return core.GeneralizedTime(value).dump()


def accuracy_der(seconds: int, millis: int, micros: int) -> bytes:
    """An Accuracy SEQUENCE (RFC 3161 §2.4.2); zero components are omitted."""
    fields: dict[str, int] = {}
    if seconds:
        fields["seconds"] = seconds
    if millis:
        fields["millis"] = millis
    if micros:
        fields["micros"] = micros
    return tsp.Accuracy(fields).dump()


class TokenTemplate:
    """Everything of a TSA's tokens that does not change from one token to the next.

    Built once per TSA: the policy, accuracy and TSA name of TSTInfo; the signer identifier,
    algorithms and ESSCertIDv2 (RFC 5816) signing-certificate attribute of the SignerInfo;
    the certificates field. Per token, `tst_info`, `signed_attributes` and `token` splice the
    varying values (imprint, serial, time, nonce, digest, signature) in.
    """

    def __init__(self, certificate_der: bytes, chain_der: Sequence[bytes], *, policy: str,
                 digest_algorithm: str, signature_algorithm: str,
                 accuracy: bytes | None, include_tsa_name: bool = True) -> None:
        certificate = ax509.Certificate.load(certificate_der)
        self.digest_algorithm = digest_algorithm
        self._digest_algorithm_der = algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump()
        self._digest_size = len(_hash(digest_algorithm, b""))
        self._imprint_algorithms: dict[str, bytes] = {}

        # TSTInfo: version, policy | imprint, serial, genTime | accuracy | nonce | tsa
        self._tst_head = tsp.Version(1).dump() + core.ObjectIdentifier(policy).dump()
        self._tst_accuracy = accuracy or b""
        self._tst_tail = (
            ax509.GeneralName(name="directory_name", value=certificate.subject,
                              explicit=0).dump()
            if include_tsa_name else b"")

        # Signed attributes, in DER SET OF order (sorted by encoding, decided once below).
        content_type = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        signing_certificate = cms.CMSAttribute({
            "type": "signing_certificate_v2",
            "values": [{"certs": [{
                "cert_hash": sha256(certificate_der).digest(),
                "issuer_serial": {
                    "issuer": [ax509.GeneralName({"directory_name": certificate.issuer})],
                    "serial_number": certificate.serial_number,
                },
            }]}],
        }).dump()
        low = self._message_digest_attribute(b"\x00" * self._digest_size)
        high = self._message_digest_attribute(b"\xff" * self._digest_size)
        self._md_prefix = low[: -self._digest_size]
        if high[: -self._digest_size] != self._md_prefix:
            raise AssertionError("messageDigest attribute does not end with the digest")
        order_low = sorted([content_type, signing_certificate, low])
        order_high = sorted([content_type, signing_certificate, high])
        if order_low.index(low) != order_high.index(high):
            raise AssertionError("signed attribute order depends on the digest value")
        position = order_low.index(low)
        fixed = [a for a in order_low if a is not low]
        self._attrs_before = b"".join(fixed[:position])
        self._attrs_after = b"".join(fixed[position:])

        # SignerInfo: version 1, issuerAndSerialNumber, digestAlgorithm | [0] attrs | sigAlg, sig
        sid = cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": certificate.issuer, "serial_number": certificate.serial_number}})
        self._signer_head = (cms.CMSVersion(1).dump() + sid.dump()
                             + self._digest_algorithm_der)
        self._signature_algorithm_der = algos.SignedDigestAlgorithm(
            {"algorithm": signature_algorithm}).dump()

        # SignedData: version 3, digestAlgorithms | encapContentInfo | [0] certs | signerInfos
        self._signed_data_head = (cms.CMSVersion(3).dump()
                                  + _set(self._digest_algorithm_der))
        self._encap_type = cms.ContentType("tst_info").dump()
        self._certificates = cms.CertificateSet(
            [cms.CertificateChoices({"certificate": ax509.Certificate.load(der)})
             for der in (certificate_der, *chain_der)], implicit=0).dump()
        self._content_info_type = cms.ContentType("signed_data").dump()
        self._granted_status = tsp.PKIStatusInfo({"status": "granted"}).dump()

    def _message_digest_attribute(self, digest: bytes) -> bytes:
        return cms.CMSAttribute({"type": "message_digest", "values": [digest]}).dump()

    # -- per token ------------------------------------------------------------------------
    def message_imprint(self, hash_algorithm: str, digest: bytes) -> bytes:
        """MessageImprint with the canonical asn1crypto AlgorithmIdentifier for that hash."""
        algorithm = self._imprint_algorithms.get(hash_algorithm)
        if algorithm is None:
            algorithm = algos.DigestAlgorithm({"algorithm": hash_algorithm}).dump()
            self._imprint_algorithms[hash_algorithm] = algorithm
        return _sequence(algorithm + encode_octets(digest))

    def tst_info(self, imprint: bytes, serial: int, gen_time: datetime,
                 nonce: int | None) -> bytes:
        """The TSTInfo DER: what the token's eContent carries and the signature covers."""
        return _sequence(b"".join((
            self._tst_head, imprint, encode_integer(serial), encode_gen_time(gen_time),
            self._tst_accuracy, b"" if nonce is None else encode_integer(nonce),
            self._tst_tail)))

    def signed_attributes(self, tst_info: bytes) -> bytes:
        """The signed attributes' contents; sign `to_be_signed(...)` of it (RFC 5652 §5.4)."""
        digest = _hash(self.digest_algorithm, tst_info)
        return self._attrs_before + self._md_prefix + digest + self._attrs_after

    @staticmethod
    def to_be_signed(signed_attributes: bytes) -> bytes:
        """The signed attributes re-tagged as a universal SET OF: the bytes the key signs."""
        return _set(signed_attributes)

    def token(self, tst_info: bytes, signed_attributes: bytes, signature: bytes, *,
              with_certificates: bool) -> bytes:
        """The TimeStampToken: ContentInfo { signedData, SignedData { … } }."""
        signer_info = _sequence(b"".join((
            self._signer_head, _context0(signed_attributes), self._signature_algorithm_der,
            encode_octets(signature))))
        encap = _sequence(self._encap_type + _context0(encode_octets(tst_info)))
        signed_data = _sequence(b"".join((
            self._signed_data_head, encap,
            self._certificates if with_certificates else b"", _set(signer_info))))
        return _sequence(self._content_info_type + _context0(signed_data))

    def granted_response(self, token: bytes) -> bytes:
        """TimeStampResp { status granted, token }."""
        return _sequence(self._granted_status + token)


def _hash(algorithm: str, data: bytes) -> bytes:
    """hashlib knows asn1crypto's names of the SHA-2 and SHA-3 families as they are."""
    return hashlib.new(algorithm, data).digest()
