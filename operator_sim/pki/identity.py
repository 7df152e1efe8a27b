"""Who a trusted certificate is, and what it may do: agents, shared accounts, SIRENs, roles.

A certificate (SHA-256 fingerprint) maps to one account, or to several told apart by HTTP
Basic login + password (scrypt, from hashlib), as real operators do. Authorisation is one
rule: an identity acts only for its own SIRENs. Bindings live behind `IdentityDirectory` (the
store's agents tables, `store.identities`); the JSON file older versions kept is only read, to
import it. Nothing here knows HTTP or reads the clock.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography import x509

from ..errors import Kind, Refusal
from .profiles import RgsLevel, siren_of
from .store import fingerprint

ROLES = frozenset({"read", "submit", "cancel", "answer", "post", "admin"})
AGENT_ROLES = frozenset({"read", "submit", "cancel", "answer", "post"})
"""`post` is S²LOW's teletransmission right ("TT"): an account without it (S²LOW's "CS") creates
acts that wait at 17 until an account with it posts them."""
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class IdentityError(Refusal):
    """A refusal after the certificate was trusted: who is asking is not established (or, for
    `Forbidden` and `SirenMismatch`, may not do this); `detail` says more, in English."""

    kind = Kind.UNAUTHENTICATED
    code = "IDENTITY"
    message_fr = "Identité non reconnue."
    message_en = "Identity not recognised."

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        self.args = (detail or self.message_en,)
        self.detail = detail


class UnknownCertificate(IdentityError):
    code = "UNKNOWN_CERTIFICATE"
    message_fr = "Certificat valide mais associé à aucun compte."
    message_en = "Valid certificate, but bound to no account."


class CredentialsRequired(IdentityError):
    code = "CREDENTIALS_REQUIRED"
    message_fr = "Certificat partagé : identifiant et mot de passe (HTTP Basic) requis."
    message_en = "Shared certificate: login and password (HTTP Basic) required."


class BadCredentials(IdentityError):
    code = "BAD_CREDENTIALS"
    message_fr = "Identifiant ou mot de passe incorrect pour ce certificat."
    message_en = "Wrong login or password for this certificate."


class SirenMismatch(IdentityError):
    code = "SIREN_MISMATCH"
    kind = Kind.FORBIDDEN
    message_fr = "Le SIREN du certificat ne correspond pas à celui du compte."
    message_en = "The certificate's SIREN does not match the account's."


class Forbidden(IdentityError):
    """The identity is known but may not do this (foreign SIREN, missing role)."""

    code = "FORBIDDEN_SIREN"
    kind = Kind.FORBIDDEN
    message_fr = "Ce compte n'est pas autorisé à agir pour ce SIREN."
    message_en = "This account may not act for this SIREN."


class MissingRole(Forbidden):
    code = "FORBIDDEN_ROLE"
    message_fr = "Ce compte n'a pas le rôle requis."
    message_en = "This account lacks the required role."


@dataclass(frozen=True)
class Account:
    """One account behind a certificate; `login` is None when the certificate is not shared."""

    name: str
    sirens: frozenset[str]
    roles: frozenset[str] = AGENT_ROLES
    login: str | None = None
    password_hash: str | None = None


@dataclass(frozen=True)
class CertificateBinding:
    """A certificate's accounts, and the SIREN its subject must name."""

    fingerprint: str
    siren: str
    accounts: tuple[Account, ...] = ()
    serial: str | None = None  # upper-case hex, as the PKI index writes it
    subject: str | None = None  # RFC 4514

    @property
    def shared(self) -> bool:
        """Accounts carry logins: the request must say which one (HTTP Basic)."""
        return any(account.login for account in self.accounts)


@dataclass(frozen=True)
class Identity:
    """The resolved principal for one request."""

    fingerprint: str
    name: str
    sirens: frozenset[str]
    roles: frozenset[str]
    certificate_siren: str
    login: str | None = None
    level: RgsLevel | None = None

    def can_act_for(self, siren: str) -> bool:
        return siren in self.sirens

    def has_role(self, role: str) -> bool:
        return role in self.roles


def authorize(identity: Identity, siren: str, role: str | None = None) -> None:
    """Raise `Forbidden` unless `identity` may act for `siren` (with `role`, if given)."""
    if not identity.can_act_for(siren):
        raise Forbidden(f"{identity.name} may not act for SIREN {siren}")
    if role is not None and not identity.has_role(role):
        raise MissingRole(f"{identity.name} lacks role {role!r}")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (base64), parameters stored so they can change later."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT, dklen=32)
    b64 = base64.b64encode
    return (f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
            f"{b64(salt).decode()}${b64(digest).decode()}")


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                            p=int(p), dklen=len(expected))
    return hmac.compare_digest(actual, expected)


class IdentityDirectory(Protocol):
    """Where certificate bindings live (`store.identities.StoreDirectory`)."""

    def cached(self, fingerprint: str) -> CertificateBinding | None:
        """The binding if it is already in memory: never blocks, None when unsure."""
        ...

    def binding(self, fingerprint: str) -> CertificateBinding | None:
        """The binding, reading storage if needed (blocking: off the event loop)."""
        ...

    def bind(self, binding: CertificateBinding, *, at: datetime) -> CertificateBinding:
        """Add `binding.accounts` behind its certificate (created with its SIREN if new)."""
        ...


def resolve(directory: IdentityDirectory, certificate: x509.Certificate, *,
            credentials: tuple[str, str] | None = None,
            level: RgsLevel | None = None) -> Identity:
    """Map a *trusted* certificate (+ Basic credentials when shared) to an `Identity`."""
    return identify(directory.binding(fingerprint(certificate)), certificate,
                    credentials=credentials, level=level)


def identify(binding: CertificateBinding | None, certificate: x509.Certificate, *,
             credentials: tuple[str, str] | None = None,
             level: RgsLevel | None = None) -> Identity:
    """`resolve` once the certificate's binding (None: unbound) has been looked up."""
    if binding is None or not binding.accounts:
        raise UnknownCertificate(f"no account for certificate {fingerprint(certificate)}")
    print_ = binding.fingerprint
    dn_siren = siren_of(certificate.subject)
    if dn_siren != binding.siren:
        raise SirenMismatch(f"certificate names SIREN {dn_siren}, account expects {binding.siren}")
    if binding.shared:
        if credentials is None:
            raise CredentialsRequired()
        login, password = credentials
        account = next((a for a in binding.accounts if a.login == login), None)
        # Hash even for an unknown login so timing does not reveal which logins exist.
        stored = account.password_hash if account and account.password_hash else _dummy_hash()
        if not check_password(password, stored) or account is None:
            raise BadCredentials(f"login {login!r} refused")
    else:
        account = binding.accounts[0]
    return Identity(fingerprint=print_, name=account.name, sirens=account.sirens,
                    roles=account.roles, certificate_siren=binding.siren, login=account.login,
                    level=level)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown login's password is checked against: made at the first login, not at
    import (scrypt takes tens of milliseconds, which every process that imports this paid)."""
    return hash_password("operator-sim: no such login", salt=b"\0" * 16)


def _with_post(roles: list[str]) -> frozenset[str]:
    """Roles written before the `post` right: submitting included posting then."""
    return frozenset(roles) | ({"post"} if "submit" in roles else set())


def read_identities_file(path: str | os.PathLike[str]) -> list[CertificateBinding]:
    """The bindings of an `identities.json` written by older versions (imported on start).

    Raises ValueError, naming the file, when it is not one.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return [CertificateBinding(print_.lower(), entry["siren"], tuple(
            Account(name=a["name"], sirens=frozenset(a["sirens"]), roles=_with_post(a["roles"]),
                    login=a.get("login"), password_hash=a.get("password_hash"))
            for a in entry["accounts"])) for print_, entry in raw["certificates"].items()]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not an identities file operator-sim wrote "
                         f"({type(error).__name__}: {error}); repair or remove it") from None
