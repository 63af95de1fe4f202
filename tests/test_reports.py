"""Shift reports: a clerk's sales, cancellations and takings per payment method, as JSON
and as CSV; and that counter sales record how the customer paid."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from jsonschema import Draft202012Validator
from support import add_type

V1 = "/api/v1"
BOOKINGS = f"{V1}/bookings"
ORDERS = f"{V1}/orders"
SHIFT = f"{V1}/reports/shift"


async def sell(actor: Any, event: dict[str, Any], quantity: int = 1, **body: Any) -> dict:
    reply = await actor.post(BOOKINGS, json={"event_id": event["id"], "quantity": quantity, **body})
    assert reply.status == 201, reply.body
    return reply.data


async def cancel(actor: Any, booking: dict[str, Any]) -> None:
    reply = await actor.delete(f"{BOOKINGS}/{booking['id']}")
    assert reply.status == 200, reply.body


async def report(actor: Any, **params: Any) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    return await actor.get(f"{SHIFT}{query}")


def tally(count: int, seats: int, amount: str) -> dict[str, Any]:
    return {"count": count, "seats": seats, "amount": amount}


def till(sold: str, refunded: str, net: str) -> dict[str, str]:
    return {"sold": sold, "refunded": refunded, "net": net}


@pytest.fixture
def config(config: Any) -> Any:
    """Customers pay online here (BOXOFFICE_USER_BOOKINGS=confirm): their bookings are their
    own sales, in no clerk's till."""
    return config.replace(user_bookings="confirm")


@pytest.fixture
async def shift(actors, clerk, make_event) -> dict[str, Any]:
    """A clerk's shift: five sales (cash, card, card, unrecorded, a hold confirmed in cash),
    then a card sale refunded, an unpaid hold let go and a customer's booking cancelled.
    Another clerk and a customer sell too."""
    other, customer = await actors.new("clerk"), await actors.new("user")
    gala = await make_event(title="Gala", price="25.00")
    talk = await make_event(title="Talk", price="10.00")
    sold = {
        "ann": await sell(clerk, gala, 2, customer_name="Ann", payment_method="cash"),
        "ben": await sell(clerk, gala, 1, customer_name="Ben", payment_method="card"),
        "cy": await sell(clerk, talk, 3, customer_name="Cy", payment_method="card"),
        "di": await sell(clerk, talk, 1, customer_name="Di"),
    }
    eve = await sell(clerk, talk, 2, customer_name="Eve", hold=True)
    confirmed = await clerk.post(f"{BOOKINGS}/{eve['id']}/confirm", json={"payment_method": "cash"})
    assert confirmed.status == 200, confirmed.body
    sold["eve"] = eve
    fay = await sell(clerk, gala, 1, customer_name="Fay", hold=True)
    online = await sell(customer, talk, 1)
    await cancel(clerk, sold["ben"])
    await cancel(clerk, fay)
    await cancel(clerk, online)
    elsewhere = await sell(other, gala, 1, customer_name="Gus", payment_method="cash")
    kept_online = await sell(customer, gala, 1)
    return {
        "clerk": clerk,
        "other": other,
        "customer": customer,
        "sold": sold,
        "fay": fay,
        "online": online,
        "elsewhere": elsewhere,
        "kept_online": kept_online,
    }


async def test_clerk_report_totals_match_the_shift(shift):
    """Sales, holds confirmed, cancellations, takings per method and net takings add up."""
    clerk = shift["clerk"]
    reply = await report(clerk)
    assert reply.status == 200, reply.body
    data = reply.data
    assert data["clerk"] == clerk.username
    assert data["sales"] == tally(5, 9, "135.00")
    assert data["holds_confirmed"] == tally(1, 2, "20.00")
    assert data["cancellations"] == tally(3, 3, "35.00")
    assert data["payments"] == {
        "cash": till("70.00", "0.00", "70.00"),
        "card": till("55.00", "25.00", "30.00"),
        "other": till("0.00", "0.00", "0.00"),
        "unrecorded": till("10.00", "10.00", "0.00"),
    }
    assert data["net_takings"] == "100.00"

    lines = {line["booking_id"]: line for line in data["bookings"]}
    sold, fay, online = shift["sold"], shift["fay"], shift["online"]
    assert set(lines) == {b["id"] for b in (*sold.values(), fay, online)}
    ben = lines[sold["ben"]["id"]]
    assert (ben["sale"], ben["cancellation"], ben["status"]) == (True, True, "cancelled")
    assert (ben["sold"], ben["refunded"], ben["net"]) == ("25.00", "25.00", "0.00")
    assert ben["sold_by"] == ben["cancelled_by"] == clerk.username
    assert (lines[fay["id"]]["sale"], lines[fay["id"]]["refunded"]) == (False, "0.00")
    assert lines[online["id"]]["sold_by"] == shift["customer"].username
    assert lines[online["id"]]["refunded"] == "10.00"
    assert lines[sold["eve"]["id"]]["payment_method"] == "cash"
    assert lines[sold["ann"]["id"]]["event_title"] == "Gala"
    assert sum(float(line["net"]) for line in data["bookings"]) == 100.0


async def test_a_hold_is_the_sale_of_the_clerk_who_confirms_it(actors, clerk, make_event):
    """The money goes into the till that confirms a hold: a customer's online hold paid at
    the counter, or a colleague's hold confirmed at another window, is that clerk's sale."""
    colleague, customer = await actors.new("clerk"), await actors.new("user")
    show = await make_event(price="12.50")
    online = await sell(customer, show, 2, hold=True)
    theirs = await sell(colleague, show, 1, customer_name="Hal", hold=True)
    for hold in (online, theirs):
        paid = await clerk.post(f"{BOOKINGS}/{hold['id']}/confirm", json={"payment_method": "cash"})
        assert paid.status == 200, paid.body

    mine = (await report(clerk)).data
    assert mine["sales"] == mine["holds_confirmed"] == tally(2, 3, "37.50")
    assert mine["payments"]["cash"] == till("37.50", "0.00", "37.50")
    assert [line["sold_by"] for line in mine["bookings"]] == [clerk.username] * 2
    assert (await report(colleague)).data["bookings"] == []


async def test_report_matches_its_documented_schema(shift):
    clerk = shift["clerk"]
    async with clerk.client.get(f"{V1}/openapi.json") as resp:
        doc = await resp.json()
    op = doc["paths"][SHIFT]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    reply = await report(clerk)
    Draft202012Validator({**schema, "components": doc["components"]}).validate(reply.body)
    assert "text/csv" in op["responses"]["200"]["content"]
    assert {"401", "403", "404", "422"} <= set(op["responses"])


async def test_admin_sees_any_clerk_and_all_staff(shift, admin):
    """Admins name any account; without clerk= the report is every staff member's."""
    clerk, other = shift["clerk"], shift["other"]
    mine = (await report(clerk)).data
    assert (await report(admin, clerk=clerk.username)).data["bookings"] == mine["bookings"]

    theirs = (await report(admin, clerk=other.username)).data
    assert theirs["clerk"] == other.username
    assert [b["booking_id"] for b in theirs["bookings"]] == [shift["elsewhere"]["id"]]
    assert theirs["net_takings"] == "25.00"

    everyone = (await report(admin)).data
    assert everyone["clerk"] is None
    assert everyone["sales"] == tally(6, 10, "160.00")  # the customer's own sales are not staff's
    assert everyone["payments"]["cash"] == till("95.00", "0.00", "95.00")
    assert everyone["net_takings"] == "125.00"
    ids = {b["booking_id"] for b in everyone["bookings"]}
    assert shift["elsewhere"]["id"] in ids and shift["kept_online"]["id"] not in ids

    customer = (await report(admin, clerk=shift["customer"].username)).data
    assert customer["sales"]["count"] == 2 and customer["cancellations"]["count"] == 0


async def test_clerks_see_only_their_own_report(shift):
    """Naming another clerk (or anyone unknown) is a 403; naming yourself is fine."""
    clerk, other = shift["clerk"], shift["other"]
    refused = await report(clerk, clerk=other.username)
    assert refused.status == 403
    assert (await report(clerk, clerk="nobody-at-all")).status == 403
    me = await report(clerk, clerk=clerk.username.upper())
    assert me.status == 200 and me.data["clerk"] == clerk.username
    assert (await report(other)).data["net_takings"] == "25.00"


async def test_users_get_no_reports(user):
    assert (await report(user)).status == 403
    assert (await report(user, clerk=user.username)).status == 403


async def test_unknown_name_is_404_for_admins(admin):
    reply = await report(admin, clerk="no-such-clerk")
    assert reply.status == 404
    assert "no-such-clerk" in reply.body["message"]


async def test_empty_report_has_zero_totals(clerk):
    data = (await report(clerk)).data
    assert data["bookings"] == []
    assert data["sales"] == tally(0, 0, "0.00")
    assert data["net_takings"] == "0.00"
    assert data["payments"]["cash"] == till("0.00", "0.00", "0.00")


async def test_default_period_is_the_last_12_hours(clerk):
    data = (await report(clerk)).data
    start, end = (datetime.fromisoformat(data[k]) for k in ("date_from", "date_to"))
    assert end - start == timedelta(hours=12)
    assert abs(datetime.now(end.tzinfo) - end) < timedelta(minutes=1)


def moved(db_execute: Any, booking: dict[str, Any], interval: str) -> None:
    """Move a booking's sale back in time, as if it were made ``interval`` ago."""
    db_execute(
        "UPDATE bookings SET created_at = created_at - %s::interval,"
        " confirmed_at = confirmed_at - %s::interval WHERE id = %s",
        interval,
        interval,
        booking["id"],
    )


async def test_date_range_filters(clerk, make_event, db_execute, db_rows):
    """Sales outside the period are left out; the start is inclusive, the end exclusive;
    a date alone is a whole day in the server's time zone."""
    event = await make_event()
    old = await sell(clerk, event, payment_method="cash")
    new = await sell(clerk, event, payment_method="card")
    moved(db_execute, old, "2 days")

    def ids(reply: Any) -> list[int]:
        assert reply.status == 200, reply.body
        return [b["booking_id"] for b in reply.data["bookings"]]

    assert ids(await report(clerk)) == [new["id"]]
    three_days_ago = (datetime.now().astimezone() - timedelta(days=3)).isoformat()
    assert ids(await report(clerk, date_from=three_days_ago)) == [old["id"], new["id"]]

    [(sold_at,)] = db_rows("SELECT confirmed_at FROM bookings WHERE id = %s", old["id"])
    at, just_after = sold_at.isoformat(), (sold_at + timedelta(microseconds=1)).isoformat()
    assert ids(await report(clerk, date_from=at, date_to=just_after)) == [old["id"]]
    assert ids(await report(clerk, date_to=at)) == []
    assert ids(await report(clerk, date_to=just_after)) == [old["id"]]
    assert ids(await report(clerk, date_from=just_after)) == [new["id"]]

    day = sold_at.astimezone().date().isoformat()
    by_day = await report(clerk, date_from=day, date_to=day)
    assert ids(by_day) == [old["id"]]
    start = datetime.fromisoformat(by_day.data["date_from"])
    end = datetime.fromisoformat(by_day.data["date_to"])
    assert (start.hour, start.minute) == (0, 0) and end - start >= timedelta(hours=23)


async def test_a_date_range_with_an_unencoded_plus_still_reads(clerk):
    """A '+01:00' offset typed into a URL arrives as ' 01:00'; it is read as meant."""
    reply = await clerk.get(f"{SHIFT}?date_from=2030-01-01T10:00:00+01:00&date_to=2030-01-02")
    assert reply.status == 200, reply.body
    assert reply.data["date_from"].startswith("2030-01-01T10:00:00+01:00")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "2025-02-30"}, "date_to"),
        ({"date_from": "2025-03-01T10:00:00"}, "date_from"),  # no offset: whose 10:00?
        ({"date_from": "2025-03-02", "date_to": "2025-03-01"}, "date_to"),
        ({"date_from": "2025-03-01T10:00:00Z", "date_to": "2025-03-01T10:00:00Z"}, "date_to"),
        ({"date_from": "2020-01-01", "date_to": "2025-01-01"}, "date_from"),
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"format": "xml"}, "format"),
        ({"clerk": ""}, "clerk"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(clerk, params, field):
    reply = await report(clerk, **params)
    assert reply.status == 422, reply.body
    assert reply.fields == [field]


def sections(text: str) -> list[list[list[str]]]:
    """The CSV's blank-line separated tables, each a list of rows."""
    tables: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(text)):
        if row:
            tables[-1].append(row)
        else:
            tables.append([])
    return tables


async def fetch_csv(actor: Any, url: str, **headers: str) -> tuple[Any, str]:
    headers["Authorization"] = f"Bearer {actor.token}"
    async with actor.client.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return resp, await resp.text()


async def test_csv_has_a_line_per_booking_and_the_summary(shift):
    clerk = shift["clerk"]
    as_json = (await report(clerk)).data
    resp, text = await fetch_csv(clerk, f"{SHIFT}?format=csv")
    assert resp.content_type == "text/csv"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="shift-{clerk.username}-')
    assert disposition.endswith('.csv"')

    lines, summary, payments, about, by_type = sections(text)
    header, *rows = lines
    assert header[:3] == ["booking_id", "event_id", "event_title"]
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [int(r["booking_id"]) for r in records] == [b["booking_id"] for b in as_json["bookings"]]
    ben = next(r for r in records if r["customer_name"] == "Ben")
    assert (ben["sale"], ben["cancellation"], ben["net"]) == ("yes", "yes", "0.00")
    assert sum(float(r["net"]) for r in records) == 100.0

    assert summary == [
        ["summary", "count", "seats", "amount"],
        ["sales", "5", "9", "135.00"],
        ["holds_confirmed", "1", "2", "20.00"],
        ["cancellations", "3", "3", "35.00"],
        ["returns", "0", "0", "0.00"],
    ]
    assert payments == [
        ["payment_method", "sold", "refunded", "net"],
        ["cash", "70.00", "0.00", "70.00"],
        ["card", "55.00", "25.00", "30.00"],
        ["other", "0.00", "0.00", "0.00"],
        ["unrecorded", "10.00", "10.00", "0.00"],
        ["net_takings", "", "", "100.00"],
    ]
    assert about[:2] == [["report", "value"], ["clerk", clerk.username]]
    assert [row[0] for row in about[2:]] == ["date_from", "date_to"]
    # Both events sell only their default type, general admission: one line, no zone.
    assert by_type == [
        ["ticket_type", "zone", "tickets_sold", "sold", "tickets_refunded", "refunded", "net"],
        ["Standard", "", "9", "135.00", "2", "35.00", "100.00"],
    ]


async def test_csv_by_accept_header(shift, admin):
    """Accept: text/csv chooses CSV too; JSON stays the default and wins when listed first."""
    resp, text = await fetch_csv(admin, SHIFT, Accept="text/csv")
    assert resp.content_type == "text/csv"
    assert 'filename="shift-all-staff-' in resp.headers["Content-Disposition"]
    assert sections(text)[3][1] == ["clerk", "all staff"]
    resp, _ = await fetch_csv(admin, SHIFT, Accept="application/json, text/csv")
    assert resp.content_type == "application/json"
    resp, _ = await fetch_csv(admin, f"{SHIFT}?format=json", Accept="text/csv")
    assert resp.content_type == "application/json"


async def test_csv_cells_never_run_as_formulas(clerk, make_event):
    """Text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    event = await make_event(title="@Gala")
    await sell(clerk, event, customer_name="=HYPERLINK(1)", payment_method="other")
    _, text = await fetch_csv(clerk, f"{SHIFT}?format=csv")
    header, row = sections(text)[0]
    record = dict(zip(header, row, strict=True))
    assert record["customer_name"] == "'=HYPERLINK(1)"
    assert record["event_title"] == "'@Gala"
    assert record["payment_method"] == "other"


# --- payment at the counter ------------------------------------------------------


async def test_counter_sale_records_payment_and_amount(clerk, make_event, db_rows):
    """A clerk's sale stores how the customer paid and quantity x price, and the report
    shows it under that method."""
    event = await make_event(price="12.50")
    sale = await sell(clerk, event, 4, customer_name="Walk-in", payment_method="card")
    assert (sale["payment_method"], sale["amount"]) == ("card", "50.00")
    [(method, amount, user_id)] = db_rows(
        "SELECT payment_method, amount, user_id FROM bookings WHERE id = %s", sale["id"]
    )
    assert (method, str(amount), user_id) == ("card", "50.00", clerk.user_id)
    data = (await report(clerk)).data
    assert data["payments"]["card"] == till("50.00", "0.00", "50.00")
    assert data["bookings"][0]["payment_method"] == "card"


@pytest.mark.parametrize("method", ["bitcoin", "CASH", "", 1, ["cash"]])
async def test_invalid_payment_method_is_422_naming_the_field(clerk, make_event, db_rows, method):
    event = await make_event()
    reply = await clerk.post(
        BOOKINGS, json={"event_id": event["id"], "customer_name": "X", "payment_method": method}
    )
    assert reply.status == 422, reply.body
    assert reply.fields == ["payment_method"]
    assert db_rows("SELECT count(*) FROM bookings") == [(0,)]


async def test_invalid_payment_method_on_confirm_is_422(clerk, make_event):
    held = await sell(clerk, await make_event(), hold=True)
    reply = await clerk.post(f"{BOOKINGS}/{held['id']}/confirm", json={"payment_method": "iou"})
    assert reply.status == 422
    assert reply.fields == ["payment_method"]
    assert (await clerk.get(f"{BOOKINGS}/{held['id']}")).data["status"] == "pending"


# --- returns of single tickets ---------------------------------------------------------


async def order(actor: Any, event: dict[str, Any], lines: list[dict], **body: Any) -> dict:
    reply = await actor.post(ORDERS, json={"event_id": event["id"], "lines": lines, **body})
    assert reply.status == 201, reply.body
    return reply.data


async def give_back(actor: Any, placed: dict[str, Any], tickets: list[dict], **body: Any) -> dict:
    reply = await actor.post(
        f"{ORDERS}/{placed['id']}/returns", json={"ticket_ids": [t["id"] for t in tickets], **body}
    )
    assert reply.status == 200, reply.body
    return reply.data


def line_of(report: dict[str, Any], booking: dict[str, Any]) -> dict[str, Any]:
    [line] = [x for x in report["bookings"] if x["booking_id"] == booking["id"]]
    return line


async def test_a_partial_return_is_a_refund_in_the_till_of_whoever_returned_it(
    actors, clerk, admin, make_event
):
    """A ticket returned from an order is refunded by the method the return names, in the
    report of the clerk who returned it; the sale stays whole in the seller's report."""
    other = await actors.new("clerk")
    show = await make_event(title="Play", price="20.00")
    sold = await order(clerk, show, [{"quantity": 3}], customer_name="Ann", payment_method="card")
    await give_back(other, sold, sold["tickets"][:1], payment_method="cash")

    mine = (await report(clerk)).data
    assert mine["sales"] == tally(1, 3, "60.00")
    assert mine["returns"] == tally(0, 0, "0.00")
    assert mine["payments"]["card"] == till("60.00", "0.00", "60.00")
    assert mine["net_takings"] == "60.00"
    sale = line_of(mine, sold)
    assert (sale["tickets_sold"], sale["quantity"], sale["sold"]) == (3, 2, "60.00")
    assert (sale["tickets_returned"], sale["refunded"]) == (0, "0.00")

    theirs = (await report(other)).data
    assert theirs["sales"] == tally(0, 0, "0.00")
    assert theirs["returns"] == tally(1, 1, "20.00")
    assert theirs["cancellations"] == tally(0, 0, "0.00")
    assert theirs["payments"]["cash"] == till("0.00", "20.00", "-20.00")
    assert theirs["payments"]["card"] == till("0.00", "0.00", "0.00")
    assert theirs["net_takings"] == "-20.00"
    back = line_of(theirs, sold)
    assert (back["sale"], back["cancellation"], back["status"]) == (False, False, "confirmed")
    assert (back["tickets_returned"], back["refunded"], back["net"]) == (1, "20.00", "-20.00")
    assert (back["refund_methods"], back["returned_by"]) == (["cash"], [other.username])

    everyone = (await report(admin)).data
    assert everyone["net_takings"] == "40.00"
    assert everyone["payments"]["card"] == till("60.00", "0.00", "60.00")
    assert everyone["payments"]["cash"] == till("0.00", "20.00", "-20.00")
    [both] = everyone["bookings"]
    assert (both["sold"], both["refunded"], both["net"]) == ("60.00", "20.00", "40.00")

    # The CSV says the same, in the columns after the ones it always had.
    _, text = await fetch_csv(other, f"{SHIFT}?format=csv")
    lines, summary, payments, *_ = sections(text)
    record = dict(zip(lines[0], lines[1], strict=True))
    assert (record["tickets_returned"], record["refund_methods"]) == ("1", "cash")
    assert (record["returned_by"], record["net"]) == (other.username, "-20.00")
    assert ["returns", "1", "1", "20.00"] in summary
    assert ["cash", "0.00", "20.00", "-20.00"] in payments


async def test_a_return_without_a_method_is_refunded_as_the_sale_was_paid(clerk, make_event):
    show = await make_event(price="15.00")
    sold = await order(clerk, show, [{"quantity": 2}], payment_method="other")
    await give_back(clerk, sold, sold["tickets"][1:])
    data = (await report(clerk)).data
    assert data["payments"]["other"] == till("30.00", "15.00", "15.00")
    line = line_of(data, sold)
    assert (line["sale"], line["tickets_sold"], line["tickets_returned"]) == (True, 2, 1)
    assert (line["net"], line["refund_methods"]) == ("15.00", ["other"])


async def test_a_return_counts_in_its_own_period_not_the_sales(clerk, make_event, db_execute):
    """Sold two days ago, a ticket returned today: the sale's day keeps the whole sale, today
    has only the refund, and a period covering both nets them."""
    show = await make_event(price="25.00")
    sold = await order(clerk, show, [{"quantity": 2}], payment_method="cash")
    moved(db_execute, sold, "2 days")
    await give_back(clerk, sold, sold["tickets"][:1])

    today = (await report(clerk)).data
    assert today["sales"] == tally(0, 0, "0.00")
    assert today["returns"] == tally(1, 1, "25.00")
    assert today["payments"]["cash"] == till("0.00", "25.00", "-25.00")
    assert line_of(today, sold)["sale"] is False

    now = datetime.now().astimezone()
    then = {
        "date_from": (now - timedelta(days=3)).isoformat(),
        "date_to": (now - timedelta(days=1)).isoformat(),
    }
    that_day = (await report(clerk, **then)).data
    assert that_day["sales"] == tally(1, 2, "50.00")
    assert that_day["returns"] == tally(0, 0, "0.00")
    assert that_day["payments"]["cash"] == till("50.00", "0.00", "50.00")
    assert line_of(that_day, sold)["tickets_sold"] == 2  # the ticket returned since included

    both = (await report(clerk, date_from=then["date_from"])).data
    assert (both["net_takings"], len(both["bookings"])) == ("25.00", 1)
    # Each report dates the line by what it counts: the sale, or the return.
    sold_at, returned_at = (
        datetime.fromisoformat(line_of(data, sold)["counted_at"]) for data in (that_day, today)
    )
    assert returned_at - sold_at > timedelta(days=1)
    assert line_of(both, sold)["counted_at"] == line_of(that_day, sold)["counted_at"]


async def test_cancelling_after_a_partial_return_refunds_only_what_is_left(
    clerk, make_event, db_rows
):
    show = await make_event(price="20.00")
    sold = await order(clerk, show, [{"quantity": 3}], payment_method="cash")
    await give_back(clerk, sold, sold["tickets"][:1])
    await cancel(clerk, sold)
    assert db_rows("SELECT sum(refund) FROM tickets WHERE booking_id = %s", sold["id"]) == [
        (Decimal("60.00"),)
    ]

    data = (await report(clerk)).data
    assert data["sales"] == tally(1, 3, "60.00")
    assert data["returns"] == tally(1, 1, "20.00")
    assert data["cancellations"] == tally(1, 2, "40.00")
    assert data["payments"]["cash"] == till("60.00", "60.00", "0.00")
    assert data["net_takings"] == "0.00"
    line = line_of(data, sold)
    assert (line["sale"], line["cancellation"], line["status"]) == (True, True, "cancelled")
    assert (line["tickets_sold"], line["tickets_returned"], line["tickets_cancelled"]) == (3, 1, 2)
    assert (line["sold"], line["refunded"], line["net"]) == ("60.00", "60.00", "0.00")


async def test_returning_every_ticket_left_is_a_return_not_a_second_refund(clerk, make_event):
    """The last tickets returned cancel the order, but they were refunded by the return
    only: the report counts them once, as returns."""
    show = await make_event(price="10.00")
    sold = await order(clerk, show, [{"quantity": 2}], payment_method="card")
    first, second = sold["tickets"]
    await give_back(clerk, sold, [first])
    await give_back(clerk, sold, [second])
    data = (await report(clerk)).data
    assert data["returns"] == tally(1, 2, "20.00")
    assert data["cancellations"] == tally(0, 0, "0.00")
    assert data["net_takings"] == "0.00"
    line = line_of(data, sold)
    assert (line["status"], line["tickets_returned"], line["net"]) == ("cancelled", 2, "0.00")


async def test_a_hold_sells_the_tickets_it_is_confirmed_with(clerk, make_event):
    """A ticket given back while the order was a hold was never sold, nor refunded."""
    show = await make_event(price="12.00")
    held = await order(clerk, show, [{"quantity": 3}], hold=True)
    await give_back(clerk, held, held["tickets"][:1])
    paid = await clerk.post(f"{BOOKINGS}/{held['id']}/confirm", json={"payment_method": "cash"})
    assert paid.status == 200, paid.body
    data = (await report(clerk)).data
    assert data["sales"] == data["holds_confirmed"] == tally(1, 2, "24.00")
    assert data["returns"] == tally(0, 0, "0.00")
    assert data["payments"]["cash"] == till("24.00", "0.00", "24.00")


BY_TYPE = ("ticket_type", "zone", "tickets_sold", "sold", "tickets_refunded", "refunded", "net")


def kinds(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(k[name] for name in BY_TYPE) for k in data["by_type"]]


async def test_sales_and_refunds_per_ticket_type_and_zone(admin, clerk, make_event, seated_event):
    """A line per type and zone (no zone for general admission): tickets, amount sold and
    refunded; the types of every event by one name share its lines."""
    seated = await seated_event()  # Standard: zone A 50.00, zone B 30.00
    seats = seated["seats"]
    concession = await add_type(admin, seated["id"], "Concession", price=Decimal("35.00"))
    night = await order(
        clerk,
        seated,
        [
            {"seat_ids": [seats["A1"], seats["A2"], seats["C1"]]},
            {"ticket_type_id": concession, "seat_ids": [seats["A3"]]},
        ],
        payment_method="card",
    )
    back = [t for t in night["tickets"] if t["seat_id"] == seats["C1"]]
    await give_back(clerk, night, back)

    ga = await make_event(title="Picnic", price="20.00")
    child = await add_type(admin, ga["id"], "Child", price=Decimal("8.50"))
    picnic = await order(
        clerk,
        ga,
        [{"quantity": 2}, {"ticket_type_id": child, "quantity": 1}],
        payment_method="cash",
    )
    await give_back(clerk, picnic, [t for t in picnic["tickets"] if t["ticket_type"] == "Child"])

    data = (await report(clerk)).data
    assert kinds(data) == [
        ("Child", None, 1, "8.50", 1, "8.50", "0.00"),
        ("Concession", "A", 1, "35.00", 0, "0.00", "35.00"),
        ("Standard", None, 2, "40.00", 0, "0.00", "40.00"),
        ("Standard", "A", 2, "100.00", 0, "0.00", "100.00"),
        ("Standard", "B", 1, "30.00", 1, "30.00", "0.00"),
    ]
    assert data["sales"] == tally(2, 7, "213.50")
    assert data["returns"] == tally(2, 2, "38.50")
    assert data["net_takings"] == "175.00"
    assert sum(Decimal(k["net"]) for k in data["by_type"]) == Decimal(data["net_takings"])

    _, text = await fetch_csv(clerk, f"{SHIFT}?format=csv")
    by_type = sections(text)[-1]
    assert tuple(by_type[0]) == BY_TYPE
    assert by_type[1:] == [[str(v) if v is not None else "" for v in k] for k in kinds(data)]
