"""Benchmark: detached CMS verifications/s of our `verify_detached` vs `openssl cms -verify`.

All in one run, same machine, same signature and data (a fresh test PKI, one RGS ** signing
agent, a signature made by `openssl cms -sign -binary`). Ours does the full job: the CMS check
(asn1crypto + cryptography) pinned to the test anchors, then `pki.judge` with CRLs, each time at
a different instant (the signer's acceptance is reused only while it provably holds:
`pki.trust.VerdictMemo`). pyHanko's check, which ours replaced and still backs, is measured
as well. The baseline runs
`openssl cms -verify -binary -purpose any` as a subprocess per signature, as shell-scripted
operators do, and again with `-crl_check_all` and the CRLs, the same job as ours. The four
take turns in short slices, so that they share the machine's load;
wall-clock rates and CPU per signature (ours: this process; openssl: the children and the
parent's cost of starting them) are both reported, with the load average.

    python bench/cms_verify.py [--size 200000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from operator_sim.pki import AgentSubject, PkiStore
from operator_sim.pki.profiles import RSA_2048
from operator_sim.signature import verify_detached
from operator_sim.signature.hanko import verify_detached_pyhanko

SLICE = 0.5  # seconds per turn


@dataclass
class Phase:
    label: str
    once: Callable[[int], None]
    count: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    def run_for(self, seconds: float) -> None:
        wall, cpu = time.perf_counter(), _cpu()
        end = wall + seconds
        while time.perf_counter() < end:
            self.once(self.count)
            self.count += 1
        self.wall += time.perf_counter() - wall
        self.cpu += _cpu() - cpu

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.count


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the openssl runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000, help="Signed file size (bytes).")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="Time given to each verifier (in slices of 0.5 s).")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as raw:
        folder = Path(raw)
        pki = PkiStore(folder / "certs")
        pki.initialise(now=now, ca_key=RSA_2048)
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

        def ours(i: int) -> None:
            result = verify_detached(data, signature, at=now + timedelta(milliseconds=i),
                                     trust=trust)
            assert result.ok, result.code

        def pyhanko(i: int) -> None:
            result = verify_detached_pyhanko(data, signature,
                                             at=now + timedelta(milliseconds=i), trust=trust)
            assert result.ok, result.code

        command = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig_path,
                   "-content", data_path, "-CAfile", pki.roots_path, "-purpose", "any",
                   "-out", os.devnull]

        def openssl(i: int) -> None:
            subprocess.run(command, check=True, capture_output=True)

        # The same job as ours: the CRLs of every CA, given with the roots, checked for the
        # whole chain (the command fails without them).
        roots_and_crls = folder / "roots-and-crls.pem"
        roots_and_crls.write_bytes(pki.roots_path.read_bytes() + b"".join(
            path.read_bytes() for path in sorted((pki.directory / "ca").glob("*.crl.pem"))))
        with_crls = [*command[:command.index("-CAfile")], "-CAfile", roots_and_crls,
                     "-crl_check_all", *command[command.index("-CAfile") + 2:]]

        def openssl_with_crls(i: int) -> None:
            subprocess.run(with_crls, check=True, capture_output=True)

        phases = [Phase("operator-sim verify_detached (in process)", ours),
                  Phase("pyHanko validate_detached_cms (in process)", pyhanko),
                  Phase("openssl cms -verify (subprocess)", openssl),
                  Phase("openssl cms -verify -crl_check_all (subprocess)", openssl_with_crls)]
        for phase in phases:
            phase.once(0)  # warm-up (imports, caches), not counted
        load_before = os.getloadavg()
        while min(p.wall for p in phases) < args.seconds:
            for phase in phases:
                phase.run_for(min(SLICE, args.seconds - phase.wall + 0.01))
        load_after = os.getloadavg()
    print(f"file {args.size} bytes, ECDSA P-256 signer, both published intermediates in the "
          "CMS; CRLs checked by ours and pyHanko's (pki.judge), by openssl only with "
          "-crl_check_all")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
          f"{os.cpu_count()} CPUs")
    print(f"{'verifier':<48} {'count':>7} {'seconds':>8} {'CPU ms/sig':>10} {'sig/s':>9}")
    for phase in phases:
        print(f"{phase.label:<48} {phase.count:>7} {phase.wall:>8.2f} {phase.cpu_ms:>10.3f} "
              f"{phase.rate:>9.1f}")
    ours_phase, pyhanko_phase, openssl_phase, crl_phase = phases
    print(f"ratio ours / openssl: {ours_phase.rate / openssl_phase.rate:.2f} (wall clock), "
          f"{openssl_phase.cpu_ms / ours_phase.cpu_ms:.2f} (CPU per signature)")
    print(f"ratio ours / openssl with CRLs: {ours_phase.rate / crl_phase.rate:.2f} (wall clock), "
          f"{crl_phase.cpu_ms / ours_phase.cpu_ms:.2f} (CPU per signature)")
    print(f"ratio ours / pyHanko: {ours_phase.rate / pyhanko_phase.rate:.2f} (wall clock), "
          f"{pyhanko_phase.cpu_ms / ours_phase.cpu_ms:.2f} (CPU per signature)")


if __name__ == "__main__":
    main()
