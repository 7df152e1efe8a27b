"""The préfecture's side of the contrôle de légalité, and the collectivité's answers to it.

`Prefecture` wraps an `Engine`. The préfecture acknowledges (1-2) or refuses (1-3) an act held
at "transmis", and sends letters about an acknowledged act: 2-1 courrier simple, 3-1 demande de
pièces complémentaires, 4-1 lettre d'observations, 5-1 déféré au tribunal administratif. The
collectivité answers 2-2; 3-3 (refus) or 3-4 (pièces); 4-3 (rejet) or 4-4 (réponse). Every status
change goes through `lifecycle` on the store's writer thread, together with its checks; knows
nothing of HTTP.

Data model. A letter is a transaction of type 2–5 related to the act (`related_transaction_id`),
carrying the act's IDActe, number, nature and decision date, `objet` = the letter's text, the
préfecture's bundle (EnveloppeMISILLCL + message + PDF) as its archive, the message signed by
the ministère key with an RFC 3161 token beside it, and the PDF as its "main" document. 2-1 and
5-1 are created "document reçu (pas d'AR)" (21); 3-1 and 4-1 "document reçu" (7) and moved at
once to "acquittement envoyé" (8) with the TdT's automatic receipt (3-2, 4-2). An answer is a
transaction of the letter's type related to the letter, walked posté → en attente → transmis;
3-x and 4-x reach "acquittement reçu" (4) at once with the préfecture's receipt (3-5, 4-5);
2-2 has no receipt in the protocol and stays "transmis" (3). One answer per letter.

Engine API (admin API, dashboard, scenarios, S²LOW-compatible API):
- `acknowledge(transaction_id, *, actor)` / `reject(transaction_id, nature, detail, *, actor)`
- `send_letter(acte_transaction_id, code, *, text="", document=None, actor)`
- `answer(identity, letter_transaction_id, code, *, documents=(), actor=None)`
- `letters(sirens, *, pending_only=False, unread_only=False)`, `get_letter`, `letter_document`,
  `answer_of`, `mark_as_read(identity, transaction_id)`
Refusals are `RequestRefused` (a `Refusal`: kind + stable code + French/English messages).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .. import pdf  # reportlab and pypdf load at the first letter drawn (`pdf` lazy exports)
from ..errors import Kind
from ..pki.identity import Identity, authorize
from ..protocol.codes import AnomalieNature, Sender, TransactionStatus, TransactionType
from ..protocol.errors import ProtocolError
from ..protocol.messages import (
    ARDemandePieceComplementaire,
    ARLettreObservations,
    FichierSigne,
    Message,
    PieceComplementaire,
    RefusPieceComplementaire,
    RejetLettreObservations,
    ReponseCourrierSimple,
    ReponseLettreObservations,
    parse_message,
)
from ..protocol.names import IDActe
from ..protocol.xmlsafe import NOT_XML_CHAR
from ..store.interface import (
    MAX_PAGE,
    DocumentRow,
    NewDocument,
    NewMessage,
    NewTransaction,
    SimulatorStore,
    StatusConflict,
    TransactionFilter,
    TransactionRow,
)
from ..validation.documents import format_from_extension, pdf_structure_problem, sniff_format
from . import lifecycle, outcomes
from .clock import paris_date
from .intake import Engine
from .kernel import MIMETYPES, Outcome, RequestRefused, actor_label, create_and_answer
from .kernel import transition_conflict as _conflict

S = TransactionStatus
T = TransactionType

LETTER_TYPES: Mapping[str, TransactionType] = {
    "2-1": T.COURRIER_SIMPLE, "3-1": T.PIECES_COMPLEMENTAIRES,
    "4-1": T.LETTRE_OBSERVATIONS, "5-1": T.DEFERE}
LETTER_CODES: Mapping[TransactionType, str] = {t: c for c, t in LETTER_TYPES.items()}
ANSWERS: Mapping[str, tuple[str, ...]] = {
    "2-1": ("2-2",), "3-1": ("3-3", "3-4"), "4-1": ("4-3", "4-4"), "5-1": ()}
"""The answers each letter allows (a déféré foresees none)."""
ANSWER_CODES: Mapping[str, str] = {a: letter for letter, answers in ANSWERS.items() for a in answers}
TDT_RECEIPTS: Mapping[str, str] = {"3-1": "3-2", "4-1": "4-2"}
"""The receipt the TdT sends automatically when a letter arrives."""
PREFECTURE_RECEIPTS: Mapping[str, str] = {"3-3": "3-5", "3-4": "3-5", "4-3": "4-5", "4-4": "4-5"}
"""The receipt the préfecture sends for an answer (2-2 has none)."""
TEXT_ELEMENTS: Mapping[str, str | None] = {
    "2-1": None, "3-1": "DescriptionPieces", "4-1": "Motif", "5-1": "NatureIllegalite"}
DEFAULT_TEXTS: Mapping[str, str] = {
    "2-1": "", "3-1": "Merci de transmettre les pièces complémentaires décrites dans le courrier.",
    "4-1": "Observations de la préfecture sur l'acte transmis.",
    "5-1": "Illégalité relevée lors du contrôle de légalité."}
LETTER_STATUSES = frozenset({S.DOCUMENT_RECU, S.ACQUITTEMENT_ENVOYE, S.DOCUMENT_RECU_PAS_D_AR})
"""Statuses only a letter from the préfecture takes (answers go 1 → 2 → 3 → 4)."""
ANSWERABLE = {T.COURRIER_SIMPLE: S.DOCUMENT_RECU_PAS_D_AR,
              T.PIECES_COMPLEMENTAIRES: S.ACQUITTEMENT_ENVOYE,
              T.LETTRE_OBSERVATIONS: S.ACQUITTEMENT_ENVOYE}
"""The status a letter waits in for the collectivité's answer."""
ANSWER_FORMATS = ("pdf", "png", "jpg")
MAX_TEXT = 4000
MAX_DOCUMENTS = 100
TDT_ACTOR = "operateur"


def _initial(code: str) -> TransactionStatus:
    (effect,) = lifecycle.MESSAGE_EFFECTS[code]
    assert effect.from_status is None
    return effect.to_status


def letter_code(row: TransactionRow) -> str | None:
    """"2-1", "3-1", "4-1" or "5-1" when `row` is a letter from the préfecture, else None."""
    if row.status in LETTER_STATUSES and row.type in LETTER_CODES:
        return LETTER_CODES[row.type]
    return None


def check_document(name: str, content: bytes, allowed: Sequence[str] = ANSWER_FORMATS, *,
                   field: str = "documents") -> str:
    """The document's format judged by its bytes ("pdf", "png", "jpg"); refused (input) when it
    is empty, of another format, not what its name claims, or a PDF cut short."""
    if not content:
        raise RequestRefused("DOCUMENT_EMPTY", f"document {name!r} vide",
                             f"document {name!r} is empty", field=field)
    sniffed = sniff_format(content[:1024])
    if sniffed is None or sniffed not in allowed:
        kinds = ", ".join(a.upper() for a in allowed)
        raise RequestRefused("DOCUMENT_FORMAT", f"document {name!r} : format non accepté ({kinds})",
                             f"document {name!r}: format not accepted ({kinds})", field=field)
    claimed = format_from_extension(name)
    if claimed is not None and claimed != sniffed:
        raise RequestRefused("DOCUMENT_FORMAT_MISMATCH",
                             f"document {name!r} : nommé {claimed.upper()} mais contient du "
                             f"{sniffed.upper()}",
                             f"document {name!r}: named {claimed.upper()} but holds {sniffed.upper()}",
                             field=field)
    if sniffed == "pdf":
        problem = pdf_structure_problem(io.BytesIO(content), len(content))
        if problem is not None:
            raise RequestRefused("DOCUMENT_PDF_INVALID", f"PDF {name!r} invalide : {problem}",
                                 f"invalid PDF {name!r}: {problem}", field=field)
    return sniffed


@dataclass
class Prefecture:
    """The préfecture and the collectivité's answers, over one `Engine`."""

    engine: Engine
    actor: str = "prefecture"

    # -- the act held at "transmis": 1-2 or 1-3 -------------------------------------------------

    async def acknowledge(self, transaction_id: int, *, actor: str | None = None) -> Outcome:
        """ARActe (1-2) for an act held at "transmis"; NOT_AWAITING_ANSWER (conflict) otherwise."""
        return await self._decide(transaction_id, None, actor or self.actor)

    async def reject(self, transaction_id: int, nature: AnomalieNature, detail: str = "", *,
                     actor: str | None = None) -> Outcome:
        """AnomalieActe (1-3) with `nature` and `detail` (default: the nature's label)."""
        detail = _text(detail, "detail") or nature.libelle
        return await self._decide(transaction_id, (AnomalieNature(nature), detail),
                                  actor or self.actor)

    async def _decide(self, transaction_id: int, anomalie: tuple[AnomalieNature, str] | None,
                      actor: str) -> Outcome:
        try:
            return await self.engine.answer_acte(transaction_id, anomalie=anomalie, actor=actor)
        except (lifecycle.IllegalTransition, StatusConflict) as lost:
            raise _conflict(transaction_id) from lost

    # -- letters from the préfecture: 2-1, 3-1, 4-1, 5-1 ----------------------------------------

    async def send_letter(self, acte_transaction_id: int, code: str, *, text: str = "",
                          document: bytes | None = None, actor: str | None = None) -> Outcome:
        """Send letter `code` about an acknowledged act; the TdT receipts 3-1/4-1 at once.

        `text` is DescriptionPieces (3-1), Motif (4-1) or NatureIllegalite (5-1) — a default
        sentence when empty (none for 2-1) — and the body of the drawn PDF. `document` is the
        letter's PDF (drawn by `pdf.courrier` when None). Refused: COURRIER_CODE
        (unknown code), a bad text or document, ACTE_NOT_ACKNOWLEDGED (conflict).
        """
        engine = self.engine
        if code not in LETTER_TYPES:
            raise RequestRefused("COURRIER_CODE",
                                 f"code {code!r} : un courrier de la préfecture est 2-1, 3-1, 4-1 ou 5-1",
                                 f"code {code!r}: a préfecture letter is 2-1, 3-1, 4-1 or 5-1", field="code")
        text = _text(text, "text") or DEFAULT_TEXTS[code]
        acte = await engine.store.get(acte_transaction_id)
        _require_acknowledged(acte)
        assert acte.id_acte is not None
        id_acte = IDActe.parse(acte.id_acte)
        if document is not None:
            check_document("courrier.pdf", document, ("pdf",), field="document")
        idcl = await engine.idcl_of(acte)
        now = engine.clock.now()
        sent = paris_date(now)
        if document is None:
            objet = f"{LETTER_TYPES[code].libelle} - acte {acte.id_acte}"
            document = await asyncio.to_thread(pdf.render_courrier, pdf.Courrier(  # reportlab
                expediteur="Préfecture", service="Contrôle de légalité",
                destinataire=(f"Collectivité SIREN {acte.siren}",), date=sent, objet=objet,
                paragraphes=(pdf.Paragraphe(text),) if text else (), titre=objet),
                generated_at=now)
        serial = await engine.return_serial(acte.siren)
        try:
            bundle = outcomes.courrier(code, id_acte, idcl, sent=sent, text=text,
                                       document=document, serial=serial, itc=engine.itc)
        except ProtocolError as bad:
            raise RequestRefused(bad.code, f"courrier refusé : {bad.message_fr}",
                                 f"letter refused: {bad.message_en}", field="text") from None
        archive_sha = await engine.store.put_blob(bundle.archive())
        letter = await engine.store_answer(bundle, await engine.store.put_blob(
            engine.stamp(bytes.fromhex(archive_sha))))
        ((document_name, _),) = bundle.attachments
        document_sha = await engine.store.put_blob(document)
        receipt = None
        if code in TDT_RECEIPTS:
            receipt = await self._tdt_receipt(TDT_RECEIPTS[code], id_acte, sent)
        new = NewTransaction(
            type=LETTER_TYPES[code], status=_initial(code), siren=acte.siren,
            related_transaction_id=acte.id, id_acte=acte.id_acte,
            numero_interne=acte.numero_interne, nature=acte.nature, matiere=acte.matiere,
            objet=text or None, decision_date=acte.decision_date,
            archive_name=bundle.archive_name, archive_sha256=archive_sha, messages=(letter,),
            documents=(NewDocument("main", 0, document_name, document_sha, MIMETYPES["pdf"],
                                   len(document)),))
        try:
            row = await engine.store.call(_record_letter, new, receipt, now, actor or self.actor)
        except (lifecycle.IllegalTransition, StatusConflict) as lost:
            raise _conflict(acte.id) from lost
        return Outcome(row, code, acte.id_acte)

    async def _tdt_receipt(self, code: str, id_acte: IDActe, letter_date: dt.date) -> NewMessage:
        """3-2 / 4-2, built and stored as the TdT sends it (IDActe and the letter's date)."""
        kinds = {"3-2": ARDemandePieceComplementaire, "4-2": ARLettreObservations}
        xml = kinds[code](str(id_acte), letter_date).to_xml()
        return NewMessage(code, Sender.CL, str(outcomes.name_for(id_acte, code, 0)),
                          await self.engine.store.put_blob(xml))

    # -- the collectivité's answers: 2-2, 3-3, 3-4, 4-3, 4-4 ------------------------------------

    async def answer(self, identity: Identity, letter_transaction_id: int, code: str, *,
                     documents: Sequence[tuple[str, bytes]] = (),
                     actor: str | None = None,
                     typologies: Sequence[str] = ()) -> Outcome:
        """The collectivité answers a letter; 3-x and 4-x are receipted (3-5, 4-5) at once.

        `typologies`, when given (one per document, as S²LOW's door takes them), prefix the
        documents' names (`99_AU-034-…-3-4_1.pdf`), as S²LOW names the files it sends.

        `documents` are (name, bytes): exactly one for 2-2, 3-3, 4-3, 4-4; one or more for
        3-4; PDF, PNG or JPEG judged by content. Refused: forbidden (foreign SIREN, role
        "answer"), not found NOT_A_COURRIER, input ANSWER_CODE / DOCUMENT_*, conflict
        COURRIER_NOT_ANSWERABLE / COURRIER_ALREADY_ANSWERED.
        """
        engine = self.engine
        letter = await self.get_letter(letter_transaction_id, identity, role="answer")
        letter_of = letter_code(letter)
        assert letter_of is not None
        if code not in ANSWER_CODES:
            raise RequestRefused("ANSWER_CODE",
                                 f"code {code!r} : une réponse est 2-2, 3-3, 3-4, 4-3 ou 4-4",
                                 f"code {code!r}: an answer is 2-2, 3-3, 3-4, 4-3 or 4-4", field="code")
        if not ANSWERS[letter_of]:
            raise RequestRefused("COURRIER_NOT_ANSWERABLE",
                                 f"un {LETTER_TYPES[letter_of].libelle.lower()} n'appelle pas de réponse",
                                 f"a {letter_of} ({LETTER_TYPES[letter_of].name}) foresees no answer",
                                 kind=Kind.CONFLICT)
        if ANSWER_CODES[code] != letter_of:
            raise RequestRefused("ANSWER_CODE",
                                 f"code {code!r} : le courrier {letter_of} appelle "
                                 f"{' ou '.join(ANSWERS[letter_of])}",
                                 f"code {code!r}: letter {letter_of} calls for "
                                 f"{' or '.join(ANSWERS[letter_of])}", field="code")
        several = code == "3-4"
        if not documents or (len(documents) > 1 and not several) or len(documents) > MAX_DOCUMENTS:
            expected = "un ou plusieurs documents" if several else "un seul document"
            raise RequestRefused("DOCUMENTS_COUNT",
                                 f"{code} : {expected} attendu(s), {len(documents)} reçu(s)",
                                 f"{code}: {'one or more documents' if several else 'exactly one document'}"
                                 f" expected, {len(documents)} received", field="documents")
        formats = [check_document(name, content) for name, content in documents]
        assert letter.id_acte is not None
        id_acte = IDActe.parse(letter.id_acte)
        letter_date = await self._letter_date(letter)
        if typologies and len(typologies) != len(documents):
            raise RequestRefused("TYPOLOGIES_COUNT",
                                 f"{len(typologies)} typologie(s) pour {len(documents)} document(s)",
                                 f"{len(typologies)} typologies for {len(documents)} documents",
                                 field="typologies")
        names = [str(outcomes.name_for(id_acte, code, i, fmt,
                                       typologies[i - 1] if typologies else None))
                 for i, fmt in enumerate(formats, 1)]
        xml = _answer_message(code, id_acte, letter_date, names).to_xml()
        now = engine.clock.now()
        put = engine.store.put_blob
        message = NewMessage(code, Sender.CL, str(outcomes.name_for(id_acte, code, 0)),
                             await put(xml),
                             timestamp_token_sha256=await put(engine.stamp(hashlib.sha256(xml).digest())))
        stored = [NewDocument("piece" if several else "main", i if several else 0, name,
                              await put(content), MIMETYPES[fmt], len(content), posted_name=posted)
                  for i, (name, fmt, (posted, content)) in enumerate(zip(names, formats, documents,
                                                                           strict=True), 1)]
        receipt = None
        if code in PREFECTURE_RECEIPTS:
            serial = await engine.return_serial(letter.siren)
            bundle = outcomes.ar_reponse(PREFECTURE_RECEIPTS[code], id_acte,
                                         await engine.idcl_of(letter),
                                         date_courrier_pref=letter_date, received=paris_date(now),
                                         serial=serial, itc=engine.itc)
            receipt = await engine.store_answer(bundle)
        new = NewTransaction(
            type=letter.type, status=_initial(code), siren=letter.siren,
            related_transaction_id=letter.id, id_acte=letter.id_acte,
            numero_interne=letter.numero_interne, nature=letter.nature, matiere=letter.matiere,
            decision_date=letter.decision_date, messages=(message,), documents=tuple(stored))
        try:
            row = await engine.store.call(_record_answer, new, letter.id, ANSWERABLE[letter.type],
                                          receipt, now, actor or actor_label(identity), self.actor)
        except (lifecycle.IllegalTransition, StatusConflict) as lost:
            raise _conflict(letter.id) from lost
        return Outcome(row, PREFECTURE_RECEIPTS.get(code), letter.id_acte)

    async def _letter_date(self, letter: TransactionRow) -> dt.date:
        """DateCourrierPref of the stored letter: the answers echo it."""
        code = letter_code(letter)
        stored = next(m for m in await self.engine.store.messages(letter.id) if m.code == code)
        parsed = parse_message(self.engine.sqlite.blobs.read(stored.xml_sha256))
        return parsed.date_courrier_pref  # type: ignore[union-attr]

    # -- reading ------------------------------------------------------------------------------

    async def letters(self, sirens: Iterable[str] | None, *, pending_only: bool = False,
                      unread_only: bool = False) -> tuple[TransactionRow, ...]:
        """Letters to these collectivités (None: all), newest first. `pending_only`: those
        still awaiting the collectivité's answer (a déféré never does); `unread_only`: never
        marked as read."""
        types = frozenset(ANSWERABLE) if pending_only else frozenset(LETTER_CODES)
        filters = TransactionFilter(sirens=None if sirens is None else frozenset(sirens),
                                    types=types, statuses=LETTER_STATUSES,
                                    unanswered=pending_only, unread=unread_only)
        found: list[TransactionRow] = []
        while True:
            page = await self.engine.store.list(filters, limit=MAX_PAGE, offset=len(found))
            found.extend(page.items)
            if not page.items or len(found) >= page.total:
                return tuple(found)

    async def get_letter(self, transaction_id: int, identity: Identity | None = None, *,
                         role: str = "read") -> TransactionRow:
        """The letter `transaction_id` (authorised for `identity` when given); not found when
        the transaction is not a letter from the préfecture."""
        row = await self.engine.store.get(transaction_id)
        if identity is not None:
            authorize(identity, row.siren, role)
        if letter_code(row) is None:
            raise RequestRefused("NOT_A_COURRIER",
                                 f"la transaction {transaction_id} n'est pas un courrier de la préfecture",
                                 f"transaction {transaction_id} is not a letter from the préfecture",
                                 kind=Kind.NOT_FOUND)
        return row

    async def letter_document(self, transaction_id: int,
                              identity: Identity | None = None) -> DocumentRow:
        """The letter's PDF (its blob: `engine.sqlite.blobs.read(document.sha256)`)."""
        row = await self.get_letter(transaction_id, identity)
        return next(d for d in await self.engine.store.documents(row.id) if d.role == "main")

    async def answer_of(self, letter_transaction_id: int) -> TransactionRow | None:
        """The collectivité's answer to a letter, if it answered."""
        page = await self.engine.store.list(
            TransactionFilter(related_transaction_id=letter_transaction_id), limit=1)
        return page.items[0] if page.items else None

    async def mark_as_read(self, identity: Identity, transaction_id: int) -> dt.datetime:
        """Record that the collectivité's software read a transaction (S²LOW mark_as_read);
        idempotent, returns when it was first read."""
        row = await self.engine.store.get(transaction_id)
        authorize(identity, row.siren, "read")
        return await self.engine.store.mark_read(row.id, at=self.engine.clock.now(),
                                                 actor=actor_label(identity))


# -- helpers ------------------------------------------------------------------------------------

def _text(value: str, field: str) -> str:
    value = (value or "").strip()
    if len(value) > MAX_TEXT:
        raise RequestRefused("FIELD_TOO_LONG", f"{field} : plus de {MAX_TEXT} caractères",
                             f"{field}: longer than {MAX_TEXT} characters", field=field)
    if NOT_XML_CHAR.search(value):  # it is written into a signed message
        raise RequestRefused("FIELD_INVALID", f"{field} : caractère de contrôle interdit",
                             f"{field}: control characters are not allowed", field=field)
    return value


def _require_acknowledged(acte: TransactionRow) -> None:
    if acte.type is not T.ACTE or acte.status is not S.ACQUITTEMENT_RECU or acte.id_acte is None:
        raise RequestRefused("ACTE_NOT_ACKNOWLEDGED",
                             f"un courrier ne porte que sur un acte acquitté (statut actuel : "
                             f"{acte.status.libelle})",
                             f"a letter is only sent about an acknowledged act (current status: "
                             f"{acte.status.name})", kind=Kind.CONFLICT)


def _answer_message(code: str, id_acte: IDActe, letter_date: dt.date, names: list[str]) -> Message:
    if code == "3-4":
        return PieceComplementaire(str(id_acte), letter_date, tuple(FichierSigne(n) for n in names))
    kinds: dict[str, type[ReponseCourrierSimple | RefusPieceComplementaire
                          | RejetLettreObservations | ReponseLettreObservations]] = {
        "2-2": ReponseCourrierSimple, "3-3": RefusPieceComplementaire,
        "4-3": RejetLettreObservations, "4-4": ReponseLettreObservations}
    return kinds[code](str(id_acte), letter_date, FichierSigne(names[0]))


# -- one serial step each, run on the store's writer thread -------------------------------------

def _record_letter(store: SimulatorStore, new: NewTransaction, receipt: NewMessage | None,
                   at: dt.datetime, actor: str) -> TransactionRow:
    """Create the letter (the act must still be acknowledged) and send the TdT's receipt."""
    def write() -> TransactionRow:
        assert new.related_transaction_id is not None
        _require_acknowledged(store.get(new.related_transaction_id))
        row = lifecycle.create(store, new, at=at, actor=actor,
                               message="Reçu par le TdT" if receipt else "Document reçu (pas d'AR)")
        if receipt is None:
            return row
        (effect,) = lifecycle.MESSAGE_EFFECTS[receipt.code]
        return lifecycle.transition(store, row.id, effect.to_status, at=at, actor=TDT_ACTOR,
                                    expected_from=effect.from_status, attach=receipt,
                                    message="Accusé de réception envoyé par le TdT")

    return store.atomic(write)


def _record_answer(store: SimulatorStore, new: NewTransaction, letter_id: int,
                   waiting: TransactionStatus, receipt: NewMessage | None, at: dt.datetime,
                   actor: str, prefecture: str) -> TransactionRow:
    """Create the answer if the letter still waits for one, walk it to "transmis", then to
    "acquittement reçu" with the préfecture's receipt when the protocol has one."""
    def write() -> TransactionRow:
        letter = store.get(letter_id)
        if letter.status is not waiting:
            raise RequestRefused("COURRIER_NOT_ANSWERABLE",
                                 f"le courrier {letter_id} n'attend pas de réponse (statut : "
                                 f"{letter.status.libelle})",
                                 f"letter {letter_id} awaits no answer (status: {letter.status.name})",
                                 kind=Kind.CONFLICT)
        if store.list(TransactionFilter(related_transaction_id=letter_id), limit=1).total:
            raise RequestRefused("COURRIER_ALREADY_ANSWERED",
                                 f"le courrier {letter_id} a déjà reçu une réponse",
                                 f"letter {letter_id} has already been answered", kind=Kind.CONFLICT)
        row = create_and_answer(store, new, None, at, actor, TDT_ACTOR, None, None)
        if receipt is None:
            return row
        (effect,) = lifecycle.MESSAGE_EFFECTS[receipt.code]
        return lifecycle.transition(
            store, row.id, effect.to_status, at=at, actor=prefecture,
            expected_from=effect.from_status, attach=receipt,
            message=f"Reçu par la préfecture le {paris_date(at):%d/%m/%Y}")

    return store.atomic(write)


__all__ = ["ANSWERS", "ANSWER_CODES", "LETTER_CODES", "LETTER_TYPES", "Prefecture",
           "check_document", "letter_code"]
