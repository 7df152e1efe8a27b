"""One hostile submission must not hold up the others (real service, real mutual TLS).

The attribute bomb of issue 17 (3,000 undeclared attributes on the Acte root, ~8 KB gzipped)
kept a validation busy for minutes and a valid act sent alongside waited as long. Here both
are sent together: the bomb must be refused with its precise code and the valid act
acknowledged, each well within a generous bound (the service's speed is the bench's to
measure; this checks that nothing waits for minutes).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from .corpus import GZIP, attribute_bomb, edit_message, envelope, upload

pytestmark = pytest.mark.slow  # an attribute bomb against a served simulator

GENEROUS = 20.0  # seconds; the bomb took 80-117 s before


@pytest.mark.asyncio(loop_scope="module")
async def test_an_attribute_bomb_is_refused_quickly_and_holds_up_no_valid_act(targets) -> None:
    target = await targets({})
    http = target.http
    bomb = edit_message(replace(target.material, numero="BOMBE2024_001"), attribute_bomb())
    valid = upload(envelope(replace(target.material, numero="VALIDE2024_001")))
    finished: list[str] = []

    async def post(label: str, body: bytes, name: str) -> tuple[int, dict, float]:
        start = time.monotonic()
        async with http.post("/api/v1/archives", params={"name": name}, data=body,
                             headers={"Content-Type": GZIP}) as response:
            answer = await response.json()
        finished.append(label)
        return response.status, answer, time.monotonic() - start

    async def valid_soon_after() -> tuple[int, dict, float]:
        await asyncio.sleep(0.05)  # the bomb's validation is under way
        return await post("valide", valid.body, valid.name)

    (bomb_status, bomb_answer, bomb_time), (status, answer, waited) = await asyncio.wait_for(
        asyncio.gather(post("bombe", bomb.body, bomb.name), valid_soon_after()),
        timeout=2 * GENEROUS)
    assert bomb_status == 422 and bomb_answer["code"] == "XML_TOO_MANY_ATTRIBUTES", bomb_answer
    assert "3004" in bomb_answer["message_en"]
    assert status == 201 and answer["outcome"] == "1-2", answer
    assert bomb_time < GENEROUS and waited < GENEROUS, (bomb_time, waited)
    assert sorted(finished) == ["bombe", "valide"]
