"""What the ministry sends back: the return message, its EnveloppeMISILLCL, and their names.

Builds ARActe (1-2), AnomalieActe (1-3), ARAnnulation (6-2), the classification answers
(7-2, 7-3), the préfecture's letters (2-1, 3-1, 4-1, 5-1, with their PDF) and its receipts of
the collectivité's answers (3-5, 4-5) exactly as the protocol shapes them, wrapped with the
envelope that names the sending préfecture and the recipient SIREN. Pure: serials and dates
are passed in.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from ..protocol.archive import write_archive
from ..protocol.classification import Classification
from ..protocol.codes import AnomalieEnveloppeNature, AnomalieNature
from ..protocol.messages import (
    IDCL,
    AnomalieActe,
    AnomalieEnveloppe,
    ARActe,
    ARAnnulation,
    ARPieceComplementaire,
    ARReponseRejetLettreObservations,
    CourrierSimple,
    DefereTA,
    DemandePieceComplementaire,
    EnveloppeCLMISILL,
    EnveloppeMISILLCL,
    FichierSigne,
    IDPref,
    IDSousPref,
    LettreObservations,
    ReponseClassificationSansChangement,
)
from ..protocol.messages import Acte as ActeMessage
from ..protocol.names import ANOMALIE_PREFIX, ArchiveName, EnveloppeName, IDActe, MessageFileName

ANO = "ANO"
"""The code an AnomalieEnveloppe is stored and downloaded under (it has no T-S code)."""


@dataclass(frozen=True)
class ReturnBundle:
    """One message from the préfecture: its code, file name and XML, with the envelope, and
    the files the message refers to (a letter's PDF) as (name, bytes)."""

    code: str
    file_name: str
    xml: bytes
    envelope_name: str
    envelope: EnveloppeMISILLCL
    archive_name: str
    attachments: tuple[tuple[str, bytes], ...] = ()

    @property
    def envelope_xml(self) -> bytes:
        """Written only when the bundle is sent as an archive: a receipt stores the message
        alone, and serialising the envelope cost it about a tenth of a millisecond."""
        return self.envelope.to_xml()

    def archive(self) -> bytes:
        """The bundle as an archive (envelope, message, files), like a tarred return e-mail."""
        buf = io.BytesIO()
        write_archive(buf, [(self.envelope_name, self.envelope_xml), (self.file_name, self.xml),
                            *self.attachments])
        return buf.getvalue()


def prefecture_of(idcl: IDCL) -> IDPref | IDSousPref:
    """The préfecture (arrondissement 0 or 1) or sous-préfecture in charge of a collectivité."""
    if idcl.arrondissement <= 1:
        return IDPref(idcl.departement)
    return IDSousPref(idcl.departement, idcl.arrondissement)


def service_id(emetteur: IDPref | IDSousPref) -> str:
    if isinstance(emetteur, IDSousPref):
        return f"SPREF{emetteur.departement}{emetteur.arrondissement}"
    return f"PREF{emetteur.departement}"


def id_acte_for(acte: ActeMessage, departement: str, siren: str) -> IDActe:
    """The IDActe the platform gives: département, SIREN, decision date, number, nature."""
    return IDActe(departement, siren, acte.date, acte.numero_interne, acte.nature)


def _bundle(code: str, message_name: MessageFileName | str, xml: bytes, idcl: IDCL, *,
            sent: dt.date, serial: int, itc: str,
            attachments: tuple[tuple[str, bytes], ...] = ()) -> ReturnBundle:
    emetteur = prefecture_of(idcl)
    envelope_name = EnveloppeName.from_service(service_id(emetteur), idcl.siren, sent, serial)
    envelope = EnveloppeMISILLCL(emetteur=emetteur,
                                 formulaires=(FichierSigne(str(message_name)),),
                                 destinataire_siren=idcl.siren)
    return ReturnBundle(code=code, file_name=str(message_name), xml=xml,
                        envelope_name=str(envelope_name), envelope=envelope,
                        archive_name=str(ArchiveName(itc, envelope_name)), attachments=attachments)


def ar_acte(acte: ActeMessage, idcl: IDCL, *, received: dt.date, classification: dt.date,
            serial: int, itc: str) -> ReturnBundle:
    """1-2: the act is received; its IDActe and DateReception."""
    xml = ar_acte_xml(acte, idcl, received=received, classification=classification)
    return ar_acte_named(acte, idcl, xml, received=received, serial=serial, itc=itc)


def ar_acte_xml(acte: ActeMessage, idcl: IDCL, *, received: dt.date,
                classification: dt.date) -> bytes:
    """The 1-2's XML: it names no serial, so a worker can make (and sign) it before the
    service knows whether the act will be acknowledged. `InvalidName` when the act's fields
    make no IDActe."""
    id_acte = id_acte_for(acte, idcl.departement, idcl.siren)
    return ARActe(id_acte=str(id_acte), date_reception=received, acte_recu=acte,
                  classification_date_version_en_cours=classification).to_xml()


def ar_acte_named(acte: ActeMessage, idcl: IDCL, xml: bytes, *, received: dt.date, serial: int,
                  itc: str) -> ReturnBundle:
    """The 1-2 of `ar_acte_xml` with its file name and envelope, numbered `serial`."""
    return _bundle("1-2", name_for(id_acte_for(acte, idcl.departement, idcl.siren), "1-2",
                                   serial), xml, idcl, sent=received, serial=serial, itc=itc)


def anomalie_acte(acte: ActeMessage, idcl: IDCL, *, nature: AnomalieNature, detail: str,
                  notified: dt.date, classification: dt.date, serial: int,
                  itc: str) -> ReturnBundle:
    """1-3: the act is refused. Named with empty date/number/nature, as the platform does."""
    message = AnomalieActe(date=notified, nature=nature, acte_recu=acte,
                           classification_date_version_en_cours=classification, detail=detail)
    name = MessageFileName(departement=idcl.departement, siren=idcl.siren, date=None,
                           numero_interne=None, nature=None, code="1-3", numero=serial,
                           extension="xml")
    return _bundle("1-3", name, message.to_xml(), idcl, sent=notified, serial=serial, itc=itc)


def anomalie_enveloppe(enveloppe: EnveloppeCLMISILL, received: str, idcl: IDCL, *,
                       nature: AnomalieEnveloppeNature, detail: str, notified: dt.date,
                       serial: int, itc: str) -> ReturnBundle:
    """The envelope is refused as a whole: an AnomalieEnveloppe echoing it, named `ANO_` + the
    received envelope's file name (`received`), as the platform names it."""
    message = AnomalieEnveloppe(date=notified, nature=nature.value, enveloppe_recue=enveloppe,
                                detail=detail)
    return _bundle(ANO, ANOMALIE_PREFIX + received, message.to_xml(), idcl, sent=notified,
                   serial=serial, itc=itc)


def ar_annulation(id_acte: IDActe, idcl: IDCL, *, received: dt.date, serial: int,
                  itc: str) -> ReturnBundle:
    """6-2: the cancellation is received."""
    message = ARAnnulation(id_acte=str(id_acte), date_reception=received)
    return _bundle("6-2", name_for(id_acte, "6-2", serial), message.to_xml(), idcl,
                   sent=received, serial=serial, itc=itc)


def classification_answer(held: dt.date | None, current: Classification, idcl: IDCL, *,
                          sent: dt.date, serial: int, itc: str) -> ReturnBundle:
    """7-3 when the collectivité already holds the current classification, else 7-2 with it."""
    def name(code: str) -> MessageFileName:
        return MessageFileName(departement=idcl.departement, siren=idcl.siren, date=None,
                               numero_interne=None, nature=None, code=code, numero=serial,
                               extension="xml")

    if held is not None and held >= current.date:
        message = ReponseClassificationSansChangement(date_classification=current.date)
        return _bundle("7-3", name("7-3"), message.to_xml(), idcl, sent=sent, serial=serial,
                       itc=itc)
    return _bundle("7-2", name("7-2"), current.to_xml(), idcl, sent=sent, serial=serial,
                   itc=itc)


def name_for(id_acte: IDActe, code: str, numero: int, extension: str = "xml",
             typologie: str | None = None) -> MessageFileName:
    """`[TYPO-]DPT-SIREN-DATE-NUM-NA-T-S_N.ext` of a message (or file) about the act `id_acte`."""
    return MessageFileName(departement=id_acte.departement, siren=id_acte.siren,
                           date=id_acte.date, numero_interne=id_acte.numero_interne,
                           nature=id_acte.nature, code=code, numero=numero, extension=extension,
                           typologie=typologie)


def courrier(code: str, id_acte: IDActe, idcl: IDCL, *, sent: dt.date, text: str,
             document: bytes, serial: int, itc: str) -> ReturnBundle:
    """A préfecture letter about an acknowledged act, dated `sent`, with its PDF (`…_1.pdf`).

    2-1 CourrierSimple, 3-1 DemandePieceComplementaire (`text` = DescriptionPieces), 4-1
    LettreObservations (Motif), 5-1 DefereTA (NatureIllegalite, the PDF as PieceJointe).
    """
    document_name = str(name_for(id_acte, code, 1, "pdf"))
    ref = FichierSigne(document_name)
    message: CourrierSimple | DemandePieceComplementaire | LettreObservations | DefereTA
    if code == "2-1":
        message = CourrierSimple(str(id_acte), sent, ref)
    elif code == "3-1":
        message = DemandePieceComplementaire(str(id_acte), sent, text, ref)
    elif code == "4-1":
        message = LettreObservations(str(id_acte), sent, text, ref)
    elif code == "5-1":
        message = DefereTA(str(id_acte), sent, text, (ref,))
    else:
        raise ValueError(f"{code} is not a préfecture letter (2-1, 3-1, 4-1, 5-1)")
    return _bundle(code, name_for(id_acte, code, serial), message.to_xml(), idcl, sent=sent,
                   serial=serial, itc=itc, attachments=((document_name, document),))


def ar_reponse(code: str, id_acte: IDActe, idcl: IDCL, *, date_courrier_pref: dt.date,
               received: dt.date, serial: int, itc: str) -> ReturnBundle:
    """3-5 ARPieceComplementaire or 4-5 ARReponseRejetLettreObservations: the préfecture
    received the collectivité's answer to its letter of `date_courrier_pref`."""
    kinds = {"3-5": ARPieceComplementaire, "4-5": ARReponseRejetLettreObservations}
    if code not in kinds:
        raise ValueError(f"{code} is not a receipt of an answer (3-5, 4-5)")
    message = kinds[code](str(id_acte), date_courrier_pref, received)
    return _bundle(code, name_for(id_acte, code, serial), message.to_xml(), idcl, sent=received,
                   serial=serial, itc=itc)
