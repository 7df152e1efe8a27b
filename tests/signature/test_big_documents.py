"""Big documents go through the validator a chunk at a time: the content checks, the PAdES
look-up and both signature verifications read the spooled member through a file object, so
the memory a check needs does not grow with the act (a 100 MB PDF is accepted by S²LOW)."""

from __future__ import annotations

import io
import os
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from operator_sim.pki import TrustStore
from operator_sim.signature.policy import (
    SCAN_CHUNK,
    SIGNATURE_MARKER,
    SignatureMode,
    SignaturePolicy,
    looks_signed,
)
from operator_sim.testing.corpus import minimal_pdf
from operator_sim.validation.report import ValidationReport

from .conftest import SignerFiles, openssl_sign, policy_for, signed_request, validate, write_act
from .test_bad_cases import pades_sign

MiB = 1024 * 1024
BOUND = 8 * MiB  # Python memory one validation may add, whatever the act's size


def big_pdf(filler: int) -> bytes:
    """A valid PDF (pyHanko's writer) carrying an unfiltered stream of `filler` random bytes."""
    writer = IncrementalPdfFileWriter(io.BytesIO(minimal_pdf("Acte volumineux")), strict=False)
    writer.add_object(generic.StreamObject(stream_data=os.urandom(filler)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def validate_measured(path: Path, policy) -> tuple[ValidationReport, int]:
    """The report and the peak of Python memory allocated while validating."""
    tracemalloc.start()
    try:
        report = validate(path, policy)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def required(reference_time: datetime, trust: TrustStore | None):
    return policy_for(reference_time, trust,
                      signatures=SignaturePolicy(mode=SignatureMode.REQUIRED))


def codes(report: ValidationReport) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.slow  # big document
def test_a_40_mb_act_is_validated_in_bounded_memory(tmp_path: Path,
                                                    reference_time: datetime) -> None:
    path = write_act(signed_request(None, document=big_pdf(40 * MiB)), tmp_path)
    assert path.stat().st_size > 40 * MiB
    report, peak = validate_measured(path, policy_for(reference_time, None))
    assert report.valid, report.findings
    assert peak < BOUND, f"validation allocated {peak / MiB:.1f} MiB at its peak"


def _pades_signed_straddling(signer: SignerFiles, filler: int) -> bytes:
    """A PAdES-signed big PDF whose /ByteRange is split by a scan-chunk boundary."""
    for _ in range(8):  # the layout jitters by a few bytes from one signature to the next
        signed = pades_sign(big_pdf(filler), signer)
        at = signed.rindex(SIGNATURE_MARKER) % SCAN_CHUNK
        if at > SCAN_CHUNK - len(SIGNATURE_MARKER):
            return signed
        aim = SCAN_CHUNK - len(SIGNATURE_MARKER) // 2 - at  # the middle of the marker
        filler += (aim + SCAN_CHUNK // 2) % SCAN_CHUNK - SCAN_CHUNK // 2  # the shorter way
    raise AssertionError("could not place /ByteRange across a chunk boundary")


@pytest.mark.slow  # big document
def test_big_pades_signed_act_is_verified_in_bounded_memory(
        tmp_path: Path, agent: SignerFiles, trust: TrustStore, reference_time: datetime) -> None:
    signed = _pades_signed_straddling(agent, 12 * MiB)
    at = signed.rindex(SIGNATURE_MARKER)
    assert at // SCAN_CHUNK != (at + len(SIGNATURE_MARKER) - 1) // SCAN_CHUNK
    # Required mode: had the scan missed the marker, the act would be refused as unsigned.
    report, peak = validate_measured(write_act(signed_request(None, document=signed),
                                               tmp_path / "signed"), required(reference_time, trust))
    assert report.valid, report.findings
    assert peak < BOUND, f"PAdES verification allocated {peak / MiB:.1f} MiB at its peak"

    middle = len(signed) // 2  # inside the random stream, inside the signed byte range
    altered = signed[:middle] + bytes([signed[middle] ^ 0xFF]) + signed[middle + 1:]
    report = validate(write_act(signed_request(None, document=altered), tmp_path / "altered"),
                      required(reference_time, trust))
    assert "SIGNATURE_INVALID" in codes(report), report.findings
    assert "HASH_FAILURE" in " ".join(f.message_en for f in report.findings)


@pytest.mark.slow  # big document
def test_big_detached_cms_is_verified_in_bounded_memory(
        tmp_path: Path, agent: SignerFiles, trust: TrustStore, reference_time: datetime) -> None:
    document = big_pdf(12 * MiB)
    signature = openssl_sign(document, agent, tmp_path)
    report, peak = validate_measured(
        write_act(signed_request(signature, document=document), tmp_path / "signed"),
        required(reference_time, trust))
    assert report.valid, report.findings
    assert peak < BOUND, f"CMS verification allocated {peak / MiB:.1f} MiB at its peak"

    middle = len(document) // 2
    altered = document[:middle] + bytes([document[middle] ^ 0xFF]) + document[middle + 1:]
    report = validate(write_act(signed_request(signature, document=altered),
                                tmp_path / "altered"), required(reference_time, trust))
    assert "SIGNATURE_INVALID" in codes(report), report.findings
    assert "HASH_FAILURE" in " ".join(f.message_en for f in report.findings)


@pytest.mark.slow  # long property test
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64).map(lambda b: b.replace(b"/", b"")), st.binary(max_size=64),
       st.integers(min_value=1, max_value=24), st.booleans())
def test_marker_is_found_wherever_the_chunks_split_it(before: bytes, after: bytes, chunk: int,
                                                      marked: bool) -> None:
    data = before + (SIGNATURE_MARKER if marked else b"/ByteRang") + after
    assert looks_signed(io.BytesIO(data), chunk=chunk) is (SIGNATURE_MARKER in data)


@pytest.mark.parametrize("offset", range(SCAN_CHUNK - len(SIGNATURE_MARKER), SCAN_CHUNK + 1))
def test_marker_across_the_default_chunk_boundary(offset: int) -> None:
    data = bytes(offset) + SIGNATURE_MARKER + bytes(SCAN_CHUNK)
    assert looks_signed(io.BufferedReader(io.BytesIO(data))) is True
    assert looks_signed(io.BytesIO(data.replace(b"Range", b"range"))) is False
