"""The collectivité's requests about what it sent: cancelling an acknowledged act (6-1 → 6-2)
and asking for the classification (7-1 → 7-2 | 7-3), answered at once by the ministry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..errors import Kind
from ..pki.identity import Identity, authorize
from ..protocol.codes import Sender, TransactionStatus, TransactionType
from ..protocol.messages import IDCL, Annulation, DemandeClassification
from ..protocol.names import IDActe, MessageFileName
from ..store.interface import (
    NewMessage,
    NewTransaction,
    SimulatorStore,
    StatusConflict,
    TransactionRow,
    TransitionStep,
)
from . import lifecycle, outcomes
from .clock import paris_date
from .kernel import (
    Kernel,
    Outcome,
    RequestRefused,
    actor_label,
    create_and_answer,
    transition_conflict,
    walk_of,
)

S = TransactionStatus


@dataclass(kw_only=True)
class Requests(Kernel):
    """Cancellation and classification requests over the kernel."""

    # -- annulation (6-1 → 6-2) -------------------------------------------------------------

    async def cancel(self, identity: Identity, transaction_id: int) -> Outcome:
        """Cancel an acknowledged act: a 6-1 transaction answered at once by 6-2."""
        acte = await self.store.get(transaction_id)
        authorize(identity, acte.siren, "cancel")
        if acte.type is not TransactionType.ACTE or acte.status is not S.ACQUITTEMENT_RECU \
                or acte.id_acte is None:
            raise RequestRefused(
                "NOT_CANCELLABLE",
                f"seul un acte acquitté peut être annulé (statut actuel : {acte.status.libelle})",
                f"only an acknowledged act can be cancelled (current status: {acte.status.name})",
                kind=Kind.CONFLICT)
        id_acte = IDActe.parse(acte.id_acte)
        idcl = await self.idcl_of(acte)
        now = self.clock.now()
        serial = await self.return_serial(acte.siren)
        request = Annulation(id_acte=str(id_acte))
        request_name = outcomes.name_for(id_acte, "6-1", 0)
        bundle = outcomes.ar_annulation(id_acte, idcl, received=paris_date(now), serial=serial,
                                        itc=self.itc)
        req_sha = await self.store.put_blob(request.to_xml())
        outgoing = await self.store_answer(bundle)
        new = NewTransaction(type=TransactionType.ANNULATION, status=S.POSTE, siren=acte.siren,
                             related_transaction_id=acte.id, id_acte=None,
                             numero_interne=acte.numero_interne, nature=acte.nature,
                             messages=(NewMessage("6-1", Sender.CL, str(request_name), req_sha),))
        try:
            row = await self.store.call(_cancel, new, acte.id, outgoing, now, actor_label(identity),
                                        self.actor)
        except (lifecycle.IllegalTransition, StatusConflict) as lost:
            raise transition_conflict(acte.id) from lost
        return Outcome(row, "6-2", acte.id_acte)

    # -- classification (7-1 → 7-2 | 7-3) ---------------------------------------------------

    async def request_classification(self, identity: Identity, siren: str,
                                     held: dt.date | None) -> Outcome:
        """A 7-1 from the collectivité, answered at once by 7-2 (new tree) or 7-3 (up to date)."""
        authorize(identity, siren, "read")
        collectivite = await self.store.call(lambda store: store.get_collectivite(siren))
        if collectivite is None:
            raise RequestRefused("COLLECTIVITE_UNKNOWN",
                                 f"la collectivité {siren} n'a encore rien transmis",
                                 f"collectivité {siren} has not transmitted anything yet",
                                 kind=Kind.NOT_FOUND)
        idcl = IDCL(siren, collectivite.departement, int(collectivite.arrondissement),
                    collectivite.nature)
        now = self.clock.now()
        serial = await self.return_serial(siren)
        request = DemandeClassification(date_classification=held)
        request_name = MessageFileName(departement=idcl.departement, siren=siren, date=None,
                                       numero_interne=None, nature=None, code="7-1", numero=0,
                                       extension="xml")
        bundle = outcomes.classification_answer(held, self.classification(), idcl,
                                                sent=paris_date(now), serial=serial, itc=self.itc)
        req_sha = await self.store.put_blob(request.to_xml())
        outgoing = await self.store_answer(bundle)
        new = NewTransaction(type=TransactionType.CLASSIFICATION, status=S.POSTE, siren=siren,
                             messages=(NewMessage("7-1", Sender.CL, str(request_name), req_sha),))
        row = await self.store.call(create_and_answer, new, outgoing, now, actor_label(identity),
                                    self.actor, None, None)
        return Outcome(row, bundle.code)


def _cancel(store: SimulatorStore, new: NewTransaction, acte_id: int, answer: NewMessage,
            at: dt.datetime, actor: str, ministere: str) -> TransactionRow:
    walk = walk_of(new.type, new.status,
                   [S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU],
                   final=answer, id_acte=None, message="Annulation reçue par le MI")

    def write() -> TransactionRow:
        row = lifecycle.create(store, new, at=at, actor=actor, message="Posté", walk=walk,
                               walk_by=ministere)
        store.transition_many([TransitionStep(acte_id, S.ACQUITTEMENT_RECU, S.ANNULE,
                                              message="Acte annulé")], at=at, actor=ministere)
        return row

    return store.atomic(write)
