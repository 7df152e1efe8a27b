"""The simulation machinery's rows, by concern: scenario rules (`rules`), scheduled events
(`schedule`), callbacks (`callbacks`), the request journal (`request_journal`), the name →
value state and the saved virtual clock (`state`), the reset (`reset`).

Plain functions over a sqlite-utils `Database`: writes run inside `SqliteStore.run_write` (one
transaction each), reads through `SqliteStore.run_read`. Never reads the clock: times are passed in.
"""

from .callbacks import (
    Callback,
    Delivery,
    add_callback,
    add_delivery,
    callbacks,
    clear_callbacks,
    delete_callback,
    deliveries,
    due_deliveries,
    get_callback,
    journal_after,
    last_journal_id,
    record_attempt,
    rewind_deliveries,
)
from .request_journal import REQUEST_COLUMNS, record_request, requests
from .reset import wipe_transactions
from .rules import (
    StoredRule,
    application,
    corrupts_return,
    record_application,
    replace_rules,
    rules,
    take_hit,
)
from .schedule import (
    ScheduledEvent,
    claim_event,
    clear_events,
    events,
    finish_event,
    next_due_event,
    pending_summary,
    schedule_event,
)
from .state import VIRTUAL_CLOCK, save_virtual_clock, saved_virtual_clock, state_get, state_set

__all__ = [
    "REQUEST_COLUMNS",
    "VIRTUAL_CLOCK",
    "Callback",
    "Delivery",
    "ScheduledEvent",
    "StoredRule",
    "add_callback",
    "add_delivery",
    "application",
    "callbacks",
    "claim_event",
    "clear_callbacks",
    "clear_events",
    "corrupts_return",
    "delete_callback",
    "deliveries",
    "due_deliveries",
    "events",
    "finish_event",
    "get_callback",
    "journal_after",
    "last_journal_id",
    "next_due_event",
    "pending_summary",
    "record_application",
    "record_attempt",
    "record_request",
    "replace_rules",
    "requests",
    "rewind_deliveries",
    "rules",
    "save_virtual_clock",
    "saved_virtual_clock",
    "schedule_event",
    "state_get",
    "state_set",
    "take_hit",
    "wipe_transactions",
]
