"""Safe reader and writer of @ctes `.tar.gz` envelope archives (flat gzip -9 tars).

Streams everything: compressed bytes are counted and hashed as they are read, inflated a bounded
step at a time (ratio and size checked at every step), and each member is spooled to a temporary
file while hashed. Never extracts to the file system, never follows a link, never trusts a header
size, and never lets a tarfile/zlib exception escape: every refusal is an `UnsafeArchive`.

Small archives (the usual envelope: a few KiB) first take a one-step path: read whole, inflated
at most SMALL_ARCHIVE_BYTES, plain regular-file headers parsed directly. It only ever accepts
what the streaming reader accepts, with the same members; anything else (a refusal, a PAX or
GNU header, a link...) is handed back to the streaming reader, so errors are its errors.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO, Self, TypeVar, cast

from .errors import UnsafeArchive

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "SPOOL_MEMORY_BYTES",
    "ArchiveLimits",
    "ArchiveMember",
    "EnvelopeArchive",
    "UnsafeArchive",
    "check_member_name",
    "read_archive",
    "write_archive",
]

MiB = 1024 * 1024

SPOOL_MEMORY_BYTES = 1 * MiB
"""A member stays in memory up to this size; larger members are spooled to a temporary file."""

SPOOL_MEMORY_TOTAL_BYTES = 8 * MiB
"""Members stay in memory while their sizes add up to this; the next ones go to temporary files
(hundreds of 1 MiB members would otherwise pin the whole inflated archive in memory)."""

SMALL_ARCHIVE_BYTES = SPOOL_MEMORY_BYTES
"""Archives up to this size, compressed and inflated, may be read in one step (see module doc)."""

MAX_MEMBER_NAME_BYTES = 255
"""Longest member name (UTF-8 bytes), the usual file-system NAME_MAX."""

_CHUNK = 64 * 1024  # compressed bytes read, and decompressed bytes produced, per step
_RATIO_GRACE = 1 * MiB  # the ratio is only enforced once this much was decompressed
_MAX_EXTENDED_HEADER = 4096  # largest PAX / GNU long-name payload accepted
_HEADER_BUDGET = 64 * 1024  # tar bytes tarfile may read to parse one member's header chain
_GZIP_MAGIC = b"\x1f\x8b"
_T = TypeVar("_T")
_LINK_TYPES = (tarfile.SYMTYPE, tarfile.LNKTYPE)
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_EXTENDED_TYPES = (*_PAX_TYPES, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
# Headers that say something of the one member after them (not PAX global headers).
_MEMBER_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                          tarfile.GNUTYPE_LONGLINK)
_TYPEFLAG_OFFSET = 156  # of the typeflag byte in a tar header block
_SPECIAL_KINDS = {
    tarfile.CHRTYPE: ("character device", "périphérique caractère"),
    tarfile.BLKTYPE: ("block device", "périphérique bloc"),
    tarfile.FIFOTYPE: ("FIFO (named pipe)", "FIFO (tube nommé)"),
    tarfile.CONTTYPE: ("contiguous file", "fichier contigu"),
    tarfile.GNUTYPE_SPARSE: ("sparse file", "fichier creux"),
}


@dataclass(frozen=True)
class ArchiveLimits:
    """What the reader accepts before refusing an archive; every limit is checked while streaming."""

    max_compressed_bytes: int = 150 * MiB
    """Largest `.tar.gz` accepted, as read (S²LOW `ACTES_ARCHIVE_MAX_SIZE` is 150 MiB)."""

    max_members: int = 500
    """Largest number of files in the archive (envelope, messages, documents)."""

    max_member_bytes: int = 150 * MiB
    """Largest single file, decided from its tar header before any of its data is read."""

    max_total_bytes: int = 300 * MiB
    """Largest uncompressed tar stream (member data, headers and padding)."""

    max_ratio: int = 100
    """Largest uncompressed/compressed ratio. Enforced at every inflate step once more than
    1 MiB was decompressed: XML compresses 10–30×, PDFs barely, a gzip of zeros ~1000×."""


# --------------------------------------------------------------------------- refusals


def _refusal(code: str, en: str, fr: str, field: str | None = None) -> UnsafeArchive:
    return UnsafeArchive(en, fr, code=code, field=field)


def _show(name: str) -> str:
    """A member name fit for a message: quoted, control characters escaped, long names cut."""
    return repr(name if len(name) <= 80 else name[:80] + "…")


# Unicode categories Cc (C0 and C1 controls) and Cs (surrogates: undecodable UTF-8 bytes).
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Names every rule below accepts (one ASCII segment, no colon, no backslash), checked at once.
_PLAIN_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_MEMBER_NAME_BYTES}}}")


def check_member_name(name: str) -> None:
    """Refuse a member name an envelope archive must not hold (flat, printable, ≤ 255 bytes).

    The one name rule, used by both `read_archive` and `write_archive`.
    """
    if not _PLAIN_NAME.fullmatch(name) or name in (".", ".."):
        _check_name_rules(name)


def _check_name_rules(name: str) -> None:
    """Each rule in turn, for the names _PLAIN_NAME does not accept at once: the precise refusal."""
    shown = _show(name)

    def refuse(code: str, en: str, fr: str) -> UnsafeArchive:
        return _refusal(code, f"member {shown}: {en}", f"membre {shown} : {fr}", name)

    if not name or name == ".":
        raise refuse("ARCHIVE_BAD_MEMBER_NAME", "empty member name", "nom de membre vide")
    found = _CONTROL_OR_SURROGATE.search(name)
    if found is not None:
        bad = found.group()
        if bad == "\x00":
            raise refuse("ARCHIVE_BAD_MEMBER_NAME", "the name contains a NUL character",
                         "le nom contient un caractère NUL")
        if unicodedata.category(bad) == "Cs":
            raise refuse("ARCHIVE_BAD_MEMBER_NAME", "the name is not valid UTF-8",
                         "le nom n'est pas de l'UTF-8 valide")
        raise refuse("ARCHIVE_BAD_MEMBER_NAME",
                     f"the name contains the control character U+{ord(bad):04X}",
                     f"le nom contient le caractère de contrôle U+{ord(bad):04X}")
    size = len(name.encode("utf-8"))
    if size > MAX_MEMBER_NAME_BYTES:
        raise refuse("ARCHIVE_BAD_MEMBER_NAME",
                     f"the name is {size} bytes long, more than {MAX_MEMBER_NAME_BYTES}",
                     f"le nom fait {size} octets, plus de {MAX_MEMBER_NAME_BYTES}")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise refuse("ARCHIVE_ABSOLUTE_PATH", "absolute path", "chemin absolu")
    if "\\" in name or ".." in name.split("/"):
        raise refuse("ARCHIVE_TRAVERSAL", "path traversal ('..' segment or backslash)",
                     "remontée de répertoire (segment '..' ou barre oblique inverse)")
    if "/" in name:
        raise refuse("ARCHIVE_NESTED_PATH",
                     "the name contains '/': envelope archives are flat",
                     "le nom contient '/' : une archive d'enveloppe est plate")


def _check_entry(info: tarfile.TarInfo, seen: dict[str, ArchiveMember], position: int,
                 limits: ArchiveLimits) -> None:
    """Refuse a member from its header alone, before any of its data is read."""
    name, shown = info.name, _show(info.name)
    if info.size < 0:  # a PAX size record can say anything
        raise _refusal("ARCHIVE_CORRUPT", f"member {shown} declares a negative size",
                       f"le membre {shown} déclare une taille négative", name)
    if info.type in _LINK_TYPES:
        kind_en, kind_fr = (("symbolic link", "lien symbolique") if info.type == tarfile.SYMTYPE
                            else ("hard link", "lien physique"))
        target = _show(info.linkname)
        raise _refusal(
            "ARCHIVE_LINK",
            f"member {shown} is a {kind_en} to {target}: envelope archives hold regular files only",
            f"le membre {shown} est un {kind_fr} vers {target} : une archive d'enveloppe ne "
            "contient que des fichiers ordinaires", name)
    if info.type == tarfile.DIRTYPE:
        raise _refusal(
            "ARCHIVE_DIRECTORY",
            f"member {shown} is a directory: envelope archives are flat",
            f"le membre {shown} est un répertoire : une archive d'enveloppe est plate", name)
    if info.type not in _FILE_TYPES or info.sparse is not None:
        kind_en, kind_fr = _SPECIAL_KINDS.get(
            tarfile.GNUTYPE_SPARSE if info.sparse is not None else info.type,
            (f"tar entry of type {info.type!r}", f"entrée tar de type {info.type!r}"))
        raise _refusal(
            "ARCHIVE_SPECIAL_MEMBER",
            f"member {shown} is a {kind_en}, not a regular file",
            f"le membre {shown} est un(e) {kind_fr}, pas un fichier ordinaire", name)
    check_member_name(name)
    if name in seen:
        raise _refusal(
            "ARCHIVE_DUPLICATE_MEMBER", f"member {shown} appears twice in the archive",
            f"le membre {shown} figure deux fois dans l'archive", name)
    if info.size > limits.max_member_bytes:
        raise _refusal(
            "ARCHIVE_MEMBER_TOO_LARGE",
            f"member {shown} declares {info.size} bytes, more than the "
            f"{limits.max_member_bytes}-byte limit",
            f"le membre {shown} déclare {info.size} octets, plus que la limite de "
            f"{limits.max_member_bytes} octets", name)
    if position + info.size > limits.max_total_bytes:
        raise _refusal(
            "ARCHIVE_TOO_LARGE",
            f"member {shown} brings the uncompressed archive beyond "
            f"{limits.max_total_bytes} bytes",
            f"le membre {shown} porte l'archive décompressée au-delà de "
            f"{limits.max_total_bytes} octets", name)


# --------------------------------------------------------------------------- streams


class _Source:
    """The caller's compressed bytes: counted, hashed, bounded by max_compressed_bytes."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int) -> bytes:
        data = bytes(self._raw.read(n))
        self.count += len(data)
        self._hash.update(data)
        if self.count > self._limit:
            raise _refusal(
                "ARCHIVE_TOO_LARGE",
                f"the compressed archive is larger than {self._limit} bytes",
                f"l'archive compressée dépasse {self._limit} octets")
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _zlib_refusal(exc: zlib.error) -> UnsafeArchive:
    text = str(exc)
    if "incorrect data check" in text or "incorrect length check" in text:
        return _refusal(
            "ARCHIVE_TRUNCATED",
            f"gzip checksum mismatch, the archive is damaged or incomplete ({text})",
            f"somme de contrôle gzip erronée, l'archive est abîmée ou incomplète ({text})")
    return _refusal("ARCHIVE_CORRUPT", f"invalid gzip data ({text})",
                    f"données gzip invalides ({text})")


class _TarStream:
    """The decompressed tar bytes, produced on demand: what tarfile reads, forward only.

    Checks the gzip trailer (CRC-32 and length) of each gzip member, refuses data after the last
    one, and enforces max_total_bytes and max_ratio at every inflate step. `budget`, when set,
    bounds how much tarfile may read while it parses one header chain.
    """

    def __init__(self, source: _Source, limits: ArchiveLimits, head: bytes) -> None:
        self._src = source
        self._limits = limits
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._tail = head  # compressed bytes read but not yet inflated
        self._buf = bytearray()  # inflated bytes; those before _off were already handed out
        self._off = 0
        self._pos = 0
        self._done = False
        self.produced = 0
        self.budget: int | None = None

    # file-object interface used by tarfile
    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or pos < self._pos:
            raise _refusal("ARCHIVE_CORRUPT", "tar headers point backwards in the archive",
                           "les en-têtes tar pointent en arrière dans l'archive")
        while self._pos < pos:
            if not self.read(min(_CHUNK, pos - self._pos)):
                break
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise _refusal("ARCHIVE_CORRUPT", "unbounded read of tar data",
                           "lecture non bornée des données tar")
        if self.budget is not None:
            self.budget -= n
            if self.budget < 0:
                raise _refusal(
                    "ARCHIVE_CORRUPT",
                    f"tar header chain longer than {_HEADER_BUDGET} bytes at byte {self._pos}",
                    f"chaîne d'en-têtes tar de plus de {_HEADER_BUDGET} octets à l'octet "
                    f"{self._pos}")
        self._fill(n)
        out = bytes(self._buf[self._off:self._off + n])
        self._off += len(out)
        self._pos += len(out)
        return out

    def peek(self, n: int) -> bytes:
        """The next n bytes (fewer at the end) without consuming them."""
        self._fill(n)
        return bytes(self._buf[self._off:self._off + n])

    def drain_end(self) -> None:
        """After the end-of-archive block: only NUL padding may follow, up to the gzip end."""
        while chunk := self.read(_CHUNK):
            if chunk.count(0) != len(chunk):
                raise _refusal(
                    "ARCHIVE_CORRUPT",
                    "data after the tar end-of-archive marker (hidden members?)",
                    "données après la marque de fin d'archive tar (membres cachés ?)")

    # inflating
    def _fill(self, n: int) -> None:
        if len(self._buf) - self._off >= n:
            return
        del self._buf[:self._off]  # compact once per refill, not once per read
        self._off = 0
        while len(self._buf) < n:
            chunk = self._inflate_some()
            if not chunk:
                return
            self._buf += chunk

    def _inflate_some(self) -> bytes:
        while not self._done:
            if self._inflater.eof:
                self._next_gzip_member()
                continue
            data, self._tail = self._tail or self._src.read(_CHUNK), b""
            out = self._inflate(data)
            if out:
                return out
            if not data and not self._tail and not self._inflater.eof:
                raise _refusal("ARCHIVE_TRUNCATED", "the gzip stream ends abruptly",
                               "le flux gzip s'interrompt avant sa fin")
        return b""

    def _inflate(self, data: bytes) -> bytes:
        try:
            out = self._inflater.decompress(data, _CHUNK)
        except zlib.error as exc:
            raise _zlib_refusal(exc) from None
        self._tail = self._inflater.unconsumed_tail
        self.produced += len(out)
        limits = self._limits
        if self.produced > _RATIO_GRACE and self.produced > limits.max_ratio * self._src.count:
            raise _refusal(
                "ARCHIVE_BOMB",
                f"compression ratio above {limits.max_ratio} ({self.produced} bytes out of "
                f"{self._src.count}): decompression bomb",
                f"taux de compression supérieur à {limits.max_ratio} ({self.produced} octets "
                f"pour {self._src.count}) : bombe de décompression")
        if self.produced > limits.max_total_bytes:
            raise _refusal(
                "ARCHIVE_TOO_LARGE",
                f"the uncompressed archive is larger than {limits.max_total_bytes} bytes",
                f"l'archive décompressée dépasse {limits.max_total_bytes} octets")
        return out

    def _next_gzip_member(self) -> None:
        rest = self._inflater.unused_data
        while len(rest) < len(_GZIP_MAGIC):
            more = self._src.read(_CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            self._done = True
        elif rest.startswith(_GZIP_MAGIC):  # RFC 1952: a gzip file is a series of members
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._tail = rest
        else:
            raise _refusal("ARCHIVE_CORRUPT", "data after the end of the gzip stream",
                           "données après la fin du flux gzip")


# --------------------------------------------------------------------------- tar headers


_PAX_LENGTH = re.compile(rb"[1-9][0-9]{0,5} ")
_LONG_DIGIT_RUN = re.compile(rb"[0-9]{33}")


def _pax_well_formed(block: bytes, size: int) -> bool:
    """Strict, linear-time check of a PAX payload, so tarfile's own regexes never backtrack."""
    records, padding = block[:size], block[size:]
    if padding.count(0) != len(padding) or _LONG_DIGIT_RUN.search(records):
        return False
    pos = 0
    while pos < len(records):
        match = _PAX_LENGTH.match(records, pos)
        if match is None:
            return False
        end = pos + int(match.group()[:-1])
        if end > len(records) or records[end - 1] != 0x0A:
            return False
        if records.find(b"=", match.end(), end) <= match.end():
            return False
        pos = end
    return True


_PAX_NAME_KEYS = (b"path", b"GNU.sparse.name")


def _pax_names(records: bytes) -> int:
    """How many records of a well-formed PAX payload name the member: tarfile keeps the last
    one, GNU tar prefers GNU.sparse.name to path."""
    count, pos = 0, 0
    while pos < len(records):
        space = records.index(b" ", pos)
        end = pos + int(records[pos:space])
        count += records[space + 1:records.index(b"=", space)] in _PAX_NAME_KEYS
        pos = end
    return count


# tarfile raises these header faults but keeps them out of its documented API, so typeshed
# does not declare them; all derive from tarfile.HeaderError.
_EOFHeaderError: type[tarfile.HeaderError] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_EmptyHeaderError: type[tarfile.HeaderError] = tarfile.EmptyHeaderError  # type: ignore[attr-defined]
_TruncatedHeaderError: type[tarfile.HeaderError] = \
    tarfile.TruncatedHeaderError  # type: ignore[attr-defined]
_InvalidHeaderError: type[tarfile.HeaderError] = \
    tarfile.InvalidHeaderError  # type: ignore[attr-defined]


class _StrictTarInfo(tarfile.TarInfo):
    """TarInfo that turns every header fault into a precise refusal instead of a silent stop.

    Plain tarfile treats an invalid header after the first as the end of the archive, reads
    extended headers of any size into memory and parses PAX records with backtracking regexes.
    """

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.size < 0:
            raise _refusal("ARCHIVE_CORRUPT", "tar header with a negative size",
                           "en-tête tar de taille négative")
        if info.type in _EXTENDED_TYPES and info.size > _MAX_EXTENDED_HEADER:
            if info.type == tarfile.GNUTYPE_LONGNAME:
                raise _refusal(
                    "ARCHIVE_BAD_MEMBER_NAME",
                    f"a member name of {info.size} bytes, more than {MAX_MEMBER_NAME_BYTES}",
                    f"un nom de membre de {info.size} octets, plus de {MAX_MEMBER_NAME_BYTES}")
            raise _refusal(
                "ARCHIVE_CORRUPT",
                f"extended tar header of {info.size} bytes (limit {_MAX_EXTENDED_HEADER})",
                f"en-tête tar étendu de {info.size} octets (limite {_MAX_EXTENDED_HEADER})")
        return info

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        start = tarfile_.fileobj.tell()
        try:
            return super().fromtarfile(tarfile_)
        except _EOFHeaderError:  # a NUL block: the end-of-archive marker
            raise
        except (_EmptyHeaderError, _TruncatedHeaderError):
            if start == 0:
                raise _refusal("ARCHIVE_NOT_TAR",
                               "the gzip data is not a tar archive (shorter than one header)",
                               "les données gzip ne sont pas une archive tar (moins d'un "
                               "en-tête)") from None
            raise _refusal("ARCHIVE_TRUNCATED",
                           f"the tar data ends at byte {start} without its end-of-archive marker",
                           f"les données tar s'arrêtent à l'octet {start} sans marque de fin "
                           "d'archive") from None
        except _InvalidHeaderError as exc:
            if start == 0:
                raise _refusal("ARCHIVE_NOT_TAR",
                               f"the gzip data is not a tar archive ({exc})",
                               f"les données gzip ne sont pas une archive tar ({exc})") from None
            raise _refusal("ARCHIVE_CORRUPT", f"invalid tar header at byte {start} ({exc})",
                           f"en-tête tar invalide à l'octet {start} ({exc})") from None
        except tarfile.HeaderError as exc:
            raise _refusal("ARCHIVE_CORRUPT", f"invalid tar header at byte {start} ({exc})",
                           f"en-tête tar invalide à l'octet {start} ({exc})") from None

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        # tarfile's documented hook for subclasses: vet a PAX payload before tarfile parses it.
        stream = cast(_TarStream, tarfile_.fileobj)  # the only stream _read_members opens
        if self.type in _PAX_TYPES:
            wanted = -(-self.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            block = stream.peek(wanted)
            if len(block) < wanted:
                raise _refusal("ARCHIVE_TRUNCATED", "the tar data ends inside a PAX header",
                               "les données tar s'arrêtent dans un en-tête PAX")
            if not _pax_well_formed(block, self.size):
                raise _refusal("ARCHIVE_CORRUPT", "malformed PAX extended header",
                               "en-tête étendu PAX mal formé")
            if _pax_names(block[:self.size]) > 1:
                at = stream.tell() - tarfile.BLOCKSIZE
                raise _refusal(
                    "ARCHIVE_AMBIGUOUS_NAME",
                    f"a PAX header at byte {at} names its member twice (path, GNU.sparse.name): "
                    "tar readers disagree on which name wins",
                    f"un en-tête PAX à l'octet {at} nomme deux fois son membre (path, "
                    "GNU.sparse.name) : les lecteurs tar ne s'accordent pas sur le nom retenu")
        if self.type in _MEMBER_EXTENDED_TYPES:
            self._refuse_chained(stream)
        return super()._proc_member(tarfile_)  # type: ignore[misc]  # hook absent from typeshed

    def _refuse_chained(self, stream: _TarStream) -> None:
        """Refuse an extended header (GNU long name or link, PAX) followed by another one.

        Readers disagree on which of two such headers names the member: tarfile keeps the
        first, GNU tar the last (two long names; a long name then a PAX `path`; two PAX
        headers), so the préfecture could unpack a file the validator never saw, such as
        `../../evil.pdf`. One extended header per member is all an archive ever needs.
        """
        data = -(-self.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        following = stream.peek(data + tarfile.BLOCKSIZE)[data:]
        if len(following) == tarfile.BLOCKSIZE and \
                following[_TYPEFLAG_OFFSET:_TYPEFLAG_OFFSET + 1] in _MEMBER_EXTENDED_TYPES:
            at = stream.tell() - tarfile.BLOCKSIZE
            raise _refusal(
                "ARCHIVE_AMBIGUOUS_NAME",
                f"two extended tar headers in a row at byte {at} (long name or PAX): tar "
                "readers disagree on which one names the member",
                f"deux en-têtes tar étendus à la suite à l'octet {at} (nom long ou PAX) : "
                "les lecteurs tar ne s'accordent pas sur celui qui nomme le membre")


def _parse_header(stream: _TarStream, parse: Callable[[], _T]) -> _T:
    """Run one tarfile header step with a read budget; map whatever it raises to a refusal."""
    stream.budget = _HEADER_BUDGET
    try:
        return parse()
    except UnsafeArchive:
        raise
    except tarfile.ReadError:
        raise _refusal("ARCHIVE_TRUNCATED", "the tar data ends abruptly",
                       "les données tar s'interrompent brutalement") from None
    except Exception as exc:  # any other tarfile fault on hostile bytes
        raise _refusal("ARCHIVE_CORRUPT", f"unreadable tar header ({type(exc).__name__}: {exc})",
                       f"en-tête tar illisible ({type(exc).__name__} : {exc})") from None
    finally:
        stream.budget = None


# --------------------------------------------------------------------------- reading


class _SpoolView(io.RawIOBase):
    """An independent read-only cursor on a member's spool (closing it keeps the spool open)."""

    def __init__(self, spool: IO[bytes], size: int) -> None:
        super().__init__()
        self._spool = spool
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        self._spool.seek(self._pos)
        data = self._spool.read(min(len(view), max(self._size - self._pos, 0)))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


class ArchiveMember:
    """One regular file of an archive, spooled: name, size, SHA-256, and its bytes on demand."""

    __slots__ = ("_digest", "_spool", "name", "size")

    def __init__(self, name: str, size: int, sha256: str | bytes, spool: IO[bytes]) -> None:
        """`sha256`: the hex digest, or the member's bytes, hashed when first asked."""
        self.name = name
        self.size = size
        self._digest = sha256
        self._spool = spool

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the member's bytes."""
        if not isinstance(self._digest, str):
            self._digest = hashlib.sha256(self._digest).hexdigest()
        return self._digest

    @property
    def on_disk(self) -> bool:
        """True when the member was spooled to a file (larger than SPOOL_MEMORY_BYTES, or past
        SPOOL_MEMORY_TOTAL_BYTES of members in memory)."""
        return not isinstance(self._spool, io.BytesIO)

    def read(self) -> bytes:
        """The whole member (mind its size: prefer `open()` for large documents)."""
        self._spool.seek(0)
        return self._spool.read()

    def head(self, n: int = 8) -> bytes:
        """The first n bytes, for magic-number checks (`%PDF-`, `<?xml`...)."""
        self._spool.seek(0)
        return self._spool.read(n)

    def open(self) -> BinaryIO:
        """A fresh read-only binary stream at offset 0; each call gives an independent cursor."""
        if self._spool.closed:
            raise ValueError(f"archive member {self.name!r} is closed")
        if isinstance(self._spool, io.BytesIO):  # its bytes are shared, not copied
            return io.BufferedReader(io.BytesIO(self._spool.getvalue()))
        return io.BufferedReader(_SpoolView(self._spool, self.size))

    def close(self) -> None:
        self._spool.close()

    def __repr__(self) -> str:
        return f"ArchiveMember({self.name!r}, size={self.size}, sha256={self.sha256[:12]}…)"


class EnvelopeArchive:
    """A read archive: its members in archive order, looked up by name; closes their spools.

    Iterating yields `ArchiveMember`s; `in` and `[]` take member names.
    """

    def __init__(self, members: Iterable[ArchiveMember], *, sha256: str | bytes,
                 compressed_size: int) -> None:
        """`sha256`: the hex digest, or the compressed bytes, hashed when first asked."""
        self._members = {member.name: member for member in members}
        self._digest = sha256
        self.compressed_size = compressed_size

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the compressed archive bytes, as read."""
        if not isinstance(self._digest, str):
            self._digest = hashlib.sha256(self._digest).hexdigest()
        return self._digest

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._members)

    @property
    def members(self) -> tuple[ArchiveMember, ...]:
        return tuple(self._members.values())

    @property
    def total_size(self) -> int:
        """Sum of the member sizes (uncompressed)."""
        return sum(member.size for member in self._members.values())

    def __getitem__(self, name: str) -> ArchiveMember:
        return self._members[name]

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[ArchiveMember]:
        return iter(tuple(self._members.values()))

    def __len__(self) -> int:
        return len(self._members)

    def close(self) -> None:
        for member in self._members.values():
            member.close()

    def __enter__(self) -> EnvelopeArchive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EnvelopeArchive({len(self)} members, sha256={self.sha256[:12]}…)"


def _spool_member(stream: _TarStream, info: tarfile.TarInfo,
                  spool_dir: str | os.PathLike[str] | None, memory_left: int) -> ArchiveMember:
    # The header gives the size up front: small members go straight to memory, large ones to disk.
    if info.size <= min(SPOOL_MEMORY_BYTES, memory_left):
        spool: IO[bytes] = io.BytesIO()
    else:
        spool = tempfile.TemporaryFile(mode="w+b", dir=spool_dir)  # noqa: SIM115 - owned by the member
    try:
        digest = hashlib.sha256()
        stream.seek(info.offset_data)
        remaining = info.size
        while remaining:
            chunk = stream.read(min(_CHUNK, remaining))
            if not chunk:
                shown = _show(info.name)
                got = info.size - remaining
                raise _refusal(
                    "ARCHIVE_TRUNCATED",
                    f"member {shown} ends after {got} of its {info.size} bytes",
                    f"le membre {shown} s'arrête après {got} de ses {info.size} octets",
                    info.name)
            digest.update(chunk)
            spool.write(chunk)
            remaining -= len(chunk)
    except BaseException:
        spool.close()
        raise
    return ArchiveMember(info.name, info.size, digest.hexdigest(), spool)


def _read_members(stream: _TarStream, limits: ArchiveLimits,
                  spool_dir: str | os.PathLike[str] | None,
                  members: dict[str, ArchiveMember]) -> None:
    tar = _parse_header(stream, lambda: tarfile.TarFile(
        fileobj=stream, mode="r", tarinfo=_StrictTarInfo,  # type: ignore[arg-type]
        encoding="utf-8", errors="surrogateescape"))
    in_memory = 0
    while (info := _parse_header(stream, tar.next)) is not None:
        if len(members) >= limits.max_members:
            raise _refusal(
                "ARCHIVE_TOO_MANY_MEMBERS",
                f"more than {limits.max_members} members (at {_show(info.name)})",
                f"plus de {limits.max_members} membres (à {_show(info.name)})", info.name)
        _check_entry(info, members, stream.tell(), limits)
        member = _spool_member(stream, info, spool_dir, SPOOL_MEMORY_TOTAL_BYTES - in_memory)
        in_memory += 0 if member.on_disk else member.size
        members[info.name] = member
    stream.drain_end()
    if not members:
        raise _refusal("ARCHIVE_EMPTY", "the archive holds no file",
                       "l'archive ne contient aucun fichier")


def read_archive(source: str | os.PathLike[str] | BinaryIO,
                 limits: ArchiveLimits = ArchiveLimits(), *,
                 spool_dir: str | os.PathLike[str] | None = None) -> EnvelopeArchive:
    """Read and check an envelope archive from a path or a binary file object (left open).

    Returns the members spooled (memory up to SPOOL_MEMORY_BYTES each, then files in
    `spool_dir`); close the result, or use it as a context manager. Raises `UnsafeArchive`
    (stable `code`, bilingual message, `field` = member name when one is at fault).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=0) as raw:  # every read is a 64 KiB step anyway
            return _read(raw, limits, spool_dir)
    return _read(source, limits, spool_dir)


def _read(raw: IO[bytes], limits: ArchiveLimits,
          spool_dir: str | os.PathLike[str] | None) -> EnvelopeArchive:
    start, data = _small_input(raw)
    if data is not None:
        archive = _read_small(data, limits)
        if archive is not None:
            return archive
    if start is not None:
        raw.seek(start)  # the streaming reader sees the source exactly as it was given
    return _read_streaming(raw, limits, spool_dir)


def _small_input(raw: IO[bytes]) -> tuple[int | None, bytes | None]:
    """(start, all remaining bytes) of a seekable source of at most SMALL_ARCHIVE_BYTES.

    start is None when nothing was read (not seekable); data is None when the source is larger.
    """
    try:
        if not raw.seekable():
            return None, None
        start = raw.tell()
    except (AttributeError, OSError, ValueError):
        return None, None
    chunks, size = [], 0
    while size <= SMALL_ARCHIVE_BYTES and (chunk := raw.read(_CHUNK)):
        chunks.append(bytes(chunk))
        size += len(chunk)
    return start, b"".join(chunks) if size <= SMALL_ARCHIVE_BYTES else None


def _octal_field(width: int) -> bytes:
    """A numeric field as tar writers put it: octal digits ended by one or two of NUL/space,
    or all NULs. tarfile's `nti` values these as the digits read in base 8."""
    return rb"(?:[0-7]{%d}[ \0]|[0-7]{%d}[ \0]{2}|\0{%d})" % (width - 1, width - 2, width)


_NUL_BLOCK = bytes(tarfile.BLOCKSIZE)
_PLAIN_FILE_HEADER = re.compile(
    rb"([^\0].{99})"  # name (NUL-terminated unless 100 bytes long)
    + _octal_field(8) * 3  # mode, uid, gid
    + rb"(" + _octal_field(12) + rb")"  # size
    + _octal_field(12)  # mtime
    + rb"(" + _octal_field(8) + rb")"  # chksum
    + rb"[0\0]"  # type: regular file
    + rb".{172}"  # linkname, magic, version, uname, gname (tarfile never fails on them)
    + _octal_field(8) * 2  # devmajor, devminor
    + rb"\0.{166}", re.DOTALL)  # no ustar prefix (it would be prepended to the name), padding
"""A tar header block tarfile reads as one plain regular file, numbers in plain octal.

PAX and GNU extended headers, links, devices, base-256 or signed numbers do not match."""


def _byte_sum(block: bytes) -> int:
    """Sum of a 512-byte block's bytes, in C: Adler-32's first half is that sum modulo 65521,
    exact for 256 bytes (at most 65280)."""
    return (zlib.adler32(block[:256], 0) & 0xFFFF) + (zlib.adler32(block[256:], 0) & 0xFFFF)


def _plain_file_header(block: bytes) -> tuple[str, int] | None:
    """(name, size) of a header tarfile reads as one plain regular file; None for anything else.

    Plain: matches _PLAIN_FILE_HEADER and has a right unsigned checksum (the signed variant
    tarfile also accepts is left to it).
    """
    match = _PLAIN_FILE_HEADER.fullmatch(block)
    if match is None:
        return None
    name, size, chksum = match.groups()
    if int(chksum.rstrip(b" \0") or b"0", 8) != 256 + _byte_sum(block) - sum(chksum):
        return None
    return (name.partition(b"\0")[0].decode("utf-8", "surrogateescape"),
            int(size.rstrip(b" \0") or b"0", 8))


def _read_small(data: bytes, limits: ArchiveLimits) -> EnvelopeArchive | None:
    """The one-step reader of a small archive held in `data`, or None to stream it instead.

    Accepts only what `_read_streaming` accepts, with the same members and hashes: the inflated
    size stays within SMALL_ARCHIVE_BYTES (below the ratio grace, so the bomb rule cannot fire)
    and max_total_bytes, the gzip stream is one whole member, every header is plain and passes
    the same entry checks, and only NUL blocks follow the end-of-archive marker.
    """
    if len(data) > limits.max_compressed_bytes or not data.startswith(_GZIP_MAGIC):
        return None
    cap = max(0, min(SMALL_ARCHIVE_BYTES, _RATIO_GRACE, limits.max_total_bytes))
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        tar = inflater.decompress(data, cap + 1)
    except zlib.error:
        return None
    if len(tar) > cap or not inflater.eof or inflater.unused_data:
        return None
    members: dict[str, ArchiveMember] = {}
    pos = 0
    while (block := tar[pos:pos + tarfile.BLOCKSIZE]) != _NUL_BLOCK:
        if len(block) < tarfile.BLOCKSIZE or len(members) >= limits.max_members:
            return None
        plain = _plain_file_header(block)
        if plain is None:
            return None
        name, size = plain
        start = pos + tarfile.BLOCKSIZE
        if (name in members or size > limits.max_member_bytes
                or start + size > min(len(tar), limits.max_total_bytes)):
            return None
        try:
            check_member_name(name)
        except UnsafeArchive:
            return None
        body = tar[start:start + size]
        members[name] = ArchiveMember(name, size, body, io.BytesIO(body))
        pos = start + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    if not members or tar[pos:] != bytes(len(tar) - pos):
        return None
    return EnvelopeArchive(members.values(), sha256=data, compressed_size=len(data))


def _read_streaming(raw: IO[bytes], limits: ArchiveLimits,
                    spool_dir: str | os.PathLike[str] | None) -> EnvelopeArchive:
    src = _Source(raw, limits.max_compressed_bytes)
    head = b""
    while len(head) < len(_GZIP_MAGIC) and (more := src.read(len(_GZIP_MAGIC) - len(head))):
        head += more
    if head != _GZIP_MAGIC:
        raise _refusal("ARCHIVE_NOT_GZIP", "not a gzip file (no gzip magic number)",
                       "ce n'est pas un fichier gzip (nombre magique gzip absent)")
    members: dict[str, ArchiveMember] = {}
    try:
        _read_members(_TarStream(src, limits, head), limits, spool_dir, members)
    except BaseException:
        for member in members.values():
            member.close()
        raise
    return EnvelopeArchive(members.values(), sha256=src.hexdigest(), compressed_size=src.count)


# --------------------------------------------------------------------------- writing


class _HashingSink:
    """Write-through to the destination, hashing what passes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self._raw.write(data)
        return len(data)

    def flush(self) -> None:
        self._raw.flush()


def _write(raw: IO[bytes], members: Iterable[tuple[str, bytes | os.PathLike[str]]],
           mtime: int) -> str:
    sink = _HashingSink(raw)
    seen: set[str] = set()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=sink,
                       mtime=mtime) as gz, \
         tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT,
                         encoding="utf-8") as tar:
        for name, content in members:
            check_member_name(name)
            if name in seen:
                raise _refusal("ARCHIVE_DUPLICATE_MEMBER", f"member {_show(name)} given twice",
                               f"membre {_show(name)} fourni deux fois", name)
            seen.add(name)
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
            info.mtime, info.type = mtime, tarfile.REGTYPE
            if isinstance(content, (bytes, bytearray, memoryview)):
                info.size = memoryview(content).nbytes
                tar.addfile(info, io.BytesIO(content))
            elif isinstance(content, os.PathLike):
                with open(content, "rb") as data:
                    info.size = os.fstat(data.fileno()).st_size
                    tar.addfile(info, data)
            else:
                raise TypeError(f"member {name!r}: content must be bytes or a path, "
                                f"not {type(content).__name__}")
        if not seen:
            raise _refusal("ARCHIVE_EMPTY", "an archive needs at least one member",
                           "une archive doit contenir au moins un membre")
    return sink.hash.hexdigest()


def write_archive(dest: str | os.PathLike[str] | BinaryIO,
                  members: Iterable[tuple[str, bytes | os.PathLike[str]]], *,
                  mtime: int = 0) -> str:
    """Write a flat gzip -9 tar of regular files; return the SHA-256 (hex) of what was written.

    Members are `(name, bytes)` or `(name, path)` (files are copied by chunks); names follow
    `check_member_name`. Output is reproducible: mode 0644, uid/gid 0, no owner names, the given
    `mtime` in tar and gzip headers, GNU tar format. A path `dest` is removed on failure.
    """
    if not isinstance(dest, (str, os.PathLike)):
        return _write(dest, members, mtime)
    try:
        with open(dest, "wb") as raw:
            return _write(raw, members, mtime)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise
