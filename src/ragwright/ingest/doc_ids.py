"""Document ids of files: an HMAC of the path keyed by a secret of the workspace.

An id is shown to whoever may read the document, and an upload's path is known to its uploader
but for the data dir (uploads/<tenant digest>/<groups digest>/<name>, server/uploads.py). An
unkeyed hash of the path (sha1, as ids were made before) let the uploader test guessed data dirs
against its id offline. The secret lives in the store's meta (`doc_id_key`, made on first use,
copied with the store, never in a response), so every process of a workspace makes the same id.

Stores made before hold documents with sha1 ids: a file whose document is stored keeps that
document's id, whatever the scheme, so re-ingesting or re-uploading it finds it, never a twin."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ..store.contract import DocumentStore, MetaStore

META_KEY = "doc_id_key"


def doc_id_for(source: str, key: bytes | None = None) -> str:
    """The id of a file's document keyed by `key`; without one, the sha1 of the path (the old
    scheme: what a store made before holds, never made for a new document)."""
    if key is None:
        return "d_" + hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]
    return "d_" + hmac.new(key, source.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def id_key(store: MetaStore) -> bytes:
    """The workspace's secret, made on its first use: the first process to make it on a new store
    wins (add_meta), so two processes starting at the same moment key their ids alike."""
    stored = store.get_meta(META_KEY)
    if stored is None:
        stored = store.add_meta(META_KEY, secrets.token_hex(32))
    return bytes.fromhex(stored)


def file_doc_id(store: DocumentStore, source: str) -> str:
    """The id of the document of the file at `source`: the stored document's if there is one (a
    sha1 id of a store made before keeps working), else the keyed id."""
    held = store.document_by_source(source)
    return held.doc_id if held is not None else doc_id_for(source, id_key(store))
