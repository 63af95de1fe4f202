"""Printing at the counter: an order's tickets and its receipt, on an ESC/POS thermal
printer or as PDF files.

What is printed is built first (``ticket_slips``, ``receipt_of``: plain data, no I/O), then
drawn by one of two renderers: ``escpos_tickets``/``escpos_receipt`` write ESC/POS commands
to any python-escpos printer (network, USB, a device file, or the library's Dummy in the
tests); ``pdf_tickets``/``pdf_receipt`` make PDF files, a ticket a page, that can be saved,
mailed or sent to a system printer with ``lp``. Each ticket carries its own code as a QR
symbol: exactly what ``POST /checkins`` takes.

``deliver`` does the blocking part (the printer's I/O, writing files) and is run in a
thread by ``print_order``, which first has the server record the print in the audit log:
nothing comes out of a printer that the log does not show.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

import segno
from escpos.capabilities import CAPABILITIES
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import File, Network, Usb
from fpdf import FPDF

from common.client import Client
from common.models import Event, Order, Ticket

from .formatting import PAYMENT_METHODS, money, seat_label, ticket_code

PrinterKind = Literal["pdf", "network", "usb", "file"]
PRINTER_KINDS: tuple[PrinterKind, ...] = get_args(PrinterKind)
HELD = ("valid", "admitted")  # tickets still good at the door; returned ones are void
NETWORK_PORT = 9100  # the raw printing port thermal printers listen on
NETWORK_TIMEOUT = 10.0  # seconds: a printer that does not answer is reported, not waited on
# The reference Epson 80 mm printer, which most ESC/POS printers emulate. A profile must
# know the paper's width in dots: python-escpos prints a warning on stdout (over the
# terminal's screen) before an image for one that does not.
DEFAULT_PROFILE = "TM-T88V"


def profiles() -> list[str]:
    """The printer profiles python-escpos knows the paper width of."""
    return sorted(
        name
        for name, data in CAPABILITIES["profiles"].items()
        if isinstance(data.get("media", {}).get("width", {}).get("pixels"), int)
    )


class PrintError(Exception):
    """Printing failed, said in words a clerk can act on."""


# --- what is printed ----------------------------------------------------------------


@dataclass(frozen=True)
class TicketSlip:
    """One ticket as printed."""

    order_id: int
    event: str
    date: str
    venue: str
    seat: str
    ticket_type: str
    price: str
    code: str
    customer: str
    number: int
    of: int


@dataclass(frozen=True)
class Receipt:
    """An order's receipt as printed."""

    order_id: int
    event: str
    date: str
    venue: str
    customer: str
    lines: list[tuple[str, str]]
    """(what, amount): ``2 x Standard @ 12.50``, ``25.00``"""
    total: str
    payment: list[str]
    """how it stands: paid how, refunds, or held until when"""
    order_code: str
    printed_at: str
    clerk: str


def _event_fields(event: Event | None) -> tuple[str, str, str]:
    if event is None:
        return "Event", "", ""
    date = event.date.astimezone().strftime("%a %d %b %Y, %H:%M")
    return event.title, date, event.venue or ""


def printable(order: Order) -> list[Ticket]:
    """The tickets that print: those still held, once they have codes (a confirmed order)."""
    return [t for t in order.tickets if t.status in HELD and t.code]


def ticket_slips(order: Order, event: Event | None) -> list[TicketSlip]:
    title, date, venue = _event_fields(event)
    tickets = printable(order)
    return [
        TicketSlip(
            order_id=order.id,
            event=title,
            date=date,
            venue=venue,
            seat=seat_label(t),
            ticket_type=t.ticket_type,
            price=money(t.price),
            code=t.code or "",
            customer=order.customer_name or "",
            number=n,
            of=len(tickets),
        )
        for n, t in enumerate(tickets, 1)
    ]


def receipt_of(order: Order, event: Event | None, clerk: str, now: datetime) -> Receipt:
    title, date, venue = _event_fields(event)
    lines = []
    for line in order.lines:
        kind = f"{line.ticket_type} (zone {line.zone})" if line.zone else line.ticket_type
        lines.append((f"{line.quantity} x {kind} @ {money(line.price)}", money(line.amount)))
        if line.returned:
            lines.append((f"  {line.returned} returned", ""))
    refunds = sum((t.refund or 0 for t in order.tickets), 0)
    payment = []
    if order.status == "confirmed":
        how = PAYMENT_METHODS[order.payment_method] if order.payment_method else "unrecorded"
        payment.append(f"Paid: {how}")
    elif order.status == "pending":
        until = order.expires_at.astimezone().strftime("%H:%M") if order.expires_at else "?"
        payment.append(f"Held until {until}: to pay at the counter")
    else:
        payment.append(f"Order {order.status}")
    if refunds:
        payment.append(f"Refunded: {money(refunds)}")
    return Receipt(
        order_id=order.id,
        event=title,
        date=date,
        venue=venue,
        customer=order.customer_name or "",
        lines=lines,
        total=money(order.amount),
        payment=payment,
        order_code=ticket_code(order.ticket_code) if order.ticket_code else "",
        printed_at=now.astimezone().strftime("%Y-%m-%d %H:%M"),
        clerk=clerk,
    )


# --- ESC/POS ----------------------------------------------------------------------------

WIDTH = 42  # characters a line in font A on 80 mm paper (32 on 58 mm: lines wrap)


def _pair(left: str, right: str, width: int = WIDTH) -> str:
    """``left`` and ``right`` on one line, right aligned (wrapped when they do not fit)."""
    gap = width - len(left) - len(right)
    return f"{left}{' ' * gap}{right}" if gap >= 1 else f"{left}\n{right:>{width}}"


def escpos_tickets(printer: Escpos, slips: Sequence[TicketSlip], *, reprint: bool = False) -> None:
    """Each ticket on its own, cut after it: the event large, the seat larger, the code as
    a QR symbol (drawn as an image, which every ESC/POS printer prints) and in letters."""
    for slip in slips:
        printer.set_with_default(align="center", bold=True)
        printer.textln("BOXOFFICE - ADMISSION TICKET")
        if reprint:
            printer.textln("*** REPRINT ***")
        printer.set_with_default(align="center", bold=True, double_height=True, double_width=True)
        printer.textln(slip.event)
        printer.set_with_default(align="center")
        printer.textln(slip.date)
        if slip.venue:
            printer.textln(slip.venue)
        printer.ln()
        printer.set_with_default(align="center", bold=True, double_height=True, double_width=True)
        printer.textln(slip.seat)
        printer.set_with_default(align="center")
        printer.textln(f"{slip.ticket_type} - {slip.price}")
        if slip.customer:
            printer.textln(slip.customer)
        # Error correction M survives a crease; 6 dots a module is about 0.75 mm, big
        # enough for any door scanner.
        printer.qr(slip.code, size=6, native=False, center=True)
        printer.textln(ticket_code(slip.code))
        printer.textln(f"Order #{slip.order_id} - ticket {slip.number} of {slip.of}")
        printer.textln("Admits one, once.")
        printer.cut()


def escpos_receipt(printer: Escpos, receipt: Receipt, *, reprint: bool = False) -> None:
    printer.set_with_default(align="center", bold=True, double_height=True)
    printer.textln("BOXOFFICE")
    printer.set_with_default(align="center")
    printer.textln(f"Receipt - order #{receipt.order_id}")
    if reprint:
        printer.textln("*** COPY ***")
    printer.set_with_default()
    printer.textln(receipt.event)
    printer.textln(receipt.date)
    if receipt.venue:
        printer.textln(receipt.venue)
    if receipt.customer:
        printer.textln(f"Customer: {receipt.customer}")
    printer.textln("-" * WIDTH)
    for what, amount in receipt.lines:
        printer.textln(_pair(what, amount))
    printer.textln("-" * WIDTH)
    printer.set_with_default(align="left", bold=True)
    printer.textln(_pair("TOTAL", receipt.total))
    printer.set_with_default()
    for line in receipt.payment:
        printer.textln(line)
    if receipt.order_code:
        printer.textln(f"Order code: {receipt.order_code}")
    printer.textln(f"{receipt.printed_at} - served by {receipt.clerk}")
    printer.cut()


# --- PDF --------------------------------------------------------------------------------

# A Unicode font when the system has one (customers' names are not all Latin-1); the PDF
# core font otherwise, with what it cannot draw replaced.
_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
_PUNCTUATION = str.maketrans({"\u2026": "...", "\u2013": "-", "\u2014": "-", "\u20ac": "EUR"})


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format=(105, 148))  # A6
        self.set_margins(8, 8, 8)
        self.set_auto_page_break(True, margin=8)
        self.unicode = False
        for path in _FONTS:
            bold = path.with_name(path.stem + "-Bold.ttf")
            if path.exists() and bold.exists():
                self.add_font("body", "", str(path))
                self.add_font("body", "B", str(bold))
                self.unicode = True
                break

    def font(self, size: float, bold: bool = False) -> None:
        family = "body" if self.unicode else "helvetica"
        self.set_font(family, "B" if bold else "", size)

    def line_of(self, text: str, size: float = 10, *, bold: bool = False, align: str = "L") -> None:
        self.font(size, bold)
        if not self.unicode:
            text = text.translate(_PUNCTUATION).encode("latin-1", "replace").decode("latin-1")
        self.multi_cell(0, size * 0.5, text, align=align, new_x="LMARGIN", new_y="NEXT")


def _qr_png(code: str) -> io.BytesIO:
    png = io.BytesIO()
    segno.make_qr(code, error="m", boost_error=False).save(png, kind="png", scale=10, border=4)
    png.seek(0)
    return png


def pdf_tickets(slips: Sequence[TicketSlip], *, reprint: bool = False) -> bytes:
    """A PDF of the tickets, one an A6 page, each with its QR symbol."""
    pdf = _Pdf()
    pdf.set_title(f"Tickets of order {slips[0].order_id}" if slips else "Tickets")
    for slip in slips:
        pdf.add_page()
        pdf.line_of("BOXOFFICE - ADMISSION TICKET" + (" - REPRINT" if reprint else ""), 8)
        pdf.line_of(slip.event, 16, bold=True)
        pdf.line_of(slip.date, 10)
        if slip.venue:
            pdf.line_of(slip.venue, 10)
        pdf.ln(2)
        pdf.line_of(slip.seat, 18, bold=True)
        pdf.line_of(f"{slip.ticket_type} - {slip.price}", 10)
        if slip.customer:
            pdf.line_of(slip.customer, 10)
        side = 50.0
        pdf.image(_qr_png(slip.code), x=(pdf.w - side) / 2, y=pdf.get_y() + 2, w=side, h=side)
        pdf.set_y(pdf.get_y() + side + 4)
        pdf.line_of(ticket_code(slip.code), 9, align="C")
        pdf.line_of(f"Order #{slip.order_id} - ticket {slip.number} of {slip.of}", 8, align="C")
        pdf.line_of("Admits one, once. Keep the code private.", 8, align="C")
    return bytes(pdf.output())


def pdf_receipt(receipt: Receipt, *, reprint: bool = False) -> bytes:
    pdf = _Pdf()
    pdf.set_title(f"Receipt of order {receipt.order_id}")
    pdf.add_page()
    pdf.line_of("BOXOFFICE", 14, bold=True, align="C")
    copy = " - COPY" if reprint else ""
    pdf.line_of(f"Receipt - order #{receipt.order_id}{copy}", 10, align="C")
    pdf.ln(2)
    for text in (receipt.event, receipt.date, receipt.venue):
        if text:
            pdf.line_of(text, 9)
    if receipt.customer:
        pdf.line_of(f"Customer: {receipt.customer}", 9)
    pdf.ln(2)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for what, amount in [*receipt.lines, ("TOTAL", receipt.total)]:
        pdf.font(9, bold=what == "TOTAL")
        pdf.cell(width - 22, 5, what)
        pdf.cell(22, 5, amount, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for line in receipt.payment:
        pdf.line_of(line, 9)
    if receipt.order_code:
        pdf.line_of(f"Order code: {receipt.order_code}", 8)
    pdf.line_of(f"{receipt.printed_at} - served by {receipt.clerk}", 8)
    return bytes(pdf.output())


# --- where it goes -------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterSetup:
    """Where this terminal prints (from its settings): a copy handed to the printing
    thread, so nothing it reads changes under it."""

    kind: PrinterKind = "pdf"
    address: str = ""
    """network: host[:port]; usb: vendor:product (hex); file: the device file"""
    folder: Path = field(default_factory=Path.home)
    """where PDFs are saved"""
    lp: bool = False
    """send each PDF to the system printer with lp"""
    profile: str = DEFAULT_PROFILE
    """the ESC/POS printer's python-escpos profile (paper width, code pages)"""


def parse_address(kind: PrinterKind, address: str) -> tuple[str, int] | tuple[int, int] | str:
    """The printer's address as python-escpos takes it; ValueError says what is wrong."""
    address = address.strip()
    if kind == "network":
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
        host = host.strip("[]")
        if not host:
            raise ValueError("Give the printer's host name or address, as 192.168.1.50:9100")
        if not port:
            return host, NETWORK_PORT
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{port!r} is not a port number (thermal printers use 9100)")
        return host, int(port)
    if kind == "usb":
        vendor, _, product = address.partition(":")
        try:
            return int(vendor, 16), int(product, 16)
        except ValueError:
            raise ValueError(
                "Give the USB vendor and product ids in hex, as 04b8:0202 (lsusb shows them)"
            ) from None
    if kind == "file":
        if not address:
            raise ValueError("Give the printer's device file, as /dev/usb/lp0")
        return address
    return ""


def open_printer(setup: PrinterSetup) -> Escpos:
    """The configured ESC/POS printer, opened (a DeviceNotFoundError when it is not there)."""
    where = parse_address(setup.kind, setup.address)
    printer: Escpos
    if setup.kind == "network":
        host, port = where  # type: ignore[misc]
        printer = Network(host, port=port, timeout=NETWORK_TIMEOUT, profile=setup.profile)
    elif setup.kind == "usb":
        if not Usb.is_usable():
            raise PrintError("USB printing needs pyusb and libusb on this machine")
        vendor, product = where  # type: ignore[misc]
        printer = Usb(vendor, product, timeout=int(NETWORK_TIMEOUT * 1000), profile=setup.profile)
    else:
        printer = File(str(where), profile=setup.profile)
    printer.open()
    return printer


@dataclass(frozen=True)
class PrintJob:
    """What one press of ``p`` prints."""

    order_id: int
    slips: list[TicketSlip]
    receipt: Receipt | None
    reprint: bool = False
    receipt_reprint: bool = False


def _free_name(folder: Path, stem: str) -> Path:
    """``stem.pdf`` in ``folder``, or ``stem-2.pdf``...: a reprint never overwrites."""
    path, n = folder / f"{stem}.pdf", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.pdf"
    return path


def deliver(job: PrintJob, setup: PrinterSetup) -> str:
    """Print ``job`` (blocking: run it in a thread). What was done, in a sentence."""
    if setup.kind == "pdf":
        return _save_pdfs(job, setup)
    try:
        printer = open_printer(setup)
    except (EscposError, OSError, ValueError) as exc:
        raise PrintError(f"The printer is not there ({setup.kind} {setup.address}): {exc}") from exc
    try:
        escpos_tickets(printer, job.slips, reprint=job.reprint)
        if job.receipt is not None:
            escpos_receipt(printer, job.receipt, reprint=job.receipt_reprint)
    except (EscposError, OSError) as exc:
        raise PrintError(f"Printing stopped: {exc}") from exc
    finally:
        printer.close()
    return f"Printed {_what(job)} on {setup.kind} printer {setup.address}"


def _save_pdfs(job: PrintJob, setup: PrinterSetup) -> str:
    try:
        setup.folder.mkdir(parents=True, exist_ok=True)
        saved = []
        if job.slips:
            path = _free_name(setup.folder, f"order-{job.order_id}-tickets")
            path.write_bytes(pdf_tickets(job.slips, reprint=job.reprint))
            saved.append(path)
        if job.receipt is not None:
            path = _free_name(setup.folder, f"order-{job.order_id}-receipt")
            path.write_bytes(pdf_receipt(job.receipt, reprint=job.receipt_reprint))
            saved.append(path)
    except OSError as exc:
        raise PrintError(f"Could not save the PDF in {setup.folder}: {exc}") from exc
    sent = ""
    if setup.lp:
        lp = shutil.which("lp")
        if lp is None:
            raise PrintError(f"Saved {', '.join(map(str, saved))}, but there is no lp to print")
        for path in saved:
            result = subprocess.run(
                [lp, "-o", "fit-to-page", "--", str(path)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if result.returncode:
                raise PrintError(f"Saved {path}, but lp refused it: {result.stderr.strip()}")
        sent = " and sent to the printer"
    return f"Saved {_what(job)} as {', '.join(p.name for p in saved)} in {setup.folder}{sent}"


def _what(job: PrintJob) -> str:
    parts = []
    if job.slips:
        parts.append(f"{len(job.slips)} ticket{'s' if len(job.slips) != 1 else ''}")
    if job.receipt is not None:
        parts.append("the receipt")
    return " and ".join(parts) or "nothing"


# --- the whole of a print -------------------------------------------------------------


async def print_order(
    client: Client,
    setup: PrinterSetup,
    order: Order,
    event: Event | None,
    *,
    receipt: bool = True,
) -> str:
    """Print an order's tickets (and its receipt): the server records each print first
    (a copy as a reprint), then the printer's I/O runs in a thread, so the terminal stays
    live however slow the printer. What was done, in a sentence; PrintError or the
    client's errors otherwise."""
    slips = ticket_slips(order, event)
    if not slips and not receipt:
        raise PrintError("Nothing to print: the order has no tickets (a hold gets them once paid)")
    reprint = receipt_reprint = False
    if slips:
        reprint = (await client.record_print(order.id, "tickets")).reprint
    receipt_data = None
    if receipt:
        receipt_reprint = (await client.record_print(order.id, "receipt")).reprint
        receipt_data = receipt_of(order, event, client.username or "", datetime.now())
    job = PrintJob(order.id, slips, receipt_data, reprint, receipt_reprint)
    return await asyncio.to_thread(deliver, job, setup)
