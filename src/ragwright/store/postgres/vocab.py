"""The term vocabulary of the PostgreSQL store: term -> integer id, read incrementally.

Ids are handed out by the one writer holding the generation lock (max id + 1, as on SQLite), so
a process catches up by reading `id > the highest it knows`; when any writer prunes terms it bumps
`vocab_epoch` in meta, and a process that sees a new epoch reads the vocabulary whole again (a
pruned id may be given to another term later)."""

from __future__ import annotations

from typing import Any


class Vocabulary:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.top = -1
        self.epoch: str | None = None

    def sync(self, cur: Any) -> None:
        """Bring it up to date with the committed (or this transaction's) terms."""
        cur.execute("SELECT value FROM meta WHERE key = 'vocab_epoch'")
        row = cur.fetchone()
        epoch = row[0] if row else "0"
        if epoch != self.epoch:
            self.ids, self.top, self.epoch = {}, -1, epoch
        cur.execute("SELECT term, id FROM terms WHERE id > %s", (self.top,))
        rows = cur.fetchall()
        self.ids.update(rows)
        if rows:
            self.top = max(self.top, max(tid for _, tid in rows))

    def forget(self) -> None:
        """After a rolled-back write: ids it handed out were never committed."""
        self.ids, self.top, self.epoch = {}, -1, None

    def get(self, term: str) -> int | None:
        return self.ids.get(term)

    def add(self, term: str) -> int:
        """A new id for a term not in the vocabulary (inside the write that will insert it)."""
        self.top += 1
        self.ids[term] = self.top
        return self.top
