"""Every SQL statement the server runs, built with SQLAlchemy Core and compiled once.

The order functions are the heart of Boxoffice: each change to an order is one call (one
round trip, one transaction) of a plpgsql function of migration 0010, whose row locks and
checks make overselling and double refunds impossible.

Where to find what (every public name is re-exported here, so ``q.PLACE_ORDER`` works):

- ``accounts``: users, sessions, login failures and lockout, ``USER_BY_NAME``, and what
  admins control (``UPDATE_ACCOUNT``, ``END_SESSIONS``, ``ACCOUNT_STATE``,
  ``ACCOUNTS_TO_WATCH``...);
- ``accounts``: users, sessions, login and registration throttles, ``USER_BY_NAME``;
- ``events``: reading, listing, creating, updating (``update_event``) and deleting events;
- ``audit``: ``LIST_AUDIT`` (the records themselves are written by the changes' CTEs);
- ``bookings``: the calls of the order functions (``PLACE_ORDER``, ``CONFIRM_ORDER``,
  ``CANCEL_ORDER``, ``RETURN_TICKETS``, ``EXPIRE_HOLDS``, ``CHECK_IN``) and their answers'
  types (``BookOutcome``...), the booking lists, ``GET_BOOKING``, ``ORDER_TICKETS``,
  ``GET_TICKET``;
- ``reports``: ``SHIFT_REPORT`` and ``SEAT_LEDGER``;
- ``idempotency``: the idempotency keys' lock, lookup, store and purge;
- ``api_tokens``: integration API tokens;
- ``venues``: venues, price zones and seats (``INSERT_VENUE``, ``REVIVE_SEATS``...);
- ``seatmaps``: ``EVENT_SEAT_STATES``, a seated event's seat states and version at once;
- ``health``: ``PING``, readiness's check that the database answers;
- ``_shared``: the helpers several of these modules build with (``_param``, ``_active``,
  ``_one_row``, ``_record`` (the one audit record builder), ``contains``...).
"""

from ._shared import ACTIVE_STATUSES, contains
from .accounts import (
    ACCOUNT_COLUMNS,
    ACCOUNT_FOR_CHANGE,
    ACCOUNT_LOCK_CLASS,
    ACCOUNT_STATE,
    ACCOUNTS_TO_WATCH,
    CLEAR_LOGIN_FAILURES,
    COUNT_REGISTRATION,
    CREATE_SESSION,
    END_SESSIONS,
    GET_USER,
    INSERT_USER,
    LIST_USERS,
    LOGIN_LOOKUP,
    LOGOUT_SESSION,
    PURGE_SESSIONS,
    PURGE_THROTTLES,
    RECORD_LOGIN_FAILURE,
    REVOKE_SESSION,
    ROTATE_SESSION,
    UNLOCK_USER,
    UPDATE_ACCOUNT,
    USER_BY_NAME,
    USER_COLUMNS,
    AccountStateRow,
    LoginLookup,
    RegistrationCount,
    SessionsEndedOutcome,
)
from .api_tokens import (
    API_TOKEN_COLUMNS,
    ISSUE_API_TOKEN,
    LIST_API_TOKENS,
    REVOKE_API_TOKEN,
    USE_API_TOKEN,
    RevokeOutcome,
)
from .audit import LIST_AUDIT
from .bookings import (
    BOOKING_COLUMNS,
    CANCEL_ORDER,
    CHECK_IN,
    CONFIRM_ORDER,
    EVENT_EXISTS,
    EXPIRE_HOLDS,
    GET_BOOKING,
    GET_TICKET,
    LIST_ALL_BOOKINGS,
    LIST_EVENT_BOOKINGS,
    LIST_USER_BOOKINGS,
    ORDER_TICKETS,
    PLACE_ORDER,
    RETURN_TICKETS,
    BookOutcome,
    CancelOutcome,
    CheckInOutcome,
    ConfirmOutcome,
    ExpireOutcome,
)
from .events import (
    ALL_EVENTS,
    DELETE_EVENT,
    EVENT_COLUMNS,
    EVENT_FIELDS,
    EVENTS_BY_ID,
    GET_EVENT,
    GET_EVENT_FOR_UPDATE,
    HAS_ACTIVE_BOOKINGS,
    INSERT_EVENT,
    LIST_EVENTS,
    update_event,
)
from .health import PING
from .idempotency import (
    IDEMPOTENCY_LOCK,
    IDEMPOTENCY_LOCK_CLASS,
    IDEMPOTENCY_LOOKUP,
    IDEMPOTENCY_PURGE,
    IDEMPOTENCY_STORE,
)
from .reports import SEAT_LEDGER, SHIFT_REPORT
from .seatmaps import EVENT_SEAT_STATES
from .venues import (
    DELETE_VENUE,
    GET_VENUE,
    GET_VENUE_FOR_UPDATE,
    INSERT_NEW_SEATS,
    INSERT_SEATS,
    INSERT_VENUE,
    LIST_VENUES,
    REPEATABLE_READ,
    RETIRE_SEATS,
    RETIRE_ZONES,
    REVIVE_SEATS,
    UPDATE_VENUE,
    UPSERT_ZONES,
    VENUE_COLUMNS,
    VENUE_SEATS,
    VENUE_ZONES,
)

__all__ = [
    "ACCOUNTS_TO_WATCH",
    "ACCOUNT_COLUMNS",
    "ACCOUNT_FOR_CHANGE",
    "ACCOUNT_LOCK_CLASS",
    "ACCOUNT_STATE",
    "ACTIVE_STATUSES",
    "ALL_EVENTS",
    "API_TOKEN_COLUMNS",
    "BOOKING_COLUMNS",
    "CANCEL_ORDER",
    "CHECK_IN",
    "CLEAR_LOGIN_FAILURES",
    "CONFIRM_ORDER",
    "COUNT_REGISTRATION",
    "CREATE_SESSION",
    "DELETE_EVENT",
    "DELETE_VENUE",
    "END_SESSIONS",
    "EVENTS_BY_ID",
    "EVENT_COLUMNS",
    "EVENT_EXISTS",
    "EVENT_FIELDS",
    "EVENT_SEAT_STATES",
    "EXPIRE_HOLDS",
    "GET_BOOKING",
    "GET_EVENT",
    "GET_EVENT_FOR_UPDATE",
    "GET_TICKET",
    "GET_USER",
    "GET_VENUE",
    "GET_VENUE_FOR_UPDATE",
    "HAS_ACTIVE_BOOKINGS",
    "IDEMPOTENCY_LOCK",
    "IDEMPOTENCY_LOCK_CLASS",
    "IDEMPOTENCY_LOOKUP",
    "IDEMPOTENCY_PURGE",
    "IDEMPOTENCY_STORE",
    "INSERT_EVENT",
    "INSERT_NEW_SEATS",
    "INSERT_SEATS",
    "INSERT_USER",
    "INSERT_VENUE",
    "ISSUE_API_TOKEN",
    "LIST_ALL_BOOKINGS",
    "LIST_API_TOKENS",
    "LIST_AUDIT",
    "LIST_EVENTS",
    "LIST_EVENT_BOOKINGS",
    "LIST_USERS",
    "LIST_USER_BOOKINGS",
    "LIST_VENUES",
    "LOGIN_LOOKUP",
    "LOGOUT_SESSION",
    "ORDER_TICKETS",
    "PING",
    "PLACE_ORDER",
    "PURGE_SESSIONS",
    "PURGE_THROTTLES",
    "RECORD_LOGIN_FAILURE",
    "REPEATABLE_READ",
    "RETIRE_SEATS",
    "RETIRE_ZONES",
    "RETURN_TICKETS",
    "REVIVE_SEATS",
    "REVOKE_API_TOKEN",
    "REVOKE_SESSION",
    "ROTATE_SESSION",
    "SEAT_LEDGER",
    "SHIFT_REPORT",
    "UNLOCK_USER",
    "UPDATE_ACCOUNT",
    "UPDATE_VENUE",
    "UPSERT_ZONES",
    "USER_BY_NAME",
    "USER_COLUMNS",
    "USE_API_TOKEN",
    "VENUE_COLUMNS",
    "VENUE_SEATS",
    "VENUE_ZONES",
    "AccountStateRow",
    "BookOutcome",
    "CancelOutcome",
    "CheckInOutcome",
    "ConfirmOutcome",
    "ExpireOutcome",
    "LoginLookup",
    "RegistrationCount",
    "RevokeOutcome",
    "SessionsEndedOutcome",
    "contains",
    "update_event",
]
