"""Login/password accounts behind a shared certificate, on the admin port.

S²LOW lets several users share one certificate, told apart by HTTP Basic login + password
(Pastell's "login" setting; nonces are issued to such logins only). The simulator's identity
directory already resolves them; these routes let the operator add and list them while the
service runs (the directory refreshes its memory on every write made through it):

- `GET /admin/certificates/{fingerprint}/accounts`: the accounts, never their password hashes;
- `POST /admin/certificates/{fingerprint}/accounts` `{"login", "password", "name"?, "sirens"?,
  "roles"?}`: one more account (201); without `post` in its roles (S²LOW's "CS" right) its acts
  wait at 17 for an account that may post them. The certificate must be one the PKI issued to
  an agent; its SIREN is the default `sirens`. A certificate whose account has no login cannot
  get a second one (409).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from ...errors import Kind
from ...pki.identity import AGENT_ROLES, Account, CertificateBinding, hash_password
from ...pki.profiles import siren_of
from ...protocol.names import SIREN
from ...store import IdentityConflict
from ..http import BadRequest, json_object, simulator_of

FINGERPRINT = re.compile(r"[0-9a-f]{64}")
LOGIN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


def _account_json(account: Account) -> dict[str, Any]:
    return {"login": account.login, "name": account.name, "sirens": sorted(account.sirens),
            "roles": sorted(account.roles)}


def _fingerprint(request: web.Request) -> str:
    value = request.match_info["fingerprint"].lower().replace(":", "")
    if not FINGERPRINT.fullmatch(value):
        raise BadRequest("CERTIFICATE_UNKNOWN",
                         "empreinte SHA-256 attendue (64 chiffres hexadécimaux)",
                         "SHA-256 fingerprint expected (64 hex digits)", kind=Kind.NOT_FOUND)
    return value


def _text(data: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None, *,
          lengths: tuple[int, int] = (1, 200), default: str | None = None) -> str:
    value = data.get(name, default)
    low, high = lengths
    if not isinstance(value, str) or not low <= len(value) <= high or not value.isprintable() \
            or (pattern is not None and not pattern.fullmatch(value)):
        raise BadRequest("FIELD_INVALID",
                         f"{name} : texte de {low} à {high} caractères attendu"
                         + (" (lettres, chiffres, . _ @ -)" if pattern is LOGIN else ""),
                         f"{name}: text of {low} to {high} characters expected", field=name,
                         kind=Kind.INVALID)
    return value


async def list_accounts(request: web.Request) -> web.Response:
    print_ = _fingerprint(request)
    simulator = simulator_of(request)
    binding = await asyncio.to_thread(simulator.identities.binding, print_)
    if binding is None:
        raise BadRequest("CERTIFICATE_UNKNOWN", f"aucun compte sur le certificat {print_}",
                         f"no account on certificate {print_}", kind=Kind.NOT_FOUND)
    return web.json_response({"fingerprint": print_, "siren": binding.siren, "shared":
                              binding.shared,
                              "accounts": [_account_json(a) for a in binding.accounts]})


async def add_account(request: web.Request) -> web.Response:
    print_ = _fingerprint(request)
    simulator = simulator_of(request)
    record = next((r for r in simulator.pki.records() if r.fingerprint == print_), None)
    if record is None or record.kind != "agent":
        raise BadRequest("CERTIFICATE_UNKNOWN",
                         f"le certificat {print_} n'est pas un certificat d'agent de la PKI",
                         f"certificate {print_} is not an agent certificate of the PKI", kind=Kind.NOT_FOUND)
    siren = siren_of(simulator.pki.certificate(record).subject) or ""
    data = await json_object(request)
    unknown = sorted(set(data) - {"login", "password", "name", "sirens", "roles"})
    if unknown:
        raise BadRequest("FIELD_UNKNOWN", f"champ inconnu {unknown[0]!r}",
                         f"unknown field {unknown[0]!r}", field=unknown[0], kind=Kind.INVALID)
    login = _text(data, "login", LOGIN, lengths=(1, 64))
    password = _text(data, "password", lengths=(MIN_PASSWORD, MAX_PASSWORD))
    name = _text(data, "name", default=login)
    sirens = data.get("sirens", [siren])
    if not isinstance(sirens, list) or not sirens or not all(
            isinstance(s, str) and re.fullmatch(SIREN, s) for s in sirens):
        raise BadRequest("FIELD_INVALID", "sirens : liste de SIREN (9 chiffres) attendue",
                         "sirens: list of SIRENs (9 digits) expected", field="sirens", kind=Kind.INVALID)
    roles = data.get("roles", sorted(AGENT_ROLES))
    if not isinstance(roles, list) or not all(isinstance(r, str) and r in AGENT_ROLES
                                              for r in roles):
        raise BadRequest("FIELD_INVALID",
                         f"roles : liste parmi {', '.join(sorted(AGENT_ROLES))} attendue",
                         f"roles: list among {', '.join(sorted(AGENT_ROLES))} expected",
                         field="roles", kind=Kind.INVALID)
    hashed = await asyncio.to_thread(hash_password, password)  # scrypt: off the loop
    account = Account(name=name, sirens=frozenset(sirens), roles=frozenset(roles), login=login,
                      password_hash=hashed)
    binding = CertificateBinding(print_, siren, (account,), record.serial, record.subject)
    try:
        await asyncio.to_thread(simulator.identities.bind, binding, at=simulator.clock.now())
    except IdentityConflict as conflict:
        raise BadRequest("IDENTITY_CONFLICT",
                         f"compte refusé sur ce certificat : {conflict} (un certificat à "
                         "plusieurs comptes demande un login sur chacun, logins uniques)",
                         f"account refused on this certificate: {conflict}",
                         field="login", kind=Kind.CONFLICT) from None
    return web.json_response({"fingerprint": print_, **_account_json(account)}, status=201)


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/admin/certificates/{fingerprint}/accounts", list_accounts)
    app.router.add_post("/admin/certificates/{fingerprint}/accounts", add_account)


__all__ = ["add_admin_routes"]
