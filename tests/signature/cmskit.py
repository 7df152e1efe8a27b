"""Detached CMS signatures built piece by piece (asn1crypto structures, `cryptography` keys),
so that tests can make the signed attributes, the signer identifier or the algorithms wrong
in one precise way and still carry a signature value that verifies over what they hold."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from operator_sim.pki.profiles import PrivateKey

Attribute = dict[str, object]

_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}


def asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True)
class Recipe:
    """How to build one signature; every field defaults to a plain, valid CAdES-BES-like one."""

    digest: str = "sha256"
    """The SignerInfo's digest algorithm (content digest and message-digest attribute)."""
    signature_algorithm: str | None = None
    """asn1crypto name; None: the usual one for the key and `hash`."""
    hash: str = "sha256"
    """Hash used when signing (RSA, ECDSA)."""
    pss: bool = False
    signed_attributes: bool = True
    edit_attributes: Callable[[list[Attribute]], list[Attribute]] = lambda attrs: attrs
    sid: str = "issuer_and_serial_number"
    include_signer: bool = True
    unsigned: Callable[[bytes], list[Attribute]] | None = None
    """Unsigned attributes from the signature value (a timestamp token, say)."""
    signing_time: datetime | None = None
    extra: tuple[x509.Certificate, ...] = field(default=())


PLAIN = Recipe()


def _sign(key: PrivateKey, data: bytes, recipe: Recipe, prehashed: bool) -> bytes:
    algorithm = _HASHES[recipe.hash]()
    chosen = Prehashed(algorithm) if prehashed else algorithm
    if isinstance(key, rsa.RSAPrivateKey):
        pad = (padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
               if recipe.pss else padding.PKCS1v15())
        return key.sign(data, pad, chosen)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(chosen))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise TypeError(type(key))


def _signature_algorithm(key: PrivateKey, recipe: Recipe) -> algos.SignedDigestAlgorithm:
    if recipe.pss:
        return algos.SignedDigestAlgorithm({
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams({
                "hash_algorithm": {"algorithm": recipe.hash},
                "mask_gen_algorithm": {"algorithm": "mgf1",
                                       "parameters": {"algorithm": recipe.hash}},
                "salt_length": _HASHES[recipe.hash]().digest_size})})
    if recipe.signature_algorithm is not None:
        name = recipe.signature_algorithm
    elif isinstance(key, rsa.RSAPrivateKey):
        name = f"{recipe.hash}_rsa"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        name = f"{recipe.hash}_ecdsa"
    else:
        name = "ed25519"
    return algos.SignedDigestAlgorithm({"algorithm": name})


def plain_attributes(content_digest: bytes, signing_time: datetime | None) -> list[Attribute]:
    attributes: list[Attribute] = [{"type": "content_type", "values": ["data"]}]
    if signing_time is not None:
        attributes.append({"type": "signing_time",
                           "values": [cms.Time({"utc_time": signing_time})]})
    attributes.append({"type": "message_digest", "values": [content_digest]})
    return attributes


def signing_certificate_v2(certificate: x509.Certificate, hash_name: str = "sha256",
                           *, wrong: bool = False) -> Attribute:
    der = certificate.public_bytes(serialization.Encoding.DER) + (b"x" if wrong else b"")
    cert_id = tsp.ESSCertIDv2({"hash_algorithm": {"algorithm": hash_name},
                               "cert_hash": hashlib.new(hash_name, der).digest()})
    return {"type": "signing_certificate_v2",
            "values": [tsp.SigningCertificateV2({"certs": [cert_id]})]}


def signing_certificate_v1(certificate: x509.Certificate) -> Attribute:
    der = certificate.public_bytes(serialization.Encoding.DER)
    cert_id = tsp.ESSCertID({"cert_hash": hashlib.sha1(der).digest()})
    return {"type": "signing_certificate", "values": [tsp.SigningCertificate({"certs": [cert_id]})]}


def algorithm_protection(digest: str, signature: algos.SignedDigestAlgorithm) -> Attribute:
    return {"type": "cms_algorithm_protection",
            "values": [cms.CMSAlgorithmProtection({
                "digest_algorithm": {"algorithm": digest},
                "signature_algorithm": signature})]}


def build(data: bytes, certificate: x509.Certificate, key: PrivateKey,
          chain: Sequence[x509.Certificate] = (), recipe: Recipe = PLAIN) -> bytes:
    """A DER ContentInfo(SignedData), detached, over `data`, made as `recipe` says."""
    signer = asn1(certificate)
    content_digest = hashlib.new(recipe.digest, data).digest()
    signature_algorithm = _signature_algorithm(key, recipe)
    if recipe.sid == "subject_key_identifier":
        sid = cms.SignerIdentifier({"subject_key_identifier": signer.key_identifier})
    else:
        sid = cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": signer.issuer, "serial_number": signer.serial_number}})
    info: dict[str, object] = {
        "version": "v3" if recipe.sid == "subject_key_identifier" else "v1", "sid": sid,
        "digest_algorithm": {"algorithm": recipe.digest},
        "signature_algorithm": signature_algorithm}
    if recipe.signed_attributes:
        attributes = cms.CMSAttributes(recipe.edit_attributes(
            plain_attributes(content_digest, recipe.signing_time)))
        info["signed_attrs"] = attributes
        info["signature"] = _sign(key, attributes.dump(), recipe, prehashed=False)
    else:
        info["signature"] = _sign(key, content_digest, recipe, prehashed=True)
    if recipe.unsigned is not None:
        info["unsigned_attrs"] = cms.CMSAttributes(recipe.unsigned(info["signature"]))
    carried = ([signer] if recipe.include_signer else []) + [
        asn1(c) for c in (*chain, *recipe.extra)]
    fields: dict[str, object] = {
        "version": "v1", "digest_algorithms": [{"algorithm": recipe.digest}],
        "encap_content_info": {"content_type": "data"}, "signer_infos": [cms.SignerInfo(info)]}
    if carried:
        fields["certificates"] = carried
    signed = cms.SignedData(fields)
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
