"""The server's files hold its tenants' documents: nobody else on the machine may read them.

While a server runs, its process creates files 0600 and directories 0700 (umask 077): uploads,
their folders, and the store's side files (SQLite gives -wal and -shm the database's mode, and
the write stamp copies it too). What an earlier command left readable, such as the store that
`ragwright keys create` made before `serve`, is tightened when the server starts. Only what
ragwright itself keeps in the data dir is touched, never other files an operator put there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
# What ragwright keeps in a data dir: the store and its side files, the server's shared files,
# uploads, and the stores evaluations build.
OWN = ("ragwright.db*", "ratelimits.db*", "query-vectors.db*", "jobs.lock", "uploads", "eval")


def make_private(data_dir: Path) -> int:
    """Set umask 077 for this process and tighten what exists; returns the umask to restore."""
    previous = os.umask(PRIVATE_UMASK)
    tighten(data_dir)
    return previous


def tighten(data_dir: Path) -> None:
    """The data dir and ragwright's files in it (folders recursively) lose every group and
    other permission bit. Symbolic links are left alone: what they point at is not ours."""
    if not data_dir.is_dir():
        return
    _owner_only(data_dir)
    for pattern in OWN:
        for path in data_dir.glob(pattern):
            _owner_only(path)
            if path.is_dir() and not path.is_symlink():
                for folder, dirs, files in os.walk(path):
                    for name in (*dirs, *files):
                        _owner_only(Path(folder) / name)


def _owner_only(path: Path) -> None:
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
            return
        path.chmod(stat.S_IMODE(st.st_mode) & 0o700)
    except OSError:  # gone meanwhile, or not ours to change: the umask still covers what we create
        pass
