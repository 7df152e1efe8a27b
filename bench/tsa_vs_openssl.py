"""Benchmark: tokens/s of our `/tsa` (HTTP, keep-alive) and of `stamp_digest` vs `openssl ts -reply`.

All in one run, same machine, same TSA certificate and key (a fresh test PKI, ECDSA P-256 by
default or `--key rsa-2048`). The baseline runs `openssl ts -reply -queryfile ... -config ...`
as a subprocess per token, as shell-scripted TSAs do. Target: HTTP ratio >= 10 (exit 1 below).

    python bench/tsa_vs_openssl.py [--tokens 3000] [--openssl-runs 100] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from operator_sim.pki import KeySpec, PkiStore
from operator_sim.pki.profiles import RSA_2048
from operator_sim.timestamp import (
    MemorySerials,
    TimeStampAuthority,
    authority_from_pki,
    build_query,
    token_of,
)
from operator_sim.web.tsa import create_tsa_app, post_query

TIME_BUDGET = 20.0  # seconds per measured phase at most


def openssl_config(folder: Path, certificate: Path, key: Path) -> Path:
    (folder / "serial").write_text("01\n")
    config = folder / "openssl.cnf"
    config.write_text(f"""[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {folder / "serial"}
signer_cert = {certificate}
signer_key = {key}
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
""")
    return config


def bench_openssl(folder: Path, config: Path, runs: int) -> tuple[int, float]:
    query = folder / "q.tsq"
    query.write_bytes(build_query(hashlib.sha256(b"bench").digest(), nonce=1))
    start, done = time.perf_counter(), 0
    while done < runs and time.perf_counter() - start < TIME_BUDGET:
        subprocess.run(["openssl", "ts", "-reply", "-queryfile", str(query), "-config",
                        str(config), "-out", str(folder / "r.tsr")], check=True,
                       capture_output=True)
        done += 1
    token_of((folder / "r.tsr").read_bytes())  # it really made tokens
    return done, time.perf_counter() - start


def bench_in_process(tsa: TimeStampAuthority, count: int) -> tuple[int, float]:
    digest = hashlib.sha256(b"bench").digest()
    start, done = time.perf_counter(), 0
    while done < count and time.perf_counter() - start < TIME_BUDGET:
        tsa.stamp_digest(digest)
        done += 1
    return done, time.perf_counter() - start


async def bench_http(tsa: TimeStampAuthority, count: int,
                     concurrency: int) -> tuple[int, float]:
    runner = web.AppRunner(create_tsa_app(tsa), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/tsa"
    queries = [build_query(i.to_bytes(32, "big"), nonce=i) for i in range(1, count + 1)]
    done = 0
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await post_query(url, queries[0], session=session)  # warm up the connection
            start = time.perf_counter()

            async def worker(offset: int) -> None:
                nonlocal done
                for query in queries[offset::concurrency]:
                    if time.perf_counter() - start > TIME_BUDGET:
                        return
                    token_of(await post_query(url, query, session=session))
                    done += 1

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
            elapsed = time.perf_counter() - start
    finally:
        await runner.cleanup()
    return done, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=3000, help="tokens for our two paths")
    parser.add_argument("--openssl-runs", type=int, default=100, help="openssl subprocesses")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP requests")
    parser.add_argument("--key", default="ec-p256", help="TSA key: ec-p256 | rsa-2048 | ...")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = PkiStore(folder / "certs")
        store.initialise(now=datetime.now(UTC).replace(microsecond=0), ca_key=RSA_2048,
                         service_key=KeySpec.parse(args.key))
        tsa = authority_from_pki(store.directory, clock=lambda: datetime.now(UTC),
                                 serials=MemorySerials())
        record = next(r for r in store.records() if r.kind == "tsa")
        config = openssl_config(folder, store.directory / record.certificate,
                                store.directory / record.key)

        rows = [
            ("openssl ts -reply (subprocess)", *bench_openssl(folder, config, args.openssl_runs)),
            ("stamp_digest (in process)", *bench_in_process(tsa, args.tokens)),
            (f"POST /tsa (HTTP keep-alive, x{args.concurrency})",
             *asyncio.run(bench_http(tsa, args.tokens, args.concurrency))),
        ]
    print(f"TSA key: {args.key}")
    print(f"{'path':<40} {'tokens':>7} {'seconds':>8} {'tokens/s':>10} {'ms/token':>9}")
    rates = {}
    for name, done, elapsed in rows:
        rates[name] = done / elapsed
        print(f"{name:<40} {done:>7} {elapsed:>8.2f} {rates[name]:>10.1f} "
              f"{1000 * elapsed / done:>9.3f}")
    baseline = rates[rows[0][0]]
    http_ratio, local_ratio = rates[rows[2][0]] / baseline, rates[rows[1][0]] / baseline
    print(f"ratio vs openssl: HTTP {http_ratio:.1f}x, in-process {local_ratio:.1f}x (target >= 10x)")
    return 0 if http_ratio >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
