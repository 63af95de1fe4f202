"""What counting costs the browse path: `GET /api/v1/events?limit=20` under `wrk` against
one Boxoffice process with `/metrics` on (aiohttp-prometheus-exporter's HTTP series) and off
(`BOXOFFICE_METRICS=false`), alternating, in one run.

    .venv/bin/python bench/metrics_cost.py        # --rounds 3 --seconds 8 --connections 32

It prints requests/s and p99 of each round and the median overhead. On a shared 2-core
machine the figures are noisy: alternating rounds and taking medians is how it copes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

import aiohttp
from browse import wrk
from harness import ADMIN_PASSWORD, login, make_event, own_server, scratch_database


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args()

    rates: dict[str, list[float]] = {"on": [], "off": []}
    with scratch_database() as dsn:
        async with own_server(dsn, 8) as server, aiohttp.ClientSession() as http:
            admin = await login(http, server.url, "benchadmin", ADMIN_PASSWORD)
            for _ in range(args.events):
                await make_event(http, server.url, admin, 100)
        for round_ in range(1, args.rounds + 1):
            for setting in ("on", "off"):
                metrics = "true" if setting == "on" else "false"
                async with own_server(dsn, 8, METRICS=metrics) as server:
                    result = await wrk(f"metrics {setting}", server.url, args.connections,
                                       args.seconds)  # fmt: skip
                if result.errors:
                    print(f"round {round_}, metrics {setting}: {result.errors} errors")
                    return 1
                rates[setting].append(result.rate)
                print(f"round {round_}, metrics {setting:<3}: {result.rate:>8,.0f} req/s, "
                      f"p99 {result.p99:.2f} ms", flush=True)  # fmt: skip
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(f"median: metrics on {on:,.0f} req/s, off {off:,.0f} req/s: "
          f"counting costs {(1 - on / off) * 100:.1f}% of the rate")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
