"""A signer revoked while the service runs: the next act it signed is refused, without a restart.

`pki revoke` rewrites the CRL and the PKI index beside a running service; the validation
policy must judge signatures against that CRL from then on, as the TLS check does, in the
worker processes too (they are sent the new policy once).
"""

from __future__ import annotations

import datetime as dt

import pytest

from operator_sim.pki import AgentSubject
from operator_sim.protocol.envelope import Piece
from operator_sim.signature.cms import sign_detached
from operator_sim.testing import corpus

from .simkit import SIREN, serve, submit


def signed_act(numero: str, pki, signer) -> tuple[str, bytes]:
    pdf = corpus.minimal_pdf(f"Deliberation {numero}")
    signature = sign_detached(pdf, pki.certificate(signer), pki.private_key(signer),
                              (pki.ca(signer.issuer).certificate,))
    request = corpus.base_request(numero_interne=numero, annexes=(),
                                  document=Piece(pdf, "pdf", "99_DE", signature))
    return corpus._pack(corpus.build(request))


@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "worker-processes"])
async def test_a_signer_revoked_while_serving_is_refused_from_then_on(tmp_path, shared_pki_dir,
                                                                      processes):
    async with serve(tmp_path / "data", shared_pki_dir, processes=processes) as served:
        pki = served.simulator.pki
        signer = pki.issue_agent(AgentSubject("Commune de test", SIREN, "Maire signataire"),
                                 now=served.simulator.clock.now() - dt.timedelta(minutes=1),
                                 signing=True)
        async with served.agent_session(served.enrol(SIREN)) as http:
            status, body = await submit(http, signed_act("SIGNE1", pki, signer))
            assert (status, body["outcome"]) == (201, "1-2"), body

            pki.revoke(signer.serial, now=served.simulator.clock.now())
            status, body = await submit(http, signed_act("SIGNE2", pki, signer))

    assert (status, body["outcome"]) == (201, "1-3"), body
    assert "TOTAL_FAILED/REVOKED" in body["anomalie"]["detail"], body


async def test_an_agent_revoked_while_connected_is_refused_on_its_next_request(tmp_path,
                                                                              shared_pki_dir):
    """The TLS door remembers an accepted certificate; a revocation published meanwhile ends
    that at once, on the same keep-alive connection."""
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        agent = served.enrol(SIREN)
        async with served.agent_session(agent) as http:
            for _ in range(2):  # the second answer comes from the remembered verdict
                async with http.get("/api/v1/transactions") as response:
                    assert response.status == 200
            served.simulator.pki.revoke(agent.serial, now=served.simulator.clock.now())
            async with http.get("/api/v1/transactions") as response:
                body = await response.json()
    assert (response.status, body["code"]) == (401, "CERT_REVOKED"), body
