"""[store] statement_timeout_s, the same on every backend: a request's read is cancelled after this
long (a request's filters are the caller's, and a query left running holds a connection after its
client has gone: review 15, finding 4; SQLite too, review 15b), as a StoreUnavailable (503) whose
message names the setting. Writes and whole-index reads are not bounded."""

from __future__ import annotations

STATEMENT_TIMEOUT_S = 5.0


def checked_timeout(seconds: float) -> float:
    """The setting, refused when negative (or NaN)."""
    if not seconds >= 0:
        raise ValueError(f"statement_timeout_s must be 0 (none) or more seconds, not {seconds}")
    return seconds


def timed_out(seconds: float) -> str:
    """What a cancelled read says, on SQLite and PostgreSQL alike."""
    return (
        f"a read was cancelled after the statement timeout ({seconds:g} s, [store] statement_timeout_s): "
        "narrow the request's filters, or try again"
    )
