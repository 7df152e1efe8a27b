"""The slow oracle: a TimeStampResp built the naive way, whole objects through asn1crypto.

Shares nothing with `operator_sim.timestamp._der` but the inputs and the signing key, so a
byte-for-byte match with the spliced output means the splicing is right.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def naive_response(*, certificate: x509.Certificate, chain: Sequence[x509.Certificate],
                   key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, policy: str,
                   accuracy: dict[str, int], hash_alg: str, digest: bytes, serial: int,
                   gen_time: datetime, nonce: int | None, cert_req: bool) -> bytes:
    cert = ax509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    tst = {
        "version": "v1", "policy": policy,
        "message_imprint": {"hash_algorithm": {"algorithm": hash_alg}, "hashed_message": digest},
        "serial_number": serial, "gen_time": gen_time, "accuracy": accuracy,
        "tsa": ax509.GeneralName(name="directory_name", value=cert.subject),
    }
    if nonce is not None:
        tst["nonce"] = nonce
    tst_info = tsp.TSTInfo(tst)
    signed_attrs = cms.CMSAttributes([
        {"type": "content_type", "values": ["tst_info"]},
        {"type": "message_digest", "values": [hashlib.sha256(tst_info.dump()).digest()]},
        {"type": "signing_certificate_v2", "values": [{"certs": [{
            "cert_hash": hashlib.sha256(cert.dump()).digest(),
            "issuer_serial": {"issuer": [ax509.GeneralName(name="directory_name",
                                                               value=cert.issuer)],
                              "serial_number": cert.serial_number}}]}]},
    ])
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
        signature_algorithm = "rsassa_pkcs1v15"
    else:
        signature = key.sign(signed_attrs.dump(),
                             ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        signature_algorithm = "sha256_ecdsa"
    signed_data = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "tst_info", "content": tst_info},
        "signer_infos": [{
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": cert.issuer,
                                                 "serial_number": cert.serial_number}},
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": signature_algorithm},
            "signature": signature,
        }],
    }
    if cert_req:
        signed_data["certificates"] = [cert] + [
            ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain]
    token = cms.ContentInfo({"content_type": "signed_data",
                             "content": cms.SignedData(signed_data)})
    return tsp.TimeStampResp({"status": {"status": "granted"},
                              "time_stamp_token": token}).dump()
