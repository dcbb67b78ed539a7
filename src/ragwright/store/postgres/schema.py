"""Versioned schema of the PostgreSQL store. Each migration runs in its own transaction (DDL is
transactional in PostgreSQL: a failed one leaves nothing behind) under an advisory lock, so that
processes starting together migrate once; `schema_version` records what was applied, and a
database migrated by a newer ragwright is refused with both versions named."""

from __future__ import annotations

from typing import Any

from ...errors import StoreError

MIN_PGVECTOR = (0, 8)  # iterative index scans: a filtered HNSW query keeps its top k full
_LOCK_KEY = 0x7261677772  # "ragwr": pg_advisory_xact_lock key held while migrating

MIGRATIONS: list[str] = [
    # 1: the documents core: meta (write generation), documents, chunks, term counts for BM25 and
    # their vocabulary (with document frequencies, so a write knows which terms died), vectors, the
    # log of removed chunk rowids that lets readers refresh incrementally, the ingestion manifest.
    # vectors.embedding gets its dimension, and its HNSW index, with the first write.
    """
    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    INSERT INTO meta(key, value) VALUES ('generation', '0'), ('vocab_epoch', '0'), ('removed_floor', '0');
    CREATE TABLE documents (
        doc_id text PRIMARY KEY,
        source text NOT NULL UNIQUE,
        title text NOT NULL DEFAULT '',
        format text NOT NULL DEFAULT '',
        content_hash text NOT NULL,
        size bigint NOT NULL DEFAULT 0,
        n_chunks integer NOT NULL DEFAULT 0,
        metadata jsonb NOT NULL DEFAULT '{}',
        tenant text NOT NULL DEFAULT 'default',
        groups text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX documents_tenant ON documents(tenant);
    CREATE SEQUENCE chunk_rowids;
    CREATE TABLE chunks (
        rowid bigint PRIMARY KEY DEFAULT nextval('chunk_rowids'),
        chunk_id text NOT NULL UNIQUE,
        doc_id text NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
        ordinal integer NOT NULL,
        text text NOT NULL,
        text_hash text NOT NULL,
        heading_path jsonb NOT NULL DEFAULT '[]',
        page integer,
        generation bigint NOT NULL
    );
    ALTER SEQUENCE chunk_rowids OWNED BY chunks.rowid;
    CREATE INDEX chunks_doc ON chunks(doc_id);
    CREATE INDEX chunks_generation ON chunks(generation);
    CREATE TABLE terms (id integer PRIMARY KEY, term text NOT NULL UNIQUE, df integer NOT NULL);
    CREATE TABLE chunk_terms (
        chunk_rowid bigint PRIMARY KEY REFERENCES chunks(rowid) ON DELETE CASCADE,
        counts bytea NOT NULL
    );
    CREATE TABLE vectors (
        chunk_rowid bigint PRIMARY KEY REFERENCES chunks(rowid) ON DELETE CASCADE,
        embedding vector NOT NULL
    );
    CREATE TABLE removed_chunks (
        generation bigint NOT NULL,
        rowid bigint NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX removed_chunks_generation ON removed_chunks(generation);
    CREATE FUNCTION ragwright_chunk_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO removed_chunks(generation, rowid)
        VALUES ((SELECT value::bigint FROM meta WHERE key = 'generation'), OLD.rowid);
        RETURN OLD;
    END $$;
    CREATE TRIGGER chunks_removed AFTER DELETE ON chunks FOR EACH ROW EXECUTE FUNCTION ragwright_chunk_removed();
    CREATE TABLE manifest (
        source text PRIMARY KEY,
        doc_id text,
        content_hash text,
        size bigint,
        mtime_ns bigint,
        status text NOT NULL,
        error text NOT NULL DEFAULT '',
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # 2: everything beside the documents, as the SQLite store keeps it (store/schema.py 2-9), with
    # times as epoch seconds (double precision) and JSON as the text it was written as; plus leases
    # on jobs, so that several processes share the queue (claim_job). Learned marks go with their
    # document whatever deletes it (a trigger, as in SQLite).
    """
    CREATE TABLE eval_runs (
        seq bigserial UNIQUE, run_id text PRIMARY KEY, created_at text NOT NULL, kind text NOT NULL,
        dataset text NOT NULL, split text NOT NULL, pipeline text NOT NULL, dataset_hash text NOT NULL,
        code_version text NOT NULL, config text NOT NULL, metrics text NOT NULL, per_query text NOT NULL,
        seconds double precision NOT NULL DEFAULT 0, coverage text NOT NULL DEFAULT '{}',
        cases text NOT NULL DEFAULT '{}', tenant text NOT NULL DEFAULT 'default'
    );
    CREATE INDEX eval_runs_tenant ON eval_runs(tenant);
    CREATE TABLE cache_entries (
        namespace text NOT NULL, key text NOT NULL, value text NOT NULL,
        created_at double precision NOT NULL, expires_at double precision,
        PRIMARY KEY (namespace, key)
    );
    CREATE INDEX cache_entries_expires ON cache_entries(expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE cache_sources (
        namespace text NOT NULL, key text NOT NULL, doc_id text NOT NULL,
        PRIMARY KEY (namespace, key, doc_id)
    );
    CREATE INDEX cache_sources_doc ON cache_sources(doc_id);
    CREATE TABLE model_calls (
        call_id text PRIMARY KEY, started_at double precision NOT NULL, route text NOT NULL, model text,
        key_id text, tenant text, input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,
        cost_usd double precision NOT NULL, cached integer NOT NULL, latency_ms double precision NOT NULL,
        error text, record text NOT NULL
    );
    CREATE INDEX model_calls_started ON model_calls(started_at);
    CREATE TABLE budget_reservations (
        reservation_id text NOT NULL, budget text NOT NULL, subject text,
        amount_usd double precision NOT NULL, expires_at double precision NOT NULL
    );
    CREATE INDEX budget_reservations_id ON budget_reservations(reservation_id);
    CREATE INDEX budget_reservations_budget ON budget_reservations(budget);
    CREATE TABLE api_keys (
        key_id text PRIMARY KEY, key_hash text NOT NULL UNIQUE, tenant text NOT NULL, scopes text NOT NULL,
        groups text NOT NULL, name text NOT NULL DEFAULT '', rate_per_min integer,
        created_at text NOT NULL
            DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        revoked_at text
    );
    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY, at double precision NOT NULL, key_id text, tenant text, method text NOT NULL,
        endpoint text NOT NULL, status integer NOT NULL, doc_ids text NOT NULL DEFAULT '[]',
        latency_ms double precision NOT NULL DEFAULT 0
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    CREATE TABLE jobs (
        job_id text PRIMARY KEY, kind text NOT NULL, status text NOT NULL, tenant text NOT NULL, key_id text,
        payload text NOT NULL, total integer NOT NULL DEFAULT 0, done integer NOT NULL DEFAULT 0, result text,
        error text, created_at double precision NOT NULL, updated_at double precision NOT NULL,
        owner text, lease_until double precision
    );
    CREATE INDEX jobs_unfinished ON jobs(created_at) WHERE status IN ('queued', 'running');
    CREATE TABLE traces (
        trace_id text PRIMARY KEY, started_at double precision NOT NULL, name text NOT NULL, key_id text,
        tenant text, duration_ms double precision NOT NULL, status text NOT NULL,
        cost_usd double precision NOT NULL DEFAULT 0, input_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0, data text NOT NULL
    );
    CREATE INDEX traces_started ON traces(started_at);
    CREATE TABLE trace_docs (
        trace_id text NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE, doc_id text NOT NULL,
        PRIMARY KEY (trace_id, doc_id)
    );
    CREATE INDEX trace_docs_doc ON trace_docs(doc_id);
    CREATE TABLE feedback (
        feedback_id text PRIMARY KEY, trace_id text NOT NULL, created_at double precision NOT NULL, key_id text,
        tenant text, query text NOT NULL DEFAULT '', rating double precision, rating_scale text, correction text,
        marks text NOT NULL DEFAULT '[]', cited text NOT NULL DEFAULT '[]'
    );
    CREATE INDEX feedback_trace ON feedback(trace_id);
    CREATE TABLE learned (
        version integer PRIMARY KEY, kind text NOT NULL, created_at double precision NOT NULL,
        active boolean NOT NULL DEFAULT false, previous integer, report text NOT NULL DEFAULT '{}',
        blob bytea NOT NULL
    );
    CREATE TABLE learned_marks (
        version integer NOT NULL REFERENCES learned(version) ON DELETE CASCADE, example integer NOT NULL,
        doc_id text NOT NULL, chunk_id text, weight double precision NOT NULL
    );
    CREATE INDEX learned_marks_version ON learned_marks(version, example);
    CREATE INDEX learned_marks_doc ON learned_marks(doc_id);
    CREATE FUNCTION ragwright_document_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM learned_marks WHERE doc_id = OLD.doc_id;
        RETURN OLD;
    END $$;
    CREATE TRIGGER documents_removed_learned AFTER DELETE ON documents
        FOR EACH ROW EXECUTE FUNCTION ragwright_document_removed();
    """,
    # 3: per-key rate limits shared by every replica (ratelimits.py); unlogged: derived state, a
    # crash only refills the buckets.
    """
    CREATE UNLOGGED TABLE rate_buckets (
        key_id text PRIMARY KEY, tokens double precision NOT NULL, at double precision NOT NULL,
        granted boolean NOT NULL
    );
    """,
    # 4: the audit log names the matched route, the caller's address and how many requests a row
    # stands for (store/schema.py 11)
    """
    ALTER TABLE audit_log ADD COLUMN route text NOT NULL DEFAULT '', ADD COLUMN client text,
        ADD COLUMN count integer NOT NULL DEFAULT 1;
    """,
]

LATEST = len(MIGRATIONS)


def schema_version(conn: Any) -> int:
    """The highest migration applied, 0 for a database ragwright never wrote."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: Any, shown: str) -> int:
    """Bring the schema to LATEST on an autocommit connection; return the version found before.
    `shown`: the database's URL with its password masked, for messages."""
    found = schema_version(conn)
    _refuse_newer(found, shown)
    if found < LATEST:
        ensure_pgvector(conn, shown)
    for version in range(found + 1, LATEST + 1):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            now = schema_version(conn)
            _refuse_newer(now, shown)
            if now >= version:
                continue  # another process migrated while we waited for the lock
            conn.execute(MIGRATIONS[version - 1])
            conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (version,))
    return found


def _refuse_newer(found: int, shown: str) -> None:
    if found > LATEST:
        raise StoreError(
            f"PostgreSQL at {shown}: the store has schema version {found}, newer than this ragwright "
            f"understands ({LATEST}): upgrade ragwright"
        )


def ensure_pgvector(conn: Any, shown: str) -> None:
    """CREATE EXTENSION vector when it is missing (needs a superuser, or one has to run it first),
    or a StoreError that says how to install or update it."""
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if row is None:
        raise StoreError(
            f"PostgreSQL at {shown}: pgvector is not installed on the server: install pgvector "
            f"{MIN_PGVECTOR[0]}.{MIN_PGVECTOR[1]} or newer (Debian: postgresql-15-pgvector, or build it "
            "from source; scripts/system-deps.sh does) and run it again"
        )
    available, installed = row
    if installed is None:
        if _version(available) < MIN_PGVECTOR:
            raise _too_old(shown, available, "installed on the server")
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception as exc:
            raise StoreError(
                f"PostgreSQL at {shown}: cannot create the extension vector ({exc}): a superuser must "
                "run CREATE EXTENSION vector; in this database"
            ) from exc
        installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    if _version(installed) < MIN_PGVECTOR:
        raise _too_old(shown, installed, "enabled in this database")


def _too_old(shown: str, version: str, where: str) -> StoreError:
    need = f"{MIN_PGVECTOR[0]}.{MIN_PGVECTOR[1]}"
    return StoreError(
        f"PostgreSQL at {shown}: pgvector {version} is {where}, but {need} or newer is needed "
        f"(iterative index scans): install pgvector {need}+ on the server, then run "
        "ALTER EXTENSION vector UPDATE;"
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())
