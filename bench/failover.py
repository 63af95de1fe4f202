"""Losing the database primary (issue 14): a pg_auto_failover formation under load.

Each run builds a formation in a temporary folder: a monitor and two PostgreSQL 15 nodes on
local ports (55431-55433 unless --port), synchronous replication, run by pg_autoctl as an
ordinary user (``pgfail``, made when missing: pg_autoctl refuses root). It never touches the
machine's own PostgreSQL. A Boxoffice server is started on the formation with a connection
string of both nodes and ``target_session_attrs=read-write``, with websocket subscribers and
clients booking back to back, each booking with an Idempotency-Key and retried with it after
a 503 or no answer (as a careful client does). Then the primary is lost the hard way:

- ``immediate``: ``pg_ctl stop -m immediate`` on the primary (its keeper is left running);
- ``postmaster``: SIGKILL of the primary's postmaster;
- ``node``: SIGKILL of the whole primary node, its pg_autoctl processes and the postmaster,
  as the loss of its machine would be;
- ``standby``: the whole standby node is killed instead; the primary goes on alone once the
  monitor lets it (until then synchronous commits wait).

Checks per run (it exits 1 if any fails): every booking answered 2xx is on the primary at
the end with its event and quantity (0 lost); one booking per key, and none nobody was told
of (no duplicates from retries); the seat ledger; the time from the stop until bookings
succeed again; what clients saw meanwhile (503s with Retry-After, no 500s, no request
without an answer within its timeout); every subscriber got a resync and ends on the
database's figures; /readyz turned 503 and back to 200 (primary runs). Then the booking
rate on the formation and on a single PostgreSQL of the same binaries, side by side.

    python bench/failover.py                       # every run, and the rates
    python bench/failover.py --runs immediate --small --no-rate   # what the test runs

Timings are from whatever machine it runs on (a shared 2-core one, for docs/failover.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg2
from harness import broken_ledger, own_server, seed

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUN_AS = "pgfail"
REQUEST_TIMEOUT = 10.0
# A client gives up retrying a booking after this long.
RETRY_FOR = 60.0
# The monitor's settings lowered from their defaults (20 s, 30 s, 5 s): a node is judged
# lost within about 2.5 s of its last answer (the trial on this machine: 51 s to 12 s for a
# whole node at 5 s; losing only PostgreSQL took up to 8.1 s at 5 s, 2.5-2.7 s at 2.5 s).
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2500",
    "pgautofailover.primary_demote_timeout": "2500",
}
# Every node on loopback only (trust authentication: nothing else may reach it).
LOCAL = ("--hostname", "127.0.0.1", "--listen", "127.0.0.1")
TARGETS = {"immediate": 5.0, "postmaster": 5.0, "node": 15.0, "standby": 15.0}


class Formation:
    """A monitor and two nodes in ``root``, run by pg_autoctl as ``RUN_AS`` (or as the
    current user when not root)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.ports = {"monitor": port, "node1": port + 1, "node2": port + 2}
        self.sock = root / "sock"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.user = RUN_AS if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    # --- running things as the formation's user --------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{PG_BIN}:/usr/bin:/bin",
            "HOME": str(self.root),
            # pg_autoctl keeps its configuration and state files under these.
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "share"),
            "PGHOST": str(self.sock),
        }

    def _argv(self, argv: list[str]) -> list[str]:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", self.user, "--", *argv] if os.geteuid() == 0 else argv

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            self._argv(list(argv)),
            env=self._env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()[-800:]}")
        return done.stdout

    def start(self, name: str, *argv: str) -> None:
        """A long-running pg_autoctl in a session of its own (killed as a group)."""
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            self._argv(list(argv)),
            env=self._env(),
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def sql(self, port: int, statement: str, dbname: str = "postgres") -> list[tuple]:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user=self.user, dbname=dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    # --- building it -------------------------------------------------------------------

    def build(self) -> None:
        if os.geteuid() == 0 and not _user_exists(RUN_AS):
            subprocess.run(["useradd", "-m", RUN_AS], check=True)
        self.sock.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, RUN_AS)
            shutil.chown(self.sock, RUN_AS)
        monitor = self.root / "monitor"
        # The default socket folder is not the formation user's: initdb first, with ours.
        self._initdb(monitor)
        self.run(
            "pg_autoctl", "create", "monitor", "--pgdata", str(monitor),
            "--pgport", str(self.ports["monitor"]), *LOCAL, "--auth", "trust", "--no-ssl",
        )  # fmt: skip
        self.start("monitor", "pg_autoctl", "run", "--pgdata", str(monitor))
        self._wait(lambda: self.sql(self.ports["monitor"], "SELECT 1", "pg_auto_failover"))
        for name, value in MONITOR_SETTINGS.items():
            self.sql(self.ports["monitor"], f"ALTER SYSTEM SET {name} = {value}")
        self.sql(self.ports["monitor"], "SELECT pg_reload_conf()")
        self._initdb(self.root / "node1")  # the standby is a base backup of it, socket and all
        for node in ("node1", "node2"):
            self.start(
                node, "pg_autoctl", "create", "postgres", "--pgdata", str(self.root / node),
                "--pgport", str(self.ports[node]), *LOCAL, "--name", node,
                "--auth", "trust", "--no-ssl", "--dbname", "boxoffice",
                "--monitor", self.monitor_uri, "--run",
            )  # fmt: skip
            want = "single" if node == "node1" else "secondary"
            # pg_basebackup can wait for a spread checkpoint: a CHECKPOINT unblocks it.
            self._wait(lambda n=node, w=want: self._settled(n, w), nudge=node == "node2")
        self._wait(lambda: self._settled("node1", "primary"))

    def _initdb(self, pgdata: Path) -> None:
        self.run("initdb", "-D", str(pgdata), "-A", "trust", "--no-sync")
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"unix_socket_directories = '{self.sock}'\n")

    @property
    def monitor_uri(self) -> str:
        return f"postgres://autoctl_node@127.0.0.1:{self.ports['monitor']}/pg_auto_failover"

    def states(self) -> dict[str, tuple[str, str]]:
        """Each node's (reported, assigned) state, as the monitor has them."""
        rows = self.sql(
            self.ports["monitor"],
            "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node",
            "pg_auto_failover",
        )
        return {name: (str(reported), str(goal)) for name, reported, goal in rows}

    def _settled(self, node: str, state: str) -> bool:
        return self.states().get(node) == (state, state)

    def _wait(self, ready, within: float = 120.0, nudge: bool = False) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg2.Error):
                if ready():
                    return
            if nudge:
                with contextlib.suppress(psycopg2.Error):
                    self.sql(self.ports["node1"], "CHECKPOINT")
            time.sleep(0.2)  # polling a process we do not control
        raise RuntimeError(f"the formation did not settle; see {self.root}/*.log")

    # --- losing a node -----------------------------------------------------------------

    def primary(self) -> str:
        """The node that takes writes now, as the servers' connection string finds it."""
        conn = psycopg2.connect(self.dsn())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT inet_server_port()")
                [port] = cur.fetchone()
        finally:
            conn.close()
        return next(name for name, p in self.ports.items() if p == port)

    def postmaster(self, node: str) -> int:
        return int((self.root / node / "postmaster.pid").read_text().split()[0])

    def lose(self, how: str) -> str:
        """Lose the primary (or the standby) ``how``; the node lost."""
        primary = self.primary()
        node = primary if how != "standby" else ("node2" if primary == "node1" else "node1")
        if how == "immediate":
            self.run("pg_ctl", "stop", "-D", str(self.root / node), "-m", "immediate")
        elif how == "postmaster":
            os.kill(self.postmaster(node), signal.SIGKILL)
        else:  # the whole node: its pg_autoctl processes and its postmaster
            postmaster = self.postmaster(node)
            os.killpg(self.procs[node].pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)
        return node

    def dsn(self, **extra: str) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[n]}" for n in ("node1", "node2"))
        query = "&".join(
            f"{k}={v}" for k, v in {"target_session_attrs": "read-write", **extra}.items()
        )
        return f"postgresql://{self.user}@{hosts}/boxoffice?{query}"

    def close(self) -> None:
        """Stop every process of the formation (they are all in the sessions started here)."""
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for node in ("monitor", "node1", "node2"):  # a postmaster left behind by a kill
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(self.postmaster(node), signal.SIGKILL)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class SinglePostgres:
    """One PostgreSQL of the same binaries, no replication: the rate to compare with."""

    def __init__(self, formation: Formation, port: int) -> None:
        self.f = formation
        self.port = port
        self.pgdata = formation.root / "single"

    def start(self) -> str:
        self.f._initdb(self.pgdata)
        self.f.run(
            "pg_ctl", "start", "-w", "-D", str(self.pgdata), "-l", str(self.f.root / "single.log"),
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1",
        )  # fmt: skip
        self.f.sql(self.port, "CREATE DATABASE boxoffice")
        return f"postgresql://{self.f.user}@127.0.0.1:{self.port}/boxoffice"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.f.run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast")


# --- the clients ---------------------------------------------------------------------


@dataclass
class Answer:
    sent: float
    took: float
    status: int  # 0: no answer within REQUEST_TIMEOUT
    retry_after: str | None = None


@dataclass
class Booking:
    key: str
    event: int
    quantity: int
    answers: list[Answer] = field(default_factory=list)
    booking_id: int | None = None
    replayed: bool = False


class Load:
    """``workers`` clients booking back to back, each booking retried with its key."""

    def __init__(self, http: aiohttp.ClientSession, base: str, tokens, events, workers: int):
        self.http, self.base, self.tokens, self.events = http, base, tokens, events
        self.workers = workers
        self.bookings: list[Booking] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _answer(self, token: str, b: Booking) -> Answer:
        sent = time.monotonic()
        try:
            async with self.http.post(
                self.base + "/api/v1/bookings",
                json={"event_id": b.event, "quantity": b.quantity},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": b.key},
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 201:
                    b.booking_id = body["data"]["id"]
                    b.replayed = resp.headers.get("Idempotent-Replayed") == "true"
                took = time.monotonic() - sent
                return Answer(sent, took, resp.status, resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return Answer(sent, time.monotonic() - sent, 0)

    async def _worker(self, i: int) -> None:
        rng = random.Random(i)
        token = self.tokens[i % len(self.tokens)]
        while not self._stop.is_set():
            b = Booking(str(uuid.uuid4()), rng.choice(self.events), rng.choice((1, 2)))
            self.bookings.append(b)
            began = time.monotonic()
            while True:
                answer = await self._answer(token, b)
                b.answers.append(answer)
                if answer.status not in (0, 503) or time.monotonic() - began > RETRY_FOR:
                    break
                await asyncio.sleep(float(answer.retry_after or 0.2))  # as the server asks

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


class Watch:
    """A websocket subscriber of every event, and /readyz polled every 50 ms."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict]] = []
        self.ready: list[tuple[float, int]] = []


async def subscribe(http, base: str, token: str, events: list[int], watch: Watch):
    ws = await http.ws_connect(f"{base}/api/v1/ws?token={token}", heartbeat=None)
    await ws.receive_json()  # hello
    await ws.send_json({"type": "subscribe", "events": events})

    async def read() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                watch.messages.append((time.monotonic(), msg.json()))

    return ws, asyncio.create_task(read())


async def poll_ready(http, base: str, watch: Watch, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with http.get(base + "/readyz", timeout=aiohttp.ClientTimeout(total=3)) as r:
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        watch.ready.append((time.monotonic(), status))
        await asyncio.sleep(0.05)  # sampling, not synchronising


# --- one run ---------------------------------------------------------------------------


@dataclass
class Outcome:
    how: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append((name, passed, detail))


async def one_run(how: str, root: Path, args: argparse.Namespace) -> Outcome:
    out = Outcome(how)
    formation = Formation(root, args.port)
    try:
        print(f"[{how}] building the formation in {root} ...", flush=True)
        started = time.monotonic()
        await asyncio.to_thread(formation.build)
        out.figures.append(("formation built in", f"{time.monotonic() - started:.1f} s"))
        async with own_server(formation.dsn(), args.pool, log_path=root / "server.log") as server:
            await load_and_lose(how, formation, server.url, args, out)
    finally:
        await asyncio.to_thread(formation.close)
    return out


async def load_and_lose(how, formation: Formation, base: str, args, out: Outcome) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tokens, events = await seed(http, base, max(args.workers, args.subscribers), 2, 100_000)
        watches = [Watch() for _ in range(args.subscribers)]
        sockets = [await subscribe(http, base, tokens[i], events, w) for i, w in enumerate(watches)]
        ready, stop_polling = Watch(), asyncio.Event()
        polling = asyncio.create_task(poll_ready(http, base, ready, stop_polling))
        load = Load(http, base, tokens, events, args.workers)
        load.start()
        await asyncio.sleep(args.before)  # bookings on a healthy formation
        before = sum(1 for b in load.bookings if b.booking_id is not None)
        rate = before / args.before
        primary_before = formation.primary()
        print(f"[{how}] {rate:.0f} bookings/s; losing {how} ...", flush=True)
        lost = await asyncio.to_thread(formation.lose, how)
        lost_at = time.monotonic()  # the node is down (pg_ctl waited for it)
        await asyncio.sleep(args.after)
        await load.stop()
        await asyncio.sleep(1.0)  # the last changes reach the subscribers
        stop_polling.set()
        await polling
        primary_after = await asyncio.to_thread(formation.primary)
        for ws, task in sockets:
            await ws.close()
            task.cancel()

    out.figures.append(
        ("node lost", f"{lost} (primary before: {primary_before}, after: {primary_after})")
    )
    if how != "standby":
        out.check("the standby was promoted", primary_after != primary_before, primary_after)
    answers = [a for b in load.bookings for a in b.answers]
    # Recovery: from the loss until bookings succeed again: the first 2xx of a booking sent
    # after the last failure (503 or no answer), or after the loss when none failed (then
    # it measures a stall: the standby run's commits waiting).
    failed = [a.sent + a.took for a in answers if a.sent + a.took >= lost_at and a.status != 201]
    since = max(failed, default=lost_at)
    first_ok = min(
        (a.sent + a.took for a in answers if a.sent >= since and a.status == 201), default=None
    )
    recovered = None if first_ok is None else first_ok - lost_at
    out.figures.append(
        ("bookings succeed again after", "never" if recovered is None else f"{recovered:.2f} s")
    )
    target = args.target or TARGETS[how]
    out.check(
        f"bookings succeed again within {target:g} s",
        recovered is not None and recovered <= target,
        "never" if recovered is None else f"{recovered:.2f} s",
    )
    counts: dict[int, int] = {}
    for a in answers:
        counts[a.status] = counts.get(a.status, 0) + 1
    out.figures.append(
        ("answers by status", ", ".join(f"{s or 'none'}: {n}" for s, n in sorted(counts.items())))
    )
    slowest = max((a.took for a in answers), default=0.0)
    out.figures.append(("slowest answer", f"{slowest:.2f} s"))
    out.check("no 500s", not any(a.status >= 500 and a.status != 503 for a in answers), str(counts))
    out.check(
        "every 503 has Retry-After",
        all(a.retry_after for a in answers if a.status == 503),
        f"{counts.get(503, 0)} 503s",
    )
    out.check(
        f"every request answered within {REQUEST_TIMEOUT:g} s",
        counts.get(0, 0) == 0,
        f"{counts.get(0, 0)} without",
    )
    unanswered = [b for b in load.bookings if b.answers[-1].status in (0, 503)]
    out.check(
        "every booking answered in the end (retries with its key)",
        not unanswered,
        f"{len(unanswered)} left",
    )

    # The database: on the primary now, through the same connection string.
    told = {b.booking_id: b for b in load.bookings if b.booking_id is not None}
    conn = psycopg2.connect(formation.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, event_id, quantity FROM bookings")
            stored = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
            cur.execute("SELECT id, available_seats, version FROM events")
            seats = {r[0]: r[1] for r in cur.fetchall()}
    finally:
        conn.close()
    missing = [i for i, b in told.items() if stored.get(i) != (b.event, b.quantity)]
    out.check(
        "0 lost: every 2xx booking stored, event and quantity",
        not missing,
        f"{len(told)} told, {len(missing)} missing"
        + (f" ({sum(told[i].replayed for i in missing)} of them replays)" if missing else ""),
    )
    unknown = set(stored) - set(told)
    out.check("nothing twice: no booking nobody was told of", not unknown, f"{len(unknown)} extra")
    replayed = sum(b.replayed for b in told.values())
    out.figures.append(("retries that replayed a committed booking", str(replayed)))
    ledger = await asyncio.to_thread(broken_ledger, formation.dsn())
    out.check("the seat ledger holds", not ledger, "; ".join(ledger[:3]))

    # Subscribers: a resync after the loss, and the database's figures at the end.
    resynced = sum(
        any(t >= lost_at and m.get("reason") == "resync" for t, m in w.messages) for w in watches
    )
    stale = 0
    for w in watches:
        for event, available in seats.items():
            mine = [m for _, m in w.messages if m.get("event_id") == event and m.get("event")]
            last = max(mine, key=lambda m: m["version"], default=None)
            stale += last is None or last["event"]["available_seats"] != available
    if how != "standby":
        out.check(
            "every subscriber resynced", resynced == len(watches), f"{resynced} of {len(watches)}"
        )
    out.check("every subscriber ends on the database's figures", not stale, f"{stale} stale")

    statuses = [s for t, s in ready.ready if t >= lost_at]
    went_down = 503 in statuses
    back = went_down and statuses[-1] == 200
    if how != "standby":
        out.check("/readyz turned 503 and back to 200", back, f"{statuses.count(503)} 503 samples")
        down = [t for t, s in ready.ready if t >= lost_at and s == 503]
        if down:
            out.figures.append(("/readyz 503 for", f"{down[-1] - down[0]:.2f} s"))
    out.figures.append(("bookings/s before the loss", f"{rate:.0f}"))


async def booking_rate(dsn: str, root: Path, args) -> float:
    """Bookings/s of ``args.workers`` clients for ``args.rate_seconds`` on ``dsn``."""
    async with (
        own_server(dsn, args.pool, log_path=root / "rate-server.log") as server,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        tokens, events = await seed(http, server.url, args.workers, 2, 1_000_000)
        load = Load(http, server.url, tokens, events, args.workers)
        load.start()
        await asyncio.sleep(1.0)  # warm up
        start = sum(b.booking_id is not None for b in load.bookings)
        await asyncio.sleep(args.rate_seconds)
        end = sum(b.booking_id is not None for b in load.bookings)
        await load.stop()
    return (end - start) / args.rate_seconds


async def rates(root: Path, args) -> tuple[float, float]:
    formation = Formation(root, args.port)
    single = SinglePostgres(formation, args.port + 3)
    try:
        await asyncio.to_thread(formation.build)
        on_formation = await booking_rate(formation.dsn(), root, args)
        on_single = await booking_rate(await asyncio.to_thread(single.start), root, args)
    finally:
        await asyncio.to_thread(single.stop)
        await asyncio.to_thread(formation.close)
    return on_formation, on_single


def table(outcomes: list[Outcome]) -> bool:
    passed = True
    for out in outcomes:
        print(f"\n== {out.how} ==")
        for name, value in out.figures:
            print(f"  {name:<44} {value}")
        for name, ok, detail in out.checks:
            passed &= ok
            print(f"  {'OK  ' if ok else 'FAIL'} {name:<56} {detail}")
    return passed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="immediate,postmaster,node,standby")
    parser.add_argument("--port", type=int, default=55431, help="monitor; nodes on the next")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--before", type=float, default=3.0, help="seconds of load before")
    parser.add_argument("--after", type=float, default=20.0, help="seconds of load after")
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument("--no-rate", action="store_true", help="skip the rate comparison")
    parser.add_argument(
        "--target", type=float, default=None, help="seconds to recover in (default: per run)"
    )
    parser.add_argument("--small", action="store_true", help="fewer clients, shorter: the test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    if args.small:
        args.workers, args.subscribers, args.before, args.after = 4, 2, 1.5, 8.0
    if shutil.which("pg_autoctl") is None:
        print("pg_autoctl is not installed (Debian: postgresql-15-auto-failover)")
        return 2
    outcomes: list[Outcome] = []
    passed = True
    for how in args.runs.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"h_fail-{how}-"))
        try:
            outcomes.append(await one_run(how, root, args))
            passed = table(outcomes[-1:]) and passed
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    if not args.no_rate:
        root = Path(tempfile.mkdtemp(prefix="h_fail-rate-"))
        try:
            on_formation, on_single = await rates(root, args)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
        print(
            f"\nbooking rate, {args.workers} clients, {args.rate_seconds:g} s each: "
            f"formation (synchronous replication) {on_formation:.0f}/s, "
            f"single PostgreSQL {on_single:.0f}/s ({on_formation / on_single:.0%})"
        )
    print("\nall checks passed" if passed else "\nSOME CHECKS FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
