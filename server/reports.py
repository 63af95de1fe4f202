"""Shift reports: what a clerk (or all staff) sold and refunded in a period, and the takings.

A sale is a booking made by the clerk that became confirmed in the period (sold at once, or
a hold confirmed later); a cancellation is one the clerk made in the period, of anyone's
booking. A sale cancelled later counts in both, so net takings are what the clerk's till
should hold: sales less refunds, per payment method. One statement reads the bookings
(``queries.SHIFT_REPORT``); the totals are summed here from the very rows listed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from common.models import (
    PaymentTotal,
    PaymentTotals,
    ShiftLine,
    ShiftQuery,
    ShiftReport,
    Tally,
)

from . import queries as q
from .auth import username_key
from .db import Database, Row
from .envelope import Forbidden, Invalid, NotFound
from .security import Principal

# Without dates, a report covers the last 12 hours: a whole shift, even one that went past
# midnight, whatever the time zone.
DEFAULT_PERIOD = timedelta(hours=12)
MAX_PERIOD = timedelta(days=366)
METHODS = ("cash", "card", "other", "unrecorded")
CENTS = Decimal("0.01")


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def shift(
        self, who: Principal, query: ShiftQuery, *, now: datetime | None = None
    ) -> ShiftReport:
        user_id, name = await self._subject(who, query.clerk)
        date_from, date_to = period(query, now or datetime.now(UTC))
        rows = await self.db.fetchall(
            q.SHIFT_REPORT, user_id=user_id, date_from=date_from, date_to=date_to
        )
        return summarize(name, date_from, date_to, rows)

    async def _subject(self, who: Principal, clerk: str | None) -> tuple[int | None, str | None]:
        """(user id, username) of whose report it is; (None, None) for all staff."""
        if clerk is None:
            return (None, None) if who.role == "admin" else (who.user_id, who.username)
        if username_key(clerk) == username_key(who.username):
            return who.user_id, who.username
        if who.role != "admin":
            raise Forbidden("Clerks may see only their own shift report")
        row = await self.db.fetchone(q.USER_BY_NAME, username=username_key(clerk))
        if row is None:
            raise NotFound(f"No user named {clerk!r}")
        return row["id"], row["username"]


def period(query: ShiftQuery, now: datetime) -> tuple[datetime, datetime]:
    """[date_from, date_to): the end defaults to now, the start to 12 hours before the end.

    A date alone is a whole day in the server's time zone: from its 00:00 when it starts the
    period, to the next day's 00:00 when it ends it.
    """
    date_to = _moment(query.date_to, end=True) if query.date_to is not None else now
    if query.date_from is not None:
        date_from = _moment(query.date_from, end=False)
    else:
        date_from = date_to - DEFAULT_PERIOD
    if date_from >= date_to:
        raise Invalid.field("date_to", "must be after date_from")
    if date_to - date_from > MAX_PERIOD:
        raise Invalid.field("date_from", "a report covers at most 366 days")
    return date_from, date_to


def _moment(value: datetime | date, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time()).astimezone()  # 00:00 in the server's time zone


@dataclass
class _Sum:
    count: int = 0
    seats: int = 0
    amount: Decimal = Decimal(0)

    def add(self, seats: int, amount: Decimal) -> None:
        self.count += 1
        self.seats += seats
        self.amount += amount

    def tally(self) -> Tally:
        return Tally(count=self.count, seats=self.seats, amount=_money(self.amount))


@dataclass
class _Till:
    sold: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)

    def total(self) -> PaymentTotal:
        return PaymentTotal(
            sold=_money(self.sold),
            refunded=_money(self.refunded),
            net=_money(self.sold - self.refunded),
        )


def summarize(
    clerk: str | None, date_from: datetime, date_to: datetime, rows: list[Row]
) -> ShiftReport:
    sales, holds, cancellations = _Sum(), _Sum(), _Sum()
    tills = {method: _Till() for method in METHODS}
    lines = []
    for row in rows:
        amount = row["amount"]
        sold = amount if row["sale"] else Decimal(0)
        # Only a booking that was paid for is refunded; an unpaid hold just lets its seats go.
        paid = row["confirmed_at"] is not None
        refunded = amount if row["cancellation"] and paid else Decimal(0)
        if row["sale"]:
            sales.add(row["quantity"], amount)
            if row["was_hold"]:
                holds.add(row["quantity"], amount)
        if row["cancellation"]:
            cancellations.add(row["quantity"], refunded)
        till = tills[row["payment_method"] or "unrecorded"]
        till.sold += sold
        till.refunded += refunded
        # The row's own columns as they are; the money, rounded and worked out here.
        money = {"amount": amount, "sold": sold, "refunded": refunded, "net": sold - refunded}
        lines.append(
            ShiftLine.model_validate(
                {**row, "booking_id": row["id"], **{k: _money(v) for k, v in money.items()}}
            )
        )
    return ShiftReport(
        clerk=clerk,
        date_from=date_from,
        date_to=date_to,
        sales=sales.tally(),
        holds_confirmed=holds.tally(),
        cancellations=cancellations.tally(),
        payments=PaymentTotals(**{method: till.total() for method, till in tills.items()}),
        net_takings=_money(sales.amount - cancellations.amount),
        bookings=lines,
    )


def _money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENTS)


# --- CSV -------------------------------------------------------------------------

LINE_COLUMNS = (
    "booking_id",
    "event_id",
    "event_title",
    "event_date",
    "customer_name",
    "quantity",
    "status",
    "payment_method",
    "amount",
    "sold_by",
    "confirmed_at",
    "cancelled_by",
    "cancelled_at",
    "sale",
    "cancellation",
    "sold",
    "refunded",
    "net",
)
_TEXT_COLUMNS = {"event_title", "customer_name", "sold_by", "cancelled_by"}


def to_csv(report: ShiftReport) -> str:
    """A line per booking, then the summary, in sections separated by a blank line:

    the bookings (header ``booking_id,...``); the tallies (``summary,count,seats,amount``:
    sales, holds_confirmed, cancellations); the takings per payment method
    (``payment_method,sold,refunded,net``, then ``net_takings``); and what the report covers
    (``report,value``: clerk, date_from, date_to). The bookings' net column sums to net_takings.
    """
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(LINE_COLUMNS)
    for line in report.bookings:
        values = line.model_dump()
        w.writerow(_cell(name, values[name]) for name in LINE_COLUMNS)
    w.writerow(())
    w.writerow(("summary", "count", "seats", "amount"))
    for name in ("sales", "holds_confirmed", "cancellations"):
        tally: Tally = getattr(report, name)
        w.writerow((name, tally.count, tally.seats, tally.amount))
    w.writerow(())
    w.writerow(("payment_method", "sold", "refunded", "net"))
    for method in METHODS:
        total: PaymentTotal = getattr(report.payments, method)
        w.writerow((method, total.sold, total.refunded, total.net))
    w.writerow(("net_takings", "", "", report.net_takings))
    w.writerow(())
    w.writerow(("report", "value"))
    w.writerow(("clerk", _cell("clerk", report.clerk) if report.clerk else "all staff"))
    w.writerow(("date_from", report.date_from.isoformat()))
    w.writerow(("date_to", report.date_to.isoformat()))
    return out.getvalue()


def _cell(name: str, value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and (name in _TEXT_COLUMNS or name == "clerk"):
        # A spreadsheet would run a cell starting with = + - @ as a formula.
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    return value


def filename(report: ShiftReport) -> str:
    who = re.sub(r"[^A-Za-z0-9._-]", "_", report.clerk or "all-staff")
    start, end = (moment.astimezone(UTC) for moment in (report.date_from, report.date_to))
    span = f"{start:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"
    return f"shift-{who}-{span}.csv"


def ledger_errors(found: list[tuple[Any, ...]]) -> list[str]:
    """What is wrong in the rows of ``queries.SEAT_LEDGER``, one line per event at fault:
    its seats gone must be its active orders' seats and active tickets, and a seated
    event's taken seats exactly those tickets' (none, unless seats were lost or sold
    twice). Tests check it after every test; the benchmarks after every storm."""
    errors = []
    for event, total, available, taken, tickets, seats_taken, seats_wrong, venue_id in found:
        gone = total - available
        if not gone == taken == tickets:
            errors.append(f"event {event}: {gone} seats gone, {taken} booked, {tickets} tickets")
        if venue_id is not None and (seats_taken != gone or seats_wrong):
            errors.append(
                f"event {event}: {seats_taken} seats taken for {gone} gone, "
                f"{seats_wrong} disagreeing with their tickets"
            )
    return errors
