"""A write stamp beside the SQLite file, so that a process can keep what it read (settings in
`meta`, API keys, chunk rows) until some process writes again.

Every SQLite read is a transaction of its own; a server's search made six of them (write
generation, learned version, key lookup, chunk rows...), about a fifth of its time. The stamp is
16 random bytes in `<db>-stamp`, rewritten after every commit that may change such data (not after
trace or audit batches); reading it is a memory copy from a shared mapping of the file. A reader
reads the stamp before the data it keeps under it, and a writer rewrites it after its commit, so
data kept under a stamp is never older than the stamp; a torn read only looks like a change.
Without a usable stamp file (a read-only directory) nothing is kept: every read goes to SQLite."""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class WriteStamp:
    SIZE = 16

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + "-stamp")
        self._map: mmap.mmap | None = None
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if os.fstat(self._fd).st_size < self.SIZE:
                _like(self._fd, Path(db_path))
                os.pwrite(self._fd, os.urandom(self.SIZE), 0)
            # Read through a shared mapping: the page cache itself, so a read is a memory copy, with
            # no system call (a pread released and retook the GIL, 7% of a server's time).
            self._map = mmap.mmap(self._fd, self.SIZE, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            self.close()

    def read(self) -> bytes | None:
        """The current stamp; None when there is none to trust (keep nothing)."""
        m = self._map
        try:
            return m[: self.SIZE] if m is not None else None
        except ValueError:  # closed by another thread meanwhile
            return None

    def bump(self) -> None:
        """After a commit: everything kept under the previous stamp is to be read again."""
        if self._fd is not None:
            try:
                os.pwrite(self._fd, os.urandom(self.SIZE), 0)
            except OSError:  # this process stops keeping anything; the others see the next bump
                self.close()

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class KeptReads:
    """Values read from the store, kept while the write stamp stays the same, and for at most
    `max_age_s` whatever the stamp says: a writer that could not bump it (killed between its
    commit and the bump, or unable to open the stamp file) leaves readers stale for that long."""

    def __init__(self, db_path: Path, limit: int = 10_000, max_age_s: float = 1.0) -> None:
        self.stamp = WriteStamp(db_path)
        self.limit, self.max_age_s = limit, max_age_s
        self._kept: tuple[bytes | None, float, dict[str, Any]] = (None, 0.0, {})

    def get(self, name: str, read: Callable[[], T], keep_none: bool = True) -> T:
        """read(), or what it returned last under the current stamp. The stamp is read first.
        keep_none=False: a None (say, an unknown API key) is not kept, so that a stream of made-up
        keys cannot flush what is kept."""
        stamp = self.stamp.read()
        if stamp is None:
            return read()
        kept_stamp, expires, kept = self._kept
        now = time.monotonic()
        if kept_stamp != stamp or now > expires:
            kept = {}
            self._kept = (stamp, now + self.max_age_s, kept)
        if name in kept:
            held: T = kept[name]  # kept under `name` by this same read
            return held
        value = read()
        if value is not None or keep_none:
            if len(kept) >= self.limit:
                kept.clear()
            kept[name] = value
        return value


def _like(fd: int, db_path: Path) -> None:
    """A new stamp file gets the database's permission bits and, when run as root, its owner (as
    SQLite does for -wal and -shm): otherwise `sudo ragwright ...` would leave a stamp the
    service's own user cannot open."""
    try:
        st = os.stat(db_path)
        os.fchmod(fd, st.st_mode & 0o666)
        if os.geteuid() == 0:
            os.fchown(fd, st.st_uid, st.st_gid)
    except OSError:
        pass
