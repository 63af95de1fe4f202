"""Selling at the counter with ticket types and, for seated events, the live seat map:
driven by Textual's pilot against a real server and database.

The hall (conftest ``HALL``): row A and B of ten seats with an aisle after seat 5 (zone A,
50.00 for the default type), row C of eight (zone B, 30.00)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from support import PASSWORD, add_type, place_order
from test_tui_snapshots import utc  # noqa: F401 (a fixture: dates drawn in UTC)
from textual import events
from textual.widgets import Button, Input, RadioSet
from tui_support import go_to, running, started, text, until

from common.models import SeatState, VenueSeats, Zone
from server import demo
from server.app import create_app
from server.audit import SYSTEM
from server.background import BackgroundServer
from server.config import Config
from server.keys import AUTH, EVENTS, VENUES
from server.venues import shipped_plan
from tui.app import BoxofficeApp
from tui.formatting import ticket_code
from tui.screens.sell import ReceiptScreen, SellScreen
from tui.seating import Plan
from tui.widgets.seat_map import HELD, SOLD, SeatMapView

SMALL = (80, 24)


async def open_seated(pilot: Any) -> tuple[SellScreen, SeatMapView]:
    """Enter on the selected event: the sell dialog, once its map shows the seat states."""
    screen = await go_to(pilot, SellScreen, "enter")
    await until(pilot, lambda: screen.view is not None and screen.view.states is not None)
    assert screen.view is not None
    return screen, screen.view


def labels(view: SeatMapView) -> list[str]:
    return [view.plan.by_id[s].label for s in view.selected]


async def choose_a5_and_a6(pilot: Any) -> tuple[SellScreen, SeatMapView]:
    """The sell dialog open on the hall, A5 and A6 chosen by keyboard (across the aisle)."""
    screen, view = await open_seated(pilot)
    await pilot.press("enter", "space", "right", "space")
    assert labels(view) == ["Stalls A5", "Stalls A6"]
    return screen, view


def state(view: SeatMapView, seat_id: int) -> str | None:
    return view.states.state(seat_id) if view.states is not None else None


async def receipt_shown(pilot: Any) -> ReceiptScreen:
    receipt = await go_to(pilot, ReceiptScreen)
    await until(pilot, lambda: receipt.query("#tickets"))
    return receipt


def cursor(view: SeatMapView) -> str:
    assert view.cursor is not None
    return view.plan.seats[view.cursor].label


async def tickets_of(actor: Any, order_id: int) -> list[tuple[str, str, str, str]]:
    """An order's tickets as (seat, type, price, code), as the API has them."""
    order = (await actor.get(f"/api/v1/orders/{order_id}")).data
    return sorted(
        (f"{t['row']}{t['number']}", t["ticket_type"], t["price"], t["code"] or "")
        for t in order["tickets"]
    )


# --- choosing seats -------------------------------------------------------------------


async def test_choosing_seats_by_keyboard_and_selling_them(tui, clerk, seated_event):
    await seated_event()
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen, view = await open_seated(pilot)
        await pilot.press("enter")  # from the quantity to the map
        assert view.has_focus
        assert cursor(view) == "Stalls A5"  # the best seat: front row, middle
        await pilot.press("space", "right")
        assert cursor(view) == "Stalls A6"  # across the aisle
        await pilot.press("space", "down")
        assert cursor(view) == "Stalls B6"
        await pilot.press("left", "left")
        assert cursor(view) == "Stalls B4"
        assert labels(view) == ["Stalls A5", "Stalls A6"]
        # Chosen by hand: the default type's quantity follows, and the total.
        assert screen.query_one("#quantity", Input).value == "2"
        assert text(screen.query_one("#chosen")) == "Standard: Stalls A5, A6"
        assert text(screen.query_one("#total")) == "Total 100.00"
        assert "Stalls B4" in str(view.border_subtitle)

        await pilot.press("enter", *"Ada Lovelace", "enter")
        receipt = await receipt_shown(pilot)
        rows = text(receipt.query_one("#tickets"))
    tickets = await tickets_of(clerk, receipt.booking.id)
    assert [t[:3] for t in tickets] == [("A5", "Standard", "50.00"), ("A6", "Standard", "50.00")]
    for seat, _, _, code in tickets:
        assert f"Stalls {seat}" in rows and ticket_code(code) in rows
    assert (await clerk.get(f"/api/v1/orders/{receipt.booking.id}")).data["customer_name"] == (
        "Ada Lovelace"
    )


async def test_choosing_seats_by_mouse(tui, clerk, seated_event):
    event = await seated_event()
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen, view = await open_seated(pilot)
        for label in ("C1", "C2"):
            offset = view.seat_offset(event["seats"][label])
            assert offset is not None
            await pilot.click(view, offset=offset)
        assert labels(view) == ["Stalls C1", "Stalls C2"]
        assert text(screen.query_one("#total")) == "Total 60.00"  # zone B
        offset = view.seat_offset(event["seats"]["C1"])
        assert offset is not None
        await pilot.click(view, offset=offset)  # a second click puts it back
        assert labels(view) == ["Stalls C2"]
        assert screen.query_one("#quantity", Input).value == "1"


async def test_zone_filter_and_zoom(tui, clerk, seated_event):
    await seated_event()
    app = tui(clerk)
    async with running(app, (120, 36)) as pilot:
        _, view = await open_seated(pilot)
        await pilot.press("enter", "z")
        assert view.border_title == "Front only (z: next)"
        await pilot.press("z")  # the back zone alone: the cursor goes to its best seat
        assert view.border_title == "Back only (z: next)" and cursor(view) == "Stalls C4"
        await pilot.press("up")  # front rows are not shown: nowhere to go
        assert cursor(view) == "Stalls C4"
        await pilot.press("b")  # the best seat of the zone shown
        assert labels(view) == ["Stalls C4"]
        await pilot.press("z")
        assert view.border_title == "All zones"
        wide, width = view.zoom, view.virtual_size.width
        await pilot.press("minus")
        assert view.zoom == wide - 1 and view.virtual_size.width < width
        await pilot.press("plus")
        assert view.zoom == wide


async def test_best_available_picks_what_the_server_would(tui, clerk, admin, seated_event):
    event = await seated_event()
    seat = event["seats"]
    sold = await place_order(admin, event_id=event["id"], lines=[{"seat_ids": [seat["A5"]]}])
    assert sold.status == 201, sold.body
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen, view = await open_seated(pilot)
        await until(pilot, lambda: state(view, seat["A5"]) == "sold")
        await pilot.press("backspace", "3", "enter", "b")
        picked = labels(view)
        assert len(picked) == 3
        assert text(screen.query_one("#chosen")) == "Standard: " + ", ".join(
            [picked[0], *(p.removeprefix("Stalls ") for p in picked[1:])]
        )
        # The server's own best-available, asked for the same seats, takes the same ones.
        server = await place_order(
            admin, event_id=event["id"], best_available={"count": 3}, hold=True
        )
        assert server.status == 201, server.body
        assert sorted(t["seat_id"] for t in server.data["tickets"]) == sorted(view.selected)
        # ... and the dialog sees them go: all three flagged as taken, Sell says so.
        confirm = screen.query_one("#sell-confirm", Button)
        await until(pilot, lambda: str(confirm.label) == "3 seats taken")
        assert confirm.disabled
        # b again: the next best block, and Sell is back.
        await pilot.press("b")
        assert len(view.selected) == 3 and not set(view.selected) & {
            t["seat_id"] for t in server.data["tickets"]
        }
        assert str(confirm.label) == "Sell" and not confirm.disabled

        # No block of 9 together: said, and nothing chosen changes.
        before = list(view.selected)
        await pilot.click("#quantity")
        await pilot.press("end", "backspace", "9", "enter", "b")
        message = text(screen.query_one("#sell-message"))
        assert "No 9 seats together" in message and "the most side by side is" in message
        assert view.selected == before


async def test_a_chosen_seat_taken_live_is_flagged_before_sell(tui, clerk, user, seated_event):
    event = await seated_event()
    seat = event["seats"]
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen, view = await choose_a5_and_a6(pilot)
        # A customer at a kiosk takes A6 while the clerk is choosing.
        reply = await place_order(user, event_id=event["id"], lines=[{"seat_ids": [seat["A6"]]}])
        assert reply.status == 201, reply.body
        await until(pilot, lambda: state(view, seat["A6"]) != "free")
        message = screen.query_one("#sell-message")
        confirm = screen.query_one("#sell-confirm", Button)
        await until(pilot, lambda: "Stalls A6 was just taken" in text(message))
        assert str(confirm.label) == "1 seat taken" and confirm.disabled
        assert [s.label for s in view.taken] == ["Stalls A6"]
        # Space on it puts it back: Sell again, for the one seat left chosen.
        await pilot.press("space")
        assert labels(view) == ["Stalls A5"]
        assert str(confirm.label) == "Sell" and not confirm.disabled
        assert screen.query_one("#quantity", Input).value == "1"


async def test_seats_lost_to_another_sale_are_named_and_nothing_else_chosen(
    tui, clerk, admin, seated_event
):
    """The server's 409: the live change had not arrived (the feed is paused here, as a
    slow network would), so the clerk sold seats already gone."""
    event = await seated_event()
    seat = event["seats"]
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen, view = await choose_a5_and_a6(pilot)
        screen.workers.cancel_group(screen, "seats")
        reply = await place_order(admin, event_id=event["id"], lines=[{"seat_ids": [seat["A6"]]}])
        assert reply.status == 201, reply.body
        await pilot.press("enter", *"Ada", "enter")
        message = screen.query_one("#sell-message")
        await until(pilot, lambda: "Not sold: Stalls A6 was taken" in text(message))
        assert app.screen is screen
        assert labels(view) == ["Stalls A5"]  # A6 dropped, nothing picked instead
        assert view.has_focus  # on the map, to choose another
        await pilot.press("b")  # the quantity is still 2: the best two together
        assert len(view.selected) == 2 and seat["A6"] not in view.selected


# --- ticket types and totals ----------------------------------------------------------


async def test_ticket_types_and_totals_general_admission(tui, clerk, admin, make_event):
    event = await make_event(title="Types Night", total_seats=50, price="20.00")
    concession = await add_type(admin, event["id"], "Concession", price=Decimal("15.00"))
    comp = await add_type(admin, event["id"], "Complimentary", price=Decimal("0"), staff_only=True)
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, SellScreen, "enter")
        await until(pilot, lambda: len(screen.quantities) == 3)
        names = [text(n) for n in screen.query(".type-name").results()]
        assert names == ["Standard", "Concession", "Complimentary"]
        await pilot.press("backspace", "2", "tab", "1", "tab", "1")
        rows = [text(t) for t in screen.query(".type-total").results()]
        assert rows == ["x 20.00 = 40.00", "x 15.00 = 15.00", "x 0.00 = 0.00"]
        assert text(screen.query_one("#total")) == "Total 55.00"
        await pilot.press("tab", *"Grace", "enter")
        receipt = await receipt_shown(pilot)
        shown = text(receipt.query_one("#tickets"))
    order = (await clerk.get(f"/api/v1/orders/{receipt.booking.id}")).data
    assert Decimal(order["amount"]) == Decimal("55.00")
    kinds = sorted((t["ticket_type_id"], t["price"]) for t in order["tickets"])
    assert kinds.count((concession, "15.00")) == 1 and kinds.count((comp, "0.00")) == 1
    for ticket in order["tickets"]:
        assert ticket_code(ticket["code"]) in shown


async def test_a_user_is_not_offered_staff_only_types(tui, user, admin, make_event):
    event = await make_event(title="Kiosk Types", total_seats=10, price="0")
    await add_type(admin, event["id"], "Complimentary", price=Decimal("0"), staff_only=True)
    await add_type(admin, event["id"], "Child", price=Decimal("0"))
    app = tui(user)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, SellScreen, "enter")
        await until(pilot, lambda: len(screen.quantities) == 2)
        assert [text(n) for n in screen.query(".type-name").results()] == ["Standard", "Child"]


async def test_ticket_types_on_a_seated_event(tui, clerk, admin, seated_event):
    event = await seated_event()
    await add_type(admin, event["id"], "Child", zone_prices={"A": "25.00", "B": "15.00"})
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen, view = await open_seated(pilot)
        await until(pilot, lambda: len(screen.quantities) == 2)
        # One adult and one child: the first chosen seat is the adult's.
        await pilot.press("tab", "1", "enter", "b")
        assert labels(view) == ["Stalls A4", "Stalls A5"]  # side by side: not across the aisle
        first, second = labels(view)
        assert text(screen.query_one("#chosen")) == (f"Standard: {first}\nChild: {second}")
        rows = [text(t) for t in screen.query(".type-total").results()]
        assert rows == ["= 50.00", "= 25.00"]
        assert text(screen.query_one("#total")) == "Total 75.00"
        assert "Premium" not in text(screen.query_one("#legend"))  # the hall's zones
        assert "Front 50.00" in text(screen.query_one("#legend"))
        # Tab from the map with seats chosen: to the customer, past the types' quantities.
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#customer")
        await pilot.press(*"Ada", "enter")
        receipt = await receipt_shown(pilot)
        shown = text(receipt.query_one("#tickets"))
    tickets = await tickets_of(clerk, receipt.booking.id)
    assert [(f"Stalls {s}", k, p) for s, k, p, _ in tickets] == sorted(
        [(first, "Standard", "50.00"), (second, "Child", "25.00")]
    )
    for _, kind, price, code in tickets:
        assert ticket_code(code) in shown and price in shown and kind in shown


async def test_a_hold_of_seats_lists_them_without_codes(tui, clerk, seated_event):
    await seated_event()
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        await open_seated(pilot)
        await pilot.press("backspace", "2", "enter", "b")
        await pilot.click("#sell-hold")
        receipt = await receipt_shown(pilot)
        assert "HELD until" in text(receipt.query_one(".title"))
        shown = text(receipt.query_one("#tickets"))
        assert "Stalls A4" in shown and "Stalls A5" in shown and "on payment" in shown


# --- the dialog's rough edges ---------------------------------------------------------


async def test_focus_stays_on_the_field_to_fix_after_a_refusal(tui, clerk, make_event):
    event = await make_event(title="Last Two", total_seats=2)
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, SellScreen, "enter")
        await pilot.press("backspace", "3", "enter", *"Ada")
        assert text(screen.query_one("#sell-message")) == "Only 2 seats left."
        await pilot.click("#sell-confirm")
        message = screen.query_one("#sell-message")
        await until(pilot, lambda: "Not enough seats: 2 left" in text(message))
        assert screen.focused is screen.query_one("#quantity")
    assert (await clerk.get(f"/api/v1/events/{event['id']}")).data["available_seats"] == 2


async def test_too_many_tickets_is_said_in_words(tui, clerk, make_event):
    await make_event(title="Big Party", total_seats=50)
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, SellScreen, "enter")
        await pilot.press("backspace", "1", "1", "enter", *"Ada", "enter")
        message = screen.query_one("#sell-message")
        await until(pilot, lambda: "At most 10 tickets per order" in text(message))
        assert screen.focused is screen.query_one("#quantity")


async def test_tabbing_into_the_name_keeps_it_and_fast_keys_after_enter_land_in_it(
    tui, clerk, make_event
):
    await make_event(title="Fast Fingers", total_seats=10)
    app = tui(clerk)
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, SellScreen, "enter")
        customer = screen.query_one("#customer", Input)
        await pilot.press("backspace")
        # "2", Enter and the name typed faster than the app handles them (a paste, a fast
        # typist): every key is queued before the first is handled.
        for key, char in [("2", "2"), ("enter", "\r"), *((c, c) for c in "Grace")]:
            app.post_message(events.Key(key, char))
        await until(pilot, lambda: customer.value == "Grace")
        assert screen.query_one("#quantity", Input).value == "2"
        # Away and back with Tab: the name is not selected, so a key adds to it.
        await pilot.press("tab", "shift+tab", *" Hopper")
        assert customer.value == "Grace Hopper"


async def test_the_remembered_payment_is_the_one_highlighted(tui, clerk, make_event):
    await make_event(title="Card Again", total_seats=10)
    app: BoxofficeApp = tui(clerk)
    app.payment_method = "card"
    async with running(app, SMALL) as pilot:
        screen = await go_to(pilot, SellScreen, "enter")
        await pilot.press("enter", "tab", "space")  # on to the name, to the payment, Space
        assert screen.query_one(RadioSet).has_focus
        assert screen.payment_method == "card"


# --- the plan's own rules -------------------------------------------------------------


def test_best_available_leaves_nobody_alone() -> None:
    """A row of eight, seats 3 and 7 sold: the pair nearest the middle (4-5 or 5-6) would
    leave a seat alone that nobody buying together could take; 1-2 leaves nobody."""
    plan = Plan(row_of_eight())

    def state(seat: int) -> SeatState:
        return "sold" if seat in (3, 7) else "free"

    assert plan.best(state, 2) == [1, 2]
    assert plan.best(state, 3) == [4, 5, 6]
    assert plan.best(state, 4) is None
    assert plan.largest_block(state) == 3
    assert plan.best(lambda seat: "free", 2) == [4, 5]  # all free: the middle


def row_of_eight() -> VenueSeats:
    """Stalls row A, seats 1 to 8 side by side, in one zone."""
    return VenueSeats(
        venue_id=1,
        version=1,
        id=list(range(1, 9)),
        section=["Stalls"] * 8,
        row=["A"] * 8,
        number=[str(n) for n in range(1, 9)],
        x=list(range(8)),
        y=[0] * 8,
        zone=["A"] * 8,
        wheelchair=[1],
        companion=[],
        restricted_view=[8],
        zones=[Zone(code="A", name="Stalls", rank=1)],
    )


async def test_a_read_only_map_shows_live_changes_and_chooses_nothing() -> None:
    """As the admin's live dashboard will use it: no cursor, space and clicks choose
    nothing, and live changes redraw the seats they name."""
    from textual.app import App, ComposeResult

    from common.models import LiveSeatChanges, SeatCounts, SeatStates
    from common.seatmap import SeatMap as States

    snapshot = SeatStates(
        event_id=7, venue_id=1, version=3, seat_ids=[(1, 8)], states="f8",
        counts=SeatCounts(free=8, held=0, sold=0),
    )  # fmt: skip
    view = SeatMapView(row_of_eight(), States(snapshot), selectable=False)

    class Dashboard(App[None]):
        def compose(self) -> ComposeResult:
            yield view

    async with Dashboard().run_test(size=(40, 8)) as pilot:
        view.focus()
        assert [view.drawn(s) for s in range(1, 9)] == ["W", *"●●●●●●", "◐"]
        offset = view.seat_offset(3)
        assert offset is not None
        await pilot.click(view, offset=offset)
        await pilot.press("space", "b")
        assert view.selected == []
        changes = LiveSeatChanges(
            event_id=7, since=3, version=4, held=[(2, 2)], sold=[(4, 5)],
            counts=SeatCounts(free=5, held=1, sold=2),
        )  # fmt: skip
        assert view.apply(changes)
        drawn = [view.drawn(s) for s in range(1, 9)]
        assert drawn == ["W", HELD, "●", SOLD, SOLD, "●", "●", "◐"]
        assert not view.apply(changes)  # not newer: nothing to do
        await pilot.pause()
        assert "▒" in "".join(view.render_line(y).text for y in range(view.size.height))


# --- snapshots of the map ---------------------------------------------------------------


async def _seed_theatre(app: web.Application) -> None:
    """The demo's theatre with one evening on it: its ticket types and the demo's few
    sales (best available, so the same seats every time)."""
    await app[AUTH].create_user("clerk", PASSWORD, "clerk")  # the demo's clerk sells them
    venue = await app[VENUES].create(shipped_plan("theatre"), by=SYSTEM)
    event = await app[EVENTS].create(
        {
            "title": "The Seagull",
            "description": "Chekhov at the Royal Court.",
            "date": datetime(2099, 3, 3, 19, 30, tzinfo=UTC),
            "venue": "Royal Court Theatre",
            "venue_id": venue["id"],
            "price": Decimal("36.00"),
        },
        by=SYSTEM,
    )
    adult = {"A": Decimal("48.00"), "B": Decimal("36.00"), "C": Decimal("24.00")}
    await demo._seated_extras(app, event["id"], adult)  # the demo's own seeding


@pytest.fixture
def theatre_url(config: Config, clean_db: None) -> Iterator[str]:
    server = create_app(config)
    server.on_startup.append(_seed_theatre)
    with BackgroundServer(server, "127.0.0.1", 0) as running_server:
        yield running_server.url


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_seat_map_snapshot(
    size: tuple[int, int], snap_compare: Any, theatre_url: str, tmp_path: Any
) -> None:
    """The sell dialog of a seated evening, two adults' seats picked with b: at 80x24 the
    map is compact and pans; at 120x36 it is drawn wider, with row labels both sides."""

    async def drive(pilot: Any) -> None:
        await started(pilot)
        await open_seated(pilot)
        await pilot.press("backspace", "2", "enter", "b")

    app = BoxofficeApp(
        theatre_url, username="clerk", password=PASSWORD, settings_path=tmp_path / "tui.json"
    )
    assert snap_compare(app, terminal_size=size, run_before=drive)
