"""A typed asynchronous client for the Boxoffice API, REST and live updates.

    async with Client("http://localhost:8080") as api:
        await api.login("clerk", "clerk-demo")
        events = await api.events(upcoming=True)
        booking = await api.book(events[0].id, quantity=2, customer_name="Ann")
        async for update in api.live("all"):
            ...

Errors come as ``ApiError`` (the server's status, message and field errors) or
``Unreachable`` (no answer at all). An expired access token is refreshed inside the
client, once, and the request retried; the TUI and third parties use the same client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypedDict, TypeVar, Unpack

import aiohttp
from pydantic import BaseModel, TypeAdapter

from .models import (
    AuditRecord,
    Booking,
    BookingResult,
    BookingStatus,
    CheckInResult,
    CreatedWebhook,
    Event,
    EventCreate,
    EventDetail,
    EventPatch,
    EventSales,
    FieldError,
    LiveEvent,
    LiveSeatChanges,
    LiveSeatMap,
    Order,
    OrderCreate,
    OrderResult,
    PaymentMethod,
    PrintRecord,
    PrintWhat,
    RecentSales,
    ReturnResult,
    Role,
    SeatStates,
    SessionsEnded,
    ShiftReport,
    TicketType,
    TicketTypeCreate,
    TicketTypePatch,
    TokenPair,
    User,
    Venue,
    VenueDetail,
    VenuePlan,
    VenueSeats,
    Webhook,
    WebhookCreate,
    WebhookDelivery,
    WebhookPatch,
    ZoneSales,
)

M = TypeVar("M", bound=BaseModel)
API = "/api/v1"


class ClientError(Exception):
    """Anything that went wrong talking to the server; ``message`` says what, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(ClientError):
    """The server did not answer (down, wrong address, network)."""


class ApiError(ClientError):
    """The server answered with an error envelope."""

    def __init__(self, status: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.data = data
        raw = data.get("errors", []) if isinstance(data, dict) else []
        self.errors = [FieldError.model_validate(e) for e in raw]

    @property
    def fields(self) -> dict[str, str]:
        """Field name -> what is wrong with it."""
        return {e.field: e.message for e in self.errors}

    @property
    def retry_after(self) -> int | None:
        if isinstance(self.data, dict) and "retry_after" in self.data:
            return int(self.data["retry_after"])
        return None


class BookingFilters(TypedDict, total=False):
    status: BookingStatus
    customer: str
    """text in the customer's name"""
    skip: int
    limit: int


@dataclass(frozen=True)
class Connection:
    """A change in the state of a live feed: yielded between ``LiveEvent`` items."""

    connected: bool
    reason: str = ""


class Client:
    def __init__(
        self, base_url: str, *, timeout: float = 10.0, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None
        self.tokens: TokenPair | None = None
        self.username: str | None = None
        self._expires_at = 0.0
        self._refreshing = asyncio.Lock()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    @property
    def role(self) -> Role | None:
        return self.tokens.role if self.tokens else None

    # --- the wire ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        raw: bool = False,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send a request and return the envelope's data, refreshing the token once.

        With ``raw`` a successful answer that is not JSON (a CSV download, say) comes back
        as text; errors are envelopes all the same. With ``idempotency_key`` a retry of a
        change whose answer was lost gets the first answer back instead of doing it again."""
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if auth and self.tokens and time.time() > self._expires_at - 30:
            await self._refresh_unless_replaced(self.tokens.access_token)
        used = self.tokens.access_token if self.tokens else None
        send = functools.partial(
            self._send, method, path, body=json, params=params, auth=auth, raw=raw, headers=extra
        )
        try:
            return await send()
        except ApiError as exc:
            if exc.status != 401 or not auth or used is None:
                raise
            await self._refresh_unless_replaced(used)
            return await send()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        raw: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request, as it is: no refresh (``request`` refreshes and retries)."""
        headers = dict(headers or {})
        if auth and self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens.access_token}"
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self.session.request(
                method, self.base_url + path, json=body, params=query, headers=headers
            ) as resp:
                if raw and resp.status < 400 and resp.content_type != "application/json":
                    return await resp.text()
                try:
                    envelope = await resp.json(content_type=None)
                except ValueError:
                    raise ApiError(resp.status, f"unexpected answer ({resp.reason})") from None
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise Unreachable(f"cannot reach {self.base_url}: {exc or type(exc).__name__}") from exc
        if not isinstance(envelope, dict) or "status" not in envelope:
            raise ApiError(resp.status, "unexpected answer (not an API envelope)")
        if envelope["status"] != "success":
            raise ApiError(
                envelope.get("code", resp.status), envelope.get("message", ""), envelope.get("data")
            )
        return envelope.get("data")

    async def _get(self, path: str, model: type[M], **params: Any) -> M:
        return model.model_validate(await self.request("GET", path, params=params))

    async def _list(self, path: str, model: type[M], **params: Any) -> list[M]:
        return TypeAdapter(list[model]).validate_python(  # type: ignore[valid-type]
            await self.request("GET", path, params=params)
        )

    # --- auth --------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> TokenPair:
        data = await self.request(
            "POST",
            f"{API}/auth/login",
            json={"username": username, "password": password},
            auth=False,
        )
        self._keep(TokenPair.model_validate(data))
        self.username = username
        return self.tokens  # type: ignore[return-value]

    async def refresh(self) -> TokenPair:
        """New tokens for the current session."""
        return await self._refresh_unless_replaced(None)

    async def _refresh_unless_replaced(self, stale: str | None) -> TokenPair:
        """Refresh, one request at a time; skip it if another request already replaced the
        ``stale`` access token while this one waited."""
        async with self._refreshing:
            if self.tokens is None:
                raise ApiError(401, "Not logged in")
            if stale is not None and self.tokens.access_token != stale:
                return self.tokens
            data = await self._send(
                "POST",
                f"{API}/auth/refresh",
                body={"refresh_token": self.tokens.refresh_token},
                auth=False,
            )
            self._keep(TokenPair.model_validate(data))
            return self.tokens  # type: ignore[return-value]

    async def logout(self) -> None:
        if self.tokens is not None:
            with contextlib.suppress(ApiError):
                await self._send(
                    "POST",
                    f"{API}/auth/logout",
                    body={"refresh_token": self.tokens.refresh_token},
                    auth=False,
                )
        self.tokens = None
        self.username = None

    async def register(self, username: str, password: str) -> User:
        data = await self.request(
            "POST",
            f"{API}/auth/register",
            json={"username": username, "password": password},
            auth=False,
        )
        return User.model_validate(data)

    async def me(self) -> User:
        return await self._get(f"{API}/auth/me", User)

    def _keep(self, tokens: TokenPair) -> None:
        self.tokens = tokens
        self._expires_at = time.time() + tokens.expires_in

    # --- users -------------------------------------------------------------------------

    async def create_user(self, username: str, password: str, role: Role) -> User:
        body = {"username": username, "password": password, "role": role}
        return User.model_validate(await self.request("POST", f"{API}/users", json=body))

    async def users(self, *, skip: int = 0, limit: int = 100) -> list[User]:
        return await self._list(f"{API}/users", User, skip=skip, limit=limit)

    async def update_user(
        self, user_id: int, *, disabled: bool | None = None, role: Role | None = None
    ) -> User:
        """Disable (``disabled=True``) or enable an account, or change its role; what is
        left None stays as it is. Disabling also ends its sessions."""
        body: dict[str, Any] = {}
        if disabled is not None:
            body["disabled"] = disabled
        if role is not None:
            body["role"] = role
        return User.model_validate(await self.request("PATCH", f"{API}/users/{user_id}", json=body))

    async def end_sessions(self, user_id: int) -> int:
        """Log an account out everywhere: its refresh and access tokens stop working.
        Answers how many sessions were live."""
        data = await self.request("DELETE", f"{API}/users/{user_id}/sessions")
        return SessionsEnded.model_validate(data).sessions_ended

    # --- events ------------------------------------------------------------------------

    async def events(
        self,
        *,
        q: str | None = None,
        upcoming: bool = False,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> list[Event]:
        return await self._list(
            f"{API}/events",
            Event,
            q=q or None,
            upcoming=upcoming,
            date_from=date_from,
            date_to=date_to,
            skip=skip,
            limit=limit,
        )

    async def available_events(self, *, skip: int = 0, limit: int = 100) -> list[Event]:
        return await self._list(f"{API}/events/available", Event, skip=skip, limit=limit)

    async def event(self, event_id: int) -> EventDetail:
        """The event with its ticket types (staff-only ones when logged in as staff)."""
        return await self._get(f"{API}/events/{event_id}", EventDetail)

    async def create_event(self, event: EventCreate) -> Event:
        """General admission (total_seats) or seated on a venue's plan (venue_id)."""
        body = event.model_dump(mode="json", exclude_none=True)
        data = await self.request("POST", f"{API}/events", json=body)
        return Event.model_validate(data)

    async def update_event(self, event_id: int, changes: EventPatch) -> Event:
        body = changes.model_dump(mode="json", exclude_unset=True)
        data = await self.request("PATCH", f"{API}/events/{event_id}", json=body)
        return Event.model_validate(data)

    async def delete_event(self, event_id: int) -> None:
        await self.request("DELETE", f"{API}/events/{event_id}")

    # --- ticket types ---------------------------------------------------------------------

    async def ticket_types(self, event_id: int) -> list[TicketType]:
        """The event's types in display order (staff-only ones when logged in as staff)."""
        return await self._list(f"{API}/events/{event_id}/ticket-types", TicketType)

    async def create_ticket_type(self, event_id: int, body: TicketTypeCreate) -> TicketType:
        data = await self.request(
            "POST", f"{API}/events/{event_id}/ticket-types", json=body.model_dump(mode="json")
        )
        return TicketType.model_validate(data)

    async def update_ticket_type(
        self, event_id: int, type_id: int, changes: TicketTypePatch
    ) -> TicketType:
        body = changes.model_dump(mode="json", exclude_unset=True)
        path = f"{API}/events/{event_id}/ticket-types/{type_id}"
        return TicketType.model_validate(await self.request("PATCH", path, json=body))

    async def delete_ticket_type(self, event_id: int, type_id: int) -> None:
        """The default type, and a type tickets were sold as, cannot go: a 409."""
        await self.request("DELETE", f"{API}/events/{event_id}/ticket-types/{type_id}")

    # --- venues and seating plans --------------------------------------------------------

    async def venues(self) -> list[Venue]:
        return await self._list(f"{API}/venues", Venue)

    async def venue(self, venue_id: int) -> VenueDetail:
        """The venue with its plan in the compact form (what ``replace_venue`` takes)."""
        return await self._get(f"{API}/venues/{venue_id}", VenueDetail)

    async def venue_seats(self, venue_id: int) -> VenueSeats:
        return await self._get(f"{API}/venues/{venue_id}/seats", VenueSeats)

    async def create_venue(self, plan: VenuePlan, *, idempotency_key: str | None = None) -> Venue:
        body = plan.model_dump(mode="json", exclude_none=True)
        data = await self.request(
            "POST", f"{API}/venues", json=body, idempotency_key=idempotency_key
        )
        return Venue.model_validate(data)

    async def replace_venue(
        self, venue_id: int, plan: VenuePlan, *, idempotency_key: str | None = None
    ) -> Venue:
        """Replace the plan: seats keep their ids by label, removed ones are retired."""
        body = plan.model_dump(mode="json", exclude_none=True)
        data = await self.request(
            "PUT", f"{API}/venues/{venue_id}", json=body, idempotency_key=idempotency_key
        )
        return Venue.model_validate(data)

    async def delete_venue(self, venue_id: int) -> None:
        await self.request("DELETE", f"{API}/venues/{venue_id}")

    # --- bookings ----------------------------------------------------------------------

    async def book(
        self,
        event_id: int,
        quantity: int = 1,
        customer_name: str | None = None,
        *,
        payment_method: PaymentMethod | None = None,
        hold: bool = False,
        idempotency_key: str | None = None,
    ) -> BookingResult:
        """Book seats; with ``hold`` they are held as a pending booking that lapses unless
        ``confirm``ed before its ``expires_at``. Retrying with the same ``idempotency_key``
        never books twice."""
        body: dict[str, Any] = {"event_id": event_id, "quantity": quantity}
        if customer_name:
            body["customer_name"] = customer_name
        if payment_method:
            body["payment_method"] = payment_method
        if hold:
            body["hold"] = True
        data = await self.request(
            "POST", f"{API}/bookings", json=body, idempotency_key=idempotency_key
        )
        return BookingResult.model_validate(data)

    async def confirm(
        self,
        booking_id: int,
        payment_method: PaymentMethod | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Booking:
        """Confirm a hold (a 409 ``ApiError`` when it has lapsed): it gets its ticket. A
        retry with the same ``idempotency_key`` gets the first answer again, not a 409."""
        body = {"payment_method": payment_method} if payment_method else {}
        data = await self.request(
            "POST",
            f"{API}/bookings/{booking_id}/confirm",
            json=body,
            idempotency_key=idempotency_key,
        )
        return Booking.model_validate(data)

    async def cancel(
        self, booking_id: int, *, override: bool = False, idempotency_key: str | None = None
    ) -> BookingResult:
        """Cancel a booking or a hold; its seats return. A booking whose ticket was admitted
        or whose event has started is a 409 unless staff ``override`` (audited). A retry
        with the same ``idempotency_key`` gets the first answer again, not a 409."""
        data = await self.request(
            "DELETE",
            f"{API}/bookings/{booking_id}",
            params={"override": True} if override else None,
            idempotency_key=idempotency_key,
        )
        return BookingResult.model_validate(data)

    async def booking(self, booking_id: int) -> Booking:
        return await self._get(f"{API}/bookings/{booking_id}", Booking)

    async def bookings(self, **filters: Unpack[BookingFilters]) -> list[Booking]:
        """Your own bookings (for staff: the sales you made)."""
        return await self._list(f"{API}/bookings", Booking, **filters)

    async def all_bookings(self, **filters: Unpack[BookingFilters]) -> list[Booking]:
        return await self._list(f"{API}/bookings/all", Booking, **filters)

    async def event_bookings(
        self, event_id: int, **filters: Unpack[BookingFilters]
    ) -> list[Booking]:
        return await self._list(f"{API}/bookings/event/{event_id}", Booking, **filters)

    # --- orders ------------------------------------------------------------------------

    async def place_order(
        self, order: OrderCreate, *, idempotency_key: str | None = None
    ) -> OrderResult:
        """Place an order, all or nothing: several ticket types, picked seats or the best
        available. A refusal is an ``ApiError``: 409 with the taken seats' ids in
        ``data["seat_ids"]`` (or ``largest_block``, ``available_seats``, a type's ``left``),
        422 naming the field at fault, 403 for a staff-only type."""
        data = await self.request(
            "POST",
            f"{API}/orders",
            json=order.model_dump(mode="json", exclude_defaults=True),
            idempotency_key=idempotency_key,
        )
        return OrderResult.model_validate(data)

    async def order(self, order_id: int) -> Order:
        """An order with its lines and tickets (an order's id is its booking's)."""
        return await self._get(f"{API}/orders/{order_id}", Order)

    async def return_tickets(
        self,
        order_id: int,
        ticket_ids: list[int],
        *,
        payment_method: PaymentMethod | None = None,
        override: bool = False,
        idempotency_key: str | None = None,
    ) -> ReturnResult:
        """Give back some tickets of an order (every one still held cancels it); a sale's
        are refunded at their price, by ``payment_method`` (staff) or as it was paid."""
        body: dict[str, Any] = {"ticket_ids": ticket_ids}
        if payment_method:
            body["payment_method"] = payment_method
        if override:
            body["override"] = True
        data = await self.request(
            "POST",
            f"{API}/orders/{order_id}/returns",
            json=body,
            idempotency_key=idempotency_key,
        )
        return ReturnResult.model_validate(data)

    async def record_print(
        self, order_id: int, what: PrintWhat, *, reprint: bool = False
    ) -> PrintRecord:
        """Record (staff) that an order's tickets or receipt are about to be printed: the
        audit log's ``ticket.print``, or ``ticket.reprint`` for a copy (the server also
        calls it a reprint when it recorded a print of it before). A 409 for tickets of an
        order that is not confirmed."""
        data = await self.request(
            "POST", f"{API}/orders/{order_id}/prints", json={"what": what, "reprint": reprint}
        )
        return PrintRecord.model_validate(data)

    # --- at the door -------------------------------------------------------------------

    async def check_in(self, code: str, gate: str | None = None) -> CheckInResult:
        """Admit a ticket. Refusals are ``ApiError``s: 404 for an unknown code, 409 for a
        ticket already admitted (``data`` says when, at which gate and by whom) or a booking
        that is not confirmed."""
        body: dict[str, Any] = {"code": code}
        if gate:
            body["gate"] = gate
        data = await self.request("POST", f"{API}/checkins", json=body)
        return CheckInResult.model_validate(data)

    # --- reports ---------------------------------------------------------------------

    async def shift_report(
        self,
        *,
        clerk: str | None = None,
        date_from: datetime | date | None = None,
        date_to: datetime | date | None = None,
    ) -> ShiftReport:
        """What ``clerk`` (by default the caller; for admins, every staff member) sold and
        cancelled from ``date_from`` to ``date_to`` (a date is a whole day in the server's
        time zone; by default the last 12 hours), with the takings per payment method."""
        return await self._get(
            f"{API}/reports/shift", ShiftReport, clerk=clerk, date_from=date_from, date_to=date_to
        )

    async def shift_report_csv(
        self,
        *,
        clerk: str | None = None,
        date_from: datetime | date | None = None,
        date_to: datetime | date | None = None,
    ) -> str:
        """The same report as CSV text, one booking a row, for a spreadsheet."""
        params = {"clerk": clerk, "date_from": date_from, "date_to": date_to, "format": "csv"}
        text = await self.request("GET", f"{API}/reports/shift", params=params, raw=True)
        if not isinstance(text, str):
            raise ApiError(200, "unexpected answer (not CSV)")
        return text

    # --- the admins' dashboards (server/sales.py) ---------------------------------------

    async def event_sales(self, event_id: int) -> EventSales:
        """An event's held and sold tickets and takings, per zone and ticket type."""
        return await self._get(f"{API}/events/{event_id}/sales", EventSales)

    async def zone_seats(self, event_id: int | None = None) -> list[ZoneSales]:
        """Seats per zone and state of one seated event, or of every one not yet ended."""
        return await self._list(f"{API}/reports/zones", ZoneSales, event_id=event_id)

    async def recent_sales(self, *, minutes: int = 5, bucket_seconds: int = 60) -> RecentSales:
        """Tickets made per bucket of ``bucket_seconds`` over the last ``minutes``."""
        return await self._get(
            f"{API}/reports/recent-sales",
            RecentSales,
            minutes=minutes,
            bucket_seconds=bucket_seconds,
        )

    # --- the audit log (admins) ----------------------------------------------------------

    async def audit(
        self,
        *,
        event_id: int | None = None,
        booking_id: int | None = None,
        user_id: int | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit records, newest first; each filter given narrows them. ``user_id`` is the
        account acted upon or acting; ``action`` is one (booking.cancel) or a kind (booking).
        """
        return await self._list(
            f"{API}/audit",
            AuditRecord,
            event_id=event_id,
            booking_id=booking_id,
            user_id=user_id,
            actor_id=actor_id,
            action=action,
            skip=skip,
            limit=limit,
        )

    # --- webhooks (admins; docs/webhooks.md) -------------------------------------------

    async def webhooks(self, *, skip: int = 0, limit: int = 100) -> list[Webhook]:
        return await self._list(f"{API}/webhooks", Webhook, skip=skip, limit=limit)

    async def create_webhook(
        self, body: WebhookCreate, *, idempotency_key: str | None = None
    ) -> CreatedWebhook:
        """A new endpoint; its ``secret`` is in this answer only."""
        data = await self.request(
            "POST",
            f"{API}/webhooks",
            json=body.model_dump(mode="json"),
            idempotency_key=idempotency_key,
        )
        return CreatedWebhook.model_validate(data)

    async def update_webhook(self, webhook_id: int, patch: WebhookPatch) -> Webhook:
        data = await self.request(
            "PATCH",
            f"{API}/webhooks/{webhook_id}",
            json=patch.model_dump(mode="json", exclude_none=True),
        )
        return Webhook.model_validate(data)

    async def delete_webhook(self, webhook_id: int) -> None:
        await self.request("DELETE", f"{API}/webhooks/{webhook_id}")

    async def webhook_deliveries(
        self, webhook_id: int, *, status: str | None = None, skip: int = 0, limit: int = 100
    ) -> list[WebhookDelivery]:
        """An endpoint's deliveries, newest first."""
        return await self._list(
            f"{API}/webhooks/{webhook_id}/deliveries",
            WebhookDelivery,
            status=status,
            skip=skip,
            limit=limit,
        )

    async def redeliver(self, webhook_id: int, delivery_id: int) -> WebhookDelivery:
        data = await self.request(
            "POST", f"{API}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"
        )
        return WebhookDelivery.model_validate(data)

    # --- seat maps of seated events (docs/live.md#seat-maps) ---------------------------

    async def event_seats(self, event_id: int) -> SeatStates:
        """A seated event's seat states (``common.seatmap.SeatMap(...)`` reads them); a 409
        ApiError for a general-admission event."""
        return await self._get(f"{API}/events/{event_id}/seats", SeatStates)

    # --- live updates ------------------------------------------------------------------

    async def live(
        self, events: list[int] | Literal["all"], *, retry_max: float = 5.0
    ) -> AsyncIterator[LiveEvent | LiveSeatMap | LiveSeatChanges | Connection]:
        """Live changes to ``events``, forever: snapshots first, then every change.

        Seated events subscribed to by id also bring their ``LiveSeatMap`` and then their
        ``LiveSeatChanges``: keep them in a ``common.seatmap.SeatMap`` (``apply`` each).

        Yields ``Connection`` items when the connection is lost or back; reconnects by
        itself with backoff, renews the token before it expires, and after a reconnect
        the server sends fresh snapshots.
        """
        backoff = 0.2
        url = self.base_url + f"{API}/ws"
        while True:
            try:
                if self.tokens is None:
                    raise ApiError(401, "Not logged in")
                if time.time() > self._expires_at - 30:
                    await self._refresh_unless_replaced(self.tokens.access_token)
                headers = {"Authorization": f"Bearer {self.tokens.access_token}"}
                async with self.session.ws_connect(url, headers=headers, heartbeat=30) as ws:
                    await ws.send_json({"type": "subscribe", "events": events})
                    renew = asyncio.create_task(self._renew_forever(ws))
                    try:
                        async for msg in ws:
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                break
                            data = msg.json()
                            kind = data.get("type")
                            if kind == "subscribed":
                                backoff = 0.2
                                yield Connection(True)
                            elif kind in ("snapshot", "seats", "created", "updated", "deleted"):
                                yield LiveEvent.model_validate(data)
                            elif kind == "seat_map":
                                yield LiveSeatMap.model_validate(data)
                            elif kind == "seat_changes":
                                yield LiveSeatChanges.model_validate(data)
                    finally:
                        renew.cancel()
                    reason = f"closed by the server ({ws.close_code})"
            except (aiohttp.ClientError, TimeoutError, ClientError) as exc:
                reason = str(exc) or type(exc).__name__
            yield Connection(False, reason)
            await asyncio.sleep(backoff)  # reconnecting with backoff
            backoff = min(backoff * 2, retry_max)

    async def _renew_forever(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Send a fresh access token to the websocket shortly before the current expires."""
        while True:
            await asyncio.sleep(max(1.0, self._expires_at - time.time() - 60))
            with contextlib.suppress(ClientError):
                assert self.tokens is not None
                tokens = await self._refresh_unless_replaced(self.tokens.access_token)
                await ws.send_json({"type": "auth", "token": tokens.access_token})


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


__all__ = [
    "ApiError",
    "Client",
    "ClientError",
    "Connection",
    "EventCreate",
    "EventPatch",
    "Unreachable",
]
