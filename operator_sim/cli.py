"""The `operator-sim` command line: a thin click layer over public functions.

Each command only parses arguments, calls the library and turns results into output and an
exit code; anything a test or a user script needs is importable without going through here.

Each command imports what it uses inside its function, on purpose: `operator-sim --help` and
`operator-sim validate` must not pay for the server, pyHanko or cryptography
(tests/protocol/test_startup_imports.py measures the validator's start).
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import gc
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from . import __version__

if TYPE_CHECKING:  # imported where used, at run time (see above)
    from .client import ApiError, Client
    from .pilotage.registre import Refus
    from .signature import Signer

_Command = TypeVar("_Command", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="operator-sim")
def main() -> None:
    """Simulator of the @ctes chain: collectivité → operator → ministry → préfecture."""


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text",
              show_default=True, help="Report format on standard output.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this file instead of standard output.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=os.cpu_count() or 1,
              show_default="number of cores", help="Worker processes for large batches.")
@click.option("--today", callback=_date, metavar="YYYY-MM-DD",
              help="The date rules compare against (default: today).")
@click.option("--classification", "classification_date", callback=_date, metavar="YYYY-MM-DD",
              help="Date of the classification in force (default: the newest bundled one).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on standard error (default: on a terminal, for 10+ files).")
@click.option("--pki-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Test PKI the signers must chain to (default: signatures are checked for "
                   "form and integrity only, signers are not judged).")
@click.option("--signatures", "signature_mode", default="verify-if-present", show_default=True,
              type=click.Choice(["off", "verify-if-present", "required"]),
              help="Signatures carried by acts (actes:Signature CMS, PAdES in PDFs).")
@click.option("--profile", default="strict", show_default=True,
              type=click.Choice(["strict", "lenient"]),
              help="Platform profile: lenient reports its leniencies as warnings.")
def validate(paths: tuple[str, ...], fmt: str, output: str | None, jobs: int,
             today: dt.date | None, classification_date: dt.date | None,
             progress: bool | None, pki_dir: str | None, signature_mode: str,
             profile: str) -> None:
    """Validate @ctes envelope archives (files, or folders searched for *.tar.gz).

    Exit status: 0 when every archive is valid, 1 when any is invalid, 2 on usage errors.
    """
    from .protocol.classification import bundled_classifications
    from .validation.batch import RENDERERS, find_archives, validate_many
    from .validation.profiles import PlatformProfile
    from .validation.validator import ValidationPolicy

    archives = find_archives(paths)
    if not archives:
        raise click.UsageError("no .tar.gz archive found in the given paths")
    known = bundled_classifications()
    if classification_date is not None and classification_date not in known:
        raise click.BadParameter(
            f"no bundled classification dated {classification_date} "
            f"(known: {', '.join(str(d) for d in sorted(known))})", param_hint="--classification")
    from .signature import SignatureMode, SignaturePolicy

    trust = None
    if pki_dir is not None:
        from .pki import PkiError, PkiStore

        try:
            trust = PkiStore(pki_dir).trust_store()
        except (PkiError, OSError) as exc:
            raise click.BadParameter(str(exc), param_hint="--pki-dir") from None
    policy = ValidationPolicy(today=today or dt.date.today(),
                              current_classification=classification_date,
                              signatures=SignaturePolicy(mode=SignatureMode(signature_mode)),
                              trust=trust, received_at=None if today else _now(),
                              profile=PlatformProfile(profile))
    if progress is None:
        progress = sys.stderr.isatty() and len(archives) >= 10
    if progress:
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread: a one-thread process may fork its workers
        with tqdm(total=len(archives), unit="archive", file=sys.stderr) as bar:
            reports = validate_many(archives, policy, jobs=jobs, on_done=lambda _: bar.update())
    else:
        reports = validate_many(archives, policy, jobs=jobs)
    rendered = RENDERERS[fmt](reports)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(rendered)
    else:
        click.echo(rendered, nl=False)
    # At exit the collector would walk every object the imports and the batch made (~15 ms
    # for nothing): frozen, they are left to the end of the process.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    sys.exit(0 if all(r.valid for r in reports) else 1)


@main.group()
def envelope() -> None:
    """Build @ctes envelope archives and test corpora."""


def _piece_option(value: str) -> tuple[str, str | None]:
    """`file.pdf` or `file.pdf:99_DE` (typology after the last colon)."""
    path, sep, typologie = value.rpartition(":")
    if sep and typologie and len(typologie) == 5 and not os.path.exists(value):
        return path, typologie
    return value, None


@envelope.command("build")
@click.option("--siren", required=True, help="SIREN of the collectivité (9 digits).")
@click.option("--departement", required=True, help="Département code, e.g. 034, 02A, 974.")
@click.option("--arrondissement", type=click.IntRange(0, 9), default=1, show_default=True)
@click.option("--nature-collectivite", default="31", show_default=True,
              help="IDCL/@Nature, two digits (31 = commune).")
@click.option("--date", "date_", required=True, callback=_date, metavar="YYYY-MM-DD",
              help="Date of the decision.")
@click.option("--numero", required=True, help="NumeroInterne of the act.")
@click.option("--nature", required=True, type=click.Choice(["DE", "AR", "AI", "CC", "BF", "AU"]))
@click.option("--matiere", required=True, help="Classification path, e.g. 5.2 or 7.1.1.")
@click.option("--objet", required=True, help="Objet of the act (500 characters at most).")
@click.option("--classification", "classification_date", callback=_date, default="2019-03-01",
              show_default=True, metavar="YYYY-MM-DD", help="ClassificationDateVersion.")
@click.option("--document", required=True, metavar="FILE[:TYPO]",
              help="Main document (PDF; XML for a BF 7.1 budget), optional typology.")
@click.option("--annexe", "annexes", multiple=True, metavar="FILE[:TYPO]",
              help="An annex (PDF, PNG or JPEG), repeatable, optional typology.")
@click.option("--email", "emails", multiple=True, default=("actes@example.org",),
              show_default=True, help="Return address (AdressesRetour), repeatable.")
@click.option("--itc", default="SLO", show_default=True, help="Operator trigram.")
@click.option("--envelope-date", callback=_date, metavar="YYYY-MM-DD",
              help="Date in the envelope name (default: today).")
@click.option("--envelope-numero", type=click.IntRange(1, 9999), default=1, show_default=True)
@click.option("--output", "-o", type=click.Path(file_okay=False), default=".",
              show_default=True, help="Folder to write the archive into.")
@click.option("--sign-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Sign the document and annexes (detached CMS in actes:Signature) with this "
                   "PEM certificate; needs --sign-key.")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM private key of --sign-cert.")
@click.option("--sign-chain", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM issuer certificates to embed in each signature.")
def envelope_build(siren: str, departement: str, arrondissement: int, nature_collectivite: str,
                   date_: dt.date, numero: str, nature: str, matiere: str, objet: str,
                   classification_date: dt.date, document: str, annexes: tuple[str, ...],
                   emails: tuple[str, ...], itc: str, envelope_date: dt.date | None,
                   envelope_numero: int, output: str, sign_cert: str | None,
                   sign_key: str | None, sign_chain: str | None) -> None:
    """Build a protocol-exact 1-1 envelope archive from fields and files (optionally signed)."""
    if (sign_cert is None) != (sign_key is None):
        raise click.UsageError("--sign-cert and --sign-key go together")
    from .protocol.codes import NatureActe
    from .protocol.envelope import (
        ActeRequest,
        Collectivite,
        Piece,
        build_acte_envelope,
        format_of,
        parse_codes_matiere,
    )
    from .protocol.errors import ProtocolError

    def piece(value: str, option: str) -> Piece:
        path, typologie = _piece_option(value)
        try:
            with open(path, "rb") as fh:
                content = fh.read()
        except OSError as exc:
            raise click.BadParameter(f"{path}: {exc.strerror}", param_hint=option) from None
        return Piece(content, format_of(path), typologie)

    try:
        codes = parse_codes_matiere(matiere)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--matiere") from None
    request = ActeRequest(
        date=date_, numero_interne=numero, nature=NatureActe.from_abrege(nature),
        codes_matiere=codes, objet=objet, classification_date_version=classification_date,
        document=piece(document, "--document"),
        annexes=tuple(piece(a, "--annexe") for a in annexes))
    collectivite = Collectivite(siren=siren, departement=departement,
                                arrondissement=arrondissement, nature=nature_collectivite,
                                adresses_retour=emails)
    try:
        built = build_acte_envelope(request, collectivite,
                                    envelope_date=envelope_date or dt.date.today(),
                                    envelope_numero=envelope_numero, itc=itc)
    except ProtocolError as exc:
        raise click.UsageError(f"{exc.field or 'input'}: {exc.message_en}") from None
    if sign_cert is not None and sign_key is not None:
        from .signature import sign_envelope

        signer = _signer(sign_cert, sign_key, sign_chain)
        built = sign_envelope(built, signer.certificate, signer.key, signer.chain)
    os.makedirs(output, exist_ok=True)
    click.echo(built.write(output))


def _signer(cert: str, key: str, chain: str | None) -> Signer:
    from .signature import Signer

    try:
        return Signer.from_files(cert, key, chain)
    except (ValueError, TypeError, OSError) as exc:
        raise click.BadParameter(f"cannot load the signing certificate or key: {exc}") from None


@envelope.command("sign")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--cert", required=True, type=click.Path(exists=True, dir_okay=False),
              help="PEM signing certificate (may be followed by its chain).")
@click.option("--key", required=True, type=click.Path(exists=True, dir_okay=False),
              help="PEM private key of --cert.")
@click.option("--chain", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM issuer certificates to embed in each signature.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the signed archive here (default: rewrite ARCHIVE in place).")
def envelope_sign(archive: str, cert: str, key: str, chain: str | None,
                  output: str | None) -> None:
    """Add detached CMS signatures of the document and annexes to ARCHIVE's 1-1 message."""
    from .protocol.errors import ProtocolError
    from .signature import sign_archive

    signer = _signer(cert, key, chain)
    try:
        result = sign_archive(archive, signer.certificate, signer.key, signer.chain, out=output)
    except ProtocolError as exc:
        raise click.UsageError(f"{archive}: {exc.message_en}") from None
    for name in result.signed:
        click.echo(f"signed {name}")
    click.echo(result.path)


@envelope.command("corpus")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--material/--no-material", default=True, show_default=True,
              help="Also write the act material (PDF, PNG, budget XML) under FOLDER/material.")
def envelope_corpus(folder: str, material: bool) -> None:
    """Write the generated corpus of valid and invalid envelopes with its manifest."""
    from .testing.corpus import CASES, write_corpus, write_material

    manifest = write_corpus(os.path.join(folder, "cases"))
    click.echo(f"{len(CASES)} cases, manifest: {manifest}")
    if material:
        for path in write_material(os.path.join(folder, "material")):
            click.echo(f"material: {path}")


# -- pki: the RGS-style test PKI (thin layer over operator_sim.pki) ----------------------------

_PKI_DIR = click.option("--dir", "directory", type=click.Path(file_okay=False), default="certs",
                        show_default=True, help="PKI folder.")


def _now() -> dt.datetime:
    """The CLI's clock: the wall clock, truncated to the second (X.509 times have no more)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@main.group()
def pki() -> None:
    """The simulator's RGS-style test PKI: init, issue agents, revoke, list, export."""


@pki.command("init")
@_PKI_DIR
@click.option("--ca-key", default="rsa-4096", show_default=True,
              help="Root key: rsa-2048 | rsa-3072 | rsa-4096 | ec-p256 | ec-p384.")
@click.option("--catalogue/--no-catalogue", default=True, show_default=True,
              help="Also issue the bad-certificate catalogue and its manifest.")
def pki_init(directory: str, ca_key: str, catalogue: bool) -> None:
    """Create the test PKI in DIR (does nothing if it already exists)."""
    from .pki import KeySpec, PkiStore, initialise_pki

    report = initialise_pki(PkiStore(directory), now=_now(), ca_key=KeySpec.parse(ca_key),
                            catalogue=catalogue)
    if report.already_initialised:
        click.echo(f"PKI already initialised in {report.directory}; nothing created.")
        return
    for path in report.created:
        click.echo(f"created {path}")
    click.echo(f"PKI ready in {report.directory}")


@pki.command("issue-agent")
@_PKI_DIR
@click.option("--siren", required=True, help="SIREN of the collectivité (9 digits).")
@click.option("--name", required=True, help="Agent's name (certificate CN).")
@click.option("--collectivite", default=None, help="Organisation name (default: derived).")
@click.option("--siret", default=None, help="SIRET (14 digits) for the OU instead of the SIREN.")
@click.option("--email", default=None, help="rfc822Name in the subject alternative name.")
@click.option("--level", default="**", show_default=True, help="RGS level: *, ** or ***.")
@click.option("--signing", is_flag=True, help="Signing profile: adds nonRepudiation.")
@click.option("--key", "key_spec", default="ec-p256", show_default=True,
              help="ec-p256 | rsa-2048 | rsa-3072 | rsa-4096.")
@click.option("--data-dir", type=click.Path(file_okay=False), default="data", show_default=True,
              envvar="OPERATOR_SIM_DATA_DIR",
              help="The service's data folder, whose database holds the accounts "
                   "(env OPERATOR_SIM_DATA_DIR); a running service sees the agent at once.")
@click.option("--account", "accounts", multiple=True, metavar="LOGIN:PASSWORD",
              help="Share the certificate between login/password accounts (HTTP Basic, as "
                   "S²LOW's shared certificates); repeat for each. Without it, one account "
                   "named NAME and no login.")
def pki_issue_agent(directory: str, siren: str, name: str, collectivite: str | None,
                    siret: str | None, email: str | None, level: str, signing: bool,
                    key_spec: str, data_dir: str, accounts: tuple[str, ...]) -> None:
    """Issue an agent certificate and bind it to an account acting for SIREN (or to several
    login/password accounts with --account)."""
    from .pki import KeySpec, PkiStore, RgsLevel
    from .pki.enrol import enrol_agent
    from .pki.identity import Account, hash_password
    from .store import SqliteStore, StoreError
    from .store.identities import StoreDirectory

    logins = []
    for value in accounts:
        login, colon, password = value.partition(":")
        if not colon or not login or len(password) < 8:
            raise click.UsageError(f"--account {login or value!r}: LOGIN:PASSWORD expected, "
                                   "password of 8 characters at least")
        logins.append(Account(name=login, sirens=frozenset({siren}), login=login,
                              password_hash=hash_password(password)))
    store = PkiStore(directory)
    try:
        level_, key = RgsLevel.parse(level), KeySpec.parse(key_spec)
        with SqliteStore.open(data_dir) as database:
            record = enrol_agent(store, StoreDirectory(database), siren=siren, name=name,
                                 now=_now(), collectivite=collectivite, siret=siret, email=email,
                                 level=level_, signing=signing, key_spec=key,
                                 accounts=tuple(logins))
    except (ValueError, StoreError) as exc:
        raise click.UsageError(str(exc)) from None
    for account in logins:
        click.echo(f"login {account.login}")
    click.echo(f"serial {record.serial}\nsha256 {record.fingerprint}")
    click.echo(f"certificate {store.directory / record.certificate}")
    click.echo(f"key {store.directory / record.key}")


@pki.command("revoke")
@_PKI_DIR
@click.argument("reference")
@click.option("--reason", default="unspecified", show_default=True,
              type=click.Choice(["unspecified", "keyCompromise", "cACompromise",
                                 "affiliationChanged", "superseded", "cessationOfOperation",
                                 "certificateHold", "privilegeWithdrawn"]))
def pki_revoke(directory: str, reference: str, reason: str) -> None:
    """Revoke a certificate (serial in hex, or SHA-256 fingerprint prefix); reissue its CRL."""
    from .pki import PkiError, PkiStore, RevocationReason

    try:
        record = PkiStore(directory).revoke(reference, now=_now(),
                                            reason=RevocationReason[reason])
    except PkiError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"revoked {record.serial} ({record.subject}) at {record.revoked_at}: {reason}")


@pki.command("list")
@_PKI_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def pki_list(directory: str, as_json: bool) -> None:
    """List issued certificates with their status."""
    import dataclasses
    import json

    from .pki import PkiError, PkiStore

    try:
        records = PkiStore(directory).records()
    except PkiError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in records], indent=2,
                              ensure_ascii=False))
        return
    for r in records:
        status = f"REVOKED {r.revocation_reason}" if r.revoked else "valid"
        click.echo(f"{r.serial:>40}  {r.kind:<12} {r.not_after[:10]}  {status:<22} {r.subject}")


@pki.command("export-p12")
@_PKI_DIR
@click.argument("reference")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False))
@click.option("--password", default="", help="Protect the file (empty: no password).")
def pki_export_p12(directory: str, reference: str, out: str, password: str) -> None:
    """Export certificate + key + issuing CA as PKCS#12 for browsers and curl."""
    from pathlib import Path

    from .pki import PkiError, PkiStore

    try:
        path = PkiStore(directory).export_p12(reference, Path(out),
                                              password=password.encode() or None)
    except PkiError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {path}")


# -- timestamp: RFC 3161 tokens from the simulator's TSA (thin layer over operator_sim.timestamp)


_DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False), default="data", show_default=True,
    envvar="OPERATOR_SIM_DATA_DIR",
    help="The service's data folder (env OPERATOR_SIM_DATA_DIR); a running service sees "
         "the change at its next request.")


@main.group()
def collectivite() -> None:
    """The collectivités the platform knows and their conventions (strict: no convention,
    no transmission)."""


@collectivite.command("add")
@_DATA_DIR
@click.option("--siren", required=True, help="SIREN (9 digits).")
@click.option("--nom", required=True, help="Name, e.g. \"Commune de Montpellier\".")
@click.option("--nature", default="31", show_default=True,
              help="IDCL nature of the collectivité (31 commune, 32 département…).")
@click.option("--departement", required=True, help="Département: 034, 02A, 974…")
@click.option("--arrondissement", default="1", show_default=True, help="One digit.")
@click.option("--profil", type=click.Choice(["strict", "lenient"]), default=None,
              help="Its own platform profile (default: the deployment's).")
@click.option("--date-signature", default=None, metavar="YYYY-MM-DD",
              help="Date the convention was signed (default: today).")
@click.option("--operateur", default="SLO", show_default=True,
              help="Trigram of the transmission operator.")
@click.option("--matiere", "matieres", multiple=True, metavar="PREFIX",
              help="A matière the convention covers (repeatable; none: every matière).")
@click.option("--budget/--no-budget", default=True, show_default=True,
              help="Whether the convention covers budget acts (BF).")
@click.option("--no-convention", is_flag=True, help="Register the collectivité only.")
def collectivite_add(data_dir: str, siren: str, nom: str, nature: str, departement: str,
                     arrondissement: str, profil: str | None, date_signature: str | None,
                     operateur: str, matieres: tuple[str, ...], budget: bool,
                     no_convention: bool) -> None:
    """Register (or correct) a collectivité with its convention."""
    from .engine.conventions import ConventionInvalid, parse_collectivite, parse_convention
    from .store import SqliteStore, StoreError

    if not re.fullmatch(r"[0-9]{9}", siren):
        raise click.BadParameter("9 digits expected", param_hint="--siren")
    try:
        with SqliteStore.open(data_dir) as store:
            fields = {"nom": nom, "nature": nature, "departement": departement,
                      "arrondissement": arrondissement}
            if profil is not None:  # else the registered one, if any, is kept
                fields["profil"] = profil
            described = parse_collectivite(siren, fields, store.get_collectivite(siren))
            convention = None if no_convention else parse_convention(siren, {
                "date_signature": date_signature or dt.date.today().isoformat(),
                "operateur": operateur, "matieres": list(matieres),
                "actes_budgetaires": budget}, default_operateur=operateur)
            store.add_collectivite(described)
            if convention is not None:
                saved = store.add_convention(convention)
                click.echo(f"convention {saved.id}: {siren} via {saved.operateur}, signed "
                           f"{saved.date_signature}, matières "
                           f"{', '.join(saved.matieres) or 'toutes'}, budget "
                           f"{'oui' if saved.actes_budgetaires else 'non'}")
    except ConventionInvalid as exc:
        hint = {"matieres": "--matiere", "actes_budgetaires": "--budget"}.get(
            exc.field, f"--{exc.field.replace('_', '-')}")
        raise click.BadParameter(exc.message_en, param_hint=hint) from None
    except StoreError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"collectivité {siren} ({described.nom}): IDCL {described.departement}/"
               f"{described.arrondissement}/{described.nature}, profil "
               f"{described.profil or 'du déploiement'}")


@collectivite.command("list")
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="JSON, as GET /admin/conventions.")
def collectivite_list(data_dir: str, as_json: bool) -> None:
    """Every convention, with its collectivité when its IDCL is known."""
    import json

    from .engine.conventions import convention_json
    from .store import SqliteStore

    with SqliteStore.open(data_dir) as store:
        conventions = store.conventions()
        known = {c.siren: c for c in store.collectivites()}
    if as_json:
        click.echo(json.dumps([convention_json(c) for c in conventions], ensure_ascii=False))
        return
    for c in conventions:
        who = known.get(c.siren)
        end = f" résiliée le {c.date_resiliation}" if c.date_resiliation else ""
        click.echo(f"{c.id}\t{c.siren}\t{who.nom if who else '?'}\t{c.operateur}\t"
                   f"{c.date_signature}\t{','.join(c.matieres) or 'toutes'}\t"
                   f"budget {'oui' if c.actes_budgetaires else 'non'}\t{c.statut}{end}")


@collectivite.command("resilier")
@_DATA_DIR
@click.argument("convention_id", type=click.IntRange(1))
@click.option("--date", "on", default=None, metavar="YYYY-MM-DD",
              help="Termination date (default: today).")
def collectivite_resilier(data_dir: str, convention_id: int, on: str | None) -> None:
    """Terminate a convention: from that day its collectivité may no longer transmit."""
    from .engine.conventions import ConventionInvalid, parse_day
    from .store import NotFound, SqliteStore

    try:
        day = parse_day("date", on or dt.date.today().isoformat())
        with SqliteStore.open(data_dir) as store:
            saved = store.terminate_convention(convention_id, day)
    except ConventionInvalid as exc:
        raise click.BadParameter(exc.message_en, param_hint="--date") from None
    except NotFound:
        raise click.UsageError(f"no convention {convention_id}") from None
    click.echo(f"convention {saved.id} ({saved.siren}) résiliée le {saved.date_resiliation}")


@main.group()
def pilotage() -> None:
    """Pilotage @CTES: the département's collectivités, paper deposits, indicators and the
    lists of collectivités to remind (the dashboard's Pilotage page, on a data folder)."""


def _refused_lines(refus: list[Refus]) -> None:
    for r in refus:
        click.echo(f"line {r.ligne}, {r.champ}: {r.raison_en}", err=True)
    raise click.ClickException(f"{len(refus)} line(s) refused, nothing stored")


@pilotage.command("import")
@_DATA_DIR
@click.argument("csv_file", type=click.File("rb"))
@click.option("--departement", default=None, help="Département of collectivités not yet known "
              "(034, 02A, 974…).")
def pilotage_import(data_dir: str, csv_file: BinaryIO, departement: str | None) -> None:
    """Import the collectivités of a CSV (siren;nom;nature;population;arrondissement;
    contact_nom;contact_email): all lines or none; importing it again changes nothing."""
    from .pilotage.registre import FichierInvalide, lire_collectivites
    from .store import SqliteStore
    from .store.pilotage import import_collectivites

    data = csv_file.read()
    with SqliteStore.open(data_dir) as store:
        try:
            lecture = lire_collectivites(data, departement=departement,
                                         connues={c.siren: c for c in store.collectivites()})
        except FichierInvalide as exc:
            raise click.ClickException(exc.message_en) from None
        if not lecture.ok:
            _refused_lines(lecture.refus)
        counts = import_collectivites(store, lecture.lignes)
    click.echo(f"{counts['crees']} created, {counts['modifies']} updated, "
               f"{counts['inchanges']} unchanged")


@pilotage.command("depots")
@_DATA_DIR
@click.argument("csv_file", type=click.File("rb"))
def pilotage_depots(data_dir: str, csv_file: BinaryIO) -> None:
    """Record paper deposits from a CSV (date;siren;nature;matiere;nombre): all or none."""
    from datetime import UTC, datetime

    from .pilotage.registre import FichierInvalide, lire_depots
    from .store import SqliteStore
    from .store.pilotage import add_depots

    data = csv_file.read()
    with SqliteStore.open(data_dir) as store:
        try:
            lecture = lire_depots(data, connus=[c.siren for c in store.collectivites()],
                                  today=dt.date.today())
        except FichierInvalide as exc:
            raise click.ClickException(exc.message_en) from None
        if not lecture.ok:
            _refused_lines(lecture.refus)
        stored = add_depots(store, lecture.lignes, at=datetime.now(UTC))
    click.echo(f"{len(stored)} deposit line(s), {sum(d.nombre for d in stored)} act(s) recorded")


@pilotage.command("rapport")
@_DATA_DIR
@click.option("--du", default=None, metavar="YYYY-MM-DD", callback=_date,
              help="First day (default: 364 days before --au).")
@click.option("--au", default=None, metavar="YYYY-MM-DD", callback=_date,
              help="Last day (default: today).")
@click.option("--arrondissement", default=None, help="One arrondissement (a digit).")
@click.option("--inactivite", type=click.IntRange(1, 3650), default=None,
              help="Days without an act that make a connected collectivité inactive "
                   "(default: the stored setting, 90).")
@click.option("--liste", type=click.Choice(["collectivites", "arrondissements",
                                            "non_connectees", "inactives", "partielles",
                                            "sans_budget", "notre_non_conformes"]),
              default="collectivites", show_default=True, help="What to print.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="json: the whole report, as GET /admin/pilotage.")
def pilotage_rapport(data_dir: str, du: dt.date | None, au: dt.date | None,
                     arrondissement: str | None, inactivite: int | None, liste: str,
                     fmt: str) -> None:
    """Indicators per collectivité and arrondissement, and the lists to act on."""
    import csv
    import io
    import json

    from .pilotage.indicateurs import export_csv, periode_invalide, rapport
    from .store import SqliteStore
    from .store.pilotage import inactivite_jours, pilotage_rows

    au = au or dt.date.today()
    try:
        du = du or au - dt.timedelta(days=364)
    except OverflowError:
        du = dt.date.min
    refused = periode_invalide(du, au)
    if refused is not None:
        raise click.BadParameter(refused[2], param_hint=f"--{refused[0]}")
    if arrondissement is not None and not re.fullmatch(r"[0-9]", arrondissement):
        raise click.BadParameter("one digit, 0 to 9", param_hint="--arrondissement")
    with SqliteStore.open(data_dir) as store:
        report = store.run_read(lambda db: rapport(
            pilotage_rows(db, du, au), du, au, arrondissement=arrondissement,
            inactivite=inactivite or inactivite_jours(db)))
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    text = export_csv(report, liste)
    if fmt == "csv":
        click.echo(text, nl=False)
        return
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if liste == "collectivites":  # the columns a terminal can hold
        keep = [rows[0].index(c) for c in ("siren", "nom", "arrondissement", "raccordee",
                                           "derniere_transmission", "teletransmis", "papier",
                                           "taux", "inactive", "partielle", "budget_integre",
                                           "notre_conforme")]
        rows = [[r[i][:32] if i < len(r) else "" for i in keep] for r in rows]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip())



@main.command("timestamp")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--url", default=None, help="A running TSA, e.g. http://127.0.0.1:8080/tsa "
              "(default: stamp locally with the PKI's TSA key).")
@click.option("--pki-dir", type=click.Path(file_okay=False), default="certs", show_default=True,
              help="Test PKI whose TSA stamps locally (not used with --url).")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Where to save the reply (default: FILE.tsr).")
def timestamp(file: str, url: str | None, pki_dir: str, output: str | None) -> None:
    """Time-stamp FILE (SHA-256 imprint, fresh nonce) and save the RFC 3161 reply.

    Check it with: openssl ts -verify -data FILE -in FILE.tsr -CAfile certs/roots.pem
    -untrusted certs/intermediates.pem
    """
    import asyncio
    import hashlib

    import aiohttp

    from .timestamp import (
        TimestampError,
        TsaConfigurationError,
        authority_from_pki,
        build_query,
        new_nonce,
        read_response,
        verify_response,
    )

    with open(file, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").digest()
    nonce = new_nonce()
    query = build_query(digest, nonce=nonce)
    try:
        if url:
            from .web.tsa import TsaHttpError, post_query

            try:
                response = asyncio.run(post_query(url, query))
            except (TsaHttpError, aiohttp.ClientError, OSError) as exc:
                raise click.ClickException(f"{url}: {exc}") from None
            info = read_response(response, digest=digest, nonce=nonce)
        else:
            tsa = authority_from_pki(pki_dir, clock=lambda: dt.datetime.now(dt.UTC))
            response = tsa.respond(query)
            info = verify_response(response, tsa_certificate=tsa.certificate, digest=digest,
                                   nonce=nonce)
    except (TimestampError, TsaConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    target = output or f"{file}.tsr"
    with open(target, "wb") as fh:
        fh.write(response)
    click.echo(f"{target}: genTime {info.gen_time.isoformat()} serial {info.serial_number:#x} "
               f"policy {info.policy}")


@main.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="TOML settings file (environment OPERATOR_SIM_* and flags override it).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Database and blobs.")
@click.option("--pki-dir", type=click.Path(file_okay=False), help="Test PKI folder.")
@click.option("--api-port", type=int, help="Mutual-TLS API port (default 8443).")
@click.option("--admin-port", type=int,
              help="Loopback port of the admin API and TSA (default 8080).")
def serve(config_path: str | None, data_dir: str | None, pki_dir: str | None,
          api_port: int | None, admin_port: int | None) -> None:
    """Run the simulator: mutual-TLS API, admin port with the TSA; creates PKI and data."""
    import asyncio

    from .config import ConfigError, load_config
    from .engine.workers import end_helpers
    from .simulator import DEMO_COMMUNE, build_simulator, seed_demo
    from .web.server import running, until_signalled

    try:
        config = load_config(config_path, data_dir=data_dir, pki_dir=pki_dir,
                             api_port=api_port, admin_port=admin_port)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    simulator = build_simulator(config)
    demo = seed_demo(simulator)
    commune = DEMO_COMMUNE

    async def run() -> None:
        async with running(simulator) as served:
            click.echo(f"API (mutual TLS)  {served.api_url}/api/v1/")
            click.echo(f"TSA (RFC 3161)    {served.admin_url}/tsa")
            click.echo(f"admin (loopback)  {served.admin_url}/admin/?token={served.admin_token}")
            click.echo(f"CA file           {simulator.pki.roots_path}")
            click.echo(f"agent (SIREN {commune.siren}, no password)  {demo}")
            signum = await until_signalled()
            click.echo(f"{signum.name}: stopping (new connections refused, requests in flight "
                       f"have {config.shutdown_grace} s to finish)")

    try:
        asyncio.run(run())
    finally:
        # Workers, then the fork server and the resource tracker: none is left orphaned.
        simulator.close()
        end_helpers()
    click.echo("stopped")


# -- submit, status, cancel: a thin layer over operator_sim.client -----------------------------

def _client_options(command: _Command) -> _Command:
    """--url, the agent's certificate (--cert/--key or --p12) and --cacert, with serve's defaults."""
    options = [
        click.option("--url", envvar="OPERATOR_SIM_URL", default="https://localhost:8443",
                     show_default=True, help="The simulator's API (env OPERATOR_SIM_URL)."),
        click.option("--cert", type=click.Path(dir_okay=False), help="Agent certificate (PEM)."),
        click.option("--key", type=click.Path(dir_okay=False), help="Private key of --cert (PEM)."),
        click.option("--p12", type=click.Path(dir_okay=False), default=None,
                     help="Agent certificate and key as PKCS#12 [default: certs/demo-agent.p12 "
                          "unless --cert is given]."),
        click.option("--p12-password", default="", help="Password of --p12 (empty: none)."),
        click.option("--cacert", type=click.Path(dir_okay=False), default="certs/roots.pem",
                     show_default=True, help="Roots the simulator's certificate chains to."),
        click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _api_client(url: str, cert: str | None, key: str | None, p12: str | None,
                p12_password: str, cacert: str) -> Client:
    from .client import Client

    if cert is not None or key is not None:
        if cert is None or key is None or p12 is not None:
            raise click.UsageError("give --cert with --key, or --p12")
    elif p12 is None:
        p12 = "certs/demo-agent.p12"
    for path, option in ((cert, "--cert"), (key, "--key"), (p12, "--p12"), (cacert, "--cacert")):
        if path is not None and not os.path.isfile(path):
            raise click.BadParameter(f"{path}: no such file (run `operator-sim serve` once, or "
                                     "point to your own files)", param_hint=option)
    try:
        return Client(url, cert=cert, key=key, p12=p12, p12_password=p12_password.encode() or None,
                      ca=cacert)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(f"cannot load the client certificate: {exc}") from None


def _run_api(client: Client, call: Callable[[Client], Awaitable[Any]]
             ) -> tuple[Any, ApiError | None]:
    """Run `await call(client)` in an event loop; (answer, None) or (None, ApiError)."""
    import asyncio

    from .client import ApiError

    async def run() -> Any:
        async with client:
            return await call(client)

    try:
        return asyncio.run(run()), None
    except ApiError as exc:
        return None, exc


def _refused_line(what: str, error: ApiError) -> str:
    field = f" [{error.field}]" if error.field else ""
    return f"{what}: refused {error.status} {error.code}{field}: {error.message_en}"


def _error_json(error: ApiError) -> dict[str, Any]:
    return {"status": error.status, **error.body} if error.body else {
        "status": error.status, "code": error.code, "message_fr": error.message_fr,
        "message_en": error.message_en}


def _submitted_line(what: str, body: dict) -> str:
    transaction = body["transaction"]
    line = f"{what}: transaction {transaction['id']} {transaction['status_label']}"
    if body.get("outcome") == "1-2":
        return f"{line}, ARActe (1-2) IDActe {body['id_acte']}"
    if body.get("anomalie"):
        return f"{line}, AnomalieActe (1-3) {body['anomalie']['nature']}: {body['anomalie']['detail']}"
    return line


def _field_pair(value: str) -> tuple[str, str]:
    name, sep, text = value.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint="--field")
    return name.strip(), text


@main.command()
@click.argument("archives", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--acte", "actes", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Operator door: the act's file (PDF; a budget's XML and PDF: twice).")
@click.option("--annexe", "annexes", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Operator door: an annex, repeatable.")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE",
              help="Operator door: a field (nature=DE, matiere=5.2, objet=…, date=YYYY-MM-DD, "
                   "numero_interne=…, departement=034…), repeatable.")
@_client_options
def submit(archives: tuple[str, ...], actes: tuple[str, ...], annexes: tuple[str, ...],
           fields: tuple[str, ...], url: str, cert: str | None, key: str | None,
           p12: str | None, p12_password: str, cacert: str, as_json: bool) -> None:
    """Send envelope ARCHIVES (platform door), or an act's fields and files (--acte, --field).

    Exit status: 0 when every submission was acknowledged (1-2), 1 when any got an anomaly or
    was refused, 2 on usage errors.
    """
    import json

    if bool(archives) == bool(actes):
        raise click.UsageError("give ARCHIVE files, or --acte with --field options (not both)")
    if (annexes or fields) and not actes:
        raise click.UsageError("--annexe and --field go with --acte")
    form: dict[str, list[str]] = {}
    for name, value in map(_field_pair, fields):
        form.setdefault(name, []).append(value)
    client = _api_client(url, cert, key, p12, p12_password, cacert)

    async def each(client: Client) -> list[tuple[str, dict[str, Any] | None, ApiError | None]]:
        from .client import ApiError

        results: list[tuple[str, dict[str, Any] | None, ApiError | None]] = []
        jobs: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
            (path, functools.partial(client.submit_archive, path)) for path in archives] or [
            (actes[0], functools.partial(client.submit_acte, form,
                                         {"acte": actes, "annexes": annexes}))]
        for what, job in jobs:
            try:
                results.append((what, await job(), None))
            except ApiError as exc:
                if exc.status == 0:
                    raise
                results.append((what, None, exc))
        return results

    results, failure = _run_api(client, each)
    if failure is not None:
        raise click.ClickException(failure.message_en)
    ok = True
    for what, body, error in results:
        ok &= body is not None and body.get("outcome") == "1-2"
        if not as_json:
            click.echo(_submitted_line(what, body) if body else _refused_line(what, error))
    if as_json:
        click.echo(json.dumps([body or _error_json(error) for _, body, error in results],
                              indent=2, ensure_ascii=False))
    sys.exit(0 if ok else 1)


def _one_call(client: Client, call: Callable[[Client], Awaitable[Any]], as_json: bool, what: str,
              line: Callable[[Any], str]) -> None:
    import json

    body, error = _run_api(client, call)
    if error is not None and error.status == 0:
        raise click.ClickException(error.message_en)
    if as_json:
        click.echo(json.dumps(body if error is None else _error_json(error), indent=2,
                              ensure_ascii=False))
    else:
        click.echo(line(body) if error is None else _refused_line(what, error))
    sys.exit(0 if error is None else 1)


@main.command()
@click.argument("transaction_id", type=int)
@_client_options
def status(transaction_id: int, url: str, cert: str | None, key: str | None, p12: str | None,
           p12_password: str, cacert: str, as_json: bool) -> None:
    """Show a transaction's status, history and messages."""
    def line(body: dict) -> str:
        t = body["transaction"]
        lines = [f"transaction {t['id']}: {t['status']} {t['status_label']} ({t['type_label']}, "
                 f"SIREN {t['siren']}, IDActe {t['id_acte'] or '-'})"]
        lines += [f"  {h['at']}  {h['to']:>3}  {h['message']}" for h in body["history"]]
        lines += [f"  message {m['code']}  {m['file_name']}" for m in body["messages"]]
        return "\n".join(lines)

    _one_call(_api_client(url, cert, key, p12, p12_password, cacert),
              lambda client: client.get(transaction_id), as_json, f"transaction {transaction_id}",
              line)


@main.command()
@click.argument("transaction_id", type=int)
@_client_options
def cancel(transaction_id: int, url: str, cert: str | None, key: str | None, p12: str | None,
           p12_password: str, cacert: str, as_json: bool) -> None:
    """Cancel an acknowledged act (6-1); the answer is an ARAnnulation (6-2)."""
    _one_call(_api_client(url, cert, key, p12, p12_password, cacert),
              lambda client: client.cancel(transaction_id), as_json, f"transaction {transaction_id}",
              lambda body: f"transaction {transaction_id}: annulation {body['transaction']['id']}"
                           f" answered {body['outcome']} (ARAnnulation)")


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default="data", show_default=True,
              envvar="OPERATOR_SIM_DATA_DIR",
              help="The service's data folder (env OPERATOR_SIM_DATA_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(data_dir: str, as_json: bool) -> None:
    """Verify a data folder: SQLite's integrity_check, every blob's SHA-256, every row's blobs.

    Read-only: safe beside a running service. Exit status: 0 when everything is sound, 1 when
    anything is corrupted or missing, 2 when the folder holds no database.
    """
    import json

    from .store.integrity import NotAStore, check_store

    try:
        report = check_store(data_dir)
    except NotAStore as exc:
        click.echo(f"operator-sim check: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"database {report.database}: integrity_check "
                   + ("ok" if not report.integrity else f"{len(report.integrity)} problem(s)"))
        for line in report.integrity:
            click.echo(f"  {line}")
        click.echo(f"blobs: {report.blobs_checked} hashed, {report.corrupted_count} corrupted")
        for bad in report.corrupted:
            click.echo(f"  corrupted {bad.sha256} (bytes now hash to {bad.actual})")
        click.echo(f"rows: {report.rows_checked} blob references, {report.missing_count} missing")
        for gone in report.missing:
            click.echo(f"  missing {gone.sha256} ({gone.table} {gone.row_id}, {gone.column})")
        for name in report.stray:
            click.echo(f"  stray file in the blob tree: {name}")
        click.echo("sound" if report.sound else "NOT SOUND")
    sys.exit(0 if report.sound else 1)
