"""What the counter prints, read back as a scanner and a reader would: the ESC/POS byte
stream (python-escpos's Dummy printer) with its QR images decoded, and the PDF tickets'
text and QR images (pypdf, zxing-cpp)."""

from __future__ import annotations

import io
import re
import socket
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from escpos.printer import Dummy

from common.models import Event, Order
from tui.printing import (
    DEFAULT_PROFILE,
    PrintError,
    PrinterSetup,
    PrintJob,
    deliver,
    escpos_receipt,
    escpos_tickets,
    parse_address,
    pdf_receipt,
    pdf_tickets,
    receipt_of,
    ticket_slips,
)

CODES = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"]
NOW = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)


def an_order() -> tuple[Order, Event]:
    """A seated order of three tickets, the third given back, paid by card."""
    ticket = {
        "ticket_type_id": 1, "ticket_type": "Standard", "section": "Stalls", "row": "F",
        "zone": "A", "price": "25.00", "status": "valid",
    }  # fmt: skip
    order = Order.model_validate({
        "id": 42, "event_id": 7, "user_id": 1, "quantity": 2, "status": "confirmed",
        "customer_name": "Zoë Smith", "created_at": NOW, "updated_at": NOW,
        "payment_method": "card", "amount": "50.00", "ticket_code": "ab" * 16,
        "lines": [{"ticket_type_id": 1, "ticket_type": "Standard", "zone": "A",
                   "price": "25.00", "quantity": 2, "returned": 1, "amount": "50.00"}],
        "tickets": [
            {**ticket, "id": 1, "seat_id": 11, "number": "11", "code": CODES[0]},
            {**ticket, "id": 2, "seat_id": 12, "number": "12", "code": CODES[1]},
            {**ticket, "id": 3, "seat_id": 13, "number": "13", "code": "9" * 32,
             "status": "returned", "refund": "25.00"},
        ],
    })  # fmt: skip
    event = Event.model_validate({
        "id": 7, "title": "Gala Night", "description": None, "date": "2099-06-01T19:30:00Z",
        "venue": "Grand Hall",
        "total_seats": 100, "available_seats": 50, "price": "25.00", "version": 1,
        "created_at": NOW, "updated_at": NOW,
    })  # fmt: skip
    return order, event


def decode(image: object) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(image)]


def escpos_qr_codes(stream: bytes) -> list[str]:
    """Every raster image (``GS v 0``) in an ESC/POS stream, drawn on white paper with a
    quiet zone around it, then decoded."""
    from PIL import Image

    codes = []
    for match in re.finditer(rb"\x1dv0", stream):
        at = match.end()
        width_bytes = stream[at + 1] | stream[at + 2] << 8
        height = stream[at + 3] | stream[at + 4] << 8
        data = stream[at + 5 : at + 5 + width_bytes * height]
        image = Image.frombytes("1", (width_bytes * 8, height), data)
        # ESC/POS sets a bit for a dark dot; PIL's "1" mode calls a set bit white.
        image = Image.eval(image.convert("L"), lambda v: 255 - v)
        paper = Image.new("L", (image.width + 80, image.height + 80), 255)
        paper.paste(image, (40, 40))
        codes.extend(decode(paper))
    return codes


def printable_text(stream: bytes) -> str:
    return stream.decode("cp437", errors="replace")


def test_the_escpos_tickets_carry_each_seat_and_its_code_as_a_qr():
    """A ticket per seat still held: the event, date, venue, seat, type, price and the code
    in letters and as a QR that decodes to it; the returned ticket is not printed."""
    order, event = an_order()
    printer = Dummy(profile=DEFAULT_PROFILE)
    escpos_tickets(printer, ticket_slips(order, event))
    stream = printer.output
    text = printable_text(stream)
    for shown in ("Gala Night", "Grand Hall", "2099", "Stalls F11", "Stalls F12", "Standard"):
        assert shown in text, shown
    assert "0123 4567 89ab cdef" in text and "ticket 2 of 2" in text
    assert "Stalls F13" not in text
    assert escpos_qr_codes(stream) == CODES
    assert stream.count(b"\x1dV") == 2  # a cut after each ticket
    assert "REPRINT" not in text


def test_an_escpos_reprint_says_so():
    order, event = an_order()
    printer = Dummy(profile=DEFAULT_PROFILE)
    escpos_tickets(printer, ticket_slips(order, event), reprint=True)
    assert printable_text(printer.output).count("*** REPRINT ***") == 2


def test_the_escpos_receipt_has_the_lines_total_payment_and_refund():
    order, event = an_order()
    printer = Dummy(profile=DEFAULT_PROFILE)
    escpos_receipt(printer, receipt_of(order, event, "clerk1", NOW))
    text = printable_text(printer.output)
    assert "Receipt - order #42" in text
    assert re.search(r"2 x Standard \(zone A\) @ 25\.00 +50\.00", text)
    assert re.search(r"TOTAL +50\.00", text)
    assert "Paid: Card" in text and "Refunded: 25.00" in text
    assert "served by clerk1" in text and "abab abab" in text


def test_the_pdf_has_a_ticket_a_page_with_its_qr():
    order, event = an_order()
    reader = pypdf.PdfReader(io.BytesIO(pdf_tickets(ticket_slips(order, event))))
    assert len(reader.pages) == 2
    for page, seat, code in zip(reader.pages, ("Stalls F11", "Stalls F12"), CODES, strict=True):
        text = page.extract_text()
        for shown in ("Gala Night", "Grand Hall", seat, "Standard - 25.00", "Zoë Smith"):
            assert shown in text, shown
        assert [decode(image.image) for image in page.images] == [[code]]


def test_the_pdf_receipt_reads_back():
    order, event = an_order()
    receipt = pdf_receipt(receipt_of(order, event, "clerk1", NOW), reprint=True)
    [page] = pypdf.PdfReader(io.BytesIO(receipt)).pages
    text = page.extract_text()
    for shown in ("Receipt - order #42 - COPY", "Gala Night", "TOTAL", "50.00", "Paid: Card"):
        assert shown in text, shown


def test_pdfs_are_saved_in_the_folder_and_a_reprint_never_overwrites(tmp_path: Path):
    order, event = an_order()
    job = PrintJob(42, ticket_slips(order, event), receipt_of(order, event, "clerk1", NOW))
    setup = PrinterSetup(kind="pdf", folder=tmp_path / "prints")
    said = deliver(job, setup)
    deliver(job, setup)
    assert "2 tickets and the receipt" in said
    assert sorted(p.name for p in (tmp_path / "prints").iterdir()) == [
        "order-42-receipt-2.pdf",
        "order-42-receipt.pdf",
        "order-42-tickets-2.pdf",
        "order-42-tickets.pdf",
    ]


def test_a_network_printer_gets_the_stream():
    """A printer on the network (a listening socket standing in for it) receives the
    tickets, QR images included."""
    order, event = an_order()
    listener = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def printer() -> None:
        conn, _ = listener.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=printer)
    thread.start()
    port = listener.getsockname()[1]
    try:
        said = deliver(
            PrintJob(42, ticket_slips(order, event), None),
            PrinterSetup(kind="network", address=f"127.0.0.1:{port}"),
        )
        thread.join(timeout=10)
    finally:
        listener.close()
    assert f"127.0.0.1:{port}" in said
    assert escpos_qr_codes(bytes(received)) == CODES


def test_a_printer_that_is_not_there_is_said_plainly(tmp_path: Path):
    order, event = an_order()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens on it
    job = PrintJob(42, ticket_slips(order, event), None)
    with pytest.raises(PrintError, match="not there"):
        deliver(job, PrinterSetup(kind="network", address=f"127.0.0.1:{port}"))
    with pytest.raises(PrintError, match="not there"):
        deliver(job, PrinterSetup(kind="file", address=str(tmp_path / "no" / "lp0")))


def test_a_device_file_gets_the_stream(tmp_path: Path):
    order, event = an_order()
    device = tmp_path / "lp0"
    device.touch()
    deliver(PrintJob(42, ticket_slips(order, event), None), PrinterSetup("file", str(device)))
    assert escpos_qr_codes(device.read_bytes()) == CODES


@pytest.mark.parametrize(
    ("kind", "address", "parsed"),
    [
        ("network", "10.0.0.5", ("10.0.0.5", 9100)),
        ("network", "printer.local:9101", ("printer.local", 9101)),
        ("usb", "04b8:0202", (0x04B8, 0x0202)),
        ("file", "/dev/usb/lp0", "/dev/usb/lp0"),
    ],
)
def test_printer_addresses(kind, address, parsed):
    assert parse_address(kind, address) == parsed


@pytest.mark.parametrize(
    ("kind", "address"), [("network", ""), ("network", "h:99999"), ("usb", "epson"), ("file", "")]
)
def test_bad_printer_addresses_say_what_is_expected(kind, address):
    with pytest.raises(ValueError, match=r"as |9100"):
        parse_address(kind, address)


def test_money_is_exact():
    order, event = an_order()
    assert ticket_slips(order, event)[0].price == "25.00"
    assert order.amount == Decimal("50.00")
