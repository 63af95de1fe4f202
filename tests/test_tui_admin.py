"""The admins' screens for seated events: an event's live dashboard, zone gauges on the
all-events dashboard, the sales meter seeded from the server, the event editor's plans and
ticket types, and the venue screen's plan import; driven by Textual's pilot against a real
server and database."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from support import add_type, place_order
from textual.widgets import Checkbox, DataTable, Input, Select
from tui_support import go_to, running, text, until

from tui.screens.dashboard import DashboardScreen
from tui.screens.event_dashboard import EventDashboardScreen
from tui.screens.event_form import EventFormScreen
from tui.screens.events import EventsScreen
from tui.screens.ticket_types import TicketTypesScreen
from tui.screens.venues import VenuesScreen
from tui.widgets.gauge import SeatGauge
from tui.widgets.seat_map import FREE, HELD, SOLD


def table_rows(table: DataTable[Any]) -> dict[str, list[str]]:
    """The table's rows by their first cell."""
    found = {}
    for i in range(table.row_count):
        first, *rest = (str(cell) for cell in table.get_row_at(i))
        found[first] = rest
    return found


# --- dashboards -------------------------------------------------------------------------


async def test_event_dashboard_follows_a_sale_made_elsewhere(tui, admin, clerk, seated_event):
    """Enter on a seated event's gauge opens its dashboard; a sale through the API changes
    its seat counts, and its figures per zone and ticket type, without a key pressed."""
    event = await seated_event("Hamlet")
    seats = event["seats"]
    child = await add_type(admin, event["id"], "Child", zone_prices={"A": "20.00"})
    app = tui(admin)
    async with running(app) as pilot:
        dashboard = await go_to(pilot, DashboardScreen, "f4")
        dashboard.query_one(f"#gauge-{event['id']}", SeatGauge).focus()
        screen = await go_to(pilot, EventDashboardScreen, "enter")
        counts = screen.query_one("#event-dashboard-counts")
        types = screen.query_one("#type-sales", DataTable)
        zones = screen.query_one("#zone-sales", DataTable)
        await until(pilot, lambda: "28 free" in text(counts))
        await until(pilot, lambda: "Nothing sold yet" in table_rows(types))
        assert screen.query_one("#seat-map-slot").display

        sold = await place_order(
            clerk,
            event_id=event["id"],
            lines=[
                {"seat_ids": [seats["A1"], seats["A2"]]},
                {"ticket_type_id": child, "seat_ids": [seats["A3"]]},
            ],
            payment_method="card",
        )
        assert sold.status == 201, sold.body
        held = await place_order(
            clerk, event_id=event["id"], lines=[{"seat_ids": [seats["C1"]]}], hold=True
        )
        assert held.status == 201, held.body

        await until(pilot, lambda: "Child" in table_rows(types) and "Standard" in table_rows(types))
        await until(pilot, lambda: table_rows(types)["Standard"] == ["1", "2", "100.00"])
        assert table_rows(types)["Child"] == ["0", "1", "20.00"]
        assert table_rows(zones)["A Front"] == ["20", "17", "0", "3", "120.00"]
        assert table_rows(zones)["B Back"] == ["8", "7", "1", "0", "0.00"]
        shown = text(counts)
        assert "24 free" in shown and "1 held" in shown and "3 sold" in shown
        assert "Takings 120.00" in shown
        assert screen.seat_map is not None and screen.seat_map.state(seats["C1"]) == "held"
        # The plan is drawn too, and follows: sold seats crossed out, the hold shaded.
        await until(pilot, lambda: screen.map_view is not None)
        view = screen.map_view
        assert view is not None and not view.selectable
        await until(pilot, lambda: view.drawn(seats["C1"]) == HELD)
        assert [view.drawn(seats[s]) for s in ("A1", "A2", "A3")] == [SOLD] * 3
        assert view.drawn(seats["A4"]) == FREE

        await pilot.press("escape")
        await until(pilot, lambda: app.screen is dashboard)


async def test_general_admission_event_dashboard(tui, admin, clerk, make_event):
    event = await make_event(title="Open Air", total_seats=40, price="9.50")
    app = tui(admin)
    async with running(app) as pilot:
        dashboard = await go_to(pilot, DashboardScreen, "f4")
        await pilot.click(f"#gauge-{event['id']}")
        screen = await go_to(pilot, EventDashboardScreen)
        assert not screen.query_one("#seat-map-slot").display
        order = await place_order(clerk, event_id=event["id"], lines=[{"quantity": 4}])
        assert order.status == 201, order.body
        counts = screen.query_one("#event-dashboard-counts")
        await until(pilot, lambda: "36 free" in text(counts) and "Takings 38.00" in text(counts))
        assert table_rows(screen.query_one("#type-sales", DataTable))["Standard"][1] == "4"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is dashboard)


async def test_zone_gauges_of_seated_events(tui, admin, clerk, seated_event, make_event):
    """A seated event's gauge has a line per zone (sold, held, free), kept up to date as
    seats sell; a general-admission event's has none."""
    event = await seated_event("Lear")
    standing = await make_event(title="Standing Room")
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, DashboardScreen, "f4")
        gauge = screen.query_one(f"#gauge-{event['id']}", SeatGauge)
        await until(pilot, lambda: [z.zone for z in gauge.zones] == ["A", "B"])
        assert screen.query_one(f"#gauge-{standing['id']}", SeatGauge).zones == []
        assert gauge.size.height == 3
        lines = gauge.render().plain.splitlines()
        assert "A Front" in lines[1] and "20 free" in lines[1]

        order = await place_order(
            clerk, event_id=event["id"], lines=[{"seat_ids": [event["seats"]["C1"]]}], hold=True
        )
        assert order.status == 201, order.body
        await until(pilot, lambda: gauge.zones[1].held == 1)
        line = gauge.render().plain.splitlines()[2]
        assert "B Back" in line and "1 held" in line and "7 free" in line


async def test_sales_meter_starts_from_the_servers_history(tui, admin, clerk, make_event):
    """Sales made before the admin logged in are on the meter when the dashboard opens."""
    event = await make_event(total_seats=50)
    for quantity in (2, 3):
        order = await place_order(clerk, event_id=event["id"], lines=[{"quantity": quantity}])
        assert order.status == 201, order.body
    app = tui(admin)
    async with running(app) as pilot:
        assert app.store.sales.last_minute() == 0  # the live feed saw none of them
        screen = await go_to(pilot, DashboardScreen, "f4")
        await until(pilot, lambda: sum(app.store.sales.series()) == 5)
        label = screen.query_one("#sales-label")
        await until(pilot, lambda: "5 seats sold in the last minute" in text(label))
        order = await place_order(clerk, event_id=event["id"], lines=[{"quantity": 1}])
        assert order.status == 201, order.body
        await until(pilot, lambda: sum(app.store.sales.series()) == 6)
        assert Decimal(order.data["amount"]) == Decimal("25.00")


# --- venues -----------------------------------------------------------------------------


async def test_venue_screen_lists_plans_and_imports_one(tui, admin, hall, tmp_path):
    """F8: the venues with their plans; a plan imported from a file; a bad plan's faults
    named as the server gives them, and nothing imported."""
    plan = {
        "name": "The Playhouse",
        "zones": [{"code": "A", "name": "Front", "rank": 1}],
        "sections": [
            {
                "name": "Stalls",
                "zone": "A",
                "rows": [
                    {"row": "A", "y": 0, "seats": "1-6"},
                    {"row": "B", "y": 1, "seats": "1-6"},
                ],
            }
        ],
    }
    good = tmp_path / "playhouse.json"
    good.write_text(json.dumps(plan))
    clash = {**plan, "name": "Clash"}
    clash["sections"] = [
        {
            **plan["sections"][0],
            "rows": [{"row": "A", "y": 0, "seats": "1-6"}, {"row": "B", "y": 0, "seats": "1-6"}],
        }
    ]
    bad = tmp_path / "clash.json"
    bad.write_text(json.dumps(clash))
    app = tui(admin)
    async with running(app) as pilot:
        screen = await go_to(pilot, VenuesScreen, "f8")
        table = screen.query_one("#venues-table", DataTable)
        plan_text = screen.query_one("#venue-plan-text")
        await until(pilot, lambda: table.row_count == 1)
        await until(pilot, lambda: "Sections" in text(plan_text))
        shown = text(plan_text)
        assert "A  Front" in shown and "20 seats" in shown and "Stalls" in shown
        assert "3 rows     28 seats  A, B" in shown

        message = screen.query_one("#venue-import-message")
        await pilot.press("i")
        await pilot.press(*str(bad), "enter")
        await until(pilot, lambda: "refused" in text(message))
        refused = text(message)
        assert "sections.0.rows.1.seats: Stalls B 1 overlaps Stalls A 1" in refused
        assert len((await admin.get("/api/v1/venues")).data) == 1

        screen.query_one("#venue-file", Input).value = str(tmp_path / "missing.json")
        await pilot.press("enter")
        await until(pilot, lambda: "Cannot read" in text(message))

        screen.query_one("#venue-file", Input).value = str(good)
        await pilot.press("enter")
        await until(pilot, lambda: table.row_count == 2)
        await until(pilot, lambda: "12 seats" in text(plan_text))
        assert "2 rows" in text(plan_text)
        assert not screen.query_one("#venue-import").display
        names = [v["name"] for v in (await admin.get("/api/v1/venues")).data]
        assert sorted(names) == ["Test Hall", "The Playhouse"]


# --- the event editor -------------------------------------------------------------------


async def test_editor_creates_a_seated_event_with_zone_prices_and_a_type(tui, admin, hall):
    """Seating: the hall's plan (no seat count asked); saved, the event's ticket types
    open: the default type gets zone prices, a staff-only Comp is added, a bad zone price
    is refused in words."""
    app = tui(admin)
    async with running(app) as pilot:
        form = await go_to(pilot, EventFormScreen, "ctrl+n")
        seating = form.query_one("#seating", Select)
        await until(pilot, lambda: len(seating._options) == 2)
        seating.value = hall["id"]
        await until(pilot, lambda: form.query_one("#total_seats", Input).disabled)
        form.query_one("#title", Input).value = "Seated Gala"
        form.query_one("#price", Input).value = "40.00"
        types = await go_to(pilot, TicketTypesScreen, "ctrl+s")
        [event] = (await admin.get("/api/v1/events")).data
        assert (event["venue_id"], event["total_seats"]) == (hall["id"], 28)

        table = types.query_one("#types-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        await until(pilot, lambda: "zones A Front, B Back" in text(types.query_one("#zones-hint")))
        table.focus()
        await pilot.press("enter")  # edit the default type
        await until(pilot, lambda: types.editing is not None)
        types.query_one("#type-zone_prices", Input).value = "A=50, B=x"
        await pilot.press("ctrl+s")
        error = types.query_one("#type-zone_prices-error")
        await until(pilot, lambda: error.display)
        assert "“x” is not an amount (zone B)" in text(error)
        types.query_one("#type-name", Input).value = "Adult"
        types.query_one("#type-zone_prices", Input).value = "A=50, B=30.00"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "A=50.00, B=30.00" in rows_text(table))

        await pilot.press("ctrl+n")
        types.query_one("#type-name", Input).value = "Comp"
        types.query_one("#type-price", Input).value = "0"
        types.query_one("#type-quota", Input).value = "4"
        types.query_one("#type-staff_only", Checkbox).value = True
        await pilot.press("ctrl+s")
        await until(pilot, lambda: table.row_count == 2)
        listed = (await admin.get(f"/api/v1/events/{event['id']}/ticket-types")).data
        assert [(t["name"], t["zone_prices"]) for t in listed] == [
            ("Adult", {"A": "50.00", "B": "30.00"}),
            ("Comp", {}),
        ]
        comp = listed[1]
        assert (comp["price"], comp["quota"], comp["staff_only"]) == ("0.00", 4, True)

        # A zone the plan does not have: the server's 422, next to the field.
        types.query_one("#type-zone_prices", Input).value = "Q=5"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error.display and "Q" in text(error))
        # The default type cannot be deleted: the server says why.
        types._fill(next(t for t in types.types if t.is_default))
        await pilot.press("ctrl+d")
        message = types.query_one("#types-message")
        await until(pilot, lambda: "not deleted" in text(message))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen))


def rows_text(table: DataTable[Any]) -> str:
    return " ".join(" ".join(map(str, table.get_row_at(i))) for i in range(table.row_count))
