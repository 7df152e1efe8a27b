"""The fast detached-CMS check (`detached.check_detached`) against pyHanko's, case by case:
every class of the bad-certificate catalogue, every signature bad case, attribute and
algorithm variants built one fault at a time, and Hypothesis-mutated signatures. Both must
reach the same verdict, DSS indication and sub-indication, with the same details reported."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, cms
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from operator_sim.pki import CatalogueEntry, PkiStore, TrustStore
from operator_sim.pki.catalogue import CLASSES
from operator_sim.signature import SignaturePolicy, SignatureResult
from operator_sim.signature.cms import (
    async_verify_detached,
    sign_detached,
    sign_outgoing,
    verify_detached,
)
from operator_sim.signature.detached import check_detached
from operator_sim.signature.hanko import verify_detached_pyhanko
from operator_sim.timestamp.serials import MemorySerials
from operator_sim.timestamp.tsa import TimeStampAuthority

from . import cmskit
from .cmskit import Recipe
from .conftest import ANNEXE, DOCUMENT, SignerFiles, catalogue_signer, openssl_sign
from .test_bad_cases import certificate_bundle, flip_last_byte


def outcome(result: SignatureResult) -> dict[str, object]:
    """Everything a caller reads from a result, but the free-text detail."""
    verdict = result.verdict
    return dict(kind=result.kind, code=result.code, ok=result.ok, intact=result.intact,
                failure=result.failure, indication=result.indication,
                sub_indication=result.sub_indication,
                verdict=None if verdict is None else (verdict.code, verdict.chain, verdict.level),
                signer_exempt=result.signer_exempt, signer=result.signer,
                digest_algorithm=result.digest_algorithm,
                signature_algorithm=result.signature_algorithm,
                signing_time=result.signing_time, signed_sha256=result.signed_sha256,
                message_fr=result.message_fr if result.failure is None else None)


def compare(data: bytes, signature: bytes, *, at: datetime, trust: TrustStore | None,
            **options: object) -> SignatureResult:
    """Both checks on the same input: the fast one must decide, and decide as pyHanko does."""
    fast = check_detached(data, signature, at=at, trust=trust, **options)
    assert fast is not None, "the fast check declined a signature it should handle"
    reference = verify_detached_pyhanko(data, signature, at=at, trust=trust, **options)
    assert outcome(fast) == outcome(reference)
    return fast


# -- the bad-certificate catalogue ---------------------------------------------------------

@pytest.mark.parametrize("name", CLASSES)
def test_every_catalogue_signer_gets_the_same_verdict(
        name: str, pki: PkiStore, trust: TrustStore, catalogue: dict[str, CatalogueEntry],
        tmp_path: Path) -> None:
    entry = catalogue[name]
    signer = catalogue_signer(pki, entry)
    at = datetime.fromisoformat(entry.at)
    result = compare(DOCUMENT, openssl_sign(DOCUMENT, signer, tmp_path), at=at, trust=trust)
    expected = entry.expected_code if entry.stage == "trust" else "ACCEPTED"
    assert result.verdict is not None and result.verdict.code == expected
    if entry.stage == "trust":
        assert (result.verdict.indication, result.verdict.sub_indication) == (
            entry.indication, entry.sub_indication)
    # The same signer through our own signer (its chain in the SignedData, DER).
    ours = sign_detached(ANNEXE, signer.certificate(), signer.private_key(),
                         signer.chain_certificates())
    assert compare(ANNEXE, ours, at=at, trust=trust).verdict.code == expected


# -- signature bad cases and variants -------------------------------------------------------

@dataclass(frozen=True)
class Env:
    pki: PkiStore
    trust: TrustStore
    catalogue: dict[str, CatalogueEntry]
    agent: SignerFiles
    tmp: Path

    def sign(self, data: bytes, *options: str, signer: SignerFiles | None = None,
             outform: str = "DER") -> bytes:
        return openssl_sign(data, signer or self.agent, self.tmp, *options, outform=outform)

    def signer(self, name: str) -> SignerFiles:
        return catalogue_signer(self.pki, self.catalogue[name])

    def build(self, recipe: Recipe = cmskit.PLAIN, data: bytes = DOCUMENT,
              signer: SignerFiles | None = None) -> bytes:
        signer = signer or self.agent
        return cmskit.build(data, signer.certificate(), signer.private_key(),
                            signer.chain_certificates(), recipe)


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Env], tuple[bytes, bytes]]
    """(signed data, signature)."""
    code: str
    """The code both checks give (PASSED, a Failure name, SIGNER_ + a Reason name)."""


def _doc(make: Callable[[Env], bytes]) -> Callable[[Env], tuple[bytes, bytes]]:
    return lambda e: (DOCUMENT, make(e))


def _edit(edit: Callable[[list[cmskit.Attribute], Env], list[cmskit.Attribute]], **recipe
          ) -> Callable[[Env], tuple[bytes, bytes]]:
    return _doc(lambda e: e.build(Recipe(edit_attributes=lambda attrs: edit(attrs, e),
                                         **recipe)))


def _without(kind: str) -> Callable[[list[cmskit.Attribute], Env], list[cmskit.Attribute]]:
    return lambda attrs, e: [a for a in attrs if a["type"] != kind]


def _twice(kind: str) -> Callable[[list[cmskit.Attribute], Env], list[cmskit.Attribute]]:
    return lambda attrs, e: attrs + [a for a in attrs if a["type"] == kind]


def _with(*extra: Callable[[Env], cmskit.Attribute]
          ) -> Callable[[list[cmskit.Attribute], Env], list[cmskit.Attribute]]:
    return lambda attrs, e: attrs + [make(e) for make in extra]


def _ess_v2(hash_name: str = "sha256", wrong: bool = False) -> Callable[[Env], cmskit.Attribute]:
    return lambda e: cmskit.signing_certificate_v2(e.agent.certificate(), hash_name, wrong=wrong)


def _protection(digest: str, signature: str) -> Callable[[Env], cmskit.Attribute]:
    return lambda e: cmskit.algorithm_protection(
        digest, algos.SignedDigestAlgorithm({"algorithm": signature}))


def _wrong_content_type(attrs: list[cmskit.Attribute], e: Env) -> list[cmskit.Attribute]:
    return [{"type": "content_type", "values": ["signed_data"]} if a["type"] == "content_type"
            else a for a in attrs]


def _rsa(e: Env) -> SignerFiles:
    return e.signer("valid_rgs3_rsa2048_signing")


TIME = datetime(2024, 3, 12, 9, 30, tzinfo=UTC)
CASES = [
    Case("openssl_der", _doc(lambda e: e.sign(DOCUMENT)), "PASSED"),
    Case("openssl_pem", _doc(lambda e: e.sign(DOCUMENT, outform="PEM")), "PASSED"),
    Case("openssl_rsa_pkcs1", _doc(lambda e: e.sign(DOCUMENT, signer=_rsa(e))), "PASSED"),
    Case("openssl_rsa_pss", _doc(lambda e: e.sign(
        DOCUMENT, "-keyopt", "rsa_padding_mode:pss", signer=_rsa(e))), "PASSED"),
    Case("openssl_sha384", _doc(lambda e: e.sign(DOCUMENT, "-md", "sha384")), "PASSED"),
    Case("openssl_sha512", _doc(lambda e: e.sign(DOCUMENT, "-md", "sha512")), "PASSED"),
    Case("openssl_no_signed_attributes", _doc(lambda e: e.sign(DOCUMENT, "-noattr")), "PASSED"),
    Case("openssl_rsa_no_signed_attributes",
         _doc(lambda e: e.sign(DOCUMENT, "-noattr", signer=_rsa(e))), "PASSED"),
    Case("openssl_signer_by_key_identifier", _doc(lambda e: e.sign(DOCUMENT, "-keyid")),
         "PASSED"),
    Case("openssl_cades_signing_certificate_v2", _doc(lambda e: e.sign(DOCUMENT, "-cades")),
         "PASSED"),
    Case("openssl_sha1_digest", _doc(lambda e: e.sign(DOCUMENT, "-md", "sha1")),
         "WEAK_ALGORITHM"),
    Case("file_altered_after_signing",
         lambda e: (DOCUMENT.replace(b"2024", b"2025"), e.sign(DOCUMENT)), "HASH_FAILURE"),
    Case("signature_over_another_file", lambda e: (DOCUMENT, e.sign(ANNEXE)), "HASH_FAILURE"),
    Case("signature_bytes_altered", _doc(lambda e: flip_last_byte(e.sign(DOCUMENT))),
         "SIG_CRYPTO_FAILURE"),
    Case("rsa_signature_bytes_altered",
         _doc(lambda e: flip_last_byte(e.sign(DOCUMENT, signer=_rsa(e)))), "SIG_CRYPTO_FAILURE"),
    Case("altered_without_signed_attributes",
         lambda e: (DOCUMENT + b" ", e.sign(DOCUMENT, "-noattr")), "HASH_FAILURE"),
    Case("empty", _doc(lambda e: b""), "EMPTY"),
    Case("blank", _doc(lambda e: b" \r\n\t"), "EMPTY"),
    Case("not_cms", _doc(lambda e: "signé électroniquement".encode()), "NOT_CMS"),
    Case("certificate_bundle", _doc(certificate_bundle), "NO_SIGNER"),
    Case("not_detached", _doc(lambda e: e.sign(DOCUMENT, "-nodetach")), "NOT_DETACHED"),
    Case("signer_certificate_not_included", _doc(lambda e: e.sign(DOCUMENT, "-nocerts")),
         "NO_SIGNING_CERTIFICATE"),
    Case("only_the_chain_included",
         _doc(lambda e: e.build(Recipe(include_signer=False))), "NO_SIGNING_CERTIFICATE"),
    Case("built_plain", _doc(lambda e: e.build()), "PASSED"),
    Case("built_with_signing_time", _doc(lambda e: e.build(Recipe(signing_time=TIME))),
         "PASSED"),
    Case("built_signing_time_twice", _edit(_twice("signing_time"), signing_time=TIME),
         "PASSED"),
    Case("built_by_key_identifier",
         _doc(lambda e: e.build(Recipe(sid="subject_key_identifier"))), "PASSED"),
    Case("built_rsa_pss_sha384", _doc(lambda e: e.build(Recipe(pss=True, hash="sha384"),
                                                        signer=_rsa(e))), "PASSED"),
    Case("built_rsa_pss_without_signed_attributes", _doc(lambda e: e.build(
        Recipe(pss=True, signed_attributes=False), signer=_rsa(e))), "PASSED"),
    Case("built_ecdsa_sha384_over_sha256_digest", _doc(lambda e: e.build(Recipe(hash="sha384"))),
         "PASSED"),
    Case("built_bare_rsa_algorithm", _doc(lambda e: e.build(
        Recipe(signature_algorithm="rsassa_pkcs1v15"), signer=_rsa(e))), "PASSED"),
    Case("built_no_content_type", _edit(_without("content_type")), "STRUCTURE"),
    Case("built_wrong_content_type", _edit(_wrong_content_type), "STRUCTURE"),
    Case("built_no_message_digest", _edit(_without("message_digest")), "STRUCTURE"),
    Case("built_two_message_digests", _edit(_twice("message_digest")), "STRUCTURE"),
    Case("built_signing_certificate_v2", _edit(_with(_ess_v2())), "PASSED"),
    Case("built_signing_certificate_v2_sha512", _edit(_with(_ess_v2("sha512"))), "PASSED"),
    Case("built_signing_certificate_v2_of_another_certificate",
         _edit(_with(_ess_v2(wrong=True))), "NO_SIGNING_CERTIFICATE"),
    Case("built_signing_certificate_v2_twice", _edit(_with(_ess_v2(), _ess_v2())),
         "NO_SIGNING_CERTIFICATE"),
    Case("built_signing_certificate_v1",
         _edit(_with(lambda e: cmskit.signing_certificate_v1(e.agent.certificate()))),
         "PASSED"),
    Case("built_algorithm_protection", _edit(_with(_protection("sha256", "sha256_ecdsa"))),
         "PASSED"),
    Case("built_algorithm_protection_other_digest",
         _edit(_with(_protection("sha384", "sha256_ecdsa"))), "STRUCTURE"),
    Case("built_algorithm_protection_other_signature",
         _edit(_with(_protection("sha256", "sha384_ecdsa"))), "STRUCTURE"),
    Case("built_algorithm_protection_twice", _edit(_with(
        _protection("sha256", "sha256_ecdsa"), _protection("sha256", "sha256_ecdsa"))),
         "STRUCTURE"),
    Case("built_md5_digest", _doc(lambda e: e.build(Recipe(digest="md5"))), "WEAK_ALGORITHM"),
    Case("built_sha1_ecdsa", _doc(lambda e: e.build(Recipe(hash="sha1"))), "WEAK_ALGORITHM"),
    Case("built_rsa_key_labelled_pss", _doc(lambda e: e.build(
        Recipe(signature_algorithm="rsassa_pss"), signer=_rsa(e))), "STRUCTURE"),
    Case("revoked_signer", _doc(lambda e: e.sign(DOCUMENT, signer=e.signer("revoked"))),
         "SIGNER_CERT_REVOKED"),
]


@pytest.fixture
def env(pki: PkiStore, trust: TrustStore, catalogue: dict[str, CatalogueEntry],
        agent: SignerFiles, tmp_path: Path) -> Env:
    return Env(pki, trust, catalogue, agent, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_signature_case_gets_the_same_result(case: Case, env: Env,
                                             reference_time: datetime) -> None:
    data, signature = case.make(env)
    assert compare(data, signature, at=reference_time, trust=env.trust).code == case.code
    # Form and integrity only (no trust store), and the S²LOW exception, agree as well.
    compare(data, signature, at=reference_time, trust=None)
    compare(data, signature, at=reference_time, trust=env.trust, judge_signer=False)


@pytest.mark.parametrize("case", [c for c in CASES if c.code == "PASSED"][:4],
                         ids=lambda c: c.name)
def test_the_same_result_from_a_file_read_in_chunks(case: Case, env: Env,
                                                    reference_time: datetime) -> None:
    data, signature = case.make(env)
    path = env.tmp / "document.bin"
    path.write_bytes(data)
    with path.open("rb") as stream:
        fast = check_detached(stream, signature, at=reference_time, trust=env.trust)
        assert stream.seek(0) == 0
        reference = verify_detached_pyhanko(stream, signature, at=reference_time,
                                            trust=env.trust)
    assert fast is not None and outcome(fast) == outcome(reference)
    assert fast.signed_sha256 == hashlib.sha256(data).hexdigest()


def test_same_verdict_years_later_and_with_a_stricter_policy(
        env: Env, reference_time: datetime) -> None:
    signature = env.sign(DOCUMENT, "-md", "sha384")
    later = compare(DOCUMENT, signature, at=reference_time + timedelta(days=3 * 365),
                    trust=env.trust)
    assert later.code == "SIGNER_CERT_EXPIRED"
    strict = SignaturePolicy(trust_policy=replace(
        SignaturePolicy().trust_policy, weak_hashes=frozenset({"sha1", "md5", "sha384"})))
    assert compare(DOCUMENT, signature, at=reference_time, trust=env.trust,
                   policy=strict).code == "WEAK_ALGORITHM"


def test_the_ministere_signature_of_outgoing_messages(env: Env,
                                                      reference_time: datetime) -> None:
    xml = b"<ARActe>...</ARActe>"
    assert compare(xml, sign_outgoing(xml, env.pki), at=reference_time, trust=None).ok
    result = compare(xml, sign_outgoing(xml, env.pki), at=reference_time, trust=env.trust)
    assert result.verdict is not None  # judged (the TLS agent profile wants clientAuth)


def _ed25519_self_signed(now: datetime) -> tuple[x509.Certificate, ed25519.Ed25519PrivateKey]:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Signataire Ed25519")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False)
                   .sign(key, None))
    return certificate, key


def test_ed25519_signatures_get_the_same_result(env: Env, reference_time: datetime) -> None:
    certificate, key = _ed25519_self_signed(reference_time)
    with_attributes = cmskit.build(DOCUMENT, certificate, key)
    assert compare(DOCUMENT, with_attributes, at=reference_time, trust=None).ok
    assert compare(DOCUMENT, with_attributes, at=reference_time,
                   trust=env.trust).code == "SIGNER_SELF_SIGNED_LEAF"
    assert compare(DOCUMENT + b"!", with_attributes, at=reference_time,
                   trust=None).code == "HASH_FAILURE"
    bare = cmskit.build(DOCUMENT, certificate, key, recipe=Recipe(signed_attributes=False))
    assert compare(DOCUMENT, bare, at=reference_time, trust=None).ok
    assert compare(ANNEXE, bare, at=reference_time, trust=None).code == "HASH_FAILURE"


def test_a_key_of_another_type_than_the_algorithm_never_verifies(
        env: Env, reference_time: datetime) -> None:
    """pyHanko trips on an assertion here (an ECDSA key, an RSA algorithm): refused instead."""
    signature = env.build(Recipe(signature_algorithm="sha256_rsa"))
    result = check_detached(DOCUMENT, signature, at=reference_time, trust=env.trust)
    assert result is not None and result.code == "SIG_CRYPTO_FAILURE"
    with pytest.raises(AssertionError):
        verify_detached_pyhanko(DOCUMENT, signature, at=reference_time, trust=env.trust)


def test_an_unknown_digest_algorithm_is_a_format_failure(
        env: Env, reference_time: datetime) -> None:
    """pyHanko raises AttributeError on a digest it has no `cryptography` class for."""
    info = cms.ContentInfo.load(env.build())
    signer_info = info["content"]["signer_infos"][0]
    signer_info["digest_algorithm"] = {"algorithm": "md2"}
    signature = info.dump(force=True)
    result = check_detached(DOCUMENT, signature, at=reference_time, trust=env.trust)
    assert result is not None and result.code == "STRUCTURE" and result.indication == \
        "TOTAL_FAILED" and result.sub_indication == "FORMAT_FAILURE"
    with pytest.raises(AttributeError):
        verify_detached_pyhanko(DOCUMENT, signature, at=reference_time, trust=env.trust)


# -- what the fast check leaves to pyHanko --------------------------------------------------

def _timestamp_token(env: Env, now: datetime) -> Callable[[bytes], list[cmskit.Attribute]]:
    record = next(r for r in env.pki.records() if r.kind == "tsa")
    tsa = TimeStampAuthority(env.pki.certificate(record), env.pki.private_key(record), (),
                             "1.2.3.4.1", lambda: now, MemorySerials())

    def unsigned(signature_value: bytes) -> list[cmskit.Attribute]:
        token = tsa.stamp_digest(hashlib.sha256(signature_value).digest())
        return [{"type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]}]

    return unsigned


def test_a_timestamped_signature_is_left_to_pyhanko(env: Env, reference_time: datetime) -> None:
    signature = env.build(Recipe(unsigned=_timestamp_token(env, reference_time)))
    assert check_detached(DOCUMENT, signature, at=reference_time, trust=env.trust) is None
    result = verify_detached(DOCUMENT, signature, at=reference_time, trust=env.trust)
    reference = verify_detached_pyhanko(DOCUMENT, signature, at=reference_time, trust=env.trust)
    assert result.ok and outcome(result) == outcome(reference)
    altered = verify_detached(ANNEXE, signature, at=reference_time, trust=env.trust)
    assert altered.code == "HASH_FAILURE"


# -- mutated signatures ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mutable(tmp_path_factory: pytest.TempPathFactory, agent: SignerFiles) -> dict[str, bytes]:
    """Valid signatures to mutate: mostly the signer's certificate only (its chain is in the
    trust store), so that nearly every byte matters; one with the chain as well."""
    folder = tmp_path_factory.mktemp("mutable")
    only_signer = SignerFiles(agent.cert, agent.key)
    return {"attributes": openssl_sign(DOCUMENT, only_signer, folder),
            "bare": openssl_sign(DOCUMENT, only_signer, folder, "-noattr"),
            "with_chain": openssl_sign(DOCUMENT, agent, folder, "-md", "sha384")}


def _mutate(signature: bytes, data: st.DataObject) -> bytes:
    mutated = bytearray(signature)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        at = data.draw(st.integers(0, len(mutated) - 1), label="at")
        # Mostly length-preserving: a changed length mostly makes the DER unreadable.
        how = data.draw(st.sampled_from(["flip"] * 6 + ["set"] * 3 + ["drop", "insert",
                                                                       "truncate"]))
        if how == "flip":
            mutated[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "set":
            mutated[at] = data.draw(st.integers(0, 255))
        elif how == "drop":
            del mutated[at]
        elif how == "insert":
            mutated.insert(at, data.draw(st.integers(0, 255)))
        else:
            del mutated[at:]
        if not mutated:
            break
    return bytes(mutated)


@pytest.mark.slow  # 400 mutated signatures
@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["attributes", "bare", "with_chain"]), data=st.data())
def test_mutated_signatures_never_crash_nor_pass_unless_pyhanko_agrees(
        which: str, data: st.DataObject, mutable: dict[str, bytes], trust: TrustStore,
        agent: SignerFiles, reference_time: datetime) -> None:
    signature = _mutate(mutable[which], data)
    fast = check_detached(DOCUMENT, signature, at=reference_time, trust=trust)
    public = verify_detached(DOCUMENT, signature, at=reference_time, trust=trust)
    event("declined" if fast is None else f"fast: {fast.code}")
    try:
        reference = verify_detached_pyhanko(DOCUMENT, signature, at=reference_time, trust=trust)
    except Exception as exc:  # pyHanko's own crash on malformed input: ours must refuse
        event(f"pyHanko raised {type(exc).__name__}")
        assert not public.ok and public.failure is not None
    else:
        assert outcome(public) == outcome(reference)
    if fast is not None:
        assert outcome(fast) == outcome(public)
    if public.ok:  # the certificate the CA signed (its TBS), whatever its outer encoding:
        # cryptography reads a signature BIT STRING with unused bits declared as the same one
        assert public.signer.tbs_certificate_bytes == agent.certificate().tbs_certificate_bytes


# -- the public entry points ----------------------------------------------------------------

def test_the_async_form_gives_the_same_result_inside_an_event_loop(
        env: Env, reference_time: datetime) -> None:
    signature = env.sign(DOCUMENT)
    timestamped = env.build(Recipe(unsigned=_timestamp_token(env, reference_time)))

    async def both() -> tuple[SignatureResult, SignatureResult]:
        return (await async_verify_detached(DOCUMENT, signature, at=reference_time,
                                            trust=env.trust),
                await async_verify_detached(ANNEXE, timestamped, at=reference_time,
                                            trust=env.trust))

    fast, declined = asyncio.run(both())
    assert outcome(fast) == outcome(compare(DOCUMENT, signature, at=reference_time,
                                            trust=env.trust))
    assert fast.ok and declined.code == "HASH_FAILURE"


def test_an_ordinary_signature_is_verified_without_loading_pyhanko(
        env: Env, reference_time: datetime) -> None:
    """pyHanko takes half a second to import: a process that only checks ordinary detached
    signatures (a validation worker, the CLI) never pays it."""
    signature = env.tmp / "signature.der"
    signature.write_bytes(env.sign(DOCUMENT))
    program = (
        "import sys, pickle\n"
        "from datetime import datetime\n"
        "from operator_sim.signature import verify_detached\n"
        "from operator_sim.pki import PkiStore\n"
        f"trust = PkiStore({str(env.pki.directory)!r}).trust_store()\n"
        f"result = verify_detached({DOCUMENT!r}, open({str(signature)!r}, 'rb').read(),\n"
        f"    at=datetime.fromisoformat({reference_time.isoformat()!r}), trust=trust)\n"
        "assert result.ok, result.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pyhanko')))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_what_is_kept_parsed_between_signatures_stays_bounded(
        env: Env, reference_time: datetime) -> None:
    """Certificates and certificate sets are remembered by their DER for the next signature;
    a sender inflating them (here, 12 copies of the CA chain) gets them parsed each time."""
    from operator_sim.signature import detached

    chain = tuple(env.agent.chain_certificates())
    inflated = env.build(Recipe(extra=chain * 12))
    assert len(inflated) > detached.MEMO_LIMIT
    for _ in range(2):
        assert compare(DOCUMENT, inflated, at=reference_time, trust=env.trust).ok
    assert all(len(key) <= detached.MEMO_LIMIT for key in detached._certificate_sets)
    for i in range(detached.MEMO_ENTRIES + 5):  # distinct sets: each its own ministère chain
        signature = env.build(Recipe(extra=chain[:1] * (1 + i % 3) + chain[1:] * (i // 3)))
        check_detached(DOCUMENT, signature, at=reference_time, trust=None)
    assert len(detached._certificate_sets) <= detached.MEMO_ENTRIES
