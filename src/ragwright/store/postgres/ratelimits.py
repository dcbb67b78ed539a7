"""Per-key rate limits in PostgreSQL, shared by every server replica on the database: one token
bucket per key in `rate_buckets` (an UNLOGGED table: derived state, a crash only refills the
buckets), taken in a single INSERT ... ON CONFLICT DO UPDATE ... RETURNING. The row lock that
statement takes serialises two replicas' requests of one key, and the time is the database's
clock, so replicas whose clocks disagree still share one bucket. The same arithmetic as
store/ratelimits.py's take_token."""

from __future__ import annotations

from .connection import Database

_NOW = "extract(epoch from clock_timestamp())"
_REFILLED = "least(%(per)s::float8, b.tokens + greatest(0, EXCLUDED.at - b.at) * %(per)s / 60.0)"
TAKE = (
    "INSERT INTO rate_buckets AS b (key_id, tokens, at, granted) "
    f"VALUES (%(key)s, %(per)s - 1.0, {_NOW}, true) "
    "ON CONFLICT (key_id) DO UPDATE SET "
    f"granted = {_REFILLED} >= 1.0, "
    f"tokens = CASE WHEN {_REFILLED} >= 1.0 THEN {_REFILLED} - 1.0 ELSE {_REFILLED} END, "
    "at = EXCLUDED.at "
    "RETURNING granted, tokens"
)


class PgRateLimitsMixin:
    db: Database

    def take_rate_token(self, key_id: str, per_min: int) -> float | None:
        """One request against the key's bucket, in one statement; None when it may go."""
        if per_min < 1:
            return None
        with self.db.write(generation=False) as (cur, _):
            cur.execute(TAKE, {"key": key_id, "per": float(per_min)})
            row = cur.fetchone()
        granted, tokens = bool(row[0]), float(row[1])
        return None if granted else (1.0 - tokens) * 60.0 / per_min
