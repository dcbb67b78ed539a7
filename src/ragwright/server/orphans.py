"""Uploaded files nothing refers to any more: removed when the job runner starts and after a job.

An upload is written as `NAME.part`, renamed to `NAME` once whole, then named in a job; a
document made from it keeps its path as `documents.source`. What a kill -9 or a failed parse
leaves is a file no document and no unfinished job names: no API call could delete it. The walk
is layout-agnostic (every file under `uploads/`, however deep). Another worker may be between
two of those steps while the sweep runs, so a file, a `.part` or an empty folder is removed only
once untouched for GRACE_S: an upload in progress writes to its `.part`, and renaming keeps the
fresh mtime.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..store.contract import DocumentStore, JobStore

GRACE_S = 600.0


class UploadRefs(DocumentStore, JobStore, Protocol):
    """What the sweep reads of the store: the documents' sources and the unfinished jobs' paths."""


def uploads_root(data_dir: str | Path) -> Path:
    return Path(data_dir).resolve() / "uploads"


def referenced(store: UploadRefs) -> set[str]:
    """What a stored document or an unfinished job names below some `uploads/`, as a path
    relative to it: a data dir moved or reached through another link still finds its files
    (matching whole paths, a moved data dir would have lost every upload at the next start)."""
    named = [doc.source for doc in store.list_documents()]
    for job in store.unfinished_jobs():
        named.extend(job["payload"].get("paths", ()))
    keys: set[str] = set()
    for path in named:
        parts = path.split("/uploads/")
        keys.update("/uploads/".join(parts[i:]) for i in range(1, len(parts)))
    return keys


def sweep(root: Path, store: UploadRefs, *, grace_s: float = GRACE_S, now: float | None = None) -> list[Path]:
    """Remove `.part` files and unreferenced files under `root` older than `grace_s`, then the
    folders left empty as long; returns the files removed."""
    if not root.is_dir():
        return []
    keep = referenced(store)
    cutoff = (time.time() if now is None else now) - grace_s
    removed: list[Path] = []
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(folder) / name
            unused = name.endswith(".part") or str(path.relative_to(root)) not in keep
            if unused and _older(path, cutoff) and _unlink(path):
                removed.append(path)
        for name in dirs:
            _rmdir_if_empty(Path(folder) / name, cutoff)
    return removed


def remove_unused(paths: Iterable[str], root: Path, store: UploadRefs, *, written_before: float) -> list[Path]:
    """After a job: its files that became no document and no other job names, unless written
    again since the job was queued (a new upload of the same name, about to be named in a job)."""
    queued = {p for job in store.unfinished_jobs() for p in job["payload"].get("paths", ())}
    removed: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if raw in queued or not path.is_relative_to(root) or not _older(path, written_before):
            continue
        if store.document_by_source(raw) is not None:
            continue
        if _unlink(path):
            removed.append(path)
    return removed


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime <= cutoff
    except OSError:
        return False


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False


def _rmdir_if_empty(folder: Path, cutoff: float) -> None:
    if _older(folder, cutoff):
        with contextlib.suppress(OSError):  # fails when not empty: nothing else to check
            folder.rmdir()
