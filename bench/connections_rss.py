"""Server memory per TCP connection on the API port, and whether it comes back after a wave.

Starts `operator-sim serve`, reads its RSS, then runs waves of connections that stay open for
a moment: half-open (TCP connected, no TLS handshake: what an unauthenticated client costs)
and idle keep-alive (handshake done with an agent certificate, one request, then silence).
After each wave every connection is closed and the RSS is read again.

    python bench/connections_rss.py [--connections 600] [--waves 3]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._service import Server, prepare
from operator_sim.pki.tls import client_ssl_context

MIB = 1024 * 1024


async def half_open(host: str, port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            break
        writers.append(writer)
    return writers


async def keep_alive(host: str, port: int, count: int, context: ssl.SSLContext,
                     ) -> list[asyncio.StreamWriter]:
    async def one() -> asyncio.StreamWriter | None:
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                           server_hostname="localhost")
            writer.write(b"GET /api/v1/transactions HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            return writer
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            return None

    writers = []
    for start in range(0, count, 50):
        batch = await asyncio.gather(*(one() for _ in range(min(50, count - start))))
        writers.extend(w for w in batch if w is not None)
    return writers


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    await asyncio.sleep(0)


async def run(connections: int, waves: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-conn-") as folder:
        workspace = prepare(Path(folder), agents=1)
        agent = workspace.agents[0]
        context = client_ssl_context(cafile=workspace.roots, certificate=agent.certificate,
                                     key=agent.key)
        server = Server(workspace, env={"OPERATOR_SIM_WORKERS": "1"})
        try:
            host, port = server.api_url.split("//", 1)[1].rsplit(":", 1)
            host = "127.0.0.1" if host == "localhost" else host
            await asyncio.sleep(1)
            baseline = server.rss()[0]
            print(f"baseline server RSS {baseline / MIB:.1f} MiB")
            for wave in range(1, waves + 1):
                for kind in ("half-open", "keep-alive"):
                    if kind == "half-open":
                        writers = await half_open(host, int(port), connections)
                    else:
                        writers = await keep_alive(host, int(port), connections, context)
                    await asyncio.sleep(1)
                    peak = server.rss()[0]
                    await close_all(writers)
                    await asyncio.sleep(7)  # the server gives memory back every 5 s
                    after = server.rss()[0]
                    per = (peak - baseline) / max(len(writers), 1) / 1024
                    print(f"wave {wave} {kind:10s}: {len(writers):4d} open, peak "
                          f"{peak / MIB:6.1f} MiB (+{per:5.1f} KiB/connection), after close "
                          f"{after / MIB:6.1f} MiB (+{(after - baseline) / MIB:5.1f} MiB over "
                          "baseline)")
        finally:
            started = time.monotonic()
            server.stop()
            print(f"stopped in {time.monotonic() - started:.1f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--waves", type=int, default=3)
    args = parser.parse_args()
    return asyncio.run(run(args.connections, args.waves))


if __name__ == "__main__":
    sys.exit(main())
