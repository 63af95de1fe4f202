"""Log in: server, username, password. Remembers the server and the last username."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Vertical
from textual.widgets import Button, Footer, Input, Label, Static

from common.client import ApiError, Unreachable

from .base import AppScreen


class LoginScreen(AppScreen):
    AUTO_FOCUS = None

    def compose(self) -> ComposeResult:
        settings = self.boxoffice.settings
        with Center(), Vertical(id="login-box"):
            yield Static("🎟  Boxoffice", id="logo")
            # Fields of one line each: the box, with the demo's accounts under it, fits 80x24.
            for label, field in (
                ("Server", Input(settings.server, placeholder="http://host:8080", id="server")),
                ("Username", Input(settings.username, placeholder="username", id="username")),
                ("Password", Input(password=True, placeholder="password", id="password")),
            ):
                field.compact = True
                with Horizontal(classes="field compact"):
                    yield Label(label)
                    yield field
            yield Button("Log in", variant="primary", id="login")
            yield Static("", id="login-message")
            if self.boxoffice.login_hint:
                yield Static(self.boxoffice.login_hint, id="login-hint")
        yield Footer()

    def on_mount(self) -> None:
        if self.boxoffice.settings.username:
            self.query_one("#password").focus()
        else:
            self.query_one("#username").focus()
        if auto := self.boxoffice.auto_login:
            self.log_in(*auto)

    def logged_out(self) -> None:
        """Shown again after a log out: say so, with no password left in the form."""
        message = self.query_one("#login-message", Static)
        message.set_classes("")
        message.update("Logged out.")
        self.query_one("#password", Input).value = ""
        self.query_one("#password").focus()

    @on(Input.Submitted)
    def next_or_submit(self, event: Input.Submitted) -> None:
        for field in ("#server", "#username", "#password"):
            box = self.query_one(field, Input)
            if not box.value:
                box.focus()
                return
        self.submit()

    @on(Button.Pressed, "#login")
    def submit(self) -> None:
        self.log_in(
            self.query_one("#username", Input).value, self.query_one("#password", Input).value
        )

    @work(exclusive=True)
    async def log_in(self, username: str, password: str) -> None:
        server = self.query_one("#server", Input).value.strip() or self.boxoffice.settings.server
        message = self.query_one("#login-message", Static)
        message.set_classes("")
        message.update("Logging in…")
        try:
            await self.boxoffice.log_in(server, username.strip(), password)
            message.update("")  # not left behind for the next time the form shows
        except ApiError as exc:
            message.set_classes("error")
            if exc.status == 429:
                message.update(f"Too many failed attempts. Try again in {exc.retry_after} s.")
            elif exc.status in (401, 422):
                message.update("Wrong username or password.")
            else:
                message.update(exc.message)
            self.query_one("#password", Input).value = ""
        except Unreachable:
            message.set_classes("error")
            message.update(f"Cannot reach {server}. Is the server running?")
