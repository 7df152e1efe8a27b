"""The hostile-input corpus: every class of bad input a served simulator must survive, made by code.

Each `HostileCase` says how to make one request (an archive upload, a plain HTTP call, or raw
bytes trickled down the socket) and what the simulator must answer: a 4xx JSON refusal with a
stable code (`KO` text on the S²LOW door), an AnomalieActe (1-3) with a precise Nature, or a
dropped connection. Archives are built from `operator_sim.testing.corpus` material and hand-made tar/gzip
structures; nothing is committed as a binary blob. Pure: no network, no database (what comes
from the live simulator, such as signing certificates, arrives in a `Material`).
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import random
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from operator_sim.protocol.archive import write_archive
from operator_sim.protocol.codes import AnomalieNature
from operator_sim.protocol.envelope import ActeRequest, BuiltEnvelope, Piece, build_acte_envelope
from operator_sim.signature.archive import Signer
from operator_sim.signature.cms import sign_detached, to_asn1
from operator_sim.testing import corpus
from operator_sim.testing.corpus import base_request, budget_request, build, minimal_pdf, minimal_png

SIREN = corpus.COMMUNE.siren
S2LOW = "/modules/actes"
NAME = build().name
"""The archive name every case's envelope gets (it names no act)."""
GZIP = "application/gzip"
A = AnomalieNature


# -- what is sent ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    """POST /api/v1/archives: the archive bytes, named by `?name=`, a header, or a form; or
    (`via="s2low"`) the S²LOW door's actes_transac_import.php form field `enveloppe`."""

    body: bytes
    name: str | None
    content_type: str = GZIP
    via: str = "query"  # query | header | multipart | multipart-without-file | s2low


@dataclass(frozen=True)
class Call:
    """Any other HTTP request, on the API port (mutual TLS) or the admin port (bearer token)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    port: str = "api"  # api | admin


@dataclass(frozen=True)
class Trickle:
    """Raw bytes on the TLS socket: `head` at once, then `tail` one byte every `pause` seconds."""

    head: bytes
    tail: bytes
    pause: float


Request = Upload | Call | Trickle


# -- what must come back -----------------------------------------------------------------------

@dataclass(frozen=True)
class Refused:
    """A 4xx JSON refusal (`code`, `message_fr`, `message_en`); nothing stored."""

    status: int
    code: str


@dataclass(frozen=True)
class S2lowKO:
    """The S²LOW door's refusal: text/plain `KO` and a message, HTTP 200 as S²LOW answers
    (408 when the body is too slow, the web server's); 302 where S²LOW redirects (downloads,
    post-confirm), the message then in the body; nothing stored."""

    status: int = 200


@dataclass(frozen=True)
class Anomalie:
    """201: one new transaction answered by an AnomalieActe (1-3) of this Nature, nothing else."""

    nature: AnomalieNature
    code: str
    """The finding code the Detail starts with (the first error of the report)."""


@dataclass(frozen=True)
class EnveloppeRefusee:
    """201: one new transaction at -1 answered by an AnomalieEnveloppe (`ANO_…`) of this
    Nature, its Detail naming the finding code after the archive name."""

    nature: str
    code: str


@dataclass(frozen=True)
class Dropped:
    """The server closes the connection without an answer, well before the client gives up."""

    within: float


@dataclass(frozen=True)
class ParserRefused:
    """aiohttp's HTTP parser refuses the request before any application code runs: a short
    text/plain 4xx (its shape is aiohttp's, not ours); nothing stored."""

    status: int


Expectation = Refused | S2lowKO | Anomalie | EnveloppeRefusee | Dropped | ParserRefused


@dataclass(frozen=True)
class Material:
    """What cases need from the live simulator: `canary`, a loopback URL that must never be
    fetched; `server`, its TLS server certificate and key (no signer of acts); `signer`, a
    trusted signing certificate (`issue_signer` should cache it); `numero`, the NumeroInterne
    of this case's act, so that cases sharing a simulator never collide as duplicates."""

    canary: str
    server: Signer
    issue_signer: Callable[[], Signer]
    numero: str = "DELIB2024_012"

    @property
    def signer(self) -> Signer:
        return self.issue_signer()


@dataclass(frozen=True)
class HostileCase:
    id: str
    description: str
    make: Callable[[Material], Request]
    expect: Expectation
    config: dict[str, object] = field(default_factory=dict)
    """Settings of the served simulator for this case (e.g. a short read timeout)."""


# -- archive helpers ---------------------------------------------------------------------------

def pack(built: BuiltEnvelope) -> bytes:
    return corpus._pack(built)[1]


def upload(built: BuiltEnvelope, **options: object) -> Upload:
    return Upload(pack(built), **{"name": built.name, **options})  # type: ignore[arg-type]


def edit(built: BuiltEnvelope, member: str, change: Callable[[bytes], bytes]) -> BuiltEnvelope:
    built.members[member] = change(built.members[member])
    return built


def act(m: Material, **changes: object) -> ActeRequest:
    """The valid délibération of `operator_sim.testing.corpus`, numbered for this case."""
    return base_request(**{"numero_interne": m.numero, **changes})


def envelope(m: Material, request: ActeRequest | None = None, **options: object) -> BuiltEnvelope:
    return build(request or act(m), **options)  # type: ignore[arg-type]


def good(m: Material) -> bytes:
    return pack(envelope(m))


def edit_message(m: Material, change: Callable[[bytes], bytes]) -> Upload:
    built = envelope(m)
    return upload(edit(built, built.message_name, change))


def edit_envelope(m: Material, change: Callable[[bytes], bytes]) -> Upload:
    built = envelope(m)
    return upload(edit(built, built.archive_name.enveloppe_file, change))


def replace_text(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert old in data, old
        return data.replace(old, new, 1)
    return change


def with_prolog(prolog: bytes) -> Callable[[bytes], bytes]:
    """Swap the XML declaration for `prolog` (a declaration plus, say, a DOCTYPE)."""
    return lambda data: prolog + data.split(b"?>", 1)[1]


MULTIPART = {"Content-Type": "multipart/form-data; boundary=x"}
"""A hand-made form's Content-Type: `form_part` writes its parts."""


def form_part(name: str, content: bytes, filename: bytes | None = None) -> bytes:
    """One part of a multipart body with boundary `x` (the closing `--x--` is the caller's)."""
    disposition = b'form-data; name="' + name.encode() + b'"' + (
        b'; filename="' + filename + b'"' if filename is not None else b"")
    return b"--x\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"


def tar_blocks(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """Header and data blocks of hand-made entries (links, devices, lies...), no end marker."""
    return b"".join(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape") + (data or b"")
                    + bytes(-len(data or b"") % tarfile.BLOCKSIZE) for info, data in entries)


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A whole uncompressed tar: the entries' blocks and the end-of-archive marker."""
    return tar_blocks(entries) + bytes(2 * tarfile.BLOCKSIZE)


def entry(name: str, data: bytes = b"", **attributes: object) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attributes.items():
        setattr(info, key, value)
    return info, data if info.isreg() else None


def valid_entries(m: Material) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [entry(name, data) for name, data in envelope(m).members.items()]


def hostile_archive(m: Material, *extra: tuple[tarfile.TarInfo, bytes | None]) -> Upload:
    """A valid envelope's members plus hostile entries, gzip-compressed."""
    return gzip_of(tar_bytes([*valid_entries(m), *extra]))


def renamed_for_gnu_tar(m: Material) -> Upload:
    """The annex's header preceded by a GNU long name (its own name: what tarfile reads) then a
    PAX `path` of ../../evil.pdf (what GNU tar unpacks it as)."""
    *head, (annexe, data) = valid_entries(m)
    chain = (tarfile.TarInfo._create_gnu_long_header(annexe.name, tarfile.GNUTYPE_LONGNAME,
                                                     "utf-8", "strict")
             + tarfile.TarInfo._create_pax_generic_header({"path": "../../evil.pdf"},
                                                          tarfile.XHDTYPE, "utf-8"))
    return gzip_of(tar_blocks(head) + chain + tar_bytes([(annexe, data)]))


def gzip_of(tar: bytes) -> Upload:
    return Upload(gzip.compress(tar, mtime=0), NAME)


def main_document(m: Material) -> str:
    return envelope(m).acte.document.nom_fichier


def gzip_bomb(m: Material) -> Upload:
    """64 MiB of zeros as one member: ~64 KiB on the wire, a ratio near 1000."""
    info = tarfile.TarInfo("bombe.pdf")
    info.size = 64 << 20
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, data in valid_entries(m):
            tar.addfile(member, io.BytesIO(data or b""))
        tar.addfile(info, _Zeros(info.size))
    return Upload(raw.getvalue(), NAME)


class _Zeros(io.RawIOBase):
    """`size` zero bytes, produced on demand (a bomb never sits in memory)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def rename_member(built: BuiltEnvelope, old: str, new: str) -> Upload:
    """Rename a member and every reference to it (envelope or Acte), keeping order."""
    members = []
    for name, data in built.members.items():
        if name.endswith(".xml"):
            data = data.replace(old.encode(), new.encode())
        members.append((new if name == old else name, data))
    buf = io.BytesIO()
    write_archive(buf, members)
    return Upload(buf.getvalue(), built.name)


# -- signature helpers -------------------------------------------------------------------------

DOCUMENT = minimal_pdf("Deliberation signee 2024-012")
ANNEXE = minimal_pdf("Annexe signee")


def signed(m: Material, document_signature: bytes | None, annexe_signature: bytes | None = None,
           *, document: bytes = DOCUMENT, annexe: bytes = ANNEXE) -> Upload:
    return upload(envelope(m, act(m,
        document=Piece(document, "pdf", "99_DE", document_signature),
        annexes=(Piece(annexe, "pdf", "99_DE", annexe_signature),))))


def cms(m: Material, data: bytes, signer: Signer | None = None) -> bytes:
    signer = signer or m.signer
    return sign_detached(data, signer.certificate, signer.key, signer.chain)


def _builder(data: bytes, *signers: Signer) -> pkcs7.PKCS7SignatureBuilder:
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    for signer in signers:
        builder = builder.add_signer(signer.certificate, signer.key, hashes.SHA256())  # type: ignore[arg-type]
    return builder


def enveloping_cms(m: Material, data: bytes) -> bytes:
    """A valid CMS that *embeds* `data` instead of being detached (a wrapping attempt)."""
    return _builder(data, m.signer).sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def two_signers_cms(m: Material, data: bytes) -> bytes:
    """One SignedData, two SignerInfos (the second by the TLS server's certificate)."""
    return _builder(data, m.signer, m.server).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


def flip_last_byte(data: bytes) -> bytes:
    """The last byte of our SignedData lies inside the signature value."""
    return data[:-1] + bytes([data[-1] ^ 0x01])


def pades(m: Material, pdf: bytes) -> bytes:
    """`pdf` with a PAdES signature by `m.signer`, made by pyHanko."""
    from asn1crypto import keys
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = keys.PrivateKeyInfo.load(m.signer.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    signer = signers.SimpleSigner(to_asn1(m.signer.certificate), key,
                                  SimpleCertificateStore.from_certs(
                                      [to_asn1(c) for c in m.signer.chain]))
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="SignatureMaire"),
                            signer=signer).getvalue()


def pades_then_altered(m: Material) -> bytes:
    signed_pdf = pades(m, DOCUMENT)
    at = signed_pdf.index(b"72 720 Td")
    return signed_pdf[:at] + b"73" + signed_pdf[at + 2:]


def pades_then_new_revision(m: Material) -> bytes:
    """A revision appended after signing that rotates the page (shadow-attack shape)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pades(m, DOCUMENT)), strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- XML payloads ------------------------------------------------------------------------------

LAUGHS = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE actes:Acte [\n'
          + b"".join(b'<!ENTITY l%d "%s">\n' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol")
                     for i in range(10))
          + b"]>\n")


def quadratic_prolog() -> bytes:
    return (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE actes:Acte [<!ENTITY a "'
            + b"A" * 50_000 + b'">]>\n')


def xxe_prolog(url: str) -> bytes:
    return (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE actes:Acte [<!ENTITY xxe SYSTEM "'
            + url.encode() + b'">]>\n')


OBJET = b"<actes:Objet>Approbation du r\xe8glement int\xe9rieur du conseil municipal</actes:Objet>"


def attribute_bomb(count: int = 3000) -> Callable[[bytes], bytes]:
    """`count` undeclared attributes on the Acte root: some 20 KB of XML."""
    attributes = b"".join(b' a%d="x"' % i for i in range(count))
    return replace_text(b"<actes:Acte ", b"<actes:Acte" + attributes + b" ")


def many_nodes(annexes: int = 2100, attributes: int = 50) -> Callable[[bytes], bytes]:
    """Annexe elements crowded with undeclared attributes of random values (incompressible
    enough to pass the ratio rule): over 100,000 nodes in all."""
    values = random.Random(17).randbytes(annexes * attributes * 4).hex().encode()
    annexe = iter(range(annexes * attributes))

    def one() -> bytes:
        attrs = b"".join(b' b%d="%s"' % (j, values[(i := next(annexe)) * 8:i * 8 + 8])
                         for j in range(attributes))
        return b"<actes:Annexe" + attrs + b"><actes:NomFichier>x.pdf</actes:NomFichier></actes:Annexe>"

    return lambda data: replace_text(b"</actes:Annexes>", b"".join(one() for _ in range(annexes))
                                     + b"</actes:Annexes>")(data)


def in_encoding(encoding: str, bom: bytes = b"") -> Callable[[bytes], bytes]:
    """The document's text re-encoded, its declaration (ISO-8859-1) kept, `bom` in front."""
    return lambda data: bom + data.decode("iso-8859-1").encode(encoding)


def deep_nesting(depth: int = 5000) -> Callable[[bytes], bytes]:
    return replace_text(OBJET, b"<actes:Objet>" + b"<x>" * depth + b"</x>" * depth + b"</actes:Objet>")


# -- raw HTTP ----------------------------------------------------------------------------------

def _head(path: str, content_type: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def slow_body(m: Material, pause: float) -> Trickle:
    body = good(m)
    return Trickle(_head(f"/api/v1/archives?name={NAME}", GZIP, len(body)), body, pause)


def slow_form(m: Material, pause: float) -> Trickle:
    """The S²LOW import form, trickled."""
    body = (b'--hostile\r\nContent-Disposition: form-data; name="enveloppe"; filename="'
            + NAME.encode() + b'"\r\nContent-Type: application/gzip\r\n\r\n' + good(m)
            + b"\r\n--hostile--\r\n")
    return Trickle(_head(S2LOW + "/actes_transac_import.php",
                         "multipart/form-data; boundary=hostile", len(body)), body, pause)


def slow_json(pause: float) -> Trickle:
    """A callback registration whose JSON body is trickled."""
    body = b'{"url": "http://127.0.0.1:9/' + b"a" * 200 + b'"}'
    return Trickle(_head("/api/v1/callbacks", "application/json", len(body)), body, pause)


def slow_headers(pause: float) -> Trickle:
    return Trickle(b"POST /api/v1/archives HTTP/1.1\r\nHost: localhost\r\n",
                   b"X-Slow: " + b"a" * 4000 + b"\r\n\r\n", pause)


# -- the cases ---------------------------------------------------------------------------------

def _cases() -> list[HostileCase]:
    def case(id: str, description: str, make: Callable[[Material], Request],
             expect: Expectation, **config: object) -> HostileCase:
        return HostileCase(id, description, make, expect, dict(config))

    name = NAME
    document = base_request().document
    bad = Refused

    return [
        # -- transport ---------------------------------------------------------------------
        case("oversized-body", "body over max_archive_bytes",
             lambda m: Upload(good(m) + bytes(2 << 20), name), bad(413, "ARCHIVE_TOO_LARGE"),
             max_archive_bytes=1 << 20),
        case("oversized-multipart-file", "form file over max_archive_bytes",
             lambda m: Upload(good(m) + bytes(2 << 20), name, via="multipart"),
             bad(413, "ARCHIVE_TOO_LARGE"), max_archive_bytes=1 << 20),
        case("slowloris-body", "headers sent, then the body one byte every 0.2 s",
             lambda m: slow_body(m, 0.2), bad(408, "REQUEST_TIMEOUT"), read_timeout=1),
        case("slowloris-s2low-form", "S²LOW import form sent one byte every 0.2 s",
             lambda m: slow_form(m, 0.2), S2lowKO(408), read_timeout=1),
        case("slowloris-json", "a callback's JSON body sent one byte every 0.2 s",
             lambda m: slow_json(0.2), bad(408, "REQUEST_TIMEOUT"), read_timeout=1),
        case("slowloris-headers", "headers never finished, one byte every 0.2 s",
             lambda m: slow_headers(0.2), Dropped(within=5), read_timeout=1),
        case("empty-body", "no byte at all", lambda m: Upload(b"", name),
             bad(422, "ARCHIVE_NOT_GZIP")),
        case("wrong-content-type", "text/plain upload",
             lambda m: Upload(good(m), name, content_type="text/plain"),
             bad(415, "UNSUPPORTED_MEDIA_TYPE")),
        case("multipart-without-file", "a form with text fields only",
             lambda m: Upload(good(m), name, via="multipart-without-file"),
             bad(400, "ARCHIVE_MISSING")),
        case("archive-name-missing", "no name parameter nor header",
             lambda m: Upload(good(m), None), bad(400, "ARCHIVE_NAME_MISSING")),
        case("name-path-traversal", "name=../../../etc/passwd: only the last segment is kept",
             lambda m: Upload(good(m), "../../../etc/passwd"), EnveloppeRefusee("002", "NAME_ARCHIVE")),
        case("name-header-injection", "CR LF and a quote in the archive name",
             lambda m: Upload(good(m), 'SLO"\r\nX-Injected: 1.tar.gz'),
             bad(400, "ARCHIVE_NAME_INVALID")),
        case("name-control-character", "a NUL byte in ?name=",
             lambda m: Upload(good(m), name.replace("-1.", "-\x00.")),
             bad(400, "ARCHIVE_NAME_INVALID")),
        case("name-too-long", "a 5000-character archive name",
             lambda m: Upload(good(m), "S" * 5000 + ".tar.gz", via="header"),
             bad(400, "ARCHIVE_NAME_INVALID")),
        case("huge-header", "a 100 KB header value, beyond aiohttp's 8190-byte field limit",
             lambda m: Call("POST", "/api/v1/archives", {"name": name},
                            {"Content-Type": GZIP, "X-Junk": "a" * 100_000}, good(m)),
             ParserRefused(400)),
        case("transaction-id-not-numeric", "GET /transactions/abc",
             lambda m: Call("GET", "/api/v1/transactions/abc"), bad(404, "NOT_FOUND")),
        case("transaction-id-overflow", "an id beyond SQLite's 64-bit integers",
             lambda m: Call("GET", "/api/v1/transactions/" + "9" * 30), bad(404, "NOT_FOUND")),
        case("transaction-id-overflow-archive", "archive download of an overflowing id",
             lambda m: Call("GET", "/api/v1/transactions/" + "9" * 30 + "/archive"),
             bad(404, "NOT_FOUND")),
        case("list-offset-overflow", "offset beyond SQLite's 64-bit integers",
             lambda m: Call("GET", "/api/v1/transactions", {"offset": "9" * 30}),
             bad(400, "BAD_PARAMETER")),
        case("list-limit-not-numeric", "limit=ten",
             lambda m: Call("GET", "/api/v1/transactions", {"limit": "ten"}),
             bad(400, "BAD_PARAMETER")),
        case("classification-json-malformed", "POST /classification with a broken JSON body",
             lambda m: Call("POST", "/api/v1/classification", body=b'{"siren": ',
                            headers={"Content-Type": "application/json"}),
             bad(400, "JSON_INVALID")),
        case("classification-json-not-object", "a JSON array instead of an object",
             lambda m: Call("POST", "/api/v1/classification", body=b'["491011698"]',
                            headers={"Content-Type": "application/json"}),
             bad(400, "JSON_INVALID")),
        case("classification-json-not-utf8", "JSON bytes that are not UTF-8",
             lambda m: Call("POST", "/api/v1/classification", body=b'{"siren": "\xff\xfe"}',
                            headers={"Content-Type": "application/json"}),
             bad(400, "JSON_INVALID")),
        case("classification-json-deeply-nested", "100 000 nested arrays (the parser's recursion)",
             lambda m: Call("POST", "/api/v1/classification", body=b"[" * 100_000,
                            headers={"Content-Type": "application/json"}),
             bad(400, "JSON_INVALID")),
        case("admin-json-deeply-nested", "admin port: 100 000 nested objects as a collectivité",
             lambda m: Call("PUT", f"/admin/collectivites/{SIREN}", body=b'{"a":' * 100_000,
                            headers={"Content-Type": "application/json"}, port="admin"),
             bad(400, "JSON_INVALID")),
        case("admin-json-as-form", "admin port: a form where JSON is expected",
             lambda m: Call("PUT", f"/admin/collectivites/{SIREN}", body=b"departement=034",
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                            port="admin"),
             bad(415, "UNSUPPORTED_MEDIA_TYPE")),
        case("admin-collectivite-nature-unknown", "admin port: a collectivité of nature 99",
             lambda m: Call("PUT", f"/admin/collectivites/{SIREN}",
                            body=b'{"departement": "034", "arrondissement": "3", "nature": "99"}',
                            headers={"Content-Type": "application/json"}, port="admin"),
             bad(422, "FIELD_INVALID")),
        case("unknown-route", "GET /api/v1/nothing-here",
             lambda m: Call("GET", "/api/v1/nothing-here"), bad(404, "HTTP_404")),
        case("method-not-allowed", "DELETE on the archive door",
             lambda m: Call("DELETE", "/api/v1/archives"), bad(405, "HTTP_405")),
        case("callback-id-overflow", "DELETE /callbacks/<30 digits>",
             lambda m: Call("DELETE", "/api/v1/callbacks/" + "9" * 30), bad(404, "CALLBACK_UNKNOWN")),
        case("admin-journal-id-overflow", "admin port: journal filtered on a 30-digit transaction",
             lambda m: Call("GET", "/admin/journal", {"transaction": "9" * 30}, port="admin"),
             bad(400, "BAD_PARAMETER")),
        case("s2low-status-id-overflow", "S²LOW door: status of transaction <30 digits>",
             lambda m: Call("GET", S2LOW + "/actes_transac_get_status.php", {"transaction": "9" * 30}),
             S2lowKO()),
        case("s2low-download-id-overflow", "S²LOW door: download of envelope <30 digits>",
             lambda m: Call("GET", S2LOW + "/actes_download_file.php", {"env": "9" * 30}),
             S2lowKO(302)),
        case("s2low-import-symlink", "S²LOW door: import of an archive holding a symlink",
             lambda m: replace(hostile_archive(m, entry("lien.pdf", type=tarfile.SYMTYPE,
                                                        linkname="/etc/passwd")), via="s2low"),
             S2lowKO()),
        case("s2low-import-bomb", "S²LOW door: import of a gzip bomb",
             lambda m: replace(gzip_bomb(m), via="s2low"), S2lowKO()),

        # -- malformed bodies: what aiohttp's form and multipart readers choke on ------------
        case("multipart-without-boundary", "multipart/form-data with no boundary parameter",
             lambda m: Call("POST", "/api/v1/archives", body=b"--x\r\n",
                            headers={"Content-Type": "multipart/form-data"}),
             bad(400, "BODY_MALFORMED")),
        case("multipart-truncated", "operator door: the form stops inside a part, no end",
             lambda m: Call("POST", "/api/v1/actes", body=form_part("objet", b"Budget"),
                            headers=MULTIPART), bad(400, "BODY_MALFORMED")),
        case("multipart-no-opening-boundary", "a multipart body that never opens its boundary",
             lambda m: Call("POST", "/api/v1/actes", body=b"bonjour", headers=MULTIPART),
             bad(400, "BODY_MALFORMED")),
        case("multipart-nul-in-filename", "a NUL byte in a part's Content-Disposition",
             lambda m: Call("POST", "/api/v1/archives", headers=MULTIPART,
                            body=form_part("archive", good(m), b"a\x00.tar.gz") + b"--x--\r\n"),
             bad(400, "BODY_MALFORMED")),
        case("content-encoding-lie", "Content-Encoding: gzip over bytes that are not gzip",
             lambda m: Call("POST", "/api/v1/archives", {"name": NAME}, body=b"pas du gzip",
                            headers={"Content-Type": GZIP, "Content-Encoding": "gzip"}),
             bad(400, "BODY_MALFORMED")),
        case("classification-form-unknown-charset", "a form declared in charset=nope",
             lambda m: Call("POST", "/api/v1/classification", body=f"siren={SIREN}".encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded; charset=nope"}),
             bad(400, "BODY_MALFORMED")),
        case("classification-siren-not-text", "JSON siren given as a number",
             lambda m: Call("POST", "/api/v1/classification", body=f'{{"siren": {SIREN}}}'.encode(),
                            headers={"Content-Type": "application/json"}),
             bad(422, "FIELD_INVALID")),
        case("callback-url-bad-idna", "a callback host no IDNA codec decodes (xn--)",
             lambda m: Call("POST", "/api/v1/callbacks", body=b'{"url": "http://xn--/"}',
                            headers={"Content-Type": "application/json"}),
             bad(422, "CALLBACK_URL_INVALID")),
        case("callback-url-empty-label", "a callback host with an empty label, never deliverable",
             lambda m: Call("POST", "/api/v1/callbacks", body=b'{"url": "http://a..b/"}',
                            headers={"Content-Type": "application/json"}),
             bad(422, "CALLBACK_URL_INVALID")),
        case("s2low-form-not-utf8", "S²LOW door: raw non-ASCII bytes in a URL-encoded form",
             lambda m: Call("POST", S2LOW + "/actes_transac_cancel.php", body=b"id=\xff\xfe",
                            headers={"Content-Type": "application/x-www-form-urlencoded"}),
             S2lowKO()),
        case("s2low-form-unknown-charset", "S²LOW door: a form declared in charset=nope",
             lambda m: Call("POST", S2LOW + "/actes_transac_cancel.php", body=b"commentaire=1",
                            headers={"Content-Type": "application/x-www-form-urlencoded; charset=nope"}),
             S2lowKO()),
        case("s2low-form-over-client-max-size", "S²LOW door: a 2 MiB URL-encoded form",
             lambda m: Call("POST", S2LOW + "/actes_transac_cancel.php", body=b"id=" + b"1" * (2 << 20),
                            headers={"Content-Type": "application/x-www-form-urlencoded"}),
             S2lowKO()),
        case("s2low-content-encoding-lie", "S²LOW door: Content-Encoding: gzip over plain text",
             lambda m: Call("POST", S2LOW + "/actes_transac_cancel.php", body=b"id=1",
                            headers={"Content-Type": "application/x-www-form-urlencoded",
                                     "Content-Encoding": "gzip"}),
             S2lowKO()),
        case("s2low-multipart-without-boundary", "S²LOW door: create.php, multipart, no boundary",
             lambda m: Call("POST", S2LOW + "/actes_transac_create.php", body=b"--x\r\n",
                            headers={"Content-Type": "multipart/form-data"}),
             S2lowKO()),
        case("s2low-multipart-truncated", "S²LOW door: import.php, the form cut inside the file",
             lambda m: Call("POST", S2LOW + "/actes_transac_import.php", headers=MULTIPART,
                            body=form_part("enveloppe", good(m)[:500], NAME.encode())),
             S2lowKO()),
        case("s2low-url-return-unparsable", "S²LOW door: post-confirm redirecting to http://[::1",
             lambda m: Call("GET", S2LOW + "/actes_transac_post_confirm_api.php",
                            {"id": "0", "url_return": "http://[::1"}),
             S2lowKO(302)),
        # -- numbers: ASCII digits only, and no more of them than an integer column holds ----
        case("list-status-other-script-digit", "status=١ (an Arabic-Indic one, which int() reads)",
             lambda m: Call("GET", "/api/v1/transactions", {"status": "\u0661"}),
             bad(400, "BAD_PARAMETER")),
        case("transaction-id-5000-digits", "GET /transactions/<5000 digits> (int() refuses > 4300)",
             lambda m: Call("GET", "/api/v1/transactions/" + "9" * 5000), bad(404, "NOT_FOUND")),
        case("admin-transaction-id-5000-digits", "admin port: GET /admin/transactions/<5000 digits>",
             lambda m: Call("GET", "/admin/transactions/" + "9" * 5000, port="admin"),
             bad(404, "NOT_FOUND")),
        case("admin-actes-limit-superscript", "admin port: /admin/actes?limit=² (isdigit, not int)",
             lambda m: Call("GET", "/admin/actes", {"limit": "\u00b2"}, port="admin"),
             bad(400, "BAD_PARAMETER")),
        case("admin-actes-offset-beyond-integers", "admin port: offset of 19 digits, over 2⁶³ - 1",
             lambda m: Call("GET", "/admin/actes", {"offset": "9" * 19}, port="admin"),
             bad(400, "BAD_PARAMETER")),
        case("operator-door-matiere-other-script", "operator door: matiere in Arabic-Indic digits",
             lambda m: Call("POST", "/api/v1/actes", headers=MULTIPART, body=b"".join(
                 form_part(k, v.encode()) for k, v in {
                     "departement": "034", "date": "2024-03-12", "numero_interne": m.numero,
                     "nature": "DE", "matiere": "\u0665.\u0662", "objet": "Règlement intérieur",
                     "typologie_acte": "99_DE"}.items())
                 + form_part("acte", minimal_pdf("Acte"), b"acte.pdf") + b"--x--\r\n"),
             bad(422, "FIELD_INVALID")),
        case("s2low-status-id-5000-digits", "S²LOW door: status of transaction <5000 digits>",
             lambda m: Call("GET", S2LOW + "/actes_transac_get_status.php",
                            {"transaction": "9" * 5000}), S2lowKO()),
        case("s2low-document-file-5000-digits", "S²LOW door: document file=<5000 digits>",
             lambda m: Call("GET", S2LOW + "/actes_transac_get_document.php", {"file": "9" * 5000}),
             S2lowKO()),
        case("s2low-create-classif-superscript", "S²LOW door: create with classif1=²",
             lambda m: Call("POST", S2LOW + "/actes_transac_create.php", headers=MULTIPART,
                            body=form_part("classif1", "\u00b2".encode()) + b"--x--\r\n"),
             S2lowKO()),
        case("siren-not-represented", "a valid act of a collectivité the agent does not act for",
             lambda m: upload(envelope(m, collectivite=replace(corpus.COMMUNE, siren="213401722"))),
             bad(403, "FORBIDDEN_SIREN")),

        # -- gzip and tar ------------------------------------------------------------------
        case("not-gzip", "text named .tar.gz", lambda m: Upload(b"bonjour\n" * 100, name),
             bad(422, "ARCHIVE_NOT_GZIP")),
        case("truncated-gzip", "gzip stream cut 200 bytes before its end",
             lambda m: Upload(good(m)[:-200], name), bad(422, "ARCHIVE_TRUNCATED")),
        case("gzip-crc-mismatch", "gzip trailer CRC-32 altered",
             lambda m: Upload(good(m)[:-8] + bytes([good(m)[-8] ^ 0xFF]) + good(m)[-7:], name),
             bad(422, "ARCHIVE_TRUNCATED")),
        case("gzip-trailing-garbage", "bytes after the gzip member",
             lambda m: Upload(good(m) + b"GARBAGE!", name), bad(422, "ARCHIVE_CORRUPT")),
        case("gzip-not-tar", "gzip of a PDF", lambda m: Upload(gzip.compress(DOCUMENT), name),
             bad(422, "ARCHIVE_NOT_TAR")),
        case("gzip-bomb", "64 MiB of zeros in a 64 KiB archive", lambda m: gzip_bomb(m),
             bad(422, "ARCHIVE_BOMB")),
        case("tar-symlink", "symbolic link to /etc/passwd",
             lambda m: hostile_archive(m, entry("lien.pdf", type=tarfile.SYMTYPE, linkname="/etc/passwd")),
             bad(422, "ARCHIVE_LINK")),
        case("tar-hardlink", "hard link to the main document",
             lambda m: hostile_archive(m, entry("lien.pdf", type=tarfile.LNKTYPE, linkname=main_document(m))),
             bad(422, "ARCHIVE_LINK")),
        case("tar-char-device", "character device /dev/zero-like",
             lambda m: hostile_archive(m, entry("zero.pdf", type=tarfile.CHRTYPE, devmajor=1, devminor=5)),
             bad(422, "ARCHIVE_SPECIAL_MEMBER")),
        case("tar-block-device", "block device",
             lambda m: hostile_archive(m, entry("disk.pdf", type=tarfile.BLKTYPE, devmajor=8, devminor=0)),
             bad(422, "ARCHIVE_SPECIAL_MEMBER")),
        case("tar-fifo", "named pipe", lambda m: hostile_archive(m, entry("pipe.pdf", type=tarfile.FIFOTYPE)),
             bad(422, "ARCHIVE_SPECIAL_MEMBER")),
        case("tar-directory", "a directory entry",
             lambda m: hostile_archive(m, entry("dossier", type=tarfile.DIRTYPE)),
             bad(422, "ARCHIVE_DIRECTORY")),
        case("tar-absolute-path", "member /tmp/evil.pdf",
             lambda m: hostile_archive(m, entry("/tmp/evil.pdf", DOCUMENT)),
             bad(422, "ARCHIVE_ABSOLUTE_PATH")),
        case("tar-dotdot", "member ../../evil.pdf",
             lambda m: hostile_archive(m, entry("../../evil.pdf", DOCUMENT)),
             bad(422, "ARCHIVE_TRAVERSAL")),
        case("tar-nested-path", "member sub/evil.pdf",
             lambda m: hostile_archive(m, entry("sub/evil.pdf", DOCUMENT)),
             bad(422, "ARCHIVE_NESTED_PATH")),
        case("tar-duplicate-member", "the main document twice, different bytes",
             lambda m: hostile_archive(m, entry(main_document(m), minimal_pdf("Autre contenu"))),
             bad(422, "ARCHIVE_DUPLICATE_MEMBER")),
        case("tar-10000-members", "ten thousand empty members",
             lambda m: gzip_of(tar_bytes([entry(f"f{i}.pdf") for i in range(10_000)])),
             bad(422, "ARCHIVE_TOO_MANY_MEMBERS")),
        case("tar-empty", "a tar with no member", lambda m: gzip_of(bytes(10240)),
             bad(422, "ARCHIVE_EMPTY")),
        case("tar-hidden-after-end", "a member after the end-of-archive marker",
             lambda m: gzip_of(tar_bytes(valid_entries(m)) + tar_bytes([entry("cache.pdf", DOCUMENT)])),
             bad(422, "ARCHIVE_CORRUPT")),
        case("tar-size-lie", "a header announcing 1 MiB for 10 bytes of data",
             lambda m: gzip_of(tar_blocks(valid_entries(m))
                               + _lying_header("menteur.pdf", 1 << 20) + b"x" * 10),
             bad(422, "ARCHIVE_TRUNCATED")),
        case("tar-longname-then-pax-path", "the annex named by a GNU long name, then by a PAX "
             "path ../../evil.pdf that GNU tar follows",
             renamed_for_gnu_tar, bad(422, "ARCHIVE_AMBIGUOUS_NAME")),
        case("tar-non-utf8-member-name", "a member name in Latin-1 bytes",
             lambda m: gzip_of(tar_bytes([*valid_entries(m), entry("d\udce9lib.pdf", DOCUMENT)])),
             bad(422, "ARCHIVE_BAD_MEMBER_NAME")),

        # -- names -------------------------------------------------------------------------
        case("archive-name-lowercase-itc", "slo-EACT-…: archive named against the rules",
             lambda m: Upload(good(m), "slo" + name[3:]), EnveloppeRefusee("002", "NAME_ARCHIVE")),
        case("archive-name-wrong-extension", "the archive named .zip",
             lambda m: Upload(good(m), name.replace(".tar.gz", ".zip")),
             EnveloppeRefusee("002", "NAME_ARCHIVE")),
        case("envelope-name-mismatch", "archive -1, envelope inside named -2",
             lambda m: upload(envelope(m, numero=2), name=name), EnveloppeRefusee("002", "NAME_MISMATCH")),
        case("message-file-name-wrong", "the Acte message named with département 02C",
             lambda m: Upload(corpus._renamed_message()[1], name), Anomalie(A.NOMMAGE, "NAME_MESSAGE")),
        case("document-file-name-wrong", "the annex named annexe.pdf",
             lambda m: rename_member(envelope(m), envelope(m).acte.annexes[0].nom_fichier, "annexe.pdf"),
             Anomalie(A.NOMMAGE, "NAME_DOCUMENT")),

        # -- encodings ---------------------------------------------------------------------
        case("encoding-latin1-declared-utf8", "ISO-8859-1 bytes declared UTF-8",
             lambda m: edit_message(m, with_prolog(b'<?xml version="1.0" encoding="UTF-8"?>')),
             bad(422, "XML_MALFORMED")),
        case("encoding-latin1-undeclared", "ISO-8859-1 bytes, no XML declaration",
             lambda m: edit_message(m, lambda d: d.split(b"?>", 1)[1].lstrip()),
             bad(422, "XML_MALFORMED")),
        case("encoding-declared-utf16", "8-bit bytes declared UTF-16",
             lambda m: edit_envelope(m, with_prolog(b'<?xml version="1.0" encoding="UTF-16"?>')),
             bad(422, "XML_MALFORMED")),
        case("encoding-utf16le-bom-declared-latin1", "UTF-16LE bytes with a BOM, declared ISO-8859-1",
             lambda m: edit_message(m, in_encoding("utf-16-le", codecs.BOM_UTF16_LE)),
             bad(422, "XML_ENCODING_MISMATCH")),
        case("encoding-utf16be-declared-latin1", "UTF-16BE bytes without BOM, declared ISO-8859-1",
             lambda m: edit_envelope(m, in_encoding("utf-16-be")),
             bad(422, "XML_ENCODING_MISMATCH")),
        case("encoding-utf8-bom-declared-latin1", "a UTF-8 BOM on an Acte declared ISO-8859-1",
             lambda m: edit_message(m, lambda d: codecs.BOM_UTF8 + d),
             bad(422, "XML_ENCODING_MISMATCH")),
        case("encoding-unknown", "encoding=\"X-KLINGON\"",
             lambda m: edit_message(m, with_prolog(b'<?xml version="1.0" encoding="X-KLINGON"?>')),
             bad(422, "XML_MALFORMED")),

        # -- hostile XML -------------------------------------------------------------------
        case("xxe-local-file", "external entity to file:///etc/passwd in the envelope",
             lambda m: edit_envelope(m, with_prolog(xxe_prolog("file:///etc/passwd"))),
             bad(422, "XML_DTD_FORBIDDEN")),
        case("xxe-network", "external entity to a loopback URL in the Acte",
             lambda m: edit_message(m, with_prolog(xxe_prolog(m.canary + "/xxe"))),
             bad(422, "XML_DTD_FORBIDDEN")),
        case("dtd-external-subset", "DOCTYPE SYSTEM pointing at a loopback URL",
             lambda m: edit_message(m, with_prolog(
                 b'<?xml version="1.0"?>\n<!DOCTYPE actes:Acte SYSTEM "' + m.canary.encode()
                 + b'/acte.dtd">\n')),
             bad(422, "XML_DTD_FORBIDDEN")),
        case("billion-laughs", "ten levels of tenfold entity expansion in the Acte",
             lambda m: edit_message(m, with_prolog(LAUGHS)), bad(422, "XML_DTD_FORBIDDEN")),
        case("quadratic-blowup", "a 50 KB entity, referenced 10 000 times",
             lambda m: edit_message(m, lambda d: with_prolog(quadratic_prolog())(
                 replace_text(OBJET, b"<actes:Objet>" + b"&a;" * 10_000 + b"</actes:Objet>")(d))),
             bad(422, "XML_DTD_FORBIDDEN")),
        case("xinclude", "xi:include of /etc/passwd inside Objet (never processed)",
             lambda m: edit_message(m, replace_text(OBJET, b'<actes:Objet><xi:include xmlns:xi='
                                    b'"http://www.w3.org/2001/XInclude" href="file:///etc/passwd"'
                                    b' parse="text"/></actes:Objet>')),
             bad(422, "SCHEMA_INVALID")),
        case("xml-attribute-bomb", "3,000 undeclared attributes on the Acte root (20 KB)",
             lambda m: edit_message(m, attribute_bomb()), bad(422, "XML_TOO_MANY_ATTRIBUTES")),
        case("xml-too-many-nodes", "105,000 attributes of random values over 2,100 Annexe elements",
             lambda m: edit_message(m, many_nodes()), bad(422, "XML_TOO_MANY_NODES")),
        case("xml-deep-nesting", "5000 nested elements inside Objet",
             lambda m: edit_message(m, deep_nesting()), bad(422, "XML_MALFORMED")),
        case("envelope-not-xml", "the envelope is a PDF",
             lambda m: edit_envelope(m, lambda d: DOCUMENT), bad(422, "XML_MALFORMED")),
        case("wrong-namespace", "the Acte in an unknown namespace",
             lambda m: edit_message(m, lambda d: d.replace(b"ACTES#v1.1-20040216", b"ACTES#v9.9")),
             bad(422, "SCHEMA_INVALID")),
        case("message-wrong-direction", "an ARActe where the Acte should be",
             lambda m: upload(corpus._ar_acte_inside()), bad(422, "MESSAGE_WRONG_DIRECTION")),
        case("envelope-missing", "no envelope in the archive",
             lambda m: gzip_of(tar_bytes(valid_entries(m)[1:])), bad(422, "ENVELOPE_MISSING")),

        # -- the act's content (a transaction answered by 1-3) -----------------------------
        case("unknown-nature", "CodeNatureActe=9",
             lambda m: edit_message(m, replace_text(b'CodeNatureActe="1"', b'CodeNatureActe="9"')),
             bad(422, "MESSAGE_INVALID")),
        case("unknown-matiere", "matière 9.9",
             lambda m: upload(envelope(m, act(m, codes_matiere=(9, 9)))),
             Anomalie(A.CLASSIFICATION_INCONNUE, "CLASSIFICATION_UNKNOWN_CODE")),
        case("unknown-classification", "classification dated 2018-01-01",
             lambda m: upload(envelope(m, act(m, classification_date_version=dt.date(2018, 1, 1)))),
             Anomalie(A.CLASSIFICATION_PERIMEE, "CLASSIFICATION_VERSION_UNKNOWN")),
        case("impossible-date", "Date=2024-02-30",
             lambda m: edit_message(m, replace_text(b'actes:Date="2024-03-12"', b'actes:Date="2024-02-30"')),
             bad(422, "SCHEMA_INVALID")),
        case("future-date", "decision dated 2099",
             lambda m: upload(envelope(m, act(m, date=dt.date(2099, 1, 1)))),
             Anomalie(A.DATE, "DATE_FUTURE")),
        case("future-envelope-date", "envelope dated 2099",
             lambda m: _future_envelope(m), Anomalie(A.DATE, "DATE_FUTURE")),
        case("oversized-objet", "Objet of 100 000 characters",
             lambda m: upload(envelope(m, act(m, objet="x" * 100_000))),
             Anomalie(A.SCHEMA, "SCHEMA_INVALID")),
        *[case(f"numero-interne-{label}", f"NumeroInterne {shown} (IDActe refuses it)",
               lambda m, value=value: edit_message(m, _numero_interne(m, value)),
               Anomalie(A.SCHEMA, code))
          for label, shown, value, code in (
              ("16-characters", "of 16 characters", b"ABCDEFGHIJKLMNOP", "SCHEMA_INVALID"),
              ("hyphen", "with a hyphen", b"DEL-2024", "NUMERO_INTERNE_INVALID"),
              ("space", "with a space", b"DEL 2024", "NUMERO_INTERNE_INVALID"),
              ("dot", "with a dot", b"DEL.2024", "NUMERO_INTERNE_INVALID"),
              ("accent", "with an accented letter", "DÉL2024".encode("latin-1"),
               "NUMERO_INTERNE_INVALID"),
              ("empty", "empty", b"", "NUMERO_INTERNE_INVALID"))],
        case("annexes-count-lie", "Annexes/@Nombre says 7 for one annex",
             lambda m: edit_message(m, replace_text(b'actes:Nombre="1"', b'actes:Nombre="7"')),
             Anomalie(A.SCHEMA, "ANNEXES_COUNT")),
        case("pdf-not-a-pdf", "a text file named .pdf",
             lambda m: upload(envelope(m, act(m, document=replace(document, content=b"Bonjour")))),
             Anomalie(A.FORMAT_DOCUMENT, "DOCUMENT_FORMAT")),
        case("pdf-is-png", "PNG bytes named .pdf",
             lambda m: upload(envelope(m, act(m, document=replace(document, content=minimal_png())))),
             Anomalie(A.FORMAT_DOCUMENT, "DOCUMENT_CONTENT_MISMATCH")),
        case("budget-xml-invalid", "DocumentBudgetaire without IdColl",
             lambda m: _budget_edit(m, corpus._drop_idcoll),
             Anomalie(A.DOCUMENT_METIER, "BUDGET_INVALID")),
        case("budget-xml-xxe", "the budget document declares an external entity",
             lambda m: _budget_edit(m, with_prolog(xxe_prolog("file:///etc/passwd"))),
             Anomalie(A.SCHEMA, "XML_DTD_FORBIDDEN")),
        case("missing-referenced-file", "the annex is referenced but absent",
             lambda m: gzip_of(tar_bytes(valid_entries(m)[:-1])),
             Anomalie(A.FICHIER_INTROUVABLE, "FILE_MISSING")),
        case("unreferenced-extra-member", "an extra PDF nobody references",
             lambda m: hostile_archive(m, entry("notes.pdf", DOCUMENT)),
             Anomalie(A.FICHIER_NON_REFERENCE, "FILE_UNREFERENCED")),

        # -- signatures --------------------------------------------------------------------
        case("cms-file-altered", "the document changed after its detached CMS was made",
             lambda m: signed(m, cms(m, DOCUMENT), document=DOCUMENT.replace(b"2024", b"2025")),
             Anomalie(A.SIGNATURE, "SIGNATURE_INVALID")),
        case("cms-signature-tampered", "one byte of the signature value flipped",
             lambda m: signed(m, flip_last_byte(cms(m, DOCUMENT))),
             Anomalie(A.SIGNATURE, "SIGNATURE_INVALID")),
        case("cms-signature-moved", "the annex's valid signature placed on the document",
             lambda m: signed(m, cms(m, ANNEXE), cms(m, ANNEXE)),
             Anomalie(A.SIGNATURE, "SIGNATURE_INVALID")),
        case("cms-enveloping-wrapper", "a valid CMS embedding another document, not detached",
             lambda m: signed(m, enveloping_cms(m, ANNEXE)), Anomalie(A.SIGNATURE, "SIGNATURE_FORMAT")),
        case("cms-two-signers", "one SignedData with a second SignerInfo",
             lambda m: signed(m, two_signers_cms(m, DOCUMENT)),
             Anomalie(A.SIGNATURE, "SIGNATURE_FORMAT")),
        case("cms-garbage", "actes:Signature holding text, not CMS",
             lambda m: signed(m, "signé électroniquement".encode()),
             Anomalie(A.SIGNATURE, "SIGNATURE_FORMAT")),
        case("cms-server-certificate-signer", "signed with the simulator's own TLS server key",
             lambda m: signed(m, cms(m, DOCUMENT, m.server)),
             Anomalie(A.SIGNATURE, "SIGNATURE_SIGNER_UNTRUSTED")),
        case("pades-altered", "a PAdES-signed PDF changed inside the signed byte range",
             lambda m: signed(m, None, document=pades_then_altered(m)),
             Anomalie(A.SIGNATURE, "SIGNATURE_INVALID")),
        case("pades-new-revision", "an incremental revision appended after the PAdES signature",
             lambda m: signed(m, None, document=pades_then_new_revision(m)),
             Anomalie(A.SIGNATURE, "SIGNATURE_INVALID")),
    ]


def _lying_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.GNU_FORMAT)


def _future_envelope(m: Material) -> Upload:
    return upload(build_acte_envelope(act(m), corpus.COMMUNE, envelope_date=dt.date(2099, 1, 1)))


def _numero_interne(m: Material, value: bytes) -> Callable[[bytes], bytes]:
    """Put `value` in the act's NumeroInterne (the file names keep the case's number)."""
    return replace_text(b'NumeroInterne="' + m.numero.encode() + b'"',
                        b'NumeroInterne="' + value + b'"')


def _budget_edit(m: Material, change: Callable[[bytes], bytes]) -> Upload:
    built = envelope(m, replace(budget_request(sealed=False), numero_interne=m.numero))
    return upload(edit(built, built.acte.document.nom_fichier, change))


CASES: tuple[HostileCase, ...] = tuple(_cases())
