"""Fuzzing the two parsers hostile bytes reach first: @ctes names and the archive reader.

Names: any text, hostile Unicode included (surrogates from undecodable tar names, controls,
non-ASCII digits), and several edits or splices of valid names → a value that formats back to
exactly the text, or an InvalidName naming its field; never another exception.
Archives: random edits of valid envelope archives, under or over the gzip layer, and random tar
structures (any entry type, lying sizes, any format, PAX records, trailing bytes) → members or
an UnsafeArchive; never another exception, and memory bounded whatever the input.
"""

from __future__ import annotations

import functools
import gzip
import io
import random
import tarfile
import tracemalloc

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from operator_sim.protocol.archive import read_archive
from operator_sim.protocol.errors import InvalidName, UnsafeArchive
from operator_sim.protocol.names import ArchiveName, EnveloppeName, IDActe, MessageFileName
from operator_sim.testing import corpus

from .corpus import pack
from .test_corpus import INTERNALS

MiB = 1024 * 1024
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
PARSERS = (IDActe, MessageFileName, EnveloppeName, ArchiveName)


# -- names --------------------------------------------------------------------------------------

def _valid_names() -> dict[type, list[str]]:
    """Real names of each kind, from envelopes the corpus builds (budget, 02A, 974, lower case)."""
    names: dict[type, list[str]] = {parser: [] for parser in PARSERS}
    for case in corpus.CASES:
        if not case.valid:
            continue
        name, data = case.make()
        names[ArchiveName].append(name)
        with read_archive(io.BytesIO(data)) as archive:
            envelope, *files = archive.names
        names[EnveloppeName].append(envelope)
        names[MessageFileName].extend(files)
        names[IDActe].extend(str(MessageFileName.parse(f).id_acte) for f in files)
    names[EnveloppeName].append("ANO_EACT--SPREF0341-491011698-20240115-3.xml")
    names[MessageFileName].append("034-491011698----7-1_0.xml")
    return names


VALID = _valid_names()
# Characters that matter to the grammar, and characters that are hostile to naive code.
HOSTILE_CHARS = st.sampled_from([
    *"-_.0123456789AZaz/\\ \t\n\x00\x7f", "\udce9", "\ud800", "\u0662", "\uff11", "\u2163", "\u00df",
    "\u00e9", "\u202e", "\ufeff", "..", "tar.gz", "ANO_", "02A"])
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=120)


@st.composite
def edited(draw: st.DrawFn, parser: type) -> str:
    """A valid name with 1 to 5 edits: replace, delete, insert, duplicate a slice, or splice."""
    text = draw(st.sampled_from(VALID[parser]))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        action = draw(st.sampled_from(["replace", "delete", "insert", "duplicate", "splice"]))
        if action == "replace":
            text = text[:i] + draw(HOSTILE_CHARS) + text[i + 1:]
        elif action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + draw(HOSTILE_CHARS) + text[i:]
        elif action == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            other = draw(st.sampled_from([n for names in VALID.values() for n in names]))
            text = text[:i] + other[draw(st.integers(0, len(other))):]
    return text


def _parse_or_refuse(parser: type, text: str) -> None:
    try:
        value = parser.parse(text)
    except InvalidName as refusal:
        assert refusal.field, (text, refusal)
        assert refusal.code.startswith("NAME_") and refusal.message_fr and refusal.message_en
        return
    assert str(value) == text


def test_every_valid_name_sample_parses_and_formats_back() -> None:
    for parser, names in VALID.items():
        assert names, parser
        for text in names:
            assert str(parser.parse(text)) == text


@FUZZ
@given(parser=st.sampled_from(PARSERS), text=ANY_TEXT)
def test_any_text_parses_back_exactly_or_is_refused_naming_a_field(parser: type, text: str) -> None:
    _parse_or_refuse(parser, text)


@FUZZ
@given(data=st.data(), parser=st.sampled_from(PARSERS))
def test_edited_valid_names_parse_back_exactly_or_are_refused_naming_a_field(
        data: st.DataObject, parser: type) -> None:
    _parse_or_refuse(parser, data.draw(edited(parser), label="text"))


# -- archives -----------------------------------------------------------------------------------

@functools.cache
def _envelopes() -> tuple[bytes, ...]:
    """Compressed valid archives: a délibération with its annex, and a budget."""
    return (pack(corpus.build()), pack(corpus.build(corpus.budget_request())))


def _read_within_memory(data: bytes, limit: int = 16 * MiB) -> None:
    """Read `data`: members, or an UnsafeArchive; never anything else, never much memory."""
    tracemalloc.start()
    try:
        try:
            with read_archive(io.BytesIO(data)) as archive:
                for member in archive:
                    with member.open() as stream:
                        while stream.read(64 * 1024):
                            pass
        except UnsafeArchive as refusal:  # its messages reach HTTP answers: no Python internals
            assert refusal.code.startswith("ARCHIVE_") and refusal.message_fr
            assert not INTERNALS.search(refusal.message_en + refusal.message_fr), refusal
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"{peak} bytes for a {len(data)}-byte archive"


@st.composite
def byte_edits(draw: st.DrawFn, data: bytes) -> bytes:
    """1 to 6 edits of `data`: flip, insert, delete, duplicate a slice, truncate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(out)))
        j = draw(st.integers(i, min(len(out), i + 700)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        if action == "flip" and i < len(out):
            out[i] = draw(st.integers(0, 255))
        elif action == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif action == "delete":
            del out[i:j]
        elif action == "duplicate":
            out[j:j] = out[i:j]
        elif action == "truncate":
            del out[i:]
    return bytes(out)


@FUZZ
@given(data=st.data())
def test_edited_compressed_archives_give_members_or_unsafe_archive(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(_envelopes()), label="archive")
    _read_within_memory(data.draw(byte_edits(original), label="edited"))


@FUZZ
@given(data=st.data())
def test_edited_tar_under_a_valid_gzip_gives_members_or_unsafe_archive(data: st.DataObject) -> None:
    tar = gzip.decompress(data.draw(st.sampled_from(_envelopes()), label="archive"))
    _read_within_memory(gzip.compress(data.draw(byte_edits(tar), label="edited"), mtime=0))


ENTRY_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
               tarfile.DIRTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE,
               tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE, b"Z", b"\x00")
MEMBER_NAMES = st.one_of(
    st.sampled_from(VALID[MessageFileName] + VALID[EnveloppeName]),
    st.sampled_from(["", ".", "..", "../x.pdf", "/etc/passwd", "a/b.pdf", "a\\b.pdf", "C:x",
                     "d\udce9lib.pdf", "x\x00y", "n" * 300]),
    st.text(st.characters(exclude_categories=()), max_size=40))


@st.composite
def tar_structures(draw: st.DrawFn) -> bytes:
    """A hand-assembled tar: random entries and formats, sizes that may lie, PAX records,
    with or without its end marker, maybe trailing bytes, in one or several gzip members."""
    fmt = draw(st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
    blocks = []
    for _ in range(draw(st.integers(0, 6))):
        info = tarfile.TarInfo(draw(MEMBER_NAMES))
        info.type = draw(st.sampled_from(ENTRY_TYPES))
        content = draw(st.one_of(st.binary(max_size=3000),
                                 st.integers(0, 3 * MiB).map(bytes)))  # zeros: a small bomb
        info.size = max(0, len(content) + draw(st.sampled_from([0, 0, 0, -1, 1, 512, 10 * MiB])))
        info.linkname = draw(MEMBER_NAMES) if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
        info.mtime = draw(st.integers(-(2**33), 2**33))
        if fmt == tarfile.PAX_FORMAT and draw(st.booleans()):
            info.pax_headers = draw(st.dictionaries(
                st.sampled_from(["path", "size", "linkpath", "comment", "mtime", "uid", "x"]),
                st.text(st.characters(exclude_categories=()), max_size=30), max_size=3))
        try:
            header = info.tobuf(fmt, "utf-8", "surrogateescape")
        except (ValueError, UnicodeError, OverflowError):
            assume(False)
        blocks.append(header + content + bytes(-len(content) % 512))
    tar = b"".join(blocks) + draw(st.sampled_from([bytes(1024), b"", bytes(512),
                                                   bytes(1024) + b"hidden"]))
    cut = draw(st.integers(1, 3))
    step = -(-len(tar) // cut) or 1
    return b"".join(gzip.compress(tar[i:i + step], mtime=0) for i in range(0, max(len(tar), 1), step))


@FUZZ
@given(archive=tar_structures())
def test_random_tar_structures_give_members_or_unsafe_archive(archive: bytes) -> None:
    _read_within_memory(archive)


def test_many_small_members_do_not_all_stay_in_memory() -> None:
    """48 members of 1 MiB, each at the in-memory spool size, inflated at a ratio near 20 (under
    the bomb limit): the reader must not hold them all in memory, or 300 such members (the total
    the limits allow) would pin 300 MiB per request."""
    rng = random.Random(5)
    member = b"".join(bytes([byte]) + bytes(63) for byte in rng.randbytes(MiB // 64))
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for i in range(48):
            info = tarfile.TarInfo(f"piece-{i}.pdf")
            info.size = len(member)
            tar.addfile(info, io.BytesIO(member))
    _read_within_memory(raw.getvalue())
