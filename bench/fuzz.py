"""Fuzz the HTTP API from its own OpenAPI document with schemathesis.

Starts a server on a scratch database (as the benchmarks do), logs in its admin, makes an
event so some ids exist, and runs ``schemathesis run`` over every documented operation
with the admin's token, checking that no answer is a 5xx and that every answer matches
the documented schema (status code, content type and body).

    .venv/bin/pip install -e '.[fuzz]'                  # schemathesis, once
    .venv/bin/python bench/fuzz.py                      # 30 examples per operation
    .venv/bin/python bench/fuzz.py --max-examples 200 --seed 1
    .venv/bin/python bench/fuzz.py -- --include-path-regex events   # extra schemathesis args

The server's log is kept in ``fuzz-server.log`` (a 500 is logged there with its traceback
and request id). The exit status is schemathesis's: 0 when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

import aiohttp
from harness import ADMIN_PASSWORD, login, make_event, own_server, scratch_database

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def schemathesis() -> list[str]:
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        raise SystemExit("schemathesis is not installed: .venv/bin/pip install -e '.[fuzz]'")
    return [found]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log", type=Path, default=Path("fuzz-server.log"))
    parser.add_argument("extra", nargs="*", help="more `schemathesis run` arguments, after --")
    args = parser.parse_args()
    args.log.unlink(missing_ok=True)
    with scratch_database() as dsn:
        async with own_server(dsn, 8, log_path=args.log) as server:
            async with aiohttp.ClientSession() as http:
                token = await login(http, server.url, "benchadmin", ADMIN_PASSWORD)
                await make_event(http, server.url, token, 50)
            command = [
                *schemathesis(),
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--checks",
                CHECKS,
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(args.max_examples),
                # A websocket is no HTTP operation: the upgrade is tested in tests/test_live.py.
                "--exclude-path",
                "/api/v1/ws",
                # One worker: hypothesis's lambda descriptions call ast.parse, which is not
                # thread-safe on Python 3.11 ("AST constructor recursion depth mismatch").
                "--workers",
                "1",
                *(["--seed", str(args.seed)] if args.seed is not None else []),
                *args.extra,
            ]
            proc = await asyncio.create_subprocess_exec(*command)
            return await proc.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
