"""What the ministry sends back: the return message, its EnveloppeMISILLCL, and their names.

Builds ARActe (1-2), AnomalieActe (1-3), ARAnnulation (6-2) and the classification answers
(7-2, 7-3) exactly as the protocol shapes them, wrapped with the envelope that names the
sending préfecture and the recipient SIREN. Pure: serials and dates are passed in.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from ..protocol.archive import write_archive
from ..protocol.classification import Classification
from ..protocol.codes import AnomalieNature
from ..protocol.messages import (
    IDCL,
    AnomalieActe,
    ARActe,
    ARAnnulation,
    EnveloppeMISILLCL,
    FichierSigne,
    IDPref,
    IDSousPref,
    ReponseClassificationSansChangement,
)
from ..protocol.messages import Acte as ActeMessage
from ..protocol.names import ArchiveName, EnveloppeName, IDActe, MessageFileName


@dataclass(frozen=True)
class ReturnBundle:
    """One message from the préfecture: its code, file name and XML, with the envelope."""

    code: str
    file_name: str
    xml: bytes
    envelope_name: str
    envelope_xml: bytes
    archive_name: str

    def archive(self) -> bytes:
        """The bundle as an archive (envelope + message), like a tarred return e-mail."""
        buf = io.BytesIO()
        write_archive(buf, [(self.envelope_name, self.envelope_xml), (self.file_name, self.xml)])
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


def _bundle(code: str, message_name: MessageFileName, xml: bytes, idcl: IDCL, *,
            sent: dt.date, serial: int, itc: str) -> ReturnBundle:
    emetteur = prefecture_of(idcl)
    envelope_name = EnveloppeName.from_service(service_id(emetteur), idcl.siren, sent, serial)
    envelope = EnveloppeMISILLCL(emetteur=emetteur,
                                 formulaires=(FichierSigne(str(message_name)),),
                                 destinataire_siren=idcl.siren)
    return ReturnBundle(code=code, file_name=str(message_name), xml=xml,
                        envelope_name=str(envelope_name), envelope_xml=envelope.to_xml(),
                        archive_name=str(ArchiveName(itc, envelope_name)))


def _name_for_acte(acte: ActeMessage, idcl: IDCL, code: str, serial: int) -> MessageFileName:
    return MessageFileName(departement=idcl.departement, siren=idcl.siren, date=acte.date,
                           numero_interne=acte.numero_interne, nature=acte.nature, code=code,
                           numero=serial, extension="xml")


def ar_acte(acte: ActeMessage, idcl: IDCL, *, received: dt.date, classification: dt.date,
            serial: int, itc: str) -> ReturnBundle:
    """1-2: the act is received; its IDActe and DateReception."""
    id_acte = id_acte_for(acte, idcl.departement, idcl.siren)
    message = ARActe(id_acte=str(id_acte), date_reception=received, acte_recu=acte,
                     classification_date_version_en_cours=classification)
    return _bundle("1-2", _name_for_acte(acte, idcl, "1-2", serial), message.to_xml(), idcl,
                   sent=received, serial=serial, itc=itc)


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


def ar_annulation(id_acte: IDActe, idcl: IDCL, *, received: dt.date, serial: int,
                  itc: str) -> ReturnBundle:
    """6-2: the cancellation is received."""
    message = ARAnnulation(id_acte=str(id_acte), date_reception=received)
    name = MessageFileName(departement=idcl.departement, siren=idcl.siren, date=id_acte.date,
                           numero_interne=id_acte.numero_interne, nature=id_acte.nature,
                           code="6-2", numero=serial, extension="xml")
    return _bundle("6-2", name, message.to_xml(), idcl, sent=received, serial=serial, itc=itc)


def classification_answer(held: dt.date | None, current: Classification, idcl: IDCL, *,
                          sent: dt.date, serial: int, itc: str) -> ReturnBundle:
    """7-3 when the collectivité already holds the current classification, else 7-2 with it."""
    name_args = dict(departement=idcl.departement, siren=idcl.siren, date=None,
                     numero_interne=None, nature=None, numero=serial, extension="xml")
    if held is not None and held >= current.date:
        message = ReponseClassificationSansChangement(date_classification=current.date)
        return _bundle("7-3", MessageFileName(code="7-3", **name_args), message.to_xml(),
                       idcl, sent=sent, serial=serial, itc=itc)
    return _bundle("7-2", MessageFileName(code="7-2", **name_args), current.to_xml(), idcl,
                   sent=sent, serial=serial, itc=itc)
