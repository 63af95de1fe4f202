"""Webhooks, for admins: the registered endpoints (URL, status, how long one has been
failing) and the highlighted one's deliveries, newest first, with each one's attempts and
last answer. ``d`` sends the highlighted delivery again; ``p`` pauses or resumes the
endpoint (resuming a disabled one too). Endpoints are registered through the API
(docs/webhooks.md), whose answer holds the signing secret."""

from __future__ import annotations

from collections.abc import Iterable

from rich.markup import escape
from textual import on, work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from common.client import ClientError
from common.models import Webhook, WebhookDelivery, WebhookPatch

from ..formatting import clipped, clock
from .base import StaffScreen

STATUS_STYLE = {
    "active": "green",
    "paused": "yellow",
    "disabled": "red",
    "delivered": "green",
    "pending": "yellow",
    "failed": "red",
}


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def last_answer(delivery: WebhookDelivery) -> str:
    if delivery.last_status_code is not None:
        return str(delivery.last_status_code)
    return "—" if delivery.last_error is None else "none"


class WebhooksScreen(StaffScreen):
    BINDINGS = [
        Binding("d", "redeliver", "Redeliver", id="webhooks-redeliver"),
        Binding("p", "pause", "Pause/resume", id="webhooks-pause"),
        Binding("r", "reload", "Reload", id="webhooks-reload"),
    ]

    def compose_body(self) -> Iterable[Widget]:
        yield DataTable(id="webhooks-table", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="deliveries-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="delivery-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = "Webhooks"
        endpoints = self.query_one("#webhooks-table", DataTable)
        endpoints.add_columns("URL", "Status", "Types", "Failing since")
        endpoints.border_title = "Endpoints"
        deliveries = self.query_one("#deliveries-table", DataTable)
        deliveries.add_columns("Made", "Type", "Status", "Tries", "Answer", "Subject")
        deliveries.border_title = "Deliveries"
        self._endpoints: dict[int, Webhook] = {}
        self._deliveries: dict[int, WebhookDelivery] = {}
        self.load()

    @property
    def endpoint_id(self) -> int | None:
        table = self.query_one("#webhooks-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    @work(exclusive=True, group="webhooks")
    async def load(self, select: int | None = None) -> None:
        table = self.query_one("#webhooks-table", DataTable)
        detail = self.query_one("#delivery-detail", Static)
        try:
            endpoints = await self.boxoffice.client.webhooks()
        except ClientError as exc:
            detail.update(f"[red]{escape(exc.message)}[/]")
            return
        self._endpoints = {e.id: e for e in endpoints}
        table.clear()
        for e in endpoints:
            failing = clock(e.failing_since) if e.failing_since else ""
            table.add_row(
                clipped(e.url), styled(e.status), str(len(e.events)), failing, key=str(e.id)
            )
        if not endpoints:
            detail.update("No webhook endpoints yet: admins register them through the API.")
            self.query_one("#deliveries-table", DataTable).clear()
        elif select is not None:
            table.move_cursor(row=table.get_row_index(str(select)))
        table.focus()

    @on(DataTable.RowHighlighted, "#webhooks-table")
    def _endpoint_highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.row_key.value is not None:
            self.show_deliveries(int(message.row_key.value))

    @work(exclusive=True, group="deliveries")
    async def show_deliveries(self, endpoint_id: int, select: int | None = None) -> None:
        table = self.query_one("#deliveries-table", DataTable)
        detail = self.query_one("#delivery-detail", Static)
        try:
            deliveries = await self.boxoffice.client.webhook_deliveries(endpoint_id)
        except ClientError as exc:
            detail.update(f"[red]{escape(exc.message)}[/]")
            return
        self._deliveries = {d.id: d for d in deliveries}
        table.clear()
        for d in deliveries:
            table.add_row(
                clock(d.created_at, seconds=True),
                d.event_type,
                styled(d.status),
                str(d.attempts),
                last_answer(d),
                d.subject or "",
                key=str(d.id),
            )
        if select is not None and str(select) in table.rows:
            table.move_cursor(row=table.get_row_index(str(select)))
        if not deliveries:
            detail.update("No deliveries yet.")
        elif table.has_focus:
            self._show_detail(table)

    @on(DataTable.RowHighlighted, "#deliveries-table")
    def _delivery_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self._show_detail(message.data_table)

    def _show_detail(self, table: DataTable) -> None:
        delivery = self._delivery(table)
        if delivery is None:
            return
        parts = [f"{delivery.delivery_id}"]
        if delivery.status == "pending" and delivery.attempts:
            parts.append(f"next try {clock(delivery.next_at, seconds=True)}")
        if delivery.last_error:
            parts.append(f"[red]{escape(delivery.last_error)}[/]")
        self.query_one("#delivery-detail", Static).update("  ".join(parts))

    def _delivery(self, table: DataTable | None = None) -> WebhookDelivery | None:
        table = table or self.query_one("#deliveries-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._deliveries.get(int(key)) if key is not None else None

    def action_reload(self) -> None:
        self.load(select=self.endpoint_id)

    @work(exclusive=True, group="webhook-change")
    async def action_redeliver(self) -> None:
        endpoint_id, delivery = self.endpoint_id, self._delivery()
        if endpoint_id is None or delivery is None:
            self.notify("Pick a delivery first (Tab to the deliveries).", severity="warning")
            return
        try:
            await self.boxoffice.client.redeliver(endpoint_id, delivery.id)
        except ClientError as exc:
            self.notify(f"Not redelivered: {exc.message}", severity="error")
            return
        self.notify(f"Delivery {delivery.event_type} queued again.")
        self.show_deliveries(endpoint_id, select=delivery.id)

    @work(exclusive=True, group="webhook-change")
    async def action_pause(self) -> None:
        endpoint = self._endpoints.get(self.endpoint_id or 0)
        if endpoint is None:
            return
        status = "paused" if endpoint.status == "active" else "active"
        try:
            await self.boxoffice.client.update_webhook(endpoint.id, WebhookPatch(status=status))
        except ClientError as exc:
            self.notify(f"Not changed: {exc.message}", severity="error")
            return
        self.notify("Endpoint paused." if status == "paused" else "Endpoint resumed.")
        self.load(select=endpoint.id)
