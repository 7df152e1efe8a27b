"""@ctes code lists: natures of acts, message types, anomaly natures, transaction statuses.

The single place that knows these numbers. Codes the protocol publishes keep their official
values; where no official list exists (anomaly natures beyond 002/006) the simulator's own
codes are defined here once, so every layer reports the same number for the same fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum

NS_ACTES = "http://www.interieur.gouv.fr/ACTES#v1.1-20040216"
NS_INSEE = "http://xml.insee.fr/schema"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"actes": NS_ACTES, "insee": NS_INSEE, "xsi": NS_XSI}
SCHEMA_LOCATION = f"{NS_ACTES} actesv1_1.xsd"


class NatureActe(IntEnum):
    """CodeNatureActe (1–6) with its two-letter TypeAbrege."""

    DE = 1
    AR = 2
    AI = 3
    CC = 4
    BF = 5
    AU = 6

    @property
    def abrege(self) -> str:
        return self.name

    @property
    def libelle(self) -> str:
        return _NATURE_LIBELLES[self]

    @classmethod
    def from_abrege(cls, abrege: str) -> NatureActe:
        try:
            return cls[abrege]
        except KeyError:
            raise ValueError(f"unknown nature abbreviation {abrege!r}") from None


_NATURE_LIBELLES = {
    NatureActe.DE: "Délibérations",
    NatureActe.AR: "Actes réglementaires",
    NatureActe.AI: "Actes individuels",
    NatureActe.CC: "Contrats, conventions et avenants",
    NatureActe.BF: "Documents budgétaires et financiers",
    NatureActe.AU: "Autres",
}


class Sender(Enum):
    CL = "collectivité"
    PREF = "préfecture"


class TransactionType(IntEnum):
    """The seven @ctes transaction types (first number of a message code)."""

    ACTE = 1
    COURRIER_SIMPLE = 2
    PIECES_COMPLEMENTAIRES = 3
    LETTRE_OBSERVATIONS = 4
    DEFERE = 5
    ANNULATION = 6
    CLASSIFICATION = 7

    @property
    def libelle(self) -> str:
        return _TRANSACTION_LIBELLES[self]


_TRANSACTION_LIBELLES = {
    TransactionType.ACTE: "Transmission d'actes",
    TransactionType.COURRIER_SIMPLE: "Courrier simple",
    TransactionType.PIECES_COMPLEMENTAIRES: "Demande de pièces complémentaires",
    TransactionType.LETTRE_OBSERVATIONS: "Lettre d'observations",
    TransactionType.DEFERE: "Déféré au tribunal administratif",
    TransactionType.ANNULATION: "Annulation",
    TransactionType.CLASSIFICATION: "Demande de classification",
}


@dataclass(frozen=True)
class MessageType:
    """One @ctes message: its code "T-S", the root element of its XML and who sends it."""

    code: str
    root: str
    sender: Sender

    @property
    def transaction(self) -> TransactionType:
        return TransactionType(int(self.code.split("-")[0]))


MESSAGE_TYPES: dict[str, MessageType] = {
    m.code: m
    for m in (
        MessageType("1-1", "Acte", Sender.CL),
        MessageType("1-2", "ARActe", Sender.PREF),
        MessageType("1-3", "AnomalieActe", Sender.PREF),
        MessageType("2-1", "CourrierSimple", Sender.PREF),
        MessageType("2-2", "ReponseCourrierSimple", Sender.CL),
        MessageType("3-1", "DemandePieceComplementaire", Sender.PREF),
        MessageType("3-2", "ARDemandePieceComplementaire", Sender.CL),
        MessageType("3-3", "RefusPieceComplementaire", Sender.CL),
        MessageType("3-4", "PieceComplementaire", Sender.CL),
        MessageType("3-5", "ARPieceComplementaire", Sender.PREF),
        MessageType("4-1", "LettreObservations", Sender.PREF),
        MessageType("4-2", "ARLettreObservations", Sender.CL),
        MessageType("4-3", "RejetLettreObservations", Sender.CL),
        MessageType("4-4", "ReponseLettreObservations", Sender.CL),
        MessageType("4-5", "ARReponseRejetLettreObservations", Sender.PREF),
        MessageType("5-1", "DefereTA", Sender.PREF),
        MessageType("6-1", "Annulation", Sender.CL),
        MessageType("6-2", "ARAnnulation", Sender.PREF),
        MessageType("7-1", "DemandeClassification", Sender.CL),
        MessageType("7-2", "RetourClassification", Sender.PREF),
        MessageType("7-3", "ReponseClassificationSansChangement", Sender.PREF),
    )
}
MESSAGE_TYPE_BY_ROOT: dict[str, MessageType] = {m.root: m for m in MESSAGE_TYPES.values()}


def message_type(code: str) -> MessageType:
    try:
        return MESSAGE_TYPES[code]
    except KeyError:
        raise ValueError(f"unknown @ctes message code {code!r}") from None


class TransactionStatus(IntEnum):
    """Operator-side transaction statuses, numbered as S²LOW reports them (-1 … 22)."""

    ERREUR = -1
    ANNULE = 0
    POSTE = 1
    EN_ATTENTE_DE_TRANSMISSION = 2
    TRANSMIS = 3
    ACQUITTEMENT_RECU = 4
    VALIDE = 5
    REFUSE = 6
    DOCUMENT_RECU = 7
    ACQUITTEMENT_ENVOYE = 8
    DOCUMENT_ENVOYE = 9
    REFUS_D_ENVOI = 10
    ACQUITTEMENT_DE_DOCUMENT_RECU = 11
    ENVOYE_AU_SAE = 12
    ARCHIVE_PAR_LE_SAE = 13
    ERREUR_ARCHIVAGE = 14
    RECU_PAR_LE_SAE = 15
    DETRUITE = 16
    EN_ATTENTE_D_ETRE_POSTEE = 17
    EN_ATTENTE_D_ETRE_SIGNEE = 18
    EN_ATTENTE_DE_TRANSMISSION_AU_SAE = 19
    ERREUR_ENVOI_SAE = 20
    DOCUMENT_RECU_PAS_D_AR = 21
    SAE_DOCUMENTS_INDISPONIBLES = 22

    @property
    def libelle(self) -> str:
        return _STATUS_LIBELLES[self]


_STATUS_LIBELLES = {
    TransactionStatus.ERREUR: "Erreur",
    TransactionStatus.ANNULE: "Annulé",
    TransactionStatus.POSTE: "Posté",
    TransactionStatus.EN_ATTENTE_DE_TRANSMISSION: "En attente de transmission",
    TransactionStatus.TRANSMIS: "Transmis",
    TransactionStatus.ACQUITTEMENT_RECU: "Acquittement reçu",
    TransactionStatus.VALIDE: "Validé",
    TransactionStatus.REFUSE: "Refusé",
    TransactionStatus.DOCUMENT_RECU: "Document reçu",
    TransactionStatus.ACQUITTEMENT_ENVOYE: "Acquittement envoyé",
    TransactionStatus.DOCUMENT_ENVOYE: "Document envoyé",
    TransactionStatus.REFUS_D_ENVOI: "Refus d'envoie",
    TransactionStatus.ACQUITTEMENT_DE_DOCUMENT_RECU: "Acquittement de document reçu",
    TransactionStatus.ENVOYE_AU_SAE: "Envoyé au SAE",
    TransactionStatus.ARCHIVE_PAR_LE_SAE: "Archivé par le SAE",
    TransactionStatus.ERREUR_ARCHIVAGE: "Erreur lors de l'archivage",
    TransactionStatus.RECU_PAR_LE_SAE: "Reçu par le SAE",
    TransactionStatus.DETRUITE: "Détruite",
    TransactionStatus.EN_ATTENTE_D_ETRE_POSTEE: "En attente d'être postée",
    # S²LOW renamed it from "…signée" (its script updating actes_status, id 18)
    TransactionStatus.EN_ATTENTE_D_ETRE_SIGNEE: "En attente d'être signé",
    TransactionStatus.EN_ATTENTE_DE_TRANSMISSION_AU_SAE: "En attente de transmission au SAE",
    TransactionStatus.ERREUR_ENVOI_SAE: "Erreur lors de l'envoi au SAE",
    TransactionStatus.DOCUMENT_RECU_PAS_D_AR: "Document reçu (pas d'AR)",
    TransactionStatus.SAE_DOCUMENTS_INDISPONIBLES: (
        "Impossible d'envoyer au SAE (documents indisponibles)"
    ),
}


class AnomalieNature(StrEnum):
    """AnomalieActe/Nature: three digits.

    002 and 006 are the values the real platform was seen to send; no official list is
    public, so the others are the simulator's own, one per family of fault.
    """

    ARCHIVE_ILLISIBLE = "001"
    CLASSIFICATION_PERIMEE = "002"
    NOMMAGE = "003"
    SCHEMA = "004"
    CLASSIFICATION_INCONNUE = "005"
    FICHIER_INTROUVABLE = "006"
    FICHIER_NON_REFERENCE = "007"
    FORMAT_DOCUMENT = "008"
    NATURE_MATIERE = "009"
    DATE = "010"
    DOUBLON = "011"
    SIGNATURE = "012"
    DOCUMENT_METIER = "013"
    EMETTEUR = "014"

    @property
    def libelle(self) -> str:
        return _ANOMALIE_LIBELLES[self]


class AnomalieEnveloppeNature(StrEnum):
    """AnomalieEnveloppe/Nature, the ministry schema's enumeration (001–005, 100).

    The platform was seen sending 5 with PREF-VERIF-02 (SIREN not registered); no official
    meaning of the others is public, so they are the simulator's own, one per family.
    """

    ARCHIVE = "001"
    NOMMAGE = "002"
    ENVELOPPE = "003"
    FICHIERS = "004"
    EMETTEUR = "005"
    AUTRE = "100"


_ANOMALIE_LIBELLES = {
    AnomalieNature.ARCHIVE_ILLISIBLE: "Archive illisible ou dangereuse",
    AnomalieNature.CLASSIFICATION_PERIMEE: "Date de classification non à jour",
    AnomalieNature.NOMMAGE: "Nom de fichier ou d'archive non conforme",
    AnomalieNature.SCHEMA: "Message non conforme au schéma",
    AnomalieNature.CLASSIFICATION_INCONNUE: "Code de classification inconnu",
    AnomalieNature.FICHIER_INTROUVABLE: "Fichier référencé introuvable",
    AnomalieNature.FICHIER_NON_REFERENCE: "Fichier présent mais non référencé",
    AnomalieNature.FORMAT_DOCUMENT: "Format de document non autorisé",
    AnomalieNature.NATURE_MATIERE: "Combinaison nature / matière non autorisée",
    AnomalieNature.DATE: "Date invalide",
    AnomalieNature.DOUBLON: "Acte déjà transmis",
    AnomalieNature.SIGNATURE: "Signature invalide",
    AnomalieNature.DOCUMENT_METIER: "Document métier non conforme",
    AnomalieNature.EMETTEUR: "Émetteur non conforme",
}

# Nature of the collectivité (IDCL/@Nature) — S²LOW's authority types, two digits.
COLLECTIVITE_NATURES: dict[str, str] = {
    "11": "Conseil régional",
    "12": "Établissements publics locaux d'enseignement",
    "14": "Sociétés d'économie mixte locales",
    "21": "Conseil général",
    "22": "Établissements publics de santé",
    "23": "Établissements publics locaux d'enseignement",
    "24": "Autres établissements publics",
    "25": "Sociétés d'économie mixte locales",
    "31": "Commune",
    "32": "Établissements publics de santé",
    "33": "Autres établissements publics",
    "34": "Sociétés d'économie mixte locales",
    "41": "Syndicats de communes et syndicats mixtes fermés",
    "42": "Syndicats mixtes ouverts",
    "43": "Syndicats d'agglomération nouvelle",
    "44": "Communautés de communes",
    "45": "Communautés urbaines",
    "46": "Communautés d'agglomération",
    "47": "Sociétés d'économie mixte locales",
    "51": "Services départementaux d'incendie et de secours",
    "52": "Entente interdépartementale",
    "53": "Entente interrégionale",
    "54": "Autres sociétés d'économie mixte locales",
    "55": "Autres",
    "61": "Association syndicale autorisée",
    "62": "Association foncière urbaine autorisée",
    "63": "Association foncière de remembrement",
    "71": "Autre",
    "72": "Société publique locale",
    "73": "Société d'économie mixte locale",
    "74": "Commission syndicale pour la gestion des biens indivis des communes",
}
