"""Shift reports: what a clerk (or all staff) sold and refunded in a period, and the takings.

A sale is a booking made by the clerk that became confirmed in the period (sold at once, or
a hold confirmed later), with every ticket it was sold with; a refund is counted ticket by
ticket, when and by whom the ticket was given back: a cancellation the clerk made in the
period (of anyone's booking), or tickets the clerk returned from an order. A sale refunded
later counts in both, so net takings are what the clerk's till should hold: sales less
refunds, per payment method (a refund by how it was paid back). One statement reads the
tickets, grouped per booking (``queries.SHIFT_REPORT``); the lines, the totals and the
per-type breakdown are summed here from those very rows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from common.models import (
    PaymentTotal,
    PaymentTotals,
    ShiftLine,
    ShiftQuery,
    ShiftReport,
    ShiftTypeLine,
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


def _refunded(row: Row) -> bool:
    """The row's tickets were given back in the period with a refund (not a hold's)."""
    return row["release"] is not None and row["refund"] is not None


@dataclass
class _Tickets:
    """Tickets sold and given back, and their money: a booking's, or a type's in a zone."""

    sold: int = 0
    sold_amount: Decimal = Decimal(0)
    cancelled: int = 0
    cancelled_refund: Decimal = Decimal(0)
    returned: int = 0
    returned_refund: Decimal = Decimal(0)
    refunded: int = 0  # given back with a refund (not a hold's)

    def add(self, row: Row) -> None:
        if row["ticket_sold"]:
            self.sold += row["tickets"]
            self.sold_amount += row["price"]
        refund = row["refund"] or Decimal(0)
        if row["release"] == "cancelled":
            self.cancelled += row["tickets"]
            self.cancelled_refund += refund
        elif row["release"] == "returned":
            self.returned += row["tickets"]
            self.returned_refund += refund
        if _refunded(row):
            self.refunded += row["tickets"]

    @property
    def refund(self) -> Decimal:
        return self.cancelled_refund + self.returned_refund


@dataclass
class _Line:
    """One booking, gathered from its rows (a row per group of its tickets counted alike)."""

    row: Row
    tickets: _Tickets = field(default_factory=_Tickets)
    methods: set[str] = field(default_factory=set)
    returned_by: set[str] = field(default_factory=set)
    counted_at: datetime | None = None  # when the report first counts it: the lines' order

    def add(self, row: Row) -> None:
        self.tickets.add(row)
        if _refunded(row):
            self.methods.add(row["refund_method"])
        if row["release"] == "returned":
            self.returned_by.add(row["released_by"])
        moments = [row["released_at"], row["confirmed_at"] if row["sale"] else None]
        for moment in moments:
            if moment is not None and (self.counted_at is None or moment < self.counted_at):
                self.counted_at = moment

    def line(self) -> ShiftLine:
        row, t = self.row, self.tickets
        # The row's own columns as they are; the money, rounded and worked out here.
        money = {"sold": t.sold_amount, "refunded": t.refund, "net": t.sold_amount - t.refund}
        return ShiftLine.model_validate(
            {
                **row,
                "booking_id": row["id"],
                "amount": _money(row["amount"]),
                **{k: _money(v) for k, v in money.items()},
                "cancellation": t.cancelled > 0,
                "tickets_sold": t.sold,
                "tickets_cancelled": t.cancelled,
                "tickets_returned": t.returned,
                "refund_methods": sorted(self.methods, key=METHODS.index),
                "returned_by": sorted(self.returned_by, key=str.casefold),
                "counted_at": self.counted_at,
            }
        )


def summarize(
    clerk: str | None, date_from: datetime, date_to: datetime, rows: list[Row]
) -> ShiftReport:
    """The report from the rows of ``queries.SHIFT_REPORT``: a row per group of a booking's
    tickets counted alike. Money goes out of the till that refunds it, by how it was paid
    back; a sale's seats are its tickets, those returned since included."""
    lines: dict[int, _Line] = {}
    types: dict[tuple[str, str | None], _Tickets] = {}
    tills = {method: _Till() for method in METHODS}
    for row in rows:
        lines.setdefault(row["id"], _Line(row)).add(row)
        types.setdefault((row["ticket_type"], row["zone"]), _Tickets()).add(row)
        if row["ticket_sold"]:
            tills[row["payment_method"] or "unrecorded"].sold += row["price"]
        if _refunded(row):
            tills[row["refund_method"]].refunded += row["refund"]
    sales, holds, cancellations, returns = _Sum(), _Sum(), _Sum(), _Sum()
    ordered = sorted(lines.values(), key=lambda x: (x.counted_at, x.row["id"]))
    for booking in ordered:
        t = booking.tickets
        if booking.row["sale"]:
            sales.add(t.sold, t.sold_amount)
            if booking.row["was_hold"]:
                holds.add(t.sold, t.sold_amount)
        if t.cancelled:
            cancellations.add(t.cancelled, t.cancelled_refund)
        if t.returned:
            returns.add(t.returned, t.returned_refund)
    return ShiftReport(
        clerk=clerk,
        date_from=date_from,
        date_to=date_to,
        sales=sales.tally(),
        holds_confirmed=holds.tally(),
        cancellations=cancellations.tally(),
        returns=returns.tally(),
        payments=PaymentTotals(**{method: till.total() for method, till in tills.items()}),
        net_takings=_money(sales.amount - cancellations.amount - returns.amount),
        bookings=[booking.line() for booking in ordered],
        by_type=[
            ShiftTypeLine(
                ticket_type=name,
                zone=zone,
                tickets_sold=t.sold,
                sold=_money(t.sold_amount),
                tickets_refunded=t.refunded,
                refunded=_money(t.refund),
                net=_money(t.sold_amount - t.refund),
            )
            for (name, zone), t in sorted(
                types.items(), key=lambda item: (item[0][0].casefold(), item[0][1] or "")
            )
            if t.sold or t.refunded
        ],
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
    # Since returns of single tickets: after the columns above, so a sheet reading those
    # by position still reads them.
    "tickets_sold",
    "tickets_cancelled",
    "tickets_returned",
    "refund_methods",
    "returned_by",
)
TYPE_COLUMNS = (
    "ticket_type",
    "zone",
    "tickets_sold",
    "sold",
    "tickets_refunded",
    "refunded",
    "net",
)
_TEXT_COLUMNS = {
    "event_title",
    "customer_name",
    "sold_by",
    "cancelled_by",
    "returned_by",
    "ticket_type",
}


def to_csv(report: ShiftReport) -> str:
    """A line per booking, then the summary, in sections separated by a blank line:

    the bookings (header ``booking_id,...``); the tallies (``summary,count,seats,amount``:
    sales, holds_confirmed, cancellations, returns); the takings per payment method
    (``payment_method,sold,refunded,net``, then ``net_takings``); what the report covers
    (``report,value``: clerk, date_from, date_to); and the sales and refunds per ticket type
    and zone (``ticket_type,zone,...``). The bookings' net column sums to net_takings, and
    so does the types' one.
    """
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(LINE_COLUMNS)
    for line in report.bookings:
        values = line.model_dump()
        w.writerow(_cell(name, values[name]) for name in LINE_COLUMNS)
    w.writerow(())
    w.writerow(("summary", "count", "seats", "amount"))
    for name in ("sales", "holds_confirmed", "cancellations", "returns"):
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
    w.writerow(())
    w.writerow(TYPE_COLUMNS)
    for kind in report.by_type:
        values = kind.model_dump()
        w.writerow(_cell(name, values[name]) for name in TYPE_COLUMNS)
    return out.getvalue()


def _cell(name: str, value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = " ".join(value)
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
