"""RFC 3161 decisions of the TSA: what is granted, what is rejected and with which failInfo."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import algos, cms, core, tsp
from cryptography.hazmat.primitives import serialization

from operator_sim.timestamp import (
    DEFAULT_POLICY_OID,
    MemorySerials,
    Rejected,
    TimeStampAuthority,
    TsaConfigurationError,
    build_query,
    read_token,
    token_of,
    verify_response,
)
from operator_sim.timestamp.tsa import authority_from_pki

from .conftest import FIXED_TIME, TsaMaterial

DIGEST = hashlib.sha256(b"acte").digest()


def failures_of(response: bytes) -> tuple[str, set[str]]:
    try:
        token_of(response)
    except Rejected as rejected:
        return rejected.status, set(rejected.failures)
    return "granted", set()


def signed_data(response: bytes) -> cms.SignedData:
    return cms.ContentInfo.load(token_of(response))["content"]


def test_nonce_is_echoed(ec_tsa: TsaMaterial) -> None:
    for nonce in (0, 1, 2**64 - 1, 2**159 + 12345):
        response = ec_tsa.authority().respond(build_query(DIGEST, nonce=nonce))
        assert read_token(token_of(response)).nonce == nonce


def test_cert_req_false_leaves_certificates_out(material: TsaMaterial) -> None:
    response = material.authority().respond(build_query(DIGEST, cert_req=False))
    assert isinstance(signed_data(response)["certificates"], core.Void)
    verify_response(response, tsa_certificate=material.certificate, digest=DIGEST)


def test_cert_req_true_carries_tsa_certificate_and_chain(material: TsaMaterial) -> None:
    response = material.authority().respond(build_query(DIGEST, cert_req=True))
    carried = {c.chosen.dump() for c in signed_data(response)["certificates"]}
    expected = {c.public_bytes(serialization.Encoding.DER)
                for c in (material.certificate, *material.chain)}
    assert carried == expected


def test_unknown_req_policy_is_rejected_unaccepted_policy(ec_tsa: TsaMaterial) -> None:
    response = ec_tsa.authority().respond(build_query(DIGEST, policy="1.2.3.4.5"))
    assert failures_of(response) == ("rejection", {"unaccepted_policy"})
    with pytest.raises(Rejected) as caught:
        token_of(response)
    assert caught.value.failures == {"unaccepted_policy"}
    assert "1.2.3.4.5" in caught.value.text


def test_our_req_policy_is_honoured(ec_tsa: TsaMaterial) -> None:
    response = ec_tsa.authority().respond(build_query(DIGEST, policy=DEFAULT_POLICY_OID))
    assert read_token(token_of(response)).policy == DEFAULT_POLICY_OID


@pytest.mark.parametrize("hash_alg", ["sha1", "md5"])
def test_weak_imprint_hash_is_rejected_bad_alg(ec_tsa: TsaMaterial, hash_alg: str) -> None:
    query = build_query(hashlib.new(hash_alg, b"acte").digest(), hash_alg)
    assert failures_of(ec_tsa.authority().respond(query)) == ("rejection", {"bad_alg"})


def test_unknown_imprint_algorithm_is_rejected_bad_alg(ec_tsa: TsaMaterial) -> None:
    query = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "1.2.3.4"}),
        "hashed_message": DIGEST}}).dump()
    assert failures_of(ec_tsa.authority().respond(query)) == ("rejection", {"bad_alg"})


@pytest.mark.parametrize("length", [0, 20, 31, 33, 64])
def test_imprint_of_wrong_length_is_rejected_bad_data_format(ec_tsa: TsaMaterial,
                                                             length: int) -> None:
    response = ec_tsa.authority().respond(build_query(b"\x07" * length, "sha256"))
    assert failures_of(response) == ("rejection", {"bad_data_format"})


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x03\x02\x01", b"\x30\x00",
                                  b"\xff" * 300, build_query(DIGEST) + b"\x00"])
def test_garbage_body_is_rejected_bad_data_format(ec_tsa: TsaMaterial, body: bytes) -> None:
    assert failures_of(ec_tsa.authority().respond(body)) == ("rejection", {"bad_data_format"})


def test_request_extensions_are_rejected(ec_tsa: TsaMaterial) -> None:
    request = tsp.TimeStampReq.load(build_query(DIGEST))
    request["extensions"] = [{"extn_id": "1.2.3", "extn_value": b"x"}]
    response = ec_tsa.authority().respond(request.dump(force=True))
    assert failures_of(response) == ("rejection", {"unaccepted_extensions"})


@pytest.mark.parametrize("hash_alg", ["sha384", "sha512", "sha3_256"])
def test_longer_imprint_hashes_are_granted(ec_tsa: TsaMaterial, hash_alg: str) -> None:
    digest = hashlib.new(hash_alg, b"acte").digest()
    response = ec_tsa.authority().respond(build_query(digest, hash_alg))
    verified = verify_response(response, tsa_certificate=ec_tsa.certificate, data=b"acte")
    assert verified.hash_algorithm == hash_alg


def test_gen_time_is_the_clock_value(ec_tsa: TsaMaterial) -> None:
    paris = FIXED_TIME.astimezone(timezone(timedelta(hours=2)))
    tsa = ec_tsa.authority(clock=lambda: paris)
    assert read_token(tsa.stamp_digest(DIGEST)).gen_time == FIXED_TIME
    whole = FIXED_TIME.replace(microsecond=0)
    assert read_token(ec_tsa.authority(clock=lambda: whole).stamp_digest(DIGEST)).gen_time \
        == whole


def test_accuracy_is_stated(ec_tsa: TsaMaterial) -> None:
    tsa = ec_tsa.authority(accuracy=timedelta(seconds=2, milliseconds=5, microseconds=7))
    assert read_token(tsa.stamp_digest(DIGEST)).accuracy == timedelta(seconds=2, microseconds=5007)


def test_naive_clock_answers_time_not_available_instead_of_raising(ec_tsa: TsaMaterial) -> None:
    tsa = ec_tsa.authority(clock=lambda: datetime(2030, 1, 1))
    assert failures_of(tsa.respond(build_query(DIGEST))) == ("rejection", {"time_not_available"})


def test_ess_cert_id_v2_hash_is_sha256_of_tsa_certificate(material: TsaMaterial) -> None:
    token = cms.ContentInfo.load(material.authority().stamp_digest(DIGEST))
    signer = token["content"]["signer_infos"][0]
    (attribute,) = [a for a in signer["signed_attrs"] if a["type"].native == "signing_certificate_v2"]
    cert_id = attribute["values"][0]["certs"][0]
    assert cert_id["hash_algorithm"]["algorithm"].native == "sha256"
    assert cert_id["cert_hash"].native == hashlib.sha256(
        material.certificate.public_bytes(serialization.Encoding.DER)).digest()
    assert cert_id["issuer_serial"]["serial_number"].native == material.certificate.serial_number


def test_serials_are_unique_across_1000_tokens(ec_tsa: TsaMaterial) -> None:
    tsa = ec_tsa.authority()
    serials = {read_token(tsa.stamp_digest(DIGEST)).serial_number for _ in range(1000)}
    assert len(serials) == 1000


def test_certificate_without_time_stamping_eku_is_refused(ec_tsa: TsaMaterial) -> None:
    server = ec_tsa.store
    record = next(r for r in server.records() if r.kind == "server")
    with pytest.raises(TsaConfigurationError, match="timeStamping"):
        TimeStampAuthority(server.certificate(record), server.private_key(record), (),
                           DEFAULT_POLICY_OID, lambda: FIXED_TIME, MemorySerials())


def test_key_not_matching_certificate_is_refused(ec_tsa: TsaMaterial,
                                                 rsa_tsa: TsaMaterial) -> None:
    with pytest.raises(TsaConfigurationError, match="does not match"):
        TimeStampAuthority(ec_tsa.certificate, rsa_tsa.key, (), DEFAULT_POLICY_OID,
                           lambda: FIXED_TIME, MemorySerials())


def test_authority_from_pki_uses_the_pki_tsa_with_file_serials(ec_tsa: TsaMaterial) -> None:
    tsa = authority_from_pki(ec_tsa.store.directory, clock=lambda: FIXED_TIME)
    assert tsa.certificate == ec_tsa.certificate
    assert [c.subject for c in tsa.chain] == [c.subject for c in ec_tsa.chain]
    verify_response(tsa.respond(build_query(DIGEST)), tsa_certificate=ec_tsa.certificate,
                    digest=DIGEST)
    assert (ec_tsa.store.directory / "tsa" / "serials.json").exists()
