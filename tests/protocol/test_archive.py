"""The safe envelope-archive reader and writer: round trips, one test per refusal, bombs, memory."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import os
import random
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operator_sim.protocol import archive as archive_module
from operator_sim.protocol.archive import (
    ArchiveLimits,
    check_member_name,
    read_archive,
    write_archive,
)
from operator_sim.protocol.errors import UnsafeArchive

MiB = 1024 * 1024
ENVELOPE = "EACT--214502494--20170717-5.xml"
MESSAGE = "045-214502494-20170717-D201717-DE-1-1_0.xml"
DOCUMENT = "99_DE-045-214502494-20170717-D201717-DE-1-1_1.pdf"


# --------------------------------------------------------------------------- factories


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def entry(name: str, data: bytes | None = b"<x/>", *, kind: bytes = tarfile.REGTYPE,
          **attributes: object) -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar entry as hostile as wanted: any name, any type, any attribute."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    for key, value in attributes.items():
        setattr(info, key, value)
    return info, data if kind == tarfile.REGTYPE else None


def tar_of(*entries: tuple[tarfile.TarInfo, bytes | None],
           fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def archive_of(*entries: tuple[tarfile.TarInfo, bytes | None],
               fmt: int = tarfile.GNU_FORMAT) -> bytes:
    return gz(tar_of(*entries, fmt=fmt))


def refusal(data: bytes, limits: ArchiveLimits | None = None) -> UnsafeArchive:
    with pytest.raises(UnsafeArchive) as caught:
        read_archive(io.BytesIO(data), limits or ArchiveLimits()).close()
    error = caught.value
    assert error.message_en and error.message_fr and error.message_en != error.message_fr
    return error


def sealed(header: bytearray) -> bytes:
    """A hand-edited tar header with its checksum recomputed."""
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


@functools.cache
def valid_archive() -> bytes:
    """A small but realistic envelope archive (bytes, written by write_archive)."""
    rng = random.Random(7)
    buf = io.BytesIO()
    write_archive(buf, [
        (ENVELOPE, b'<?xml version="1.0" encoding="ISO-8859-1"?><actes:EnveloppeCLMISILL/>'),
        (MESSAGE, b"<actes:Acte>" + b"<actes:Objet>budget</actes:Objet>" * 20 + b"</actes:Acte>"),
        (DOCUMENT, b"%PDF-1.4\n" + rng.randbytes(3000)),
    ])
    return buf.getvalue()


def zeros_bomb(header: bytes, total: int = 200 * MiB) -> bytes:
    """gzip of `header` then zeros up to `total` bytes, compressed by streaming (~200 KiB out)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(header)]
    zeros = bytes(MiB)
    for _ in range((total - len(header)) // MiB):
        out.append(packer.compress(zeros))
    out.append(packer.flush())
    return b"".join(out)


# --------------------------------------------------------------------------- valid archives


def test_round_trip_keeps_names_order_bytes_and_hashes(tmp_path: Path) -> None:
    document = tmp_path / "doc.pdf"
    document.write_bytes(b"%PDF-1.7\n" + os.urandom(200_000))
    members = [
        (ENVELOPE, b"<enveloppe/>"),
        (MESSAGE, b"<acte/>"),
        (DOCUMENT, document),
        ("99_AI-" + "x" * 150 + "-1-1_2.pdf", b"long name, GNU long-name header"),
        ("Délibération n°1.pdf", b"non-ASCII names survive"),
    ]
    target = tmp_path / "SLO-EACT--214502494--20170717-5.tar.gz"
    written = write_archive(target, members)

    assert written == hashlib.sha256(target.read_bytes()).hexdigest()
    with read_archive(target) as archive:
        assert archive.names == tuple(name for name, _ in members)
        assert archive.sha256 == written
        assert archive.compressed_size == target.stat().st_size
        for name, content in members:
            expected = content.read_bytes() if isinstance(content, Path) else content
            member = archive[name]
            assert name in archive
            assert member.read() == expected
            assert member.size == len(expected)
            assert member.sha256 == hashlib.sha256(expected).hexdigest()
        assert [member.name for member in archive] == list(archive.names)
        assert archive.total_size == sum(member.size for member in archive)
        assert "absent.xml" not in archive
        with pytest.raises(KeyError):
            archive["absent.xml"]


def test_member_open_gives_independent_rewound_streams() -> None:
    with read_archive(io.BytesIO(valid_archive())) as archive:
        document = archive[DOCUMENT]
        first, second = document.open(), document.open()
        assert first.read(5) == b"%PDF-"
        assert second.read(5) == b"%PDF-"
        first.close()
        assert document.head(4) == b"%PDF"
        assert document.open().read() == document.read()
        assert second.read() == document.read()[5:]


def test_file_object_source_is_left_open_and_read_from_its_position() -> None:
    source = io.BytesIO(b"junk" + valid_archive())
    source.seek(4)
    with read_archive(source) as archive:
        assert ENVELOPE in archive
    assert not source.closed


def test_three_mib_member_is_spooled_to_disk_and_reads_back_identical(tmp_path: Path) -> None:
    payload = os.urandom(3 * MiB)
    buf = io.BytesIO()
    write_archive(buf, [(ENVELOPE, b"<e/>"), (DOCUMENT, payload)])
    buf.seek(0)
    with read_archive(buf, spool_dir=tmp_path) as archive:
        big, small = archive[DOCUMENT], archive[ENVELOPE]
        assert big.on_disk and not small.on_disk
        assert os.fstat(big._spool.fileno()).st_size == len(payload)  # a real file, not memory
        assert big.read() == payload
        with big.open() as stream:
            assert b"".join(iter(lambda: stream.read(100_000), b"")) == payload
    assert big._spool.closed


def test_concatenated_gzip_members_are_one_archive() -> None:
    tar = tar_of(entry(ENVELOPE, b"<e/>"), entry(MESSAGE, b"<m/>"))
    with read_archive(io.BytesIO(gz(tar[:700]) + gz(tar[700:]))) as archive:
        assert archive.names == (ENVELOPE, MESSAGE)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(
    st.text(st.sampled_from("ABCdef019_-.éàç "), min_size=1, max_size=120).filter(
        lambda name: name not in (".", "..")),
    st.binary(max_size=3000), min_size=1, max_size=6))
def test_any_valid_member_set_round_trips(members: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    digest = write_archive(buf, members.items())
    assert digest == hashlib.sha256(buf.getvalue()).hexdigest()
    buf.seek(0)
    with read_archive(buf) as archive:
        assert archive.names == tuple(members)
        assert {member.name: member.read() for member in archive} == members


# --------------------------------------------------------------------------- writer


def test_writer_output_is_reproducible_and_normalised() -> None:
    members = [(ENVELOPE, b"<e/>"), (MESSAGE, b"<m/>")]
    first, second, other = io.BytesIO(), io.BytesIO(), io.BytesIO()
    write_archive(first, members, mtime=1_500_000_000)
    write_archive(second, members, mtime=1_500_000_000)
    write_archive(other, members, mtime=1_500_000_001)
    assert first.getvalue() == second.getvalue() != other.getvalue()

    data = first.getvalue()
    assert data[:2] == b"\x1f\x8b" and data[8] == 2  # XFL=2: gzip maximum compression
    assert int.from_bytes(data[4:8], "little") == 1_500_000_000
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar.getmembers():
            assert info.isreg() and info.mode == 0o644
            assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
            assert info.mtime == 1_500_000_000


@pytest.mark.parametrize("name", ["", "../x.xml", "/etc/passwd", "a/b.xml", "a\\b.xml",
                                  "bell\x07.xml", "n" * 256, "C:evil.xml"])
def test_writer_refuses_the_names_the_reader_refuses(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeArchive) as by_checker:
        check_member_name(name)
    target = tmp_path / "out.tar.gz"
    with pytest.raises(UnsafeArchive) as by_writer:
        write_archive(target, [(ENVELOPE, b"<e/>"), (name, b"data")])
    assert by_writer.value.code == by_checker.value.code
    assert by_writer.value.field == name
    assert not target.exists()  # a failed write leaves no half archive behind


def test_writer_refuses_duplicates_empty_sets_and_non_bytes() -> None:
    with pytest.raises(UnsafeArchive) as caught:
        write_archive(io.BytesIO(), [(ENVELOPE, b"1"), (ENVELOPE, b"2")])
    assert caught.value.code == "ARCHIVE_DUPLICATE_MEMBER"
    with pytest.raises(UnsafeArchive) as caught:
        write_archive(io.BytesIO(), [])
    assert caught.value.code == "ARCHIVE_EMPTY"
    with pytest.raises(TypeError):
        write_archive(io.BytesIO(), [(ENVELOPE, "<not bytes/>")])  # type: ignore[list-item]


# --------------------------------------------------------------------------- one refusal per code


def test_not_gzip_random_bytes_plain_tar_and_empty_input() -> None:
    noise = bytes([0x42]) + random.Random(1).randbytes(4096)
    for data in (noise, tar_of(entry(ENVELOPE)), b"", b"\x1f"):
        assert refusal(data).code == "ARCHIVE_NOT_GZIP"


@pytest.mark.parametrize("cut", [3, 10, 40, "half", -9, -8, -4, -1])
def test_truncated_gzip_is_refused(cut: int | str) -> None:
    data = valid_archive()
    end = len(data) // 2 if cut == "half" else cut
    assert refusal(data[:end]).code == "ARCHIVE_TRUNCATED"  # type: ignore[misc]


@pytest.mark.parametrize("offset", [-8, -1])  # CRC-32, then length (ISIZE) of the trailer
def test_gzip_checksum_mismatch_is_refused_as_truncated(offset: int) -> None:
    data = bytearray(valid_archive())
    data[offset] ^= 0xFF
    assert refusal(bytes(data)).code == "ARCHIVE_TRUNCATED"


def test_tar_cut_inside_a_member_names_the_member() -> None:
    tar = tar_of(entry(ENVELOPE, b"<e/>"), entry(DOCUMENT, b"%PDF" + bytes(5000)))
    error = refusal(gz(tar[:2048]))
    assert (error.code, error.field) == ("ARCHIVE_TRUNCATED", DOCUMENT)


def test_tar_without_end_of_archive_marker_is_truncated() -> None:
    info, data = entry(ENVELOPE, b"<e/>" * 128)  # exactly 512 bytes of data
    assert refusal(gz(info.tobuf(tarfile.GNU_FORMAT) + data)).code == "ARCHIVE_TRUNCATED"


def test_invalid_deflate_data_is_corrupt() -> None:
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    assert refusal(header + b"\xff" * 64).code == "ARCHIVE_CORRUPT"


def test_garbage_after_the_gzip_stream_is_corrupt() -> None:
    assert refusal(valid_archive() + b"trailing").code == "ARCHIVE_CORRUPT"


def test_member_hidden_after_the_end_of_archive_marker_is_corrupt() -> None:
    # Python's tarfile and GNU tar stop at the first end marker; `tar -i` would extract more.
    data = gz(tar_of(entry(ENVELOPE)) + tar_of(entry("hidden.pdf")))
    assert refusal(data).code == "ARCHIVE_CORRUPT"


def test_invalid_header_after_the_first_member_is_corrupt_not_a_silent_end() -> None:
    tar = tar_of(entry(ENVELOPE, b"<e/>"))
    data = gz(tar[:1024] + b"garbage".ljust(512, b"!") + bytes(1024))
    assert refusal(data).code == "ARCHIVE_CORRUPT"


@pytest.mark.parametrize("payload", [b"hello world, not a tar\n" * 100, b"short", b""])
def test_gzip_of_non_tar_data_is_not_tar(payload: bytes) -> None:
    assert refusal(gz(payload)).code == "ARCHIVE_NOT_TAR"


def test_empty_tar_is_empty() -> None:
    assert refusal(gz(tar_of())).code == "ARCHIVE_EMPTY"


@pytest.mark.parametrize(("kind", "target"), [(tarfile.SYMTYPE, "/etc/passwd"),
                                              (tarfile.LNKTYPE, ENVELOPE)])
def test_links_are_refused(kind: bytes, target: str) -> None:
    error = refusal(archive_of(entry(ENVELOPE), entry("link.pdf", kind=kind, linkname=target)))
    assert (error.code, error.field) == ("ARCHIVE_LINK", "link.pdf")
    assert target in error.message_en


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE,
                                  tarfile.CONTTYPE, b"Z"])
def test_devices_fifos_and_unknown_entries_are_special(kind: bytes) -> None:
    data = archive_of(entry(ENVELOPE), entry("dev.pdf", kind=kind, devmajor=1, devminor=3))
    error = refusal(data)
    assert (error.code, error.field) == ("ARCHIVE_SPECIAL_MEMBER", "dev.pdf")


def test_directory_entry_is_refused() -> None:
    error = refusal(archive_of(entry("docs", kind=tarfile.DIRTYPE), entry(ENVELOPE)))
    assert (error.code, error.field) == ("ARCHIVE_DIRECTORY", "docs")


@pytest.mark.parametrize(("name", "code"), [
    ("/etc/cron.d/evil", "ARCHIVE_ABSOLUTE_PATH"),
    ("C:evil.xml", "ARCHIVE_ABSOLUTE_PATH"),
    ("../x", "ARCHIVE_TRAVERSAL"),
    ("..", "ARCHIVE_TRAVERSAL"),
    ("ok/../../x.xml", "ARCHIVE_TRAVERSAL"),
    ("a\\b.xml", "ARCHIVE_TRAVERSAL"),
    ("a/b.xml", "ARCHIVE_NESTED_PATH"),
    ("./a.xml", "ARCHIVE_NESTED_PATH"),
    ("", "ARCHIVE_BAD_MEMBER_NAME"),
    (".", "ARCHIVE_BAD_MEMBER_NAME"),
    ("bell\x07.xml", "ARCHIVE_BAD_MEMBER_NAME"),
    ("esc\x1b[31m.pdf", "ARCHIVE_BAD_MEMBER_NAME"),
    ("n" * 256, "ARCHIVE_BAD_MEMBER_NAME"),
])
def test_bad_member_names_are_refused(name: str, code: str) -> None:
    error = refusal(archive_of(entry(ENVELOPE), entry(name)))
    assert (error.code, error.field) == (code, name)
    shown = repr(name)[:30]  # named in both languages, control characters escaped
    assert shown in error.message_en and shown in error.message_fr


def test_nul_in_a_pax_path_is_a_bad_name() -> None:
    info, data = entry("placeholder.xml", pax_headers={"path": "a\x00b.xml"})
    error = refusal(archive_of(entry(ENVELOPE), (info, data), fmt=tarfile.PAX_FORMAT))
    assert (error.code, error.field) == ("ARCHIVE_BAD_MEMBER_NAME", "a\x00b.xml")


def test_undecodable_name_is_a_bad_name() -> None:
    info, data = entry("xx.xml")
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[0:2] = b"\xff\xfe"
    error = refusal(gz(sealed(header) + data.ljust(512, b"\0") + bytes(1024)))
    assert error.code == "ARCHIVE_BAD_MEMBER_NAME"


def test_duplicate_member_is_refused() -> None:
    error = refusal(archive_of(entry(ENVELOPE, b"<a/>"), entry(ENVELOPE, b"<b/>")))
    assert (error.code, error.field) == ("ARCHIVE_DUPLICATE_MEMBER", ENVELOPE)


def test_more_members_than_the_limit_are_refused() -> None:
    data = archive_of(*(entry(f"{index:03d}.xml", b"") for index in range(600)))
    error = refusal(data, ArchiveLimits(max_members=500))
    assert (error.code, error.field) == ("ARCHIVE_TOO_MANY_MEMBERS", "500.xml")


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_member_declaring_ten_gib_is_refused_from_its_header(fmt: int) -> None:
    info = tarfile.TarInfo(DOCUMENT)
    info.size = 10 * 1024**3  # base-256 size (GNU) or a PAX size record: no data follows
    start = time.perf_counter()
    error = refusal(gz(info.tobuf(fmt)))
    assert (error.code, error.field) == ("ARCHIVE_MEMBER_TOO_LARGE", DOCUMENT)
    assert time.perf_counter() - start < 1


def test_compressed_input_beyond_its_limit_is_too_large() -> None:
    data = archive_of(entry(DOCUMENT, os.urandom(5000)))
    assert refusal(data, ArchiveLimits(max_compressed_bytes=1000)).code == "ARCHIVE_TOO_LARGE"


def test_uncompressed_total_beyond_its_limit_is_too_large() -> None:
    data = archive_of(entry("a.pdf", os.urandom(60_000)), entry("b.pdf", os.urandom(60_000)))
    error = refusal(data, ArchiveLimits(max_total_bytes=100_000))
    assert (error.code, error.field) == ("ARCHIVE_TOO_LARGE", "b.pdf")


@pytest.fixture(scope="module")
def zeros_bombs() -> dict[str, bytes]:
    member = tarfile.TarInfo("bomb.xml")
    member.size = 149 * MiB  # below every per-member and total limit: only the ratio stops it
    return {"member": zeros_bomb(member.tobuf(tarfile.GNU_FORMAT)), "bare": zeros_bomb(b"")}


@pytest.mark.slow  # compresses 149 MiB of zeros first
@pytest.mark.parametrize("shape", ["member", "bare"])
def test_two_hundred_mib_of_zeros_is_stopped_early_as_a_bomb(
        zeros_bombs: dict[str, bytes], shape: str) -> None:
    data = zeros_bombs[shape]
    assert len(data) < MiB
    start = time.perf_counter()
    error = refusal(data)
    assert error.code == "ARCHIVE_BOMB"  # stopped by the ratio, long before any size limit
    assert time.perf_counter() - start < 1


def test_ratio_is_not_enforced_below_one_mib_of_output() -> None:
    with read_archive(io.BytesIO(archive_of(entry(ENVELOPE, bytes(900_000))))) as archive:
        assert archive[ENVELOPE].size == 900_000


# --------------------------------------------------------------------------- hostile headers


def test_malformed_pax_header_is_corrupt() -> None:
    info, data = entry("p.xml", pax_headers={"comment": "x"})
    tar = bytearray(tar_of((info, data), fmt=tarfile.PAX_FORMAT))
    record = tar.index(b"comment=x\n") - 3  # "18 comment=x\n": make the length lie
    tar[record:record + 2] = b"99"
    assert refusal(gz(bytes(tar))).code == "ARCHIVE_CORRUPT"


def test_oversized_extended_headers_are_refused_without_reading_them() -> None:
    info, data = entry("p.xml", pax_headers={"comment": "c" * 10_000})
    assert refusal(archive_of((info, data), fmt=tarfile.PAX_FORMAT)).code == "ARCHIVE_CORRUPT"
    long_name = "n" * 5000 + ".xml"  # GNU long-name header above the extended-header limit
    error = refusal(archive_of(entry(long_name)))
    assert error.code == "ARCHIVE_BAD_MEMBER_NAME"


def test_pax_digit_runs_cannot_make_header_parsing_quadratic() -> None:
    # CPython's tarfile regexes backtrack on long digit runs (CVE-2024-6232): vetted first.
    info, data = entry("p.xml", pax_headers={"comment": "1" * 4000})
    start = time.perf_counter()
    assert refusal(archive_of((info, data), fmt=tarfile.PAX_FORMAT)).code == "ARCHIVE_CORRUPT"
    assert time.perf_counter() - start < 0.5


def test_header_with_negative_size_is_corrupt() -> None:
    info, _ = entry(ENVELOPE, b"")
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[124:136] = b"\xff" * 12  # base-256 -1
    assert refusal(gz(sealed(header) + bytes(1024))).code == "ARCHIVE_CORRUPT"
    info, data = entry(ENVELOPE, pax_headers={"size": "-5"})
    error = refusal(archive_of((info, data), fmt=tarfile.PAX_FORMAT))
    assert (error.code, error.field) == ("ARCHIVE_CORRUPT", ENVELOPE)


# --------------------------------------------------------------------------- robustness


def test_spools_written_before_a_refusal_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    spools: list[object] = []
    real = archive_module.tempfile.TemporaryFile

    def recording(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        spool = real(*args, **kwargs)  # type: ignore[call-overload]
        spools.append(spool)
        return spool

    monkeypatch.setattr(archive_module.tempfile, "TemporaryFile", recording)
    data = archive_of(entry(ENVELOPE), entry(MESSAGE, os.urandom(2 * MiB)),
                      entry("evil", kind=tarfile.SYMTYPE, linkname="/"))
    assert refusal(data).code == "ARCHIVE_LINK"
    assert len(spools) == 1 and all(spool.closed for spool in spools)  # type: ignore[attr-defined]


def _read_or_refuse(data: bytes) -> None:
    try:
        read_archive(io.BytesIO(data)).close()
    except UnsafeArchive as error:
        assert error.code.startswith("ARCHIVE_")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_archives_only_ever_raise_unsafe_archive(data: st.DataObject) -> None:
    mutated = bytearray(valid_archive())
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        index = data.draw(st.integers(0, len(mutated) - 1), label="index")
        mutated[index] = data.draw(st.integers(0, 255), label="byte")
    if data.draw(st.booleans(), label="truncate"):
        del mutated[data.draw(st.integers(0, len(mutated)), label="cut"):]
    _read_or_refuse(bytes(mutated))


def blocks_of(*entries: tuple[tarfile.TarInfo, bytes | None], fmt: int) -> bytes:
    """Tar header and data blocks without the end-of-archive marker, to mix formats."""
    return b"".join(info.tobuf(fmt) + (data or b"").ljust(-(-len(data or b"") // 512) * 512,
                                                       b"\0") for info, data in entries)


@functools.cache
def valid_tar() -> tuple[bytes, tuple[int, ...]]:
    """A tar mixing GNU long-name and PAX headers, and the offsets of its header blocks."""
    tar = (blocks_of(entry(ENVELOPE, b"<e/>"), entry("g" * 120 + ".xml", b"<gnu/>"),
                     fmt=tarfile.GNU_FORMAT)
           + blocks_of(entry("p" * 120 + ".xml", b"<pax/>"),
                       entry(DOCUMENT, b"%PDF" + bytes(700), pax_headers={"comment": "pax"}),
                       fmt=tarfile.PAX_FORMAT)
           + bytes(1024))
    headers = []
    for offset in range(0, len(tar), 512):
        with contextlib.suppress(tarfile.HeaderError):
            tarfile.TarInfo.frombuf(tar[offset:offset + 512], "utf-8", "surrogateescape")
            headers.append(offset)
    return tar, tuple(headers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_tar_headers_only_ever_raise_unsafe_archive(data: st.DataObject) -> None:
    # Mutations under a valid gzip layer, header checksums re-sealed, so that tarfile's header
    # parsing (types, sizes, GNU long names, PAX records) meets the hostile bytes.
    tar, headers = valid_tar()
    mutated = bytearray(tar)
    for _ in range(data.draw(st.integers(1, 6), label="flips")):
        index = data.draw(st.integers(0, len(tar) - 1), label="index")
        mutated[index] = data.draw(st.sampled_from(b"\x00 0179\xff/\n=xgLKS2356"), label="byte")
    for offset in headers:
        mutated[offset:offset + 512] = sealed(mutated[offset:offset + 512])
    if data.draw(st.booleans(), label="truncate"):
        del mutated[data.draw(st.integers(0, len(mutated)), label="cut"):]
    _read_or_refuse(gz(bytes(mutated)))


@pytest.mark.slow  # big archive
def test_reading_and_writing_a_sixty_mib_member_keeps_memory_flat(tmp_path: Path) -> None:
    document = tmp_path / "big.pdf"
    digest = hashlib.sha256()
    with document.open("wb") as out:
        for _ in range(60):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            out.write(chunk)
    target = tmp_path / "big.tar.gz"

    tracemalloc.start()
    try:
        write_archive(target, [(ENVELOPE, b"<e/>"), (DOCUMENT, document)])
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with read_archive(target, spool_dir=tmp_path) as archive:
            _, read_peak = tracemalloc.get_traced_memory()
            assert archive[DOCUMENT].sha256 == digest.hexdigest()
            assert archive[DOCUMENT].on_disk
    finally:
        tracemalloc.stop()
    assert write_peak < 10 * MiB, write_peak
    assert read_peak < 10 * MiB, read_peak


# --------------------------------------------------------------------------- the small-archive path
# Small archives are read in one step (archive_module._read_small); anything that path does not
# plainly accept goes to the streaming reader. It must accept only what the streaming reader
# accepts, with the same members, and read_archive must always answer as the streaming reader.


def outcome(read: object) -> tuple:
    """What a read gives: the members and hashes, or the refusal, comparably."""
    try:
        archive = read() if callable(read) else read
    except UnsafeArchive as error:
        return ("refused", error.code, error.message_en, error.message_fr, error.field)
    with archive:  # type: ignore[union-attr]
        return ("read", tuple((m.name, m.size, m.sha256, m.read(), m.on_disk) for m in archive),
                archive.sha256, archive.compressed_size)  # type: ignore[union-attr]


def streaming(data: bytes, limits: ArchiveLimits | None = None) -> tuple:
    return outcome(lambda: archive_module._read_streaming(io.BytesIO(data),
                                                          limits or ArchiveLimits(), None))


def test_small_archive_is_read_in_one_step_with_the_streaming_readers_members() -> None:
    for data in (valid_archive(), archive_of(entry(ENVELOPE), fmt=tarfile.USTAR_FORMAT),
                 archive_of(entry("x" * 100, b""), entry(DOCUMENT, os.urandom(600_000)))):
        small = archive_module._read_small(data, ArchiveLimits())
        assert small is not None
        assert outcome(small) == streaming(data) == outcome(read_archive(io.BytesIO(data)))


@pytest.mark.parametrize("data", [
    archive_of(entry("p.xml", pax_headers={"comment": "pax"}), fmt=tarfile.PAX_FORMAT),
    archive_of(entry("g" * 120 + ".xml")),  # GNU long name
    archive_of(entry(ENVELOPE), entry("link.pdf", kind=tarfile.SYMTYPE, linkname="/")),
    archive_of(entry(ENVELOPE, os.urandom(1100 * 1024))),  # inflates past the one-step limit
    gz(tar_of(entry(ENVELOPE))[:1024]) + gz(tar_of(entry(ENVELOPE))[1024:]),  # two gzip members
    valid_archive() + b"trailing",
    valid_archive()[:-4],
], ids=["pax", "gnu-long-name", "symlink", "large", "two-gzip-members", "trailing", "cut"])
def test_anything_unusual_is_left_to_the_streaming_reader(data: bytes) -> None:
    assert archive_module._read_small(data, ArchiveLimits()) is None
    assert outcome(lambda: read_archive(io.BytesIO(data))) == streaming(data)


def test_ustar_prefix_and_signed_only_checksum_are_left_to_the_streaming_reader() -> None:
    info, data = entry(ENVELOPE, b"<e/>")
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[345:352] = b"subdir\0"  # tarfile reads the name as subdir/EACT...
    prefixed = gz(sealed(header) + data.ljust(512, b"\0") + bytes(1024))
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[265:270] = b"\xe9t\xe9\xe9\0"  # uname bytes above 127: the signed checksum differs
    header[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in header)
    header[148:156] = b"%06o\0 " % signed
    signed_only = gz(bytes(header) + data.ljust(512, b"\0") + bytes(1024))
    for archive in (prefixed, signed_only):
        assert archive_module._read_small(archive, ArchiveLimits()) is None
        assert outcome(lambda a=archive: read_archive(io.BytesIO(a))) == streaming(archive)
    assert streaming(signed_only)[0] == "read"  # tarfile takes either checksum
    assert streaming(prefixed)[1] == "ARCHIVE_NESTED_PATH"


def test_members_of_a_small_archive_hash_lazily_and_open_read_only() -> None:
    archive = read_archive(io.BytesIO(valid_archive()))
    member = archive[DOCUMENT]
    stream = member.open()
    assert not stream.writable() and stream.read(5) == b"%PDF-"
    expected = hashlib.sha256(member.read()).hexdigest()
    archive.close()
    assert member.sha256 == expected  # still known once the spools are closed
    assert archive.sha256 == hashlib.sha256(valid_archive()).hexdigest()


_NAMES = st.one_of(
    st.sampled_from([ENVELOPE, MESSAGE, DOCUMENT, "a.pdf", "b.xml", "", ".", "..", "../up.xml",
                     "a/b.xml", "/abs.xml", "C:x.xml", "back\\slash.xml", "bell\x07.xml",
                     "nul\x00.xml", "é.pdf", "dir/", "g" * 101, "n" * 256]),
    st.text(st.sampled_from("ab./\\:_-é\x01"), min_size=0, max_size=12))


@st.composite
def hostile_archives(draw: st.DrawFn) -> tuple[bytes, ArchiveLimits]:
    """Mostly plain archives, each flaw (name, type, format, tar or gzip damage, a limit just
    reached) drawn now and then, so that both readers meet both accepted and refused input."""

    def sometimes(label: str) -> bool:  # one time in eight
        return draw(st.sampled_from([False] * 7 + [True]), label=label)

    fmt = draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT]))
    plain = st.lists(st.sampled_from([ENVELOPE, MESSAGE, DOCUMENT, "a.pdf", "b.xml", "c-1_2.PDF"]),
                     min_size=0 if sometimes("empty") else 1, max_size=5, unique=True)
    buf, largest = io.BytesIO(), 0
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name in draw(plain):
            kind = draw(st.sampled_from([tarfile.AREGTYPE, tarfile.SYMTYPE, tarfile.DIRTYPE,
                                         tarfile.FIFOTYPE])) if sometimes("kind") \
                else tarfile.REGTYPE
            body = draw(st.binary(max_size=1500)) if kind in (tarfile.REGTYPE,
                                                              tarfile.AREGTYPE) else b""
            info = tarfile.TarInfo(draw(_NAMES) if sometimes("odd name") else name)
            info.type, info.size = kind, len(body)
            largest = max(largest, len(body))
            with contextlib.suppress(ValueError, UnicodeError):  # a name the format cannot hold
                tar.addfile(info, io.BytesIO(body))
    data = bytearray(buf.getvalue())
    if sometimes("flips"):
        for _ in range(draw(st.integers(1, 3))):
            index = draw(st.integers(0, len(data) - 1))
            data[index] = draw(st.sampled_from(b"\x00 0179\xff/\n=xgL5\x80"))
        if draw(st.booleans()):  # re-sealed: the damage reaches the fields behind the checksum
            for offset in range(0, len(data) - 511, 512):
                if data[offset + 257:offset + 262] == b"ustar":
                    data[offset:offset + 512] = sealed(data[offset:offset + 512])
    if sometimes("tar cut"):
        del data[len(data) - draw(st.integers(1, len(data))):]
    if sometimes("tar tail"):
        data += draw(st.sampled_from([bytes(512), b"junk" * 128]))
    if sometimes("two gzip members"):
        split = draw(st.integers(0, len(data)))
        packed = gz(bytes(data[:split])) + gz(bytes(data[split:]))
    else:
        packed = gz(bytes(data))
    if sometimes("gzip cut"):
        packed = packed[:len(packed) - draw(st.integers(1, len(packed)))]
    if sometimes("gzip tail"):
        packed += draw(st.sampled_from([b"\0", b"junk", gz(b"")]))
    limits = ArchiveLimits()
    if sometimes("limits"):  # each limit around what this archive needs
        limits = ArchiveLimits(
            max_compressed_bytes=len(packed) + draw(st.integers(-2, 2)),
            max_members=draw(st.integers(0, 5)),
            max_member_bytes=largest + draw(st.integers(-2, 2)),
            max_total_bytes=len(data) - 1024 + draw(st.integers(-600, 600)))
    return packed, limits


@pytest.mark.slow  # long property test
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_archives())
def test_read_archive_answers_exactly_as_the_streaming_reader(case: tuple[bytes, ArchiveLimits]
                                                              ) -> None:
    data, limits = case
    expected = streaming(data, limits)
    small = archive_module._read_small(data, limits)
    if small is not None:
        assert expected[0] == "read"
        assert outcome(small) == expected
    assert outcome(lambda: read_archive(io.BytesIO(data), limits)) == expected


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_plain_header_is_what_tarfile_reads(data: st.DataObject) -> None:
    info = tarfile.TarInfo(data.draw(_NAMES.filter(bool), label="name"))
    info.size = data.draw(st.integers(0, 8**11 - 1), label="size")
    fmt = data.draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]), label="format")
    try:
        header = bytearray(info.tobuf(fmt, "utf-8", "surrogateescape")[-512:])
    except ValueError:
        return  # a name this format cannot hold
    for _ in range(data.draw(st.integers(0, 4), label="edits")):
        index = data.draw(st.integers(100, 511), label="index")  # numbers, type, prefix...
        header[index] = data.draw(st.sampled_from(b"\x00 0179\xff\x80/x5g"), label="byte")
    block = sealed(header) if data.draw(st.booleans(), label="seal") else bytes(header)
    plain = archive_module._plain_file_header(block)
    if plain is None:
        return
    read = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")  # must not raise
    assert read.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE)
    assert read.size == plain[1]
    assert read.name == plain[0] or plain[0].endswith("/")  # a refused name either way


@given(st.binary(min_size=512, max_size=512))
def test_byte_sum_is_the_sum_of_the_bytes(block: bytes) -> None:
    assert archive_module._byte_sum(block) == sum(block)


@given(_NAMES)
def test_names_accepted_at_once_pass_every_rule(name: str) -> None:
    def verdict(check):  # type: ignore[no-untyped-def]
        try:
            check(name)
        except UnsafeArchive as error:
            return error.code, error.message_en, error.message_fr, error.field
        return "accepted"

    assert verdict(check_member_name) == verdict(archive_module._check_name_rules)
