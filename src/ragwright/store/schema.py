"""Versioned schema of the embedded store. Migrations run in order, each in its own transaction;
a store written by a newer ragwright is refused rather than damaged."""

from __future__ import annotations

import sqlite3

from ..errors import StoreError

MIGRATIONS: list[str] = [
    # 1: documents, chunks, term counts for BM25 (with their vocabulary), vectors, ingestion manifest
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE documents (
        doc_id TEXT PRIMARY KEY,
        source TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        format TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        n_chunks INTEGER NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    );
    CREATE TABLE chunks (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id TEXT NOT NULL UNIQUE,
        doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        text TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        heading_path TEXT NOT NULL DEFAULT '[]',
        page INTEGER
    );
    CREATE INDEX chunks_doc ON chunks(doc_id);
    CREATE TABLE terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
    CREATE TABLE chunk_terms (
        chunk_rowid INTEGER PRIMARY KEY REFERENCES chunks(rowid) ON DELETE CASCADE,
        counts BLOB NOT NULL
    );
    CREATE TABLE vectors (
        chunk_rowid INTEGER PRIMARY KEY REFERENCES chunks(rowid) ON DELETE CASCADE,
        vector BLOB NOT NULL
    );
    CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunk_terms WHERE chunk_rowid = old.rowid;
        DELETE FROM vectors WHERE chunk_rowid = old.rowid;
    END;
    CREATE TABLE manifest (
        source TEXT PRIMARY KEY,
        doc_id TEXT,
        content_hash TEXT,
        size INTEGER,
        mtime_ns INTEGER,
        status TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    );
    INSERT INTO meta(key, value) VALUES ('generation', '0');
    """,
    # 2: evaluation runs
    """
    CREATE TABLE eval_runs (
        run_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        dataset TEXT NOT NULL,
        split TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        dataset_hash TEXT NOT NULL,
        code_version TEXT NOT NULL,
        config TEXT NOT NULL,
        metrics TEXT NOT NULL,
        per_query TEXT NOT NULL,
        seconds REAL NOT NULL DEFAULT 0
    );
    """,
    # 3: what each evaluation case saw and why a measure was not taken; a cache for model calls
    # (judge verdicts are kept forever so that a re-run repeats every score exactly)
    """
    ALTER TABLE eval_runs ADD COLUMN coverage TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE eval_runs ADD COLUMN cases TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE cache_entries (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    """,
    # 4: model calls (cost per key, tenant, route) and budget reservations held while a call runs
    """
    CREATE TABLE model_calls (
        call_id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        route TEXT NOT NULL,
        model TEXT,
        key_id TEXT,
        tenant TEXT,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        cached INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        error TEXT,
        record TEXT NOT NULL
    );
    CREATE INDEX model_calls_started ON model_calls(started_at);
    CREATE TABLE budget_reservations (
        reservation_id TEXT NOT NULL,
        budget TEXT NOT NULL,
        subject TEXT,
        amount_usd REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX budget_reservations_id ON budget_reservations(reservation_id);
    """,
    # 5: tenants and group access lists on documents; API keys; the audit log; ingestion jobs;
    # which cache entries were made from which documents (so deleting one deletes them)
    """
    ALTER TABLE documents ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE documents ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX documents_tenant ON documents(tenant);
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        scopes TEXT NOT NULL,
        groups TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        rate_per_min INTEGER,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        revoked_at TEXT
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        key_id TEXT,
        tenant TEXT,
        method TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        status INTEGER NOT NULL,
        doc_ids TEXT NOT NULL DEFAULT '[]',
        latency_ms REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        tenant TEXT NOT NULL,
        key_id TEXT,
        payload TEXT NOT NULL,
        total INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE cache_sources (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (namespace, key, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX cache_sources_doc ON cache_sources(doc_id);
    """,
    # 6: traces (a JSON tree of spans per request), the documents whose text each holds, feedback
    """
    CREATE TABLE traces (
        trace_id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        name TEXT NOT NULL,
        key_id TEXT,
        tenant TEXT,
        duration_ms REAL NOT NULL,
        status TEXT NOT NULL,
        cost_usd REAL NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX traces_started ON traces(started_at);
    CREATE TABLE trace_docs (
        trace_id TEXT NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (trace_id, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX trace_docs_doc ON trace_docs(doc_id);
    CREATE TABLE feedback (
        feedback_id TEXT PRIMARY KEY,
        trace_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        key_id TEXT,
        tenant TEXT,
        query TEXT NOT NULL DEFAULT '',
        rating REAL,
        rating_scale TEXT,
        correction TEXT,
        marks TEXT NOT NULL DEFAULT '[]',
        cited TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX feedback_trace ON feedback(trace_id);
    """,
    # 7: what `ragwright learn` made from feedback: versions (one active), and their relevance marks,
    # which go with their document when it is deleted
    """
    CREATE TABLE learned (
        version INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        previous INTEGER,
        report TEXT NOT NULL DEFAULT '{}',
        blob BLOB NOT NULL
    );
    CREATE TABLE learned_marks (
        version INTEGER NOT NULL REFERENCES learned(version) ON DELETE CASCADE,
        example INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        chunk_id TEXT,
        weight REAL NOT NULL
    );
    CREATE INDEX learned_marks_version ON learned_marks(version, example);
    CREATE INDEX learned_marks_doc ON learned_marks(doc_id);
    CREATE TRIGGER documents_after_delete_learned AFTER DELETE ON documents BEGIN
        DELETE FROM learned_marks WHERE doc_id = old.doc_id;
    END;
    """,
    # 8: no table changes. Processes now keep what they read until a write stamp beside the
    # database changes (store/stamp.py), and every writer must rewrite that stamp: versions that
    # do not, and so would leave readers stale, refuse a store at this version.
    """
    INSERT OR REPLACE INTO meta(key, value) VALUES ('write_stamp', '1');
    """,
    # 9: evaluation runs belong to a tenant (an admin key sees its own tenant's only); runs made
    # before were made by the operator's CLI, whose documents are the tenant 'default''s
    """
    ALTER TABLE eval_runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX eval_runs_tenant ON eval_runs(tenant);
    """,
    # 10: leases on jobs, so that several processes share the queue (store/leases.py)
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until REAL;
    """,
    # 11: the audit log names the matched route (its template), the caller's address, and how many
    # requests a row stands for (requests without a valid key are folded per minute: server/audit.py)
    """
    ALTER TABLE audit_log ADD COLUMN route TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit_log ADD COLUMN client TEXT;
    ALTER TABLE audit_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
    """,
]

LATEST = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to LATEST; return the version found before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > LATEST:
        raise StoreError(
            f"the store has schema version {found}, newer than this ragwright understands ({LATEST}): upgrade ragwright"
        )
    for version in range(found + 1, LATEST + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                conn.execute("COMMIT")  # another process migrated while we waited for the lock
                continue
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return found


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out: list[str] = []
    buf = ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
