"""The intake pipeline: an archive submitted, an act built by the operator door, a waiting act
posted, a held act answered (cancellation and classification requests are `requests`).

One submission: examine the archive in a worker process (safe unpacking, validation), check the
agent may act for the SIREN, timestamp the receipt, then store blobs (fsynced) and rows in one
SQLite transaction, and only then answer. The outcome (ARActe or AnomalieActe) is produced at
once, signed by the ministère key, with the RFC 3161 token beside it. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import io
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from ..errors import Kind
from ..pki.identity import Identity, authorize
from ..protocol.archive import ArchiveLimits, EnvelopeArchive, read_archive, write_archive
from ..protocol.codes import (
    AnomalieEnveloppeNature,
    AnomalieNature,
    NatureActe,
    Sender,
    TransactionStatus,
    TransactionType,
)
from ..protocol.envelope import ActeRequest, BuiltEnvelope, Collectivite, build_acte_envelope
from ..protocol.errors import InvalidName, ProtocolError
from ..protocol.messages import (
    IDCL,
    Acte,
    EnveloppeCLMISILL,
    message_from_element,
)
from ..protocol.xmlsafe import parse_xml
from ..signature.archive import Signer, sign_envelope
from ..store.interface import Collectivite as RegisteredCollectivite
from ..store.interface import (
    Convention,
    NewDocument,
    NewMessage,
    NewTransaction,
    SimulatorStore,
    StatusConflict,
    TransactionRow,
    TransitionStep,
    reads_first,
)
from ..store.small_blobs import SMALL_BLOB, Blobs
from ..validation.profiles import PlatformProfile
from ..validation.report import Severity, ValidationReport
from ..validation.validator import ArchiveReading, ValidationPolicy, inspect_archive
from . import lifecycle, outcomes
from .clock import paris_date
from .kernel import (
    MIMETYPES,
    AlsoWrite,
    IntakeRefused,
    Kernel,
    Outcome,
    RequestRefused,
    actor_label,
    create_and_answer,
    only_siren,
    to_answer,
    transition_conflict,
)
from .policies import PolicyRef, PolicyShipper, resolve
from .receipts import Receipt, ReceiptKeys, ReceiptOrder, ReceiptSigners, knows, make_receipt
from .requests import Requests
from .scenarios import DEFAULT_DECISION, Decision, Facts, ScenarioBook

S = TransactionStatus


@dataclass(frozen=True)
class Examination:
    """What a worker learnt from an archive: the report and the parsed envelope and act."""

    report: ValidationReport
    enveloppe: EnveloppeCLMISILL | None
    acte: Acte | None
    acte_file: str | None
    members: tuple[tuple[str, int, str], ...]  # (name, size, sha256)
    archive_sha256: str | None
    enveloppe_file: str | None = None
    receipt: Receipt | None = None
    """The token and the would-be ARActe, made with the examination (`receipts`)."""
    contents: dict[str, bytes] = field(default_factory=dict)
    """A small archive's act and documents, by member name (`_small_members`): the service
    stores them without unpacking the archive again."""


def examine(archive: str | os.PathLike | bytes, name: str, policy: ValidationPolicy
            ) -> Examination:
    """Validate and parse one archive, its path or its bytes (runs in a worker process: pure
    CPU, no shared state)."""
    report, reading = inspect_archive(_source(archive), policy, name=name,
                                      keep=_small_members if isinstance(archive, bytes) else None)
    if reading is not None and (read := _read_by_validation(reading)) is not None:
        assert reading.enveloppe is not None
        named = {read[2], *(ref.nom_fichier for ref in (read[1].document, *read[1].annexes))}
        return Examination(report, *read, reading.members, reading.archive_sha256,
                           reading.enveloppe[0],
                           contents={n: b for n, b in reading.contents.items() if n in named})
    enveloppe = acte = acte_file = enveloppe_file = None
    members: tuple[tuple[str, int, str], ...] = ()
    sha = None
    try:
        with read_archive(_source(archive), policy.limits) as opened:
            sha = opened.sha256
            members = tuple((m.name, m.size, m.sha256) for m in opened)
            for member in opened:
                root = _try_parse(member.read()) if member.name.endswith(".xml") else None
                if root is None:
                    continue
                try:
                    parsed = message_from_element(root)
                except ProtocolError:
                    continue
                if isinstance(parsed, EnveloppeCLMISILL) and enveloppe is None:
                    enveloppe, enveloppe_file = parsed, member.name
                elif isinstance(parsed, Acte) and acte is None:
                    acte, acte_file = parsed, member.name
    except ProtocolError:
        pass  # the report already says why the archive cannot be read
    return Examination(report, enveloppe, acte, acte_file, members, sha, enveloppe_file)


KEPT_CONTENTS = 4 * SMALL_BLOB
"""Up to this many bytes of members come back with an examination (`Examination.contents`)."""


def _small_members(archive: EnvelopeArchive) -> list[str]:
    """Every member of an archive whose members all fit a small-blob row and together
    `KEPT_CONTENTS` (none otherwise): what a worker may send back for the service to store."""
    members = list(archive)
    if any(m.on_disk or m.size > SMALL_BLOB for m in members) \
            or sum(m.size for m in members) > KEPT_CONTENTS:
        return []
    return [m.name for m in members]


def _packed_if_small(built: BuiltEnvelope) -> bytes | None:
    """A built archive's bytes when they fit a small-blob row (its members, already in memory,
    tell first), so that it is never a file; None when it is to be written to one."""
    if sum(len(data) for data in built.members.values()) > SMALL_BLOB:
        return None
    packed = io.BytesIO()
    write_archive(packed, built.members.items())  # the bytes `BuiltEnvelope.write` writes
    return packed.getvalue() if packed.tell() <= SMALL_BLOB else None


def _source(archive: str | os.PathLike | bytes) -> Path | io.BytesIO:
    """What the archive readers take: a path, or a small archive's bytes as a file object (it
    was never written to a file: see `web.http.spool`)."""
    return io.BytesIO(archive) if isinstance(archive, bytes) else Path(archive)


def _read_by_validation(reading: ArchiveReading
                        ) -> tuple[EnveloppeCLMISILL, Acte, str] | None:
    """The envelope and act the validator already parsed, when they are what reading every
    XML member would find: the archive's only XML members (otherwise `examine` reads them all,
    as an archive whose XML the validator did not parse needs)."""
    if reading.enveloppe is None or len(reading.actes) != 1:
        return None
    (envelope_file, enveloppe), ((acte_file, acte),) = reading.enveloppe, reading.actes
    xml = {name for name, _, _ in reading.members if name.endswith(".xml")}
    return (enveloppe, acte, acte_file) if xml == {envelope_file, acte_file} else None


def examine_shipped(archive: str | os.PathLike | bytes, name: str, ref: PolicyRef,
                    order: ReceiptOrder | None,
                    fixed: tuple[ValidationPolicy, ReceiptKeys | None] | None,
                    ) -> Examination | None:
    """`examine` with the policy `ref` names (see `policies`), and with an `order` the
    receipt made too (`receipts`); None when this worker was never sent the policy's fixed
    part or the keys: call again with `fixed`."""
    policy = resolve(ref, None if fixed is None else fixed[0])
    if policy is None or (order is not None
                          and not knows(order, None if fixed is None else fixed[1])):
        return None
    exam = examine(archive, name, policy)
    if order is None or exam.archive_sha256 is None:
        return exam
    idcl = None if exam.enveloppe is None else exam.enveloppe.emetteur
    return replace(exam, receipt=make_receipt(order, bytes.fromhex(exam.archive_sha256),
                                              exam.acte, idcl))


def _try_parse(data: bytes) -> etree._Element | None:
    try:
        return parse_xml(data)
    except ProtocolError:
        return None


@dataclass(kw_only=True)
class Engine(Requests):
    """The simulator's behaviour behind both doors; the web layer only translates HTTP.

    The intake doors (an archive, an act the operator builds, posting a waiting act, the
    préfecture's answer to a held act) over the shared `Kernel`; the collectivité's requests
    (cancellation, classification) are `Requests`'."""

    policy: Callable[[], ValidationPolicy]
    executor: Executor | None = None
    operator_signer: Signer | None = None
    """Signs the document and annexes of acts built by the operator door (unsigned if None)."""
    scenarios: ScenarioBook | None = None
    """Decides each valid act's outcome and faults (None: an ARActe at once, no fault)."""
    profile: PlatformProfile = PlatformProfile.STRICT
    """The deployment's platform profile; a collectivité's own (`profil`) takes precedence."""
    receipts: ReceiptSigners | None = None
    """Where a receipt's token and signed answer are made in a worker (None: here)."""
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _policies: PolicyShipper = field(default_factory=PolicyShipper)

    # -- submissions ------------------------------------------------------------------------

    async def submit_archive(self, identity: Identity, name: str, archive: Path | bytes, *,
                             hold: bool = False, await_posting: bool = False,
                             await_signature: bool = False,
                             headers: Mapping[str, str] | None = None,
                             owned: bool = False,
                             posted: Sequence[tuple[str | None, bytes | None]] = (),
                             operator_refuses: frozenset[str] = frozenset()) -> Outcome:
        """Take one envelope archive, its file or (small) its bytes, size-limited by the caller.

        A valid act is acknowledged at once, unless `hold`: then it waits at "transmis" until
        `answer_acte` (the préfecture's decision, a scenario's delay). Invalid acts and
        duplicates are always refused at once, as the platform does. With `await_posting` the
        act is stored "en attente d'être postée" (17) and goes no further until `post_acte`;
        with `await_signature`, "en attente d'être signé" (18), where an API client leaves it
        (S²LOW signs or posts it from its web UI only).
        A readable act the agent may submit is then put to the scenario book, which may refuse
        it as unavailable (nothing stored), hold it, answer it otherwise or later (`headers`: the
        request's, which rules may match). `owned`: the file is the engine's once the act is
        stored, moved into the blob store rather than copied (an upload's temporary file);
        bytes are stored as they are (`Blobs.put`: a small-blob row when small enough).
        `posted`: the (name, signature) the client uploaded the act's document and annexes
        with, in the act's order (the operator door's), kept beside the protocol's names.
        `operator_refuses`: finding codes the operator's own analysis catches before sending
        (S²LOW's): such an act goes 1 → -1 "Enveloppe invalide : …" with no ministry message.
        """
        sender = self._sender_read_ahead(name)  # read while the worker examines the archive
        exam = await self.examine(archive, name)
        fault = None if exam.enveloppe is None else _envelope_fault(exam, name)
        if exam.enveloppe is None or exam.archive_sha256 is None \
                or (exam.acte is None and fault is None):
            first = exam.report.errors[0] if exam.report.errors else None
            code = first.code if first else "MESSAGE_INVALID"
            raise IntakeRefused(
                code,
                f"archive refusée : {first.message_fr if first else 'aucun acte lisible'}",
                f"archive refused: {first.message_en if first else 'no readable act'}",
                report=exam.report)
        idcl = exam.enveloppe.emetteur
        authorize(identity, idcl.siren, "submit")
        judged, known = await self._judge_sender(exam.report, exam.acte, idcl.siren, name,
                                                 sender.get(idcl.siren))
        fault = judged or fault
        if fault is None:  # checked again under the lock, where the sender is registered
            fault = _idcl_fault(exam, idcl, name, known)
        if fault is not None or exam.acte is None:
            assert fault is not None  # without a readable act, only an envelope fault gets here
            async with self._locks.setdefault(idcl.siren, asyncio.Lock()):
                return await self._refuse_envelope(identity, name, archive, exam, idcl, fault,
                                                   owned=owned)
        # An act waiting (17 to be posted, 18 to be signed) meets the scenarios when posted.
        waiting = (S.EN_ATTENTE_D_ETRE_SIGNEE if await_signature
                   else S.EN_ATTENTE_D_ETRE_POSTEE if await_posting else None)
        decision = (DEFAULT_DECISION if waiting is not None
                    else await self._decide(exam.acte, idcl.siren, headers))
        return await self._record_acte(identity, name, archive, exam, idcl, hold=hold,
                                       waiting=waiting, decision=decision, owned=owned,
                                       posted=posted, operator_refuses=operator_refuses)

    async def judge_sender(self, report: ValidationReport, acte: Acte | None, siren: str,
                           name: str) -> EnvelopeFault | None:
        """Judge the act under its sender's profile (the collectivité's, else the deployment's).

        strict: the sender needs a convention in force today, else the envelope is refused
        (PREF-VERIF-02: the fault returned, answered by an AnomalieEnveloppe 005), covering
        the act's matière and, for a BF, budget acts (errors in `report`: CONVENTION_MATIERE,
        CONVENTION_BUDGET). lenient: `report` is relaxed (`LENIENCIES` become warnings) and
        an unknown sender is only a warning."""
        return (await self._judge_sender(report, acte, siren, name))[0]

    async def _judge_sender(self, report: ValidationReport, acte: Acte | None, siren: str,
                            name: str, read: asyncio.Future[SenderRecord] | None = None,
                            ) -> tuple[EnvelopeFault | None, RegisteredCollectivite | None]:
        """`judge_sender`, and the collectivité as registered when it was judged (`read`:
        what `_sender` read already)."""
        known, convention = await (read if read is not None else self.store.call(
            _sender, siren, paris_date(self.clock.now())))
        return self._judgement(report, acte, siren, name, known, convention), known

    def _sender_read_ahead(self, name: str) -> dict[str, asyncio.Future[SenderRecord]]:
        """`_sender` for the SIREN the archive's name gives, queued now: by SIREN, for the
        judgement to use if the envelope's IDCL names the same (an empty dict otherwise)."""
        match = _NAME_SIREN.search(name)
        if match is None:
            return {}
        read = self.store.queue(_sender, match.group(1), paris_date(self.clock.now()))
        read.add_done_callback(_unused)  # an archive refused before its judgement drops it
        return {match.group(1): read}

    def _judgement(self, report: ValidationReport, acte: Acte | None, siren: str, name: str,
                   known: RegisteredCollectivite | None,
                   convention: Convention | None) -> EnvelopeFault | None:
        profile = PlatformProfile(known.profil) if known and known.profil else self.profile
        if profile is PlatformProfile.LENIENT:
            if convention is None:
                report.add("SENDER_UNKNOWN",
                           f"PREF-VERIF-02 : aucune convention en vigueur pour le SIREN {siren} "
                           "(accepté : profil lenient)",
                           f"PREF-VERIF-02: no convention in force for SIREN {siren} "
                           "(accepted: lenient profile)", severity=Severity.WARNING)
            report.relax()
            return None
        if convention is None:
            report.add("SENDER_UNKNOWN",
                       f"PREF-VERIF-02 : votre numéro de SIREN {siren} n'est pas encore "
                       "enregistré dans l'application ACTES (aucune convention en vigueur)",
                       f"PREF-VERIF-02: SIREN {siren} is not registered with the platform "
                       "(no convention in force)")
            return EnvelopeFault(AnomalieEnveloppeNature.EMETTEUR, "SENDER_UNKNOWN",
                                 f"{name} -> PREF-VERIF-02 : Votre numéro de SIREN n'est pas "
                                 "encore enregistré dans l'application ACTES (aucune convention "
                                 "en vigueur).")
        if acte is None:
            return None
        matiere = ".".join(str(c) for c in acte.codes_matiere if c is not None)
        if not convention.covers(matiere):
            report.add("CONVENTION_MATIERE",
                       f"la convention de {siren} ne couvre pas la matière {matiere} "
                       f"(matières : {', '.join(convention.matieres)})",
                       f"the convention of {siren} does not cover matière {matiere} "
                       f"(matières: {', '.join(convention.matieres)})")
        if acte.nature is NatureActe.BF and not convention.actes_budgetaires:
            report.add("CONVENTION_BUDGET",
                       f"la convention de {siren} ne couvre pas les actes budgétaires",
                       f"the convention of {siren} does not cover budget acts")
        return None

    async def _refuse_envelope(self, identity: Identity, name: str, archive: Path | bytes,
                               exam: Examination, idcl: IDCL, fault: EnvelopeFault, *,
                               owned: bool) -> Outcome:
        """Answer the whole envelope with an AnomalieEnveloppe, as the platform does: the
        archive, its token and the act (when readable) stored, the transaction walked to -1
        with the `ANO_` message, signed and time-stamped like any return message. The sender
        is registered with the envelope's IDCL (a convention is still needed to transmit)."""
        assert exam.enveloppe is not None and exam.archive_sha256 is not None
        received_at = self.clock.now()
        acte = exam.acte
        serial = await self.return_serial(idcl.siren)
        bundle = outcomes.anomalie_enveloppe(
            exam.enveloppe, exam.enveloppe_file or name, idcl, nature=fault.nature,
            detail=fault.detail, notified=paris_date(received_at), serial=serial, itc=self.itc)
        digest, limits = bytes.fromhex(exam.archive_sha256), self.policy().limits
        documents = _documents(acte, exam.members) if acte is not None else ()
        kept = {f for f in (exam.acte_file, *(d.file_name for d in documents)) if f}

        def receipt() -> tuple[str, str, dict[str, str], NewMessage]:  # one hop off the loop
            stored = _store_receipt(self.sqlite.blobs, archive, self.stamp(digest), limits,
                                    kept, owned)
            return *stored, self._signed_answer(bundle, stored[1])

        archive_sha, token_sha, members, outgoing = await asyncio.to_thread(receipt)
        incoming = () if acte is None or exam.acte_file not in members else (
            NewMessage("1-1", Sender.CL, exam.acte_file, members[exam.acte_file],
                       timestamp_token_sha256=token_sha),)
        new = NewTransaction(
            type=TransactionType.ACTE, status=S.POSTE, siren=idcl.siren,
            numero_interne=acte.numero_interne if acte else "",  # "": no act could be read
            nature=acte.nature if acte else None,
            matiere=".".join(str(c) for c in acte.codes_matiere if c is not None) if acte else None,
            objet=acte.objet if acte else None, decision_date=acte.date if acte else None,
            archive_name=name, archive_sha256=archive_sha, messages=incoming,
            documents=documents)
        rejected = f"Enveloppe rejetée ({fault.nature.value} : {fault.detail})"
        row = await self.store.call(_register_then_answer, idcl, new, outgoing, received_at,
                                    actor_label(identity), self.actor, rejected)
        return Outcome(row, outcomes.ANO, None, (fault.nature.value, fault.detail),
                       exam.report)

    async def examine(self, archive: Path | bytes, name: str, *,
                      receipt: bool = True) -> Examination:
        """`examine` in a worker, under the current policy (its fixed part sent once each);
        a small archive's bytes are sent to it, a larger one's path. With `receipt` (and
        receipt signers), the worker also makes the archive's receipt (`receipts`)."""
        ref, fixed = self._policies.split(self.policy())
        order, keys = (None, None) if self.receipts is None or not receipt \
            else self.receipts.order()
        exam = await self._shipped(examine_shipped, archive, name, ref, order,
                                   fixed=(fixed, keys))
        assert isinstance(exam, Examination)
        return exam

    async def _shipped(self, fn: Callable[..., object], *args: object, fixed: object) -> object:
        """`fn(*args, None)` in a worker; again with `fixed` when that worker answers None
        (it was never sent that fixed part: `policies`)."""
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(self.executor, functools.partial(fn, *args, None))
        if done is None:
            done = await loop.run_in_executor(self.executor, functools.partial(fn, *args, fixed))
        return done

    async def _decide(self, acte: Acte, siren: str, headers: Mapping[str, str] | None) -> Decision:
        """The scenario book's decision; an `unavailable` fault refuses here, before anything is stored."""
        if self.scenarios is None:
            return DEFAULT_DECISION
        decision = await self.scenarios.decide(Facts.of(acte, siren, headers))
        if decision.faults.unavailable:
            raise IntakeRefused("SERVICE_UNAVAILABLE",
                                f"service momentanément indisponible (scénario {decision.rule_id})",
                                f"service temporarily unavailable (scenario {decision.rule_id})",
                                kind=Kind.UNAVAILABLE)
        return decision

    async def submit_acte(self, identity: Identity, request: ActeRequest,
                          collectivite: Collectivite | None = None, *, hold: bool = False,
                          await_posting: bool = False, await_signature: bool = False,
                          headers: Mapping[str, str] | None = None,
                          operator_refuses: frozenset[str] = frozenset()) -> Outcome:
        """Operator door: build the 1-1 archive from the act's fields and files as an operator
        does (trigram `itc`, envelope dated today on the clock, numbered per SIREN and day), sign
        its files with the operator certificate, then take it exactly like `submit_archive`
        (a small archive as its bytes: never written to a file).

        `collectivite` is who transmits; None means the one collectivité `identity` acts for,
        as already known to the platform. Raises `IntakeRefused` (input refused, `field` set) for fields
        the protocol refuses, and whatever `submit_archive` raises.
        """
        if collectivite is None:
            collectivite = await self.known_collectivite(identity)
        authorize(identity, collectivite.siren, "submit")
        today = paris_date(self.clock.now())
        numero = await self.daily_serial("operator-envelope", collectivite.siren)
        signer = self.operator_signer

        def build(files: contextlib.ExitStack) -> tuple[str, Path | bytes]:
            built = build_acte_envelope(request, collectivite, envelope_date=today,
                                        envelope_numero=numero, itc=self.itc)
            if signer is not None:
                built = sign_envelope(built, signer.certificate, signer.key, signer.chain)
            packed = _packed_if_small(built)
            if packed is not None:
                return built.name, packed
            return built.name, built.write(files.enter_context(
                tempfile.TemporaryDirectory(prefix="operator-door-")))

        with contextlib.ExitStack() as files:
            try:
                name, archive = await asyncio.to_thread(build, files)
            except ProtocolError as exc:
                raise IntakeRefused(exc.code, f"acte refusé : {exc.message_fr}",
                                    f"act refused: {exc.message_en}", field=exc.field) from None
            return await self.submit_archive(
                identity, name, archive, hold=hold, await_posting=await_posting,
                await_signature=await_signature, headers=headers, owned=True,
                posted=[(p.posted_name, p.signature)
                        for p in (request.document, *request.annexes)],
                operator_refuses=operator_refuses)

    async def known_collectivite(self, identity: Identity, siren: str | None = None) -> Collectivite:
        """The registered collectivité `siren` (default: the identity's only SIREN) as the
        envelope names it; refused (input, field named) when it must be described instead."""
        if siren is None:
            siren = only_siren(identity)
        authorize(identity, siren, "submit")
        known = await self.store.call(lambda store: store.get_collectivite(siren))
        if known is None:
            raise IntakeRefused(
                "FIELD_REQUIRED",
                f"departement requis : la collectivité {siren} n'a encore rien transmis",
                f"departement required: collectivité {siren} has not transmitted anything yet",
                field="departement")
        return Collectivite(siren=siren, departement=known.departement,
                            arrondissement=int(known.arrondissement), nature=known.nature)

    async def _record_acte(self, identity: Identity, name: str, archive: Path | bytes,
                           exam: Examination, idcl: IDCL, *, hold: bool,
                           waiting: S | None = None, decision: Decision = DEFAULT_DECISION,
                           owned: bool = False,
                           posted: Sequence[tuple[str | None, bytes | None]] = (),
                           operator_refuses: frozenset[str] = frozenset()) -> Outcome:
        """Store the act and its answer. One submission at a time per SIREN: the duplicate
        check and the insert form one step. An act acknowledged at once with all it needs in
        memory (`_acknowledged_now`) is that step, queued under the SIREN's lock and committed
        without it; any other holds the lock from its check to its insert."""
        lock = self._locks.setdefault(idcl.siren, asyncio.Lock())
        if waiting is None and not hold:
            acknowledged = await self._acknowledged_now(identity, name, archive, exam, idcl,
                                                        lock, decision, posted,
                                                        operator_refuses)
            if acknowledged is not None:
                return acknowledged
        async with lock:
            return await self._record_checked(identity, name, archive, exam, idcl, hold=hold,
                                              waiting=waiting, decision=decision, owned=owned,
                                              posted=posted, operator_refuses=operator_refuses)

    async def _acknowledged_now(self, identity: Identity, name: str, archive: Path | bytes,
                                exam: Examination, idcl: IDCL, lock: asyncio.Lock,
                                decision: Decision,
                                posted: Sequence[tuple[str | None, bytes | None]],
                                operator_refuses: frozenset[str]) -> Outcome | None:
        """The common case in one trip to the writer: a new act, valid, named, answered now by
        the ARActe the worker made and signed, from a small archive whose members are small
        too (its blobs are rows of the same commit: nothing to write to a file first). The
        trip registers the sender, finds no duplicate, reserves the answer's serial, stages
        the blobs and inserts the act in 4 with its walk. None when the act is not such a case, or when
        the trip finds a duplicate or a changed registration (nothing written then): the
        checked path (`_record_checked`) answers it."""
        acte, made = exam.acte, exam.receipt
        if acte is None or exam.archive_sha256 is None or made is None \
                or made.ar_acte is None or made.signature is None or decision.holds \
                or not isinstance(archive, bytes) \
                or any(size > SMALL_BLOB for _, size, _ in exam.members):
            return None
        id_acte, unnamed = _id_acte_or_anomalie(acte, idcl)
        if id_acte is None or unnamed or exam.report.anomalie() or decision.anomalie_now \
                or _operator_refusal(exam.report, operator_refuses) is not None:
            return None
        received_at = made.order.at
        documents = _documents(acte, exam.members, posted)
        kept = {exam.acte_file or "", *(d.file_name for d in documents)}
        blobs = self.sqlite.blobs
        # The archive's limits only when its members must be read again (the worker sent none).
        limits = None if kept <= exam.contents.keys() else self.policy().limits
        ar_acte, signature, token = made.ar_acte, made.signature, made.token

        def answer(serial: int) -> tuple[NewTransaction, NewMessage]:
            # On the writer, once the act is known to be new: every blob a small-blob row
            # staged for this commit (no file, no fsync), the answer numbered.
            bundle = outcomes.ar_acte_named(acte, idcl, ar_acte, received=paris_date(received_at),
                                            itc=self.itc,
                                            serial=self.checked_serial(serial, idcl.siren))
            archive_sha, token_sha, members = _store_receipt(blobs, archive, token, limits,
                                                             kept, False, exam.contents)
            return (_new_acte(acte, idcl, name, archive_sha, token_sha, members, documents,
                              exam.acte_file or ""),
                    self._signed_answer(bundle, token_sha, signature))

        async with lock:  # queued: a later step of this SIREN's sees what it writes
            recorded = self.store.queue(
                _record_answered, idcl, acte.numero_interne, id_acte,
                self.serial_name("return-envelope", idcl.siren), answer, received_at,
                actor_label(identity), self.actor, decision.recorder(received_at, followup=True))
        row = await recorded
        if row is None:
            return None
        return Outcome(row, "1-2", id_acte, None, exam.report, decision)

    async def _record_checked(self, identity: Identity, name: str, archive: Path | bytes,
                              exam: Examination, idcl: IDCL, *, hold: bool,
                              waiting: S | None = None, decision: Decision = DEFAULT_DECISION,
                              owned: bool = False,
                              posted: Sequence[tuple[str | None, bytes | None]] = (),
                              operator_refuses: frozenset[str] = frozenset()) -> Outcome:
        acte = exam.acte
        assert acte is not None and exam.archive_sha256 is not None
        # The instant the worker stamped the archive at, when it did: the token's genTime.
        received_at = self.clock.now() if exam.receipt is None else exam.receipt.order.at
        received = paris_date(received_at)
        id_acte, unnamed = _id_acte_or_anomalie(acte, idcl)
        # Whether a new (not duplicate) act is answered now: then its answer's serial is
        # reserved in the same trip to the writer (a duplicate is always answered).
        answered_if_new = waiting is None and not (
            (hold or decision.holds)
            and (exam.report.anomalie() or unnamed or decision.anomalie_now) is None) \
            and _operator_refusal(exam.report, operator_refuses) is None
        duplicate, known, serial = await self.store.call(
            _register_and_find, idcl, acte.numero_interne, id_acte,
            self.serial_name("return-envelope", idcl.siren), answered_if_new)
        mismatch = _idcl_fault(exam, idcl, name, known)
        if mismatch is not None:  # the registration changed since `submit_archive` looked
            return await self._refuse_envelope(identity, name, archive, exam, idcl, mismatch,
                                               owned=owned)
        anomalie = exam.report.anomalie() or unnamed or decision.anomalie_now
        if duplicate is not None:
            anomalie = (AnomalieNature.DOUBLON,
                        f"DOUBLON : l'acte {id_acte} a déjà été transmis "
                        f"(transaction {duplicate.id})")
        held = (hold or decision.holds) and anomalie is None
        # Committed with the transaction: the rule that decided it and what follows later.
        then = decision.recorder(received_at, followup=anomalie is None)
        pending = waiting is not None and duplicate is None  # examined again when posted
        by_operator = None if duplicate is not None else _operator_refusal(exam.report,
                                                                           operator_refuses)
        made = exam.receipt
        bundle, signature = None, None
        if held or pending or by_operator:
            pass
        elif anomalie is None and made is not None and made.ar_acte is not None:
            # The ARActe the worker made and signed; the service numbers it.
            bundle = outcomes.ar_acte_named(
                acte, idcl, made.ar_acte, received=received, itc=self.itc,
                serial=await self.return_serial(idcl.siren) if serial is None
                else self.checked_serial(serial, idcl.siren))
            signature = made.signature
        else:
            bundle = await self._answer_bundle(acte, idcl, received, anomalie, serial)

        # Blobs first, fsynced: the rows below may only point at durable bytes.
        digest, limits = bytes.fromhex(exam.archive_sha256), self.policy().limits
        documents = _documents(acte, exam.members, posted)
        kept = {exam.acte_file or "", *(d.file_name for d in documents)}

        def receipt() -> tuple[str, str, dict[str, str], NewMessage | None]:
            # One hop off the loop: the blobs (and what the worker did not make: the token,
            # the answer's signature).
            token = self.stamp(digest) if made is None else made.token
            stored = _store_receipt(self.sqlite.blobs, archive, token, limits, kept, owned,
                                    exam.contents)
            return *stored, None if bundle is None else self._signed_answer(bundle, stored[1],
                                                                            signature)

        # Nothing to write to a file, nothing to sign (a small archive's bytes, all its members
        # small, the token and the answer made by the worker): stored in memory for the next
        # commit, with no hop off the loop.
        in_memory = isinstance(archive, bytes) and made is not None and (
            signature is not None or bundle is None) and all(
            size <= SMALL_BLOB for _, size, _ in exam.members)
        archive_sha, token_sha, members, outgoing = (
            receipt() if in_memory else await asyncio.to_thread(receipt))
        new = _new_acte(acte, idcl, name, archive_sha, token_sha, members, documents,
                        exam.acte_file or "")
        actor = actor_label(identity)
        if duplicate is not None:
            assert outgoing is not None and anomalie is not None
            row = await self.store.call(_create_refused, new, outgoing, received_at, actor,
                                        anomalie[1], then)
        elif pending:
            assert waiting is not None
            row = await self.store.call(_create_pending, new, waiting, received_at, actor)
            return Outcome(row, None, None, None, exam.report)
        elif by_operator is not None:
            assert anomalie is not None
            row = await self.store.call(_create_and_refuse, new, received_at, actor, self.actor,
                                        by_operator, then)
            return Outcome(row, None, None, (str(anomalie[0]), by_operator), exam.report,
                           decision)
        elif held:
            row = await self.store.call(create_and_answer, new, None, received_at, actor,
                                        self.actor, None, None, then)
            return Outcome(row, None, None, None, exam.report, decision)
        else:
            assert outgoing is not None
            row = await self.store.call(create_and_answer, new, outgoing, received_at, actor,
                                        self.actor, None if anomalie else id_acte,
                                        anomalie[1] if anomalie else None, then)
        return Outcome(row, bundle.code if bundle else None, None if anomalie else id_acte,
                       None if anomalie is None else (str(anomalie[0]), anomalie[1]),
                       exam.report, decision)

    async def _answer_bundle(self, acte: Acte, idcl: IDCL, received: dt.date,
                             anomalie: tuple[AnomalieNature, str] | None,
                             serial: int | None = None) -> outcomes.ReturnBundle:
        """The 1-2 (no anomaly) or 1-3 for an act received on `received`, numbered `serial`
        when one was reserved already."""
        serial = (await self.return_serial(idcl.siren) if serial is None
                  else self.checked_serial(serial, idcl.siren))
        classification = self.classification().date
        if anomalie is None:
            return outcomes.ar_acte(acte, idcl, received=received, classification=classification,
                                    serial=serial, itc=self.itc)
        return outcomes.anomalie_acte(acte, idcl, nature=anomalie[0], detail=anomalie[1],
                                      notified=paris_date(self.clock.now()),
                                      classification=classification, serial=serial, itc=self.itc)

    async def answer_acte(self, transaction_id: int, *,
                          anomalie: tuple[AnomalieNature, str] | None = None,
                          actor: str = "prefecture") -> Outcome:
        """The préfecture's decision on a held act ("transmis"): ARActe, or AnomalieActe.

        DateReception stays the day the act was received, whenever the answer comes.
        """
        row = await self.store.get(transaction_id)
        if row.type is not TransactionType.ACTE or row.status is not S.TRANSMIS:
            raise RequestRefused(
                "NOT_AWAITING_ANSWER",
                f"seul un acte transmis attend une réponse (statut actuel : {row.status.libelle})",
                f"only a transmitted act awaits an answer (current status: {row.status.name})",
                kind=Kind.CONFLICT)
        incoming = next(m for m in await self.store.messages(row.id) if m.code == "1-1")
        acte = message_from_element(parse_xml(self.sqlite.blobs.read(incoming.xml_sha256)))
        assert isinstance(acte, Acte)
        idcl = await self.idcl_of(row)
        bundle = await self._answer_bundle(acte, idcl, paris_date(row.created_at), anomalie)
        outgoing = await self.store_answer(bundle, incoming.timestamp_token_sha256)
        id_acte = None if anomalie else str(outcomes.id_acte_for(acte, idcl.departement, idcl.siren))
        message = (f"Refusé par la préfecture : {anomalie[1]}" if anomalie
                   else f"Reçu par la préfecture le {paris_date(row.created_at):%d/%m/%Y}")
        step = TransitionStep(row.id, S.TRANSMIS, S.ERREUR if anomalie else S.ACQUITTEMENT_RECU,
                              message=message, attach=outgoing, id_acte=id_acte)
        done = await self.store.call(lifecycle.apply_steps, [step], at=self.clock.now(),
                                     actor=actor)
        return Outcome(done[-1], bundle.code, id_acte,
                       None if anomalie is None else (str(anomalie[0]), anomalie[1]))

    # -- posting an act that waited for an RGS-authenticated confirmation (17 → 1) ----------

    async def post_acte(self, identity: Identity, transaction_id: int, *,
                        hold: bool = False, headers: Mapping[str, str] | None = None,
                        operator_refuses: frozenset[str] = frozenset()) -> Outcome:
        """Post an act stored "en attente d'être postée" (17): examined again now, it then goes
        the way of any submission (1 → 2 → 3 → 4, or -1 with an AnomalieActe; `hold` stops it
        at "transmis"). DateReception is the day it is posted; the scenarios decide now, on the
        posting request's `headers`."""
        row = await self.store.get(transaction_id)
        authorize(identity, row.siren, "submit")
        if row.type is not TransactionType.ACTE or row.status is not S.EN_ATTENTE_D_ETRE_POSTEE \
                or row.archive_sha256 is None:
            raise RequestRefused(
                "NOT_AWAITING_POSTING",
                f"la transaction n'est pas en attente d'être postée (statut actuel : "
                f"{row.status.libelle})",
                f"the transaction is not waiting to be posted (current status: {row.status.name})",
                kind=Kind.CONFLICT)
        # A small archive is a row, with no file: its bytes; a large one's path, re-hashed.
        stored = await asyncio.to_thread(self.sqlite.blobs.sound, row.archive_sha256)
        # Stamped when it was received; answered here, on the day it is posted.
        exam = await self.examine(stored, row.archive_name or "", receipt=False)
        acte = exam.acte
        if acte is None:  # it was readable when stored; only a damaged blob store gets here
            raise RequestRefused("ARCHIVE_UNREADABLE", "archive stockée illisible",
                                 "stored archive unreadable", report=exam.report)
        idcl = await self.idcl_of(row)
        fault = await self.judge_sender(exam.report, acte, row.siren, row.archive_name or "")
        if fault is not None:  # the convention ended while the act waited: it keeps waiting
            raise RequestRefused(fault.code, fault.detail, f"{fault.code}: envelope refused",
                                 report=exam.report)
        now = self.clock.now()
        id_acte, unnamed = _id_acte_or_anomalie(acte, idcl)
        decision = await self._decide(acte, row.siren, headers)
        anomalie = exam.report.anomalie() or unnamed or decision.anomalie_now
        named = None if id_acte is None else await self.store.find_by_id_acte(id_acte)
        if named is not None and named.id != row.id:
            anomalie = (AnomalieNature.DOUBLON,
                        f"DOUBLON : l'acte {id_acte} a déjà été transmis (transaction {named.id})")
        held = (hold or decision.holds) and anomalie is None
        duplicate = named is not None and named.id != row.id
        by_operator = None if duplicate else _operator_refusal(exam.report, operator_refuses)
        if by_operator is not None:
            assert anomalie is not None
            try:
                done = await self.store.call(_post_and_refuse, row.id, now, actor_label(identity),
                                             self.actor, by_operator)
            except (lifecycle.IllegalTransition, StatusConflict) as lost:
                raise transition_conflict(row.id) from lost
            return Outcome(done, None, None, (str(anomalie[0]), by_operator), exam.report,
                           decision)
        bundle = None if held else await self._answer_bundle(acte, idcl, paris_date(now), anomalie)
        incoming = next(m for m in await self.store.messages(row.id) if m.code == "1-1")
        outgoing = None if bundle is None else await self.store_answer(
            bundle, incoming.timestamp_token_sha256)
        try:
            done = await self.store.call(_post_pending, row.id, outgoing, now, actor_label(identity),
                                         self.actor, None if anomalie else id_acte,
                                         anomalie[1] if anomalie else None,
                                         decision.recorder(now, followup=anomalie is None))
        except (lifecycle.IllegalTransition, StatusConflict) as lost:
            raise transition_conflict(row.id) from lost
        return Outcome(done, bundle.code if bundle else None, None if anomalie else id_acte,
                       None if anomalie is None else (str(anomalie[0]), anomalie[1]), exam.report,
                       decision)

# -- one serial step each, run on the store's writer thread -------------------------------------

@dataclass(frozen=True)
class EnvelopeFault:
    """Why a whole envelope is refused: the AnomalieEnveloppe's Nature and Detail, and the
    finding code behind it."""

    nature: AnomalieEnveloppeNature
    code: str
    detail: str


ENVELOPE_NAME_CODES = frozenset({"NAME_ARCHIVE", "NAME_ENVELOPE", "NAME_MISMATCH"})
"""Faults of the archive's or envelope's name: the platform rejects the envelope (002)."""


def _envelope_fault(exam: Examination, name: str) -> EnvelopeFault | None:
    """A fault of the envelope as a whole that the platform can still answer (the envelope
    was read): a wrong archive or envelope name (002), or a message the envelope lists
    missing from the archive (004). Faults of the message itself (its XML, its name) are
    not the envelope's."""
    envelope = exam.enveloppe_file
    for finding in exam.report.errors:
        if finding.file != envelope and finding.code != "NAME_ARCHIVE":
            continue
        if finding.code in ENVELOPE_NAME_CODES:
            return EnvelopeFault(AnomalieEnveloppeNature.NOMMAGE, finding.code,
                                 f"{name} -> {finding.code} : {finding.message_fr}")
        if finding.code == "FILE_MISSING":
            return EnvelopeFault(AnomalieEnveloppeNature.FICHIERS, finding.code,
                                 f"{name} -> {finding.code} : {finding.message_fr}")
    return None


def _register_then_answer(store: SimulatorStore, idcl: IDCL, new: NewTransaction,
                          answer: NewMessage, at: dt.datetime, actor: str, ministere: str,
                          rejected: str) -> TransactionRow:
    """Register the sender if new (its IDCL), then store the refused envelope's transaction."""
    _register(store, idcl)
    return create_and_answer(store, new, answer, at, actor, ministere, None, rejected)


SenderRecord = tuple[RegisteredCollectivite | None, Convention | None]
_NAME_SIREN = re.compile(r"-EACT--(\d{9})--")
"""The sender's SIREN in an archive's name (`names.ArchiveName`)."""


def _unused(read: asyncio.Future[SenderRecord]) -> None:
    """Retrieve a read's outcome: one nobody awaited must not be reported as lost."""
    if not read.cancelled():
        read.exception()


@reads_first
def _sender(store: SimulatorStore, siren: str, day: dt.date) -> SenderRecord:
    """The collectivité registered under `siren`, and its convention in force on `day`."""
    return store.get_collectivite(siren), store.convention_in_force(siren, day)


def _register(store: SimulatorStore, idcl: IDCL) -> RegisteredCollectivite | None:
    """Add the collectivité the first time it sends something: None then, else the one
    registered, whose IDCL the envelope's must match (`_idcl_fault`)."""
    known = store.get_collectivite(idcl.siren)
    if known is None:
        store.add_collectivite(RegisteredCollectivite(
            idcl.siren, idcl.departement, str(idcl.arrondissement), idcl.nature, idcl.siren))
    return known


def _idcl_fault(exam: Examination, idcl: IDCL, name: str,
                known: RegisteredCollectivite | None) -> EnvelopeFault | None:
    """The envelope's IDCL against the collectivité the platform knows (département,
    arrondissement, nature): when they differ, the sender is not who the platform knows, and
    the whole envelope is refused with the finding `IDCL_MISMATCH` added to the report.

    Nature 005: REFERENCE.md's only platform sample tied to the sender (§4.3, PREF-VERIF-02,
    Nature 5) refuses an emitter the platform does not recognise, and the operators check
    IDCL consistency right after the envelope's schema, before any act (REFERENCE.md's
    validation order); an IDCL that contradicts the registered one is the same family of
    fault (the emitter is not the one registered), so it shares 005 (`EMETTEUR`)."""
    differences = [] if known is None else _idcl_differences(idcl, known)
    if not differences:
        return None
    said_fr = ", ".join(f"{label} {sent} au lieu de {was}" for label, sent, was in differences)
    said_en = ", ".join(f"{label} {sent} instead of {was}" for label, sent, was in differences)
    message_fr = (f"l'émetteur (IDCL) ne correspond pas à la collectivité {idcl.siren} "
                  f"enregistrée : {said_fr}")
    exam.report.add("IDCL_MISMATCH", message_fr,
                    f"the sender (IDCL) does not match the registered collectivité "
                    f"{idcl.siren}: {said_en}", file=exam.enveloppe_file, xpath="IDCL")
    return EnvelopeFault(AnomalieEnveloppeNature.EMETTEUR, "IDCL_MISMATCH",
                         f"{name} -> IDCL_MISMATCH : {message_fr}")


def _idcl_differences(idcl: IDCL, known: RegisteredCollectivite) -> list[tuple[str, str, str]]:
    """Where the envelope's IDCL differs from the registered collectivité: (field, sent,
    registered)."""
    return [(label, sent, registered) for label, sent, registered in (
        ("Departement", idcl.departement, known.departement),
        ("Arrondissement", str(idcl.arrondissement), known.arrondissement),
        ("Nature", idcl.nature, known.nature)) if sent != registered]


@reads_first  # a first registration is its own commit
def _register_and_find(store: SimulatorStore, idcl: IDCL, numero: str, id_acte: str | None,
                       serial_name: str, answered_if_new: bool,
                       ) -> tuple[TransactionRow | None, RegisteredCollectivite | None, int | None]:
    """Remember the sender (`_register`), then find the act this one would duplicate: a live
    one with its NumeroInterne, or one with its IDActe; and when the act is to be answered now
    (a duplicate always is), reserve its answer's serial from `serial_name` (one trip to the
    writer). Returns that act, the collectivité registered before (None: registered now) and
    the serial (None: none reserved)."""
    known = _register(store, idcl)
    named = None if id_acte is None else store.find_by_id_acte(id_acte)
    duplicate = store.find_live_acte(idcl.siren, numero) or named
    answered = duplicate is not None or answered_if_new
    return duplicate, known, store.reserve_serial(serial_name) if answered else None


def _record_answered(store: SimulatorStore, idcl: IDCL, numero: str, id_acte: str,
                     serial_name: str,
                     answer: Callable[[int], tuple[NewTransaction, NewMessage]],
                     at: dt.datetime, actor: str, ministere: str,
                     then: AlsoWrite | None) -> TransactionRow | None:
    """`_acknowledged_now`'s trip, one commit: register the sender if new, then, unless its
    registration differs from the envelope's IDCL or the act would duplicate another (None:
    nothing written), reserve the answer's serial, make the act and its answer (`answer`)
    and walk it to 4."""
    def write() -> TransactionRow | None:
        known = _register(store, idcl)
        if known is not None and _idcl_differences(idcl, known):
            return None
        if store.find_live_acte(idcl.siren, numero) or store.find_by_id_acte(id_acte):
            return None
        new, outgoing = answer(store.reserve_serial(serial_name))
        return create_and_answer(store, new, outgoing, at, actor, ministere, id_acte, None,
                                 then)

    return store.atomic(write)


def _id_acte_or_anomalie(acte: Acte, idcl: IDCL
                         ) -> tuple[str | None, tuple[AnomalieNature, str] | None]:
    """The IDActe the act would get, or None and the anomaly when its fields cannot make one
    (a NumeroInterne the schema lets through, such as `DEL-1`: the validator reports it too)."""
    try:
        return str(outcomes.id_acte_for(acte, idcl.departement, idcl.siren)), None
    except InvalidName as exc:
        return None, (AnomalieNature.SCHEMA, f"NUMERO_INTERNE_INVALID : {exc.message_fr}")


def _create_pending(store: SimulatorStore, new: NewTransaction, status: S, at: dt.datetime,
                    actor: str) -> TransactionRow:
    """Store the act waiting: "en attente d'être postée" (17) waits for `post_acte`, "en
    attente d'être signé" (18) for a signature no API gives."""
    waiting = NewTransaction(**{**new.__dict__, "status": status})
    return lifecycle.create(store, waiting, at=at, actor=actor,
                            message=("Dépôt en attente de signature"
                                     if status is S.EN_ATTENTE_D_ETRE_SIGNEE
                                     else "Dépôt dans un état d'attente"))


def _post_pending(store: SimulatorStore, transaction_id: int, answer: NewMessage | None,
                  at: dt.datetime, actor: str, ministere: str, id_acte: str | None,
                  anomalie: str | None, then: AlsoWrite | None = None) -> TransactionRow:
    """17 → 1 by the agent who confirms, then on to the answer as any submission (`then`:
    the scenario's record and follow-up, in the same commit)."""
    def write() -> TransactionRow:
        row = lifecycle.transition(store, transaction_id, S.POSTE, at=at, actor=actor,
                                   expected_from=S.EN_ATTENTE_D_ETRE_POSTEE,
                                   message="La transaction a été postée par l'agent "
                                           f"télétransmetteur {actor}")
        return to_answer(store, row, answer, at=at, ministere=ministere, id_acte=id_acte,
                          anomalie=anomalie, then=then)

    return store.atomic(write)


def _operator_refusal(report: ValidationReport, codes: frozenset[str]) -> str | None:
    """S²LOW's "Enveloppe invalide : …" when the report's first error is one of `codes`
    (what the operator's analysis catches before sending), else None."""
    first = next((f for f in report.errors), None)
    anomalie = report.anomalie()
    if first is None or anomalie is None or first.code not in codes:
        return None
    return f"Enveloppe invalide : {anomalie[1]}"


def _create_and_refuse(store: SimulatorStore, new: NewTransaction, at: dt.datetime, actor: str,
                       operator: str, message: str,
                       then: AlsoWrite | None = None) -> TransactionRow:
    """Posté, then -1 by the operator's own analysis: nothing goes to the ministry."""
    def write() -> TransactionRow:
        row = lifecycle.create(store, new, at=at, actor=actor, message="Posté")
        row = lifecycle.transition(store, row.id, S.ERREUR, at=at, actor=operator,
                                   expected_from=S.POSTE, message=message)
        if then is not None:
            then(store, row)
        return row

    return store.atomic(write)


def _post_and_refuse(store: SimulatorStore, transaction_id: int, at: dt.datetime, actor: str,
                     operator: str, message: str) -> TransactionRow:
    """17 → 1 by the agent who confirms, then -1 by the operator's own analysis."""
    def write() -> TransactionRow:
        lifecycle.transition(store, transaction_id, S.POSTE, at=at, actor=actor,
                             expected_from=S.EN_ATTENTE_D_ETRE_POSTEE,
                             message="La transaction a été postée par l'agent "
                                     f"télétransmetteur {actor}")
        return lifecycle.transition(store, transaction_id, S.ERREUR, at=at, actor=operator,
                                    expected_from=S.POSTE, message=message)

    return store.atomic(write)


def _create_refused(store: SimulatorStore, new: NewTransaction, answer: NewMessage,
                    at: dt.datetime, actor: str, detail: str,
                    then: AlsoWrite | None = None) -> TransactionRow:
    def write() -> TransactionRow:
        refused = NewTransaction(**{**new.__dict__, "status": S.ERREUR,
                                    "messages": (*new.messages, answer)})
        row = lifecycle.create(store, refused, at=at, actor=actor, message=detail)
        if then is not None:
            then(store, row)
        return row

    return store.atomic(write)


def _store_receipt(blobs: Blobs, archive: Path | bytes, token: bytes,
                   limits: ArchiveLimits | None, kept: set[str], owned: bool,
                   contents: Mapping[str, bytes] | None = None,
                   ) -> tuple[str, str, dict[str, str]]:
    """The archive, its timestamp token and the `kept` members (those rows will name) into the
    blob store (reads, hashes, fsyncs: off the event loop); their digests, members by name.
    An `owned` archive file is moved into the store (`Blobs.adopt`), not copied; an archive
    given as bytes is put as such: a small one becomes a row of the commit recording its
    transaction, with no file and no fsync of its own.

    The enveloppe and stray members stay inside the archive blob only: a copy no row names
    would be an orphan nobody can read back or clean up. `contents`: the kept members' bytes
    when the worker sent them (`Examination.contents`): the archive is not unpacked again
    (`limits` may then be None)."""
    if contents and kept <= contents.keys():
        stored = {name: blobs.put(contents[name]) for name in kept}
    else:
        assert limits is not None, "the archive's members are read again: its limits apply"
        stored = _store_members(blobs, archive, limits, kept)
    # The archive last: an owned file is gone once adopted.
    archive_sha = blobs.adopt(archive) if owned and isinstance(archive, Path) \
        else blobs.put(archive)
    return archive_sha, blobs.put(token), stored


def _store_members(blobs: Blobs, archive: Path | bytes, limits: ArchiveLimits,
                   kept: set[str]) -> dict[str, str]:
    """The `kept` members of the archive into the blob store: their digests by name."""
    stored: dict[str, str] = {}
    with read_archive(_source(archive), limits) as opened:
        for member in opened:
            if member.name not in kept:
                continue
            if member.on_disk:  # large: streamed, never whole in memory
                with member.open() as stream:
                    stored[member.name] = blobs.put(stream)
            else:  # as bytes: a document already stored costs no temporary file
                stored[member.name] = blobs.put(member.read())
    return stored


def _new_acte(acte: Acte, idcl: IDCL, name: str, archive_sha: str, token_sha: str,
              members: dict[str, str], documents: tuple[NewDocument, ...],
              acte_file: str) -> NewTransaction:
    """The act's transaction as received ("posté"), its 1-1 message stamped by `token_sha`."""
    incoming = NewMessage("1-1", Sender.CL, acte_file, members[acte_file],
                          timestamp_token_sha256=token_sha)
    return NewTransaction(
        type=TransactionType.ACTE, status=S.POSTE, siren=idcl.siren,
        numero_interne=acte.numero_interne, nature=acte.nature,
        matiere=".".join(str(c) for c in acte.codes_matiere if c is not None),
        objet=acte.objet, decision_date=acte.date, archive_name=name,
        archive_sha256=archive_sha, messages=(incoming,), documents=documents)


def _documents(acte: Acte, members: tuple[tuple[str, int, str], ...],
               posted: Sequence[tuple[str | None, bytes | None]] = ()) -> tuple[NewDocument, ...]:
    by_name = {name: (size, sha) for name, size, sha in members}
    docs = []
    for role, position, ref in [("main", 0, acte.document),
                                *[("annexe", i, a) for i, a in enumerate(acte.annexes, start=1)]]:
        if ref.nom_fichier in by_name:
            size, sha = by_name[ref.nom_fichier]
            ext = ref.nom_fichier.rsplit(".", 1)[-1].lower()
            index = 0 if role == "main" else position
            name, signature = posted[index] if index < len(posted) else (None, None)
            docs.append(NewDocument(role, position, ref.nom_fichier, sha,
                                    MIMETYPES.get(ext, "application/octet-stream"), size,
                                    posted_name=name, posted_signature=None if signature is None
                                    else signature.decode("utf-8", "replace")))
    return tuple(docs)


__all__ = [
    "MIMETYPES",
    "Engine",
    "EnvelopeFault",
    "Examination",
    "IntakeRefused",
    "Kernel",
    "Outcome",
    "RequestRefused",
    "actor_label",
    "examine",
    "examine_shipped",
    "only_siren",
    "transition_conflict",
]
