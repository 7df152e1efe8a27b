"""Benchmark: detached CMS verifications/s of our `verify_detached` vs `openssl cms -verify`.

All in one run, same machine, same signature and data (a fresh test PKI, one RGS ** signing
agent, a signature made by `openssl cms -sign -binary`). Ours does the full job: pyHanko's
CMS check pinned to the test anchors, then `pki.judge` with CRLs. The baseline runs
`openssl cms -verify -binary -purpose any` as a subprocess per signature, as shell-scripted
operators do. Both phases are bounded by time, so the whole run stays well under a minute.

    python bench/cms_verify.py [--size 200000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from operator_sim.pki import AgentSubject, PkiStore
from operator_sim.pki.profiles import RSA_2048
from operator_sim.signature import verify_detached


def measure(label: str, seconds: float, once: Callable[[], None]) -> tuple[str, int, float]:
    once()  # warm-up (imports, caches), not counted
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        once()
        count += 1
    return label, count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000, help="Signed file size (bytes).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Time per phase.")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as raw:
        folder = Path(raw)
        pki = PkiStore(folder / "certs")
        pki.initialise(now=now, ca_key=RSA_2048, catalogue=False)
        record = pki.issue_agent(AgentSubject("Commune de test", "491011698", "Maire"),
                                 now=now, signing=True)
        data_path, sig_path = folder / "acte.pdf", folder / "acte.pdf.p7s"
        data_path.write_bytes(os.urandom(args.size))
        subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER",
                        "-in", data_path, "-out", sig_path,
                        "-signer", pki.directory / record.certificate,
                        "-inkey", pki.directory / record.key,
                        "-certfile", pki.intermediates_path], check=True)
        data, signature, trust = data_path.read_bytes(), sig_path.read_bytes(), pki.trust_store()

        def ours() -> None:
            result = verify_detached(data, signature, at=now, trust=trust)
            assert result.ok, result.code

        command = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig_path,
                   "-content", data_path, "-CAfile", pki.roots_path, "-purpose", "any",
                   "-out", os.devnull]

        def openssl() -> None:
            subprocess.run(command, check=True, capture_output=True)

        rows = [measure("operator-sim verify_detached (in process)", args.seconds, ours),
                measure("openssl cms -verify (subprocess)", args.seconds, openssl)]
    print(f"file {args.size} bytes, ECDSA P-256 signer, both published intermediates in the "
          "CMS; CRLs checked by ours only")
    print(f"{'verifier':<45} {'count':>7} {'seconds':>8} {'sig/s':>9}")
    rates = []
    for label, count, elapsed in rows:
        rates.append(count / elapsed)
        print(f"{label:<45} {count:>7} {elapsed:>8.2f} {rates[-1]:>9.1f}")
    print(f"ratio ours / openssl: {rates[0] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
