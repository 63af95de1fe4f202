"""Printing at the counter, driven by Textual's pilot against a real server: ``p`` in the
order dialog saves the tickets as a PDF (a page each, its QR decoding to the ticket's code)
and the server's audit log has the print; a second ``p`` is a reprint. The printer
settings dialog (F10) saves where to print."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pypdf
import zxingcpp
from support import place_order
from textual.widgets import Input
from tui_support import Notices, go_to, on_bookings, running, until

from tui.screens.help import key_table
from tui.screens.order_detail import OrderScreen
from tui.screens.printer import PrinterScreen
from tui.screens.sell import ReceiptScreen, SellScreen
from tui.settings import Settings

SMALL = (80, 24)


async def test_p_prints_the_orders_tickets_as_a_pdf_and_the_print_is_audited(
    tui, clerk, admin, make_event, tmp_path: Path
):
    event = await make_event(title="Printed Night", total_seats=20, price="15.00")
    placed = await place_order(
        clerk, event_id=event["id"], lines=[{"quantity": 3}], customer_name="Ada",
        payment_method="cash",
    )  # fmt: skip
    assert placed.status == 201, placed.body
    order = placed.data
    folder = tmp_path / "prints"
    Settings(pdf_dir=str(folder), print_receipt=False).save(tmp_path / "tui.json")
    app = tui(clerk)
    notices = Notices()
    async with on_bookings(app, listed=1, notices=notices, size=SMALL) as (pilot, _s, _t):
        screen = await go_to(pilot, OrderScreen, "enter")
        await until(pilot, lambda: screen.order is not None)
        await pilot.press("p")
        tickets_pdf = folder / f"order-{order['id']}-tickets.pdf"
        await until(pilot, lambda: any("Saved" in m for m in notices.messages))
        assert tickets_pdf.exists()
        await pilot.press("p")
        await until(pilot, lambda: (folder / f"order-{order['id']}-tickets-2.pdf").exists())

    pages = pypdf.PdfReader(io.BytesIO(tickets_pdf.read_bytes())).pages
    codes = [t["code"] for t in order["tickets"]]
    assert len(pages) == 3
    for page, code in zip(pages, codes, strict=True):
        assert "Printed Night" in page.extract_text() and "General admission" in page.extract_text()
        [image] = page.images
        assert [found.text for found in zxingcpp.read_barcodes(image.image)] == [code]
    assert not list(folder.glob("*receipt*"))  # the settings said no receipt
    log = await admin.get(f"/api/v1/audit?booking_id={order['id']}&action=ticket")
    assert [(r["action"], r["actor"]) for r in reversed(log.data)] == [
        ("ticket.print", clerk.username),
        ("ticket.reprint", clerk.username),
    ]


async def test_a_printer_that_is_not_there_is_a_clear_notice(tui, clerk, make_event, tmp_path):
    event = await make_event(total_seats=5)
    placed = await place_order(clerk, event_id=event["id"], lines=[{"quantity": 1}])
    assert placed.status == 201, placed.body
    Settings(printer="file", printer_address=str(tmp_path / "none" / "lp0")).save(
        tmp_path / "tui.json"
    )
    app = tui(clerk)
    notices = Notices()
    async with on_bookings(app, listed=1, notices=notices) as (pilot, _s, _t):
        screen = await go_to(pilot, OrderScreen, "enter")
        await until(pilot, lambda: screen.order is not None)
        await pilot.press("p")
        await until(pilot, lambda: any("Not printed" in m for m in notices.messages))
    [notice] = [n for n in notices.seen if "Not printed" in n.message]
    assert notice.severity == "error" and "not there" in notice.message


async def test_the_printer_settings_dialog_saves_a_network_printer(
    tui, clerk, make_event, tmp_path: Path
):
    """F10 from anywhere: a bad address is refused in words; a good one is remembered."""
    await make_event()
    app = tui(clerk)
    async with on_bookings(app, listed=0, size=SMALL) as (pilot, _s, _t):
        dialog = await go_to(pilot, PrinterScreen, "f10")
        await pilot.click("#printer-network")
        address = dialog.query_one("#printer-address", Input)
        assert not address.disabled
        address.value = "printer.local:notaport"
        await pilot.press("ctrl+s")
        assert "port" in str(dialog.query_one("#printer-message").render())
        address.value = "192.168.1.50:9100"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, PrinterScreen))
    saved = Settings.load(tmp_path / "tui.json")
    assert (saved.printer, saved.printer_address) == ("network", "192.168.1.50:9100")


async def test_the_printer_settings_are_in_the_palette_and_help(tui, clerk):
    app = tui(clerk)
    async with on_bookings(app, listed=0) as (_pilot, screen, _t):
        names = [c.title for c in app.get_system_commands(screen)]
        assert "Printer settings" in names
        assert "| `f10` | Printer settings |" in key_table(screen)
        assert app.check_action("printer_settings", ()) is True


async def test_users_do_not_print(tui, user: Any):
    app = tui(user)
    async with on_bookings(app, listed=0) as (_pilot, screen, _t):
        assert "Printer settings" not in [c.title for c in app.get_system_commands(screen)]
        assert app.check_action("printer_settings", ()) is False


async def test_p_on_the_receipt_prints_the_sale_just_made(tui, clerk, make_event, tmp_path):
    """Straight after a sale, ``p`` on its receipt prints its tickets."""
    await make_event(title="Receipt Night", total_seats=10, price="12.50")
    folder = tmp_path / "prints"
    Settings(pdf_dir=str(folder), print_receipt=False).save(tmp_path / "tui.json")
    app = tui(clerk)
    notices = Notices()
    async with running(app, SMALL, notices=notices) as pilot:
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SellScreen))
        await pilot.press("backspace", "2", "enter", *"Grace Hopper", "enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen))
        receipt = app.screen
        assert isinstance(receipt, ReceiptScreen)
        await pilot.press("p")
        await until(pilot, lambda: any("Saved" in m for m in notices.messages))
    pdf = folder / f"order-{receipt.booking.id}-tickets.pdf"
    assert len(pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages) == 2
