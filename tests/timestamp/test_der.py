"""The splicing module: its headers and its tokens equal asn1crypto's own encoding, byte for byte."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from asn1crypto import parser, tsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operator_sim.timestamp import DEFAULT_POLICY_OID, MemorySerials, build_query, token_of
from operator_sim.timestamp._der import tlv

from .conftest import TsaMaterial
from .reference import naive_response

LENGTH_CLASSES = [0, 1, 0x7F, 0x80, 0x81, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000]


def test_tlv_header_equals_asn1crypto_emit_on_every_length_class() -> None:
    for length in LENGTH_CLASSES:
        content = b"\x5a" * length
        for tag, (class_, method, number) in {0x30: (0, 1, 16), 0x31: (0, 1, 17),
                                             0xA0: (2, 1, 0), 0x04: (0, 0, 4)}.items():
            assert tlv(tag, content) == parser.emit(class_, method, number, content), length


@given(st.binary(max_size=3000))
def test_tlv_round_trips_through_asn1crypto_parser(content: bytes) -> None:
    parsed = parser.parse(tlv(0x30, content), strict=True)
    assert parsed[4] == content


# Times inside the certificates' validity (the reference and ours share the clock value).
_times = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                      timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)),
                                                 timezone(timedelta(hours=-9, minutes=-30))]))
_imprints = st.sampled_from(["sha256", "sha384", "sha512", "sha3_256"]).flatmap(
    lambda alg: st.tuples(st.just(alg), st.binary(min_size=hashlib.new(alg).digest_size,
                                                  max_size=hashlib.new(alg).digest_size)))
_nonces = st.none() | st.integers(min_value=0, max_value=2**160) | st.integers(-(2**70), -1)


def _check_identical(material: TsaMaterial, gen_time: datetime, imprint: tuple[str, bytes],
                     nonce: int | None, cert_req: bool, prefix: int) -> None:
    hash_alg, digest = imprint
    tsa = material.authority(clock=lambda: gen_time, serials=MemorySerials(prefix))
    ours = tsa.respond(build_query(digest, hash_alg, nonce=nonce, cert_req=cert_req))
    reference = naive_response(
        certificate=material.certificate, chain=material.chain, key=material.key,
        policy=DEFAULT_POLICY_OID, accuracy={"seconds": 1}, hash_alg=hash_alg, digest=digest,
        serial=(prefix << 64) | 1, gen_time=gen_time, nonce=nonce, cert_req=cert_req)
    assert ours == reference


_settings = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(gen_time=_times, imprint=_imprints, nonce=_nonces, cert_req=st.booleans(),
       prefix=st.integers(min_value=1, max_value=2**62))
def test_spliced_ecdsa_response_is_byte_identical_to_naive_asn1crypto(
        ec_tsa: TsaMaterial, gen_time: datetime, imprint: tuple[str, bytes], nonce: int | None,
        cert_req: bool, prefix: int) -> None:
    _check_identical(ec_tsa, gen_time, imprint, nonce, cert_req, prefix)


@_settings
@given(gen_time=_times, imprint=_imprints, nonce=_nonces, cert_req=st.booleans(),
       prefix=st.integers(min_value=1, max_value=2**62))
def test_spliced_rsa_response_is_byte_identical_to_naive_asn1crypto(
        rsa_tsa: TsaMaterial, gen_time: datetime, imprint: tuple[str, bytes], nonce: int | None,
        cert_req: bool, prefix: int) -> None:
    _check_identical(rsa_tsa, gen_time, imprint, nonce, cert_req, prefix)


def test_token_is_canonical_der(material: TsaMaterial) -> None:
    """asn1crypto re-encoding every field from scratch (force=True) changes no byte."""
    response = material.authority().respond(build_query(b"\x01" * 32, nonce=7))
    token = token_of(response)
    reparsed = tsp.TimeStampResp.load(response, strict=True)
    assert reparsed.dump(force=True) == response
    assert reparsed["time_stamp_token"].dump() == token
