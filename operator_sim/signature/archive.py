"""Client side: put detached CMS signatures of the act's files into its 1-1 message.

What a collectivité's software (or S²LOW, from uploaded `.p7s` files) does before sending:
each `FichierSigne` of the Acte gets the signature of that file's exact bytes. Only the Acte
message is rewritten; every other member is copied byte for byte, in the same order.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..pki.profiles import PrivateKey
from ..protocol.archive import ArchiveLimits, read_archive, write_archive
from ..protocol.envelope import BuiltEnvelope
from ..protocol.errors import ProtocolError
from ..protocol.messages import Acte, FichierSigne, parse_message
from .cms import sign_detached


@dataclass(frozen=True)
class Signer:
    """A signing certificate, its private key and the chain to embed (issuer CAs)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_files(cls, certificate: str | os.PathLike[str], key: str | os.PathLike[str],
                   chain: str | os.PathLike[str] | None = None, *,
                   password: bytes | None = None) -> Signer:
        """PEM files as the PKI folder writes them; `certificate` may hold the chain too."""
        certificates = x509.load_pem_x509_certificates(Path(certificate).read_bytes())
        extra = (x509.load_pem_x509_certificates(Path(chain).read_bytes())
                 if chain is not None else [])
        private = serialization.load_pem_private_key(Path(key).read_bytes(), password=password)
        return cls(certificates[0], private, tuple(certificates[1:]) + tuple(extra))  # type: ignore[arg-type]


@dataclass(frozen=True)
class SignedArchive:
    """Where the signed archive was written and which files now carry a signature."""

    path: Path
    message: str
    signed: tuple[str, ...]


def _signed_acte(acte: Acte, members: dict[str, bytes], certificate: x509.Certificate,
                 key: PrivateKey, chain: Sequence[x509.Certificate]) -> Acte:
    def sign(fichier: FichierSigne) -> FichierSigne:
        if fichier.nom_fichier not in members:
            raise ProtocolError(f"{fichier.nom_fichier} is not in the archive",
                                f"{fichier.nom_fichier} est introuvable dans l'archive",
                                code="FILE_MISSING")
        data = members[fichier.nom_fichier]
        return FichierSigne(fichier.nom_fichier, sign_detached(data, certificate, key, chain))

    return dataclasses.replace(acte, document=sign(acte.document),
                               annexes=tuple(sign(a) for a in acte.annexes))


def sign_envelope(built: BuiltEnvelope, certificate: x509.Certificate, key: PrivateKey,
                  chain: Sequence[x509.Certificate] = ()) -> BuiltEnvelope:
    """The same envelope with the document and every annex signed (`envelope build --sign`)."""
    acte = _signed_acte(built.acte, built.members, certificate, key, chain)
    members = dict(built.members)
    members[built.message_name] = acte.to_xml()
    return BuiltEnvelope(built.archive_name, acte, members)


def sign_archive(source: str | os.PathLike[str], certificate: x509.Certificate,
                 key: PrivateKey, chain: Sequence[x509.Certificate] = (), *,
                 out: str | os.PathLike[str] | None = None,
                 limits: ArchiveLimits | None = None) -> SignedArchive:
    """Sign the files of the 1-1 in archive `source`; write to `out` (default: in place,
    atomically). Raises ProtocolError when the archive holds no readable Acte."""
    with read_archive(source, limits or ArchiveLimits()) as archive:
        members = {m.name: m.read() for m in archive}
    found: tuple[str, Acte] | None = None
    for name, data in members.items():
        if not name.endswith(".xml"):
            continue
        try:
            message = parse_message(data)
        except ProtocolError:
            continue
        if isinstance(message, Acte):
            found = (name, message)
            break
    if found is None:
        raise ProtocolError("no Acte (1-1) message in the archive",
                            "aucun message Acte (1-1) dans l'archive", code="MESSAGE_INVALID")
    name, acte = found
    signed = _signed_acte(acte, members, certificate, key, chain)
    members[name] = signed.to_xml()
    destination = Path(out) if out is not None else Path(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    os.close(handle)
    try:
        write_archive(temporary, members.items())
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    names = (signed.document.nom_fichier, *(a.nom_fichier for a in signed.annexes))
    return SignedArchive(destination, name, names)
