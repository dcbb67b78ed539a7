"""Whether what a request made from the passages it read still matches the store, checked in the
transaction that writes it: a trace or a cached reply is written when its request ends, and a
document deleted or re-ingested with new text meanwhile was changed before it came, so that
change's cleanup could not take it along. Such a trace or entry quotes text that is no longer
stored (review 12: the deleted text came back from /v1/traces; the same for a replaced text, and
from the answer cache), and it is not kept.

A document's version is its content hash: get_chunks gives it with every passage
(StoredChunk.version), in the snapshot it reads the text from. A request that says which
version it read is held to it; one that names only the document (a plain doc id) is held to its
being stored."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from .contract.data import Quoted

# doc_id -> the version the request read ("" when it did not say: only the deletion is checked)
Sources = Mapping[str, str]


def sources_of(doc_ids: Quoted) -> dict[str, str]:
    """The documents a write quotes, each once, with the version read when it is known."""
    if isinstance(doc_ids, Mapping):
        return {str(d): str(v or "") for d, v in doc_ids.items()}
    return dict.fromkeys(doc_ids, "")


def current(sources: Sources, stored: Mapping[str, str]) -> bool:
    """True when every document quoted is stored, at the version read when one was given."""
    return all(d in stored and (not v or stored[d] == v) for d, v in sources.items())


def trace_sources(data: Mapping[str, Any]) -> dict[str, str]:
    """What a trace quotes: its doc_ids, and the versions read (doc_versions) of those it knows."""
    found = dict.fromkeys(data["doc_ids"], "")
    found.update(sources_of(data.get("doc_versions") or {}))
    return found


def quoted_docs(batch: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every document the traces of a batch quote, each once."""
    return list(dict.fromkeys(d for data in batch for d in trace_sources(data)))


def still_quoted(batch: list[dict[str, Any]], stored: Mapping[str, str]) -> list[dict[str, Any]]:
    """The traces whose documents are all still stored, at the versions they read. The others are
    not kept at all, as for a deletion: their spans hold the old text all through (a context
    passage, a draft, the answer), and a trace stripped of it would not say what happened."""
    return [data for data in batch if current(trace_sources(data), stored)]


def stored_versions(conn: sqlite3.Connection, doc_ids: Sequence[str]) -> dict[str, str]:
    """doc_id -> version of those of these documents that are stored, read inside a write
    transaction: SQLite has one writer at a time, so no deletion or replacement lands between
    this and the transaction's commit."""
    if not doc_ids:
        return {}
    rows = conn.execute(
        "SELECT doc_id, content_hash FROM documents WHERE doc_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(doc_ids)),),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def cache_sources_current(conn: sqlite3.Connection, namespace: str, key: str, sources: Sources) -> bool:
    """Inside a write transaction, before a cache entry made from `sources` is written or linked:
    True when they are all current (or none is named); otherwise False, and what the key holds,
    with its links, is deleted (a reply made from text that is gone is never served)."""
    if not sources or current(sources, stored_versions(conn, list(sources))):
        return True
    for table in ("cache_sources", "cache_entries"):
        conn.execute(f"DELETE FROM {table} WHERE namespace = ? AND key = ?", (namespace, key))
    return False


def link_cache(conn: sqlite3.Connection, namespace: str, key: str, sources: Sources) -> None:
    """Inside the same transaction: the entry goes when any of its documents is deleted or replaced."""
    conn.executemany(
        "INSERT OR IGNORE INTO cache_sources(namespace, key, doc_id) VALUES (?, ?, ?)",
        [(namespace, key, d) for d in sources],
    )
