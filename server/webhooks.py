"""Webhooks: endpoints that admins register (``Webhooks``) and the sender that empties the
outbox (``Sender``), on every server instance.

The outbox is written by the database: a trigger on ``audit_log`` (migrations 0014, 0015)
adds one delivery per subscribed endpoint in the transaction of each change, so a change
without its deliveries, or a delivery of a change that rolled back, cannot exist; an
order's delivery only points at its audit record, and the claim builds its payload. The
sender claims due deliveries (``FOR UPDATE SKIP LOCKED``, with a lease, so instances share
the work and a crashed one's deliveries fall due again), POSTs them signed, and records
the batch's outcomes; failures are retried with exponential backoff and jitter. See
docs/webhooks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from common.models import DeliveryQuery, WebhookCreate, WebhookPatch

from . import queries as q
from .audit import Signs
from .config import Config
from .db import Database, Row
from .envelope import NotFound

log = logging.getLogger(__name__)

CHANNEL = "boxoffice_webhooks"
SECRET_PREFIX = "whsec_"
# What is read back of an answer, at most: enough for an error message.
READ_LIMIT = 1024
USER_AGENT = "Boxoffice-Webhooks/1"
# Old deliveries are forgotten this many at a time (see ``Sender.purge``).
PURGE_BATCH = 5000
# While deferring, how often the sender looks whether the rush is over.
RUSH_CHECK = 0.02


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The Boxoffice-Webhook-Signature value: HMAC-SHA256 of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def backoff(attempts: int, first: float, most: float, rng: random.Random) -> float:
    """Seconds before the next try after ``attempts`` failed ones: doubling from ``first``
    up to ``most``, each drawn from its upper half so that retries of a burst spread out."""
    ceiling = min(most, first * 2 ** min(attempts - 1, 40))
    return ceiling * rng.uniform(0.5, 1.0)


class Webhooks:
    """What admins do with endpoints and deliveries (the API's service)."""

    def __init__(self, db: Database, sender: Sender) -> None:
        self.db = db
        self.sender = sender

    async def create(self, by: Signs, body: WebhookCreate) -> tuple[Row, str]:
        """A new endpoint and its ping; answers the row and its secret, shown only now."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = await self.db.fetchone(
            q.INSERT_WEBHOOK,
            url=body.url,
            description=body.description,
            events=list(body.events),
            secret=secret,
            **by.audit(),
        )
        assert row is not None  # an INSERT ... RETURNING always answers
        self.sender.wake()
        return row, secret

    async def list(self, skip: int, limit: int) -> list[Row]:
        return await self.db.fetchall(q.LIST_WEBHOOKS, skip=skip, limit=limit)

    async def get(self, webhook_id: int) -> Row:
        row = await self.db.fetchone(q.GET_WEBHOOK, webhook_id=webhook_id)
        if row is None:
            raise NotFound(f"Webhook {webhook_id} not found")
        return row

    async def update(self, by: Signs, webhook_id: int, body: WebhookPatch) -> Row:
        row = await self.db.fetchone(
            q.UPDATE_WEBHOOK,
            webhook_id=webhook_id,
            url=body.url,
            description=body.description,
            events=None if body.events is None else list(body.events),
            status=body.status,
            **by.audit(),
        )
        if row is None:
            raise NotFound(f"Webhook {webhook_id} not found")
        if row["status"] == "active":
            self.sender.wake()  # resumed: what it queued is due
        return row

    async def delete(self, by: Signs, webhook_id: int) -> None:
        if await self.db.fetchone(q.DELETE_WEBHOOK, webhook_id=webhook_id, **by.audit()) is None:
            raise NotFound(f"Webhook {webhook_id} not found")

    async def deliveries(self, webhook_id: int, query: DeliveryQuery) -> list[Row]:
        await self.get(webhook_id)  # a 404 for an unknown endpoint, not an empty list
        return await self.db.fetchall(
            q.LIST_DELIVERIES,
            webhook_id=webhook_id,
            status=query.status,
            skip=query.skip,
            limit=query.limit,
        )

    async def redeliver(self, webhook_id: int, delivery_id: int) -> Row:
        row = await self.db.fetchone(q.REDELIVER, webhook_id=webhook_id, delivery_id=delivery_id)
        if row is None:
            raise NotFound(f"Delivery {delivery_id} of webhook {webhook_id} not found")
        self.sender.wake()
        return row


class Sender:
    """Sends the outbox: claims due deliveries, POSTs them, records the outcomes.

    It wakes when the LISTEN connection hears the trigger's notification (``wake``), and
    otherwise looks every ``webhook_poll_seconds`` (retries falling due, other instances'
    leases running out). One attempt is bounded by ``webhook_timeout``; its lease is longer,
    so a delivery is never sent twice at once unless its sender died (then its lease runs
    out and another sends it again: at least once, receivers drop duplicates by id). A
    claimed batch's outcomes are recorded in one statement once all are answered.

    Bookings first: while ``busy()`` (this instance is placing orders), only deliveries due
    for ``webhook_defer_seconds`` are claimed. A rush's orders are not slowed by sending
    their deliveries, which go as soon as it is over; under a rush that lasts, they go
    that much later, as fast as they come.
    """

    def __init__(
        self,
        db: Database,
        config: Config,
        rng: random.Random | None = None,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self.config = config
        self.rng = rng or random.Random()
        self.busy = busy
        self.lease = 2 * config.webhook_timeout + 1
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.sent = 0
        self.failed_attempts = 0
        # Active endpoints' pending deliveries and the oldest one's age in seconds, as last
        # measured (``measure_backlog``).
        self.backlog: tuple[int, float] = (0, 0.0)

    def wake(self) -> None:
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        """Send while the block is open; on leaving, let the round in flight finish (a
        cancelled aiopg query can strand its connection), within the attempt timeout."""
        task = asyncio.create_task(self._run(), name="webhook sender")
        try:
            yield
        finally:
            self._stop.set()
            self._wake.set()
            try:
                async with asyncio.timeout(self.config.webhook_timeout + 5):
                    await task
            except TimeoutError:
                task.cancel()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.webhook_timeout)
        connector = aiohttp.TCPConnector(limit=self.config.webhook_batch, limit_per_host=20)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, headers={"User-Agent": USER_AGENT}
        ) as http:
            while not self._stop.is_set():
                self._wake.clear()
                if await self.round(http):
                    continue  # there may be more due
                if self.busy() and self.config.webhook_defer_seconds:
                    await self._rush_over(self.config.webhook_defer_seconds)
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.webhook_poll_seconds):
                        await self._wake.wait()

    async def round(self, http: aiohttp.ClientSession) -> int:
        """Claim what is due, send it and record the outcomes; answers how many were sent
        (tried). While ``busy()``, only deliveries due for the deferral are."""
        defer = self.config.webhook_defer_seconds if self.busy() else 0.0
        try:
            claimed = await self.db.fetchall(
                q.CLAIM_WEBHOOKS, limit=self.config.webhook_batch, lease=self.lease, defer=defer
            )
        except Exception:
            log.warning("claiming webhook deliveries failed", exc_info=True)
            return 0
        if claimed:
            outcomes = await asyncio.gather(*(self._deliver(http, d) for d in claimed))
            await self._record(claimed, outcomes)
        return len(claimed)

    async def measure_backlog(self) -> None:
        """How far behind the outbox is, for /metrics (the same for every instance)."""
        row = await self.db.fetchone(q.WEBHOOK_BACKLOG)
        if row is not None:
            self.backlog = (int(row["pending"]), float(row["oldest_seconds"]))

    async def purge(self) -> int:
        """Forget deliveries delivered or failed for good more than
        ``webhook_keep_days`` ago (never a pending one); answers how many."""
        if not self.config.webhook_keep_days:
            return 0
        keep = self.config.webhook_keep_days * 86400
        purged = 0
        while True:
            done = await self.db.execute(q.PURGE_DELIVERIES, keep_seconds=keep, batch=PURGE_BATCH)
            purged += done
            if done < PURGE_BATCH:  # (a full batch: there may be more)
                return purged

    async def _rush_over(self, within: float) -> None:
        """Back once no order is being placed here, or after ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # Polled: a signal from every order's end would cost the booking path.
        while self.busy() and loop.time() < deadline and not self._stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(RUSH_CHECK)

    async def _deliver(
        self, http: aiohttp.ClientSession, delivery: Row
    ) -> tuple[int | None, str | None]:
        """One attempt: the answer's status code (if any) and the error (None: delivered)."""
        body = delivery["body"].encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Boxoffice-Webhook-Id": str(delivery["delivery_id"]),
            "Boxoffice-Webhook-Event": delivery["event_type"],
            "Boxoffice-Webhook-Timestamp": timestamp,
            "Boxoffice-Webhook-Signature": sign(delivery["secret"], timestamp, body),
            "Boxoffice-Webhook-Attempt": str(delivery["attempts"]),
        }
        code: int | None = None
        error: str | None = None
        try:
            async with http.post(
                delivery["url"], data=body, headers=headers, allow_redirects=False
            ) as resp:
                code = resp.status
                answer = await resp.content.read(READ_LIMIT)
                if not 200 <= code < 300:
                    error = f"HTTP {code}: {answer[:200].decode(errors='replace')}".strip()
        except TimeoutError:
            error = f"no answer within {self.config.webhook_timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is None:
            self.sent += 1
        else:
            self.failed_attempts += 1
        return code, error

    async def _record(
        self, claimed: list[Row], outcomes: list[tuple[int | None, str | None]]
    ) -> None:
        """The batch's outcomes, in one statement (a failure's next try drawn here)."""
        retries = [
            backoff(
                d["attempts"],
                self.config.webhook_backoff,
                self.config.webhook_backoff_max,
                self.rng,
            )
            for d in claimed
        ]
        try:
            gone = await self.db.fetchall(
                q.WEBHOOK_RESULTS,
                ids=[d["id"] for d in claimed],
                codes=[code for code, _ in outcomes],
                errors=[error for _, error in outcomes],
                retries=retries,
                window=self.config.webhook_retry_seconds,
                disable=self.config.webhook_disable_seconds,
            )
        except Exception:
            # Unrecorded: the leases run out and they are sent again (receivers dedupe).
            log.warning("recording %d webhook deliveries failed", len(claimed), exc_info=True)
            return
        errors = {d["id"]: (d, error) for d, (_, error) in zip(claimed, outcomes, strict=True)}
        for row in gone:
            delivery, error = errors[row["id"]]
            log.warning(
                "webhook delivery %s to %s failed for good: %s",
                delivery["delivery_id"],
                delivery["url"],
                error,
            )
