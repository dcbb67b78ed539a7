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
