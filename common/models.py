"""Wire models shared by the server, the API client and the TUI.

Request models validate input (the server turns their errors into 422s naming the
field); response models describe what the server sends. Both feed the OpenAPI document.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

Role = Literal["user", "clerk", "admin"]
ROLES: frozenset[Role] = frozenset(get_args(Role))
STAFF_ROLES: frozenset[Role] = frozenset({"clerk", "admin"})  # sell, cancel any booking, check in
BookingStatus = Literal["pending", "confirmed", "cancelled", "expired"]
PaymentMethod = Literal["cash", "card", "other"]

# PostgreSQL integer and bigint bounds: anything outside is a 4xx, never an overflow.
MAX_INT = 2**31 - 1
MAX_ID = 2**63 - 1

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$"),
    Field(description="3 to 64 letters, digits, '.', '_' or '-'"),
]


def _fits_bcrypt(value: str) -> str:
    if len(value.encode()) > 72:
        raise ValueError("must be at most 72 bytes in UTF-8")
    return value


# bcrypt reads at most 72 bytes; anything longer is refused rather than truncated.
Password = Annotated[
    str,
    Field(min_length=8, max_length=72, description="8 to 72 characters (at most 72 bytes)"),
    AfterValidator(_fits_bcrypt),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Text1000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


def _not_bool(value: Any) -> Any:
    # Lax pydantic reads JSON true/false as 1/0; a count or an id is never a boolean.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Seats = Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_not_bool)]
Price = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)]
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_not_bool)]


class Input(BaseModel):
    """Any client input: no text may hold a NUL character, which PostgreSQL cannot store
    (and bcrypt would silently cut a password at)."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class FieldError(BaseModel):
    field: str
    message: str


class Request(Input):
    """Strict about unknown fields, so a typo ("quantiy") is an error, not a default."""

    model_config = ConfigDict(extra="forbid")


class QueryParams(Input):
    """Query strings: unknown parameters (cache busters and the like) are ignored."""

    model_config = ConfigDict(extra="ignore")


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- auth ----------------------------------------------------------------------


class RegisterRequest(Request):
    username: Username
    password: Password


class LoginRequest(Request):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=72), AfterValidator(_fits_bcrypt)]


class RefreshRequest(Request):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class TokenPair(Response):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    role: Role


class User(Response):
    id: int
    username: str
    role: Role
    created_at: datetime
    disabled: bool = Field(
        False, description="a disabled account cannot log in, and its tokens are refused"
    )
    disabled_at: datetime | None = None


class UserCreate(Request):
    username: Username
    password: Password
    role: Role


class UserPatch(Request):
    """What an admin changes about an account; at least one field, each only when given."""

    disabled: StrictBool | None = Field(
        None,
        description="true disables the account (and ends its sessions); false enables it",
    )
    role: Role | None = Field(
        None, description="takes effect on its access tokens within seconds (they get 401)"
    )

    @field_validator("disabled", "role", mode="before")
    @classmethod
    def _given(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the field out to keep it as it is)")
        return value

    @model_validator(mode="after")
    def _something(self) -> UserPatch:
        if not self.model_fields_set:
            raise ValueError("give disabled, role or both")
        return self


class SessionsEnded(Response):
    user_id: int
    sessions_ended: int = Field(description="how many sessions were live and are now ended")


class Unlocked(Response):
    id: int
    username: str
    cleared: int = Field(description="failed-login counts forgotten")


# --- events --------------------------------------------------------------------


def _storable_offset(value: datetime) -> datetime:
    # Python takes offsets up to 23:59; PostgreSQL refuses any past 15:59:59 (no real zone
    # is further than 14:00 from UTC), which would otherwise fail as a 500.
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= timedelta(hours=16):
        raise ValueError("time zone offset must be between -15:59 and +15:59")
    return value


def _readable_year(value: datetime) -> datetime:
    # Stored dates are read back as Python datetimes (years 1 to 9999 in the session's time
    # zone): a year of margin keeps any offset from storing a date that cannot be read back.
    if not 2 <= value.year <= 9998:
        raise ValueError("year must be between 2 and 9998")
    return value


EventDate = Annotated[
    AwareDatetime,
    AfterValidator(_readable_year),
    AfterValidator(_storable_offset),
    Field(description="ISO 8601 with a time zone offset"),
]


class EventCreate(Request):
    """General admission (``total_seats``) or seated on a venue's plan (``venue_id``: the
    plan's current seats are the event's); exactly one of the two."""

    title: Title
    description: Text1000 | None = None
    date: EventDate
    venue: Text255 | None = None
    total_seats: Seats | None = Field(None, description="general admission: how many")
    price: Price
    venue_id: Id | None = Field(None, description="seated on this venue's plan")


class EventPatch(Request):
    """Every field optional: only those given change."""

    title: Title | None = None
    description: Text1000 | None = None
    date: EventDate | None = None
    venue: Text255 | None = None
    total_seats: Seats | None = None
    price: Price | None = None
    venue_id: Id | None = Field(
        None, description="a venue's plan (null: general admission); only while no tickets"
    )


class Event(Response):
    id: int
    title: str
    description: str | None
    date: datetime
    venue: str | None
    total_seats: int
    available_seats: int
    price: Decimal
    version: int = Field(description="increases with every change to the event or its seats")
    checked_in: int = Field(0, description="tickets admitted so far")
    created_at: datetime
    updated_at: datetime
    venue_id: int | None = Field(None, description="seated on this venue; null: general admission")


class EventQuery(QueryParams):
    skip: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    q: Annotated[
        str | None, Field(max_length=100, description="text in title, venue or description")
    ] = None
    date_from: Annotated[AwareDatetime, AfterValidator(_storable_offset)] | None = None
    date_to: Annotated[AwareDatetime, AfterValidator(_storable_offset)] | None = None
    upcoming: bool = Field(False, description="only events that have not started")


# --- bookings ------------------------------------------------------------------


Quantity = Annotated[int, Field(ge=1, le=MAX_INT), BeforeValidator(_not_bool)]
CustomerName = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    Field(description="the walk-in customer's name, for counter sales (staff only)"),
]
_PAID_BY = "how the customer paid (counter sales, staff only): cash, card or other"
_HOLD = (
    "reserve the seats as a pending hold that expires unless confirmed "
    "(POST /bookings/{id}/confirm)"
)


class BookingCreate(Request):
    """A booking: an order of one line of the event's default ticket type."""

    event_id: Id
    quantity: Quantity = 1
    customer_name: CustomerName = None
    payment_method: PaymentMethod | None = Field(None, description=_PAID_BY)
    hold: bool = Field(False, description=_HOLD)


class BookingConfirm(Request):
    payment_method: PaymentMethod | None = None


def _ticket_code(value: str) -> str:
    """Codes are read out and typed in groups ("1A2B 3C4D ..."); spaces and dashes go."""
    return value.replace(" ", "").replace("-", "").upper()


class CheckIn(Request):
    code: Annotated[
        str,
        AfterValidator(_ticket_code),
        StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
        Field(description="the ticket code, as printed or scanned"),
    ]
    gate: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        Field(description="where the ticket is scanned (door, gate)"),
    ] = None


class Booking(Response):
    id: int
    event_id: int
    user_id: int
    quantity: int
    status: BookingStatus
    customer_name: str | None
    created_at: datetime
    updated_at: datetime
    payment_method: PaymentMethod | None = None
    amount: Decimal = Field(
        Decimal(0),
        description="its tickets' prices: what a hold will cost, what a sale was paid "
        "(refunds of returned tickets are on the tickets)",
    )
    expires_at: datetime | None = Field(None, description="when a pending hold lapses")
    ticket_code: str | None = Field(None, description="the ticket's code, once confirmed")
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    checked_in_at: datetime | None = None
    checked_in_gate: str | None = None


TicketStatus = Literal["valid", "admitted", "returned", "cancelled", "expired"]


class Ticket(Response):
    """One admission: a seat of a seated event, or a place at a general-admission one."""

    id: int
    ticket_type_id: int
    ticket_type: str = Field(description="the ticket type's name")
    seat_id: int | None = Field(description="the seat (seated events); null: general admission")
    section: str | None = None
    row: str | None = None
    number: str | None = None
    zone: str | None = None
    price: Decimal
    code: str | None = Field(description="the ticket's own code, once the order is confirmed")
    status: TicketStatus = Field(
        description="valid; admitted; or given back: returned, cancelled (with its order) "
        "or expired (a hold that lapsed)"
    )
    released_at: datetime | None = None
    refund: Decimal | None = Field(None, description="what was paid back for it")
    checked_in_at: datetime | None = None
    checked_in_gate: str | None = None


class BookingResult(Booking):
    """A booking together with its event's seats right after the change."""

    available_seats: int
    event_version: int


# --- orders ------------------------------------------------------------------------
# A booking is an order with one line: /bookings and /orders are two views of one thing.

SeatIds = Annotated[list[Id], Field(min_length=1, max_length=1000)]


class OrderLine(Input):
    """Tickets of one type: a number of them (best available on a seated event) or the
    seats picked on the plan."""

    ticket_type_id: Id | None = Field(None, description="null: the event's default type")
    quantity: Quantity | None = None
    seat_ids: SeatIds | None = Field(None, description="picked seats (seated events)")

    @model_validator(mode="after")
    def _one_way(self) -> OrderLine:
        if (self.quantity is None) == (self.seat_ids is None):
            raise ValueError("give either quantity or seat_ids")
        return self


class BestAvailable(Input):
    count: Quantity | None = Field(
        None, description="seats of the default type, when no line says how many"
    )
    zone: ZoneCode | None = Field(None, description="only this price zone")
    together: bool = Field(True, description="side by side in one row")


class OrderCreate(Request):
    event_id: Id
    lines: list[OrderLine] = Field(default_factory=list, max_length=50)
    best_available: BestAvailable | None = Field(
        None, description="how a seated event's quantity lines get their seats"
    )
    customer_name: CustomerName = None
    payment_method: PaymentMethod | None = Field(None, description=_PAID_BY)
    hold: bool = Field(False, description=_HOLD)

    @model_validator(mode="after")
    def _lines(self) -> OrderCreate:
        count = self.best_available.count if self.best_available else None
        by_quantity = sum(line.quantity or 0 for line in self.lines)
        if count is not None and by_quantity and count != by_quantity:
            raise ValueError(
                f"best_available.count ({count}) differs from the lines' quantities "
                f"({by_quantity}): give one or make them agree"
            )
        if not self.lines and count is None:
            raise ValueError("an order needs at least one line (or best_available.count)")
        seats = [s for line in self.lines for s in line.seat_ids or ()]
        twice = sorted({s for s in seats if seats.count(s) > 1})
        if twice:
            raise ValueError(f"seats picked twice: {', '.join(map(str, twice))}")
        return self

    def resolved_lines(self) -> list[OrderLine]:
        """The lines, with best_available.count as a default-type line when none counts."""
        if self.lines or not self.best_available or self.best_available.count is None:
            return self.lines
        return [OrderLine(quantity=self.best_available.count)]


class OrderLineTotal(Response):
    """Tickets of one type (and zone) in an order."""

    ticket_type_id: int
    ticket_type: str
    zone: str | None
    price: Decimal = Field(description="each")
    quantity: int = Field(description="tickets still held (not given back)")
    returned: int = Field(description="tickets given back")
    amount: Decimal = Field(description="price x quantity")


class Order(Booking):
    """An order with its lines and its tickets."""

    lines: list[OrderLineTotal]
    tickets: list[Ticket]


class OrderResult(Order):
    """A placed order with its event's seats right after it."""

    available_seats: int
    event_version: int


class TicketReturn(Request):
    ticket_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]
    payment_method: PaymentMethod | None = Field(
        None, description="how the refund is paid (staff only; default: as the sale was)"
    )
    override: bool = Field(
        False, description="staff only: return admitted tickets or a started event's"
    )

    @field_validator("ticket_ids")
    @classmethod
    def _once(cls, ids: list[int]) -> list[int]:
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"tickets named twice: {', '.join(map(str, twice))}")
        return ids


class ReturnResult(Order):
    returned: int = Field(description="tickets given back by this return")
    refund: Decimal = Field(description="paid back for them")
    available_seats: int
    event_version: int


class CheckInResult(Response):
    """An admitted ticket."""

    booking: Booking
    event_title: str
    event_checked_in: int = Field(description="tickets of this event admitted so far")
    admitted: int = Field(
        1,
        description="tickets admitted by this scan: one for a ticket's code, every one "
        "not yet in for the order's code",
    )
    tickets: list[Ticket] = Field(default_factory=list, description="the order's tickets")


class PageQuery(QueryParams):
    skip: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class BookingQuery(PageQuery):
    status: BookingStatus | None = None
    customer: Annotated[
        str | None, Field(max_length=100, description="text in the customer's name")
    ] = None


class CancelQuery(QueryParams):
    override: bool = Field(
        False,
        description="staff only: cancel (and refund) a booking whose ticket was already "
        "admitted or whose event has started; the audit record says so",
    )


# --- tickets and reports ---------------------------------------------------------


class TicketQuery(QueryParams):
    token: Annotated[
        str | None,
        Field(
            max_length=4096,
            # URL-safe characters only (JWTs and bo_ tokens are): escaped ones could push
            # the request line past the HTTP parser's 8190 bytes, a plain-text 400.
            pattern=r"^[A-Za-z0-9._~-]+$",
            description="the access token, for a browser that cannot send the Authorization "
            "header (the header is better: a URL is kept in logs and history)",
        ),
    ] = None


PrintWhat = Literal["tickets", "receipt"]


class PrintRequest(Request):
    what: PrintWhat = Field(description="the order's tickets (one per ticket) or its receipt")
    reprint: bool = Field(
        False,
        description="a copy of something printed before (the server says so anyway when it "
        "has recorded a print of it)",
    )


class PrintRecord(Response):
    """A print recorded in the audit log, before anything prints."""

    order_id: int
    what: PrintWhat
    reprint: bool = Field(description="recorded as ticket.reprint")
    printed_before: int = Field(description="earlier prints of this order's tickets or receipt")
    action: Literal["ticket.print", "ticket.reprint"]
    at: datetime


_OFFSET_AS_SPACE = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


def _report_time(value: Any) -> datetime | date:
    """An ISO 8601 date-time with an offset, or a date alone (a whole day)."""
    if isinstance(value, datetime | date):
        parsed = value
    elif isinstance(value, str):
        # An unencoded "+01:00" in a query string arrives as " 01:00".
        text = _OFFSET_AS_SPACE.sub(r"\1+\2", value.strip())
        try:
            parsed = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "must be a date (2025-03-01) or a date-time with an offset "
                "(2025-03-01T18:00:00+01:00)"
            ) from None
    else:
        raise ValueError("must be a date or a date-time")
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        raise ValueError("needs a time zone offset, as in 2025-03-01T18:00:00+01:00")
    if not 2 <= parsed.year <= 9998:
        raise ValueError("year must be between 2 and 9998")
    return _storable_offset(parsed) if isinstance(parsed, datetime) else parsed


ReportTime = Annotated[
    datetime | date,
    PlainValidator(_report_time),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ]
        }
    ),
]


class ShiftQuery(QueryParams):
    clerk: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="whose shift (a username); clerks may name only themselves. "
            "Omitted: the caller's own, or for admins every staff member's",
        ),
    ] = None
    date_from: ReportTime | None = Field(
        None,
        description="start (inclusive): a date-time with an offset, or a date meaning its "
        "00:00 in the server's time zone. Default: 12 hours before date_to",
    )
    date_to: ReportTime | None = Field(
        None,
        description="end (exclusive): a date-time with an offset, or a date meaning the end "
        "of that day in the server's time zone. Default: now",
    )
    format: Literal["json", "csv"] | None = Field(
        None, description="csv for a spreadsheet (also chosen by Accept: text/csv)"
    )


# How a refund was paid: as the sale, unless the return named a method; unrecorded when the
# sale recorded none.
ReportedMethod = Literal["cash", "card", "other", "unrecorded"]


class Tally(Response):
    count: int = Field(description="bookings")
    seats: int = Field(description="tickets")
    amount: Decimal


class PaymentTotal(Response):
    sold: Decimal = Field(description="taken for sales")
    refunded: Decimal = Field(
        description="given back for tickets of sales cancelled or returned, by how the refund "
        "was paid"
    )
    net: Decimal = Field(description="sold less refunded")


class PaymentTotals(Response):
    cash: PaymentTotal
    card: PaymentTotal
    other: PaymentTotal
    unrecorded: PaymentTotal = Field(description="sales made without a payment method")


class ShiftLine(Response):
    """One booking a shift report covers: sold, cancelled or both within the period."""

    booking_id: int
    event_id: int
    event_title: str
    event_date: datetime
    customer_name: str | None
    quantity: int
    status: BookingStatus = Field(description="the booking's status now")
    payment_method: PaymentMethod | None
    amount: Decimal
    sold_by: str = Field(
        description="the account that made the sale: the seller, or whoever confirmed the hold"
    )
    confirmed_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    sale: bool = Field(description="counted as a sale: confirmed within the period")
    cancellation: bool = Field(description="counted as a cancellation made within the period")
    sold: Decimal = Field(description="amount taken within the period")
    refunded: Decimal = Field(description="amount given back within the period")
    net: Decimal = Field(description="sold less refunded")
    tickets_sold: int = Field(
        description="tickets of the sale counted in the period, those returned later included"
    )
    tickets_cancelled: int = Field(description="tickets given back by a cancellation in the period")
    tickets_returned: int = Field(
        description="tickets returned on their own (POST /orders/{id}/returns) in the period"
    )
    refund_methods: list[ReportedMethod] = Field(
        description="how the period's refunds of this booking were paid"
    )
    returned_by: list[str] = Field(description="who returned the period's returned tickets")
    counted_at: datetime = Field(
        description="when the report first counts it (sold, or a ticket given back): the "
        "lines' order"
    )


class ShiftTypeLine(Response):
    """A ticket type in a zone: what the period sold of it and refunded."""

    ticket_type: str = Field(description="the type's name (types of every event by that name)")
    zone: str | None = Field(description="the seats' zone; null for general admission")
    tickets_sold: int
    sold: Decimal = Field(description="the tickets sold, at their prices")
    tickets_refunded: int = Field(description="tickets cancelled or returned with a refund")
    refunded: Decimal
    net: Decimal = Field(description="sold less refunded")


class ShiftReport(Response):
    """What a clerk (or all staff) sold, confirmed and cancelled in a period, and the takings."""

    clerk: str | None = Field(description="whose report; null for all staff")
    date_from: datetime = Field(description="start of the period (inclusive)")
    date_to: datetime = Field(description="end of the period (exclusive)")
    sales: Tally = Field(
        description="sales the clerk made in the period: bookings sold outright, and holds "
        "the clerk confirmed (whoever made the hold); a sale later cancelled still counts "
        "here and as a cancellation"
    )
    holds_confirmed: Tally = Field(description="the sales that were holds first")
    cancellations: Tally = Field(
        description="cancellations made by the clerk in the period; amount is what was "
        "refunded (cancelling an unpaid hold refunds nothing), seats the tickets they gave back"
    )
    returns: Tally = Field(
        description="orders the clerk returned tickets of in the period (some or all of an "
        "order's tickets, POST /orders/{id}/returns); seats are the tickets, amount the refunds"
    )
    payments: PaymentTotals
    net_takings: Decimal = Field(description="sales less refunds (cancellations and returns)")
    bookings: list[ShiftLine]
    by_type: list[ShiftTypeLine] = Field(
        description="the period's sales and refunds per ticket type and zone"
    )


# --- audit log -----------------------------------------------------------------


class AuditQuery(PageQuery):
    """Filters of GET /audit: each one given narrows the records; none lists them all."""

    event_id: Id | None = Field(None, description="records about this event")
    booking_id: Id | None = Field(None, description="records about this booking")
    user_id: Id | None = Field(
        None, description="records about this account (user_id) or made by it (actor_id)"
    )
    actor_id: Id | None = Field(None, description="records made by this account")
    action: Annotated[
        str | None,
        StringConstraints(max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)?$"),
        Field(description="an action (booking.cancel) or every action of a kind (booking)"),
    ] = None


class AuditRecord(Response):
    """One state change: who, when, from where, what."""

    id: int
    at: datetime
    actor_id: int | None = Field(description="the account that acted; null for system, cli")
    actor: str = Field(description="its username, or 'system' or 'cli'")
    source: str = Field(description="the client's address (or where a system change ran)")
    action: str = Field(
        description="booking.create, booking.hold, booking.confirm, booking.cancel, "
        "booking.return, booking.expire, ticket.check_in, event.create, event.update, "
        "event.delete, user.create, ..."
    )
    event_id: int | None
    booking_id: int | None
    user_id: int | None = Field(
        description="the account acted upon: the user changed, or the owner of the booking"
    )
    details: dict[str, Any] = Field(
        description="what changed; event.update has before and after of the changed fields"
    )


# --- integration API tokens ------------------------------------------------------


class TokenCreate(Request):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        Field(description="who or what uses the token, e.g. the partner's name"),
    ]
    role: Role = Field(description="what the token may do, as an account of this role")


class ApiToken(Response):
    """An integration token as listed: never its secret."""

    id: int
    name: str
    role: Role
    user_id: int = Field(description="the token's own account: its bookings are this user's")
    created_by: int | None
    created_at: datetime
    last_used_at: datetime | None = Field(description="updated at most about once a minute")
    revoked_at: datetime | None


class IssuedToken(ApiToken):
    token: str | None = Field(
        description="the secret, shown only this once: send it as 'Authorization: Bearer "
        "<token>'. Only its hash is kept. null in the replay of an Idempotency-Key retry."
    )


# --- webhooks ---------------------------------------------------------------------

# What an endpoint may subscribe to (a "ping" is sent to every new endpoint regardless).
WebhookType = Literal[
    "order.created",
    "order.confirmed",
    "order.cancelled",
    "order.returned",
    "hold.expired",
    "ticket.checked_in",
    "event.created",
    "event.updated",
    "event.deleted",
]
WEBHOOK_TYPES: tuple[str, ...] = get_args(WebhookType)
WebhookStatus = Literal["active", "paused", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


def _webhook_url(url: str) -> str:
    """http(s) only, a host, no credentials: the URL rules of docs/webhooks.md."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@): the signature is the proof")
    try:
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if not parts.hostname or port == 0 or any(c.isspace() for c in url):
        raise ValueError("must name a host, with no spaces")
    return url


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_webhook_url),
    Field(description="where to POST: http(s), no credentials in it"),
]
WebhookEvents = Annotated[
    list[WebhookType],
    Field(min_length=1, max_length=len(WEBHOOK_TYPES), description="the types to send"),
    AfterValidator(lambda types: list(dict.fromkeys(types))),
]
WebhookDescription = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class WebhookCreate(Request):
    url: WebhookUrl
    events: WebhookEvents
    description: WebhookDescription = ""


class WebhookPatch(Request):
    """Every field optional: only those given change. status "paused" keeps queueing
    deliveries without sending them; "active" resumes (a disabled endpoint too)."""

    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    description: WebhookDescription | None = None
    status: Literal["active", "paused"] | None = None


class Webhook(Response):
    """An endpoint as listed: never its secret."""

    id: int
    url: str
    description: str
    events: list[str]
    status: WebhookStatus = Field(
        description="active; paused by an admin; disabled after failing for a day"
    )
    failing_since: datetime | None = Field(description="first failure since the last success")
    disabled_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class CreatedWebhook(Webhook):
    secret: str | None = Field(
        description="the signing secret, shown only this once (null in an Idempotency-Key "
        "replay): verify Boxoffice-Webhook-Signature with it"
    )


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None


class WebhookDelivery(Response):
    id: int
    delivery_id: str = Field(description="the Boxoffice-Webhook-Id header: drop duplicates by it")
    endpoint_id: int
    event_type: str
    subject: str | None = Field(description="'order:12' or 'event:7': sent in order per subject")
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_at: datetime = Field(description="when pending: the next attempt")
    created_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="the last answer's HTTP status")
    last_error: str | None
    delivered_at: datetime | None

    @field_validator("delivery_id", mode="before")
    @classmethod
    def _uuid_text(cls, value: Any) -> Any:
        return str(value) if value is not None else value


# --- live updates (the /api/v1/ws websocket) ----------------------------------------

CHANNEL = "boxoffice_events"

LiveType = Literal["snapshot", "seats", "created", "updated", "deleted"]


class Subscribe(Request):
    """Client to server: start receiving an event's changes (a snapshot of each comes first)."""

    type: Literal["subscribe"]
    events: list[Id] | Literal["all"] = Field(
        description='event ids, or "all" for every event including ones created later'
    )


class Unsubscribe(Request):
    type: Literal["unsubscribe"]
    events: list[Id] | Literal["all"]


class Reauthenticate(Request):
    """Client to server: a fresh access token, sent before the current one expires."""

    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class Ping(Request):
    type: Literal["ping"]


class LiveEvent(Response):
    """Server to client: the state of one event after a change.

    Every message about an event carries its version; apply a message only if its version
    is higher than the one you have. A slow client may be sent only the latest state of an
    event, never a stale one.
    """

    type: LiveType = Field(
        description="snapshot (on subscribe or after a resync), seats (booked, cancelled, "
        "held, expired or capacity changed), created, updated, deleted"
    )
    event_id: int
    version: int
    event: Event | None = Field(description="the event as it is now; null when deleted")
    reason: Literal["subscribe", "resync"] | None = Field(
        None, description="why a snapshot was sent"
    )


class Hello(Response):
    """Server to client, first message: who you are and when your token expires."""

    type: Literal["hello"] = "hello"
    user: str
    role: Role
    token_expires_at: int | None = Field(
        description="Unix time; send an auth message before it. Null for an API token, "
        "which does not expire (the connection closes with 4401 if it is revoked)"
    )
    heartbeat: float = Field(description="seconds between the server's pings")


class Subscribed(Response):
    type: Literal["subscribed", "unsubscribed"]
    events: list[int] | Literal["all"]
    missing: list[int] = Field(default_factory=list, description="ids that match no event")


class Pong(Response):
    type: Literal["pong"] = "pong"


class LiveError(Response):
    """Server to client: a message was not understood; the connection stays open."""

    type: Literal["error"] = "error"
    message: str
    errors: list[FieldError] = Field(default_factory=list)


# --- venues and seating plans (docs/venues.md) -------------------------------------

# The most seats one plan may hold: an arena is 10,000 to 20,000; past this it is a mistake.
MAX_PLAN_SEATS = 100_000
# Grid offsets (section origin, row start and row y) stay small enough to add safely.
GridOffset = Annotated[int, Field(ge=0, le=100_000), BeforeValidator(_not_bool)]
ZoneCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9]{1,8}$"),
    Field(description="1 to 8 letters or digits"),
]
RowLabel = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9]{1,8}$"),
    Field(description="1 to 8 letters or digits"),
]
SectionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
# A seat list: comma-separated labels ("7"), ranges ("1-14", "14-1", "1-13/2" for odd
# numbers) and, in a row's seats only, "_" for a gap of one position (an aisle).
SeatList = Annotated[str, StringConstraints(max_length=4000)]


class Zone(Request):
    code: ZoneCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    rank: Annotated[int, Field(ge=1, le=1000, description="best-available prefers rank 1")] = 1


class PlanRow(Request):
    """One row of seats: its label, where it starts and the seats left to right."""

    row: RowLabel
    y: GridOffset = Field(description="the row's grid line, from the section's origin")
    x: GridOffset = Field(0, description="the first position, from the section's origin")
    seats: SeatList = Field(description='left to right, e.g. "1-6, _, _, 7-14"')
    zone: ZoneCode | None = Field(None, description="default: the section's zone")
    zone_seats: dict[ZoneCode, SeatList] | None = Field(
        None, description='seats in another zone than the row\'s, e.g. {"C": "1,2,13,14"}'
    )
    wheelchair: SeatList | None = Field(None, description='wheelchair spaces, e.g. "1,2"')
    companion: SeatList | None = Field(None, description="companion seats")
    restricted: SeatList | None = Field(None, description='restricted view ("*": whole row)')


class PlanSection(Request):
    name: SectionName
    x: GridOffset = Field(0, description="the section's origin on the venue's grid")
    y: GridOffset = 0
    zone: ZoneCode | None = Field(None, description="the zone of rows that name none")
    rows: list[PlanRow] = Field(default_factory=list, max_length=MAX_PLAN_SEATS)


class VenuePlan(Request):
    """A venue with its seating plan in the compact form (what import takes and export
    gives back)."""

    name: Title
    address: Text255 | None = None
    description: Text1000 | None = None
    zones: list[Zone] = Field(default_factory=list, max_length=100)
    sections: list[PlanSection] = Field(default_factory=list, max_length=MAX_PLAN_SEATS)


class Venue(Response):
    id: int
    name: str
    address: str | None
    description: str | None
    version: int = Field(description="increases with every change to the venue or its plan")
    seat_count: int = Field(description="the plan's current seats")
    created_at: datetime
    updated_at: datetime


class VenueDetail(Venue):
    plan: VenuePlan = Field(description="the plan in the compact form: PUT takes it back")


class VenueSeats(Response):
    """The plan's current seats, one array per column (index i of each is one seat)."""

    venue_id: int
    version: int
    id: list[int]
    section: list[str]
    row: list[str]
    number: list[str]
    x: list[int]
    y: list[int]
    zone: list[str]
    wheelchair: list[int] = Field(description="ids of the wheelchair spaces")
    companion: list[int] = Field(description="ids of the companion seats")
    restricted_view: list[int] = Field(description="ids of the seats with a restricted view")
    zones: list[Zone]


# --- seat maps of seated events (docs/live.md#seat-maps) ---------------------------

SeatState = Literal["free", "held", "sold"]
SeatRuns = Annotated[
    list[tuple[int, int]],
    Field(description="seat ids ascending, as inclusive runs [first, last]"),
]


class SeatCounts(Response):
    free: int
    held: int
    sold: int


class SeatStates(Response):
    """A seated event's seat states, compact: GET /events/{id}/seats, and the live
    snapshot. ``states`` has a letter per seat of ``seat_ids`` (in that order), each
    followed by how many times it repeats when more than once: "f12s2hf3" is 12 free, 2
    sold, 1 held, 3 free. common/seatmap.py reads it (``SeatMap``)."""

    event_id: int
    venue_id: int
    version: int = Field(description="the event's version these states are current at")
    seat_ids: SeatRuns
    states: str = Field(description="f free, h held, s sold; a count after a letter repeats it")
    counts: SeatCounts


class LiveSeatMap(SeatStates):
    """Server to client: a seated event's whole seat map (the form of GET
    /events/{id}/seats). Sent after subscribing to the event by id, after a resync, and
    instead of changes bigger than the map."""

    type: Literal["seat_map"] = "seat_map"
    reason: Literal["subscribe", "resync", "catch_up"] = Field(
        description="subscribe; resync (the server read the seats again: a reconnection "
        "or a change too big to hear); catch_up (more changed than the map's size)"
    )


class LiveSeatChanges(Response):
    """Server to client: the seats of a seated event that changed after version ``since``
    up to ``version``, each in its latest state. Apply it to a map at a version v with
    since <= v < version; a map older than ``since`` missed changes (never sent so by the
    server: subscribe again)."""

    type: Literal["seat_changes"] = "seat_changes"
    event_id: int
    since: int
    version: int
    free: SeatRuns = Field(default_factory=list)
    held: SeatRuns = Field(default_factory=list)
    sold: SeatRuns = Field(default_factory=list)
    counts: SeatCounts = Field(description="the event's seats in each state at ``version``")


# --- ticket types (docs/ticket-types.md) ----------------------------------------------------

TypeName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Quota = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(_not_bool)]
Position = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(_not_bool)]
ZonePrices = Annotated[
    dict[ZoneCode, Price],
    Field(max_length=100, description='a seated event\'s price per zone: {"A": "60.00"}'),
]


class TicketTypeCreate(Request):
    name: TypeName = Field(description="unique in the event, whatever the case")
    price: Price | None = Field(None, description="null: the event's price")
    zone_prices: ZonePrices = Field(default_factory=dict)
    quota: Quota | None = Field(None, description="tickets of this type at most; null: no limit")
    on_sale: StrictBool = True
    staff_only: StrictBool = Field(False, description="complimentary and house seats: staff only")
    position: Position | None = Field(None, description="display order; default: last")


class TicketTypePatch(Request):
    """Only the fields given change; price and quota may be null (the event's price, no
    limit)."""

    name: TypeName | None = None
    price: Price | None = None
    zone_prices: ZonePrices | None = None
    quota: Quota | None = None
    on_sale: StrictBool | None = None
    staff_only: StrictBool | None = None
    position: Position | None = None


class TicketType(Response):
    id: int
    event_id: int
    name: str
    price: Decimal | None = Field(description="null: the event's price")
    zone_prices: dict[str, Decimal] = Field(description="per zone; a zone not named: price")
    quota: int | None
    sold: int | None = Field(description="active tickets under the quota; null without one")
    on_sale: bool
    staff_only: bool
    is_default: bool = Field(description="what a booking without a type is sold as")
    position: int
    created_at: datetime
    updated_at: datetime


class EventDetail(Event):
    """One event with its ticket types (staff-only ones for staff only)."""

    ticket_types: list[TicketType]


# --- sales for the admins' dashboards (server/sales.py) -------------------------------------


class ZoneSales(Response):
    """A seated event's seats of one price zone, by state, and what its sold seats took."""

    event_id: int
    zone: str
    name: str | None = Field(description="the zone's name in the venue's plan")
    seats: int
    free: int
    held: int
    sold: int
    takings: Decimal = Field(description="the zone's sold tickets, at the prices they sold at")


class TypeSales(Response):
    """The active tickets of one ticket type: held (awaiting payment) and sold."""

    ticket_type_id: int
    name: str
    held: int
    sold: int
    takings: Decimal


class EventSales(Response):
    """What an event has sold now, per zone (seated events) and per ticket type."""

    event_id: int
    version: int = Field(description="the event's version when read")
    seats: int
    free: int
    held: int
    sold: int
    takings: Decimal = Field(description="every sold ticket, at the price it sold at")
    zones: list[ZoneSales] = Field(description="empty for a general-admission event")
    types: list[TypeSales] = Field(description="only types with active tickets")


class ZoneQuery(QueryParams):
    event_id: Id | None = Field(None, description="one event; default: every seated event")


class RecentSalesQuery(QueryParams):
    minutes: Annotated[int, Field(ge=1, le=60)] = 5
    bucket_seconds: Annotated[int, Field(ge=1, le=3600)] = 60


class RecentSales(Response):
    """Tickets made (held or sold, whatever became of them) per bucket of time, oldest
    first, ending with the bucket now running."""

    bucket_seconds: int
    first_bucket: int = Field(description="the first bucket's number: epoch seconds // size")
    tickets: list[int]


# --- meta ----------------------------------------------------------------------


class Health(Response):
    name: str
    version: str
    status: str


def envelope_schema(data: dict[str, Any]) -> dict[str, Any]:
    """JSON schema of the response envelope around ``data``."""
    return {
        "type": "object",
        "required": ["code", "message", "status", "data"],
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "status": {"type": "string", "enum": ["success", "error"]},
            "data": data,
        },
    }
