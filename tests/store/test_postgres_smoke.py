"""The real PostgreSQL 15 + pgvector that the PostgreSQL store's tests run on (tests/pg.py): the
extension is the series scripts/system-deps.sh builds, and a cosine query answered through an HNSW
index returns the true nearest neighbour. Skipped on a machine without PostgreSQL, never under CI."""

from __future__ import annotations

import numpy as np
import pytest

DIM = 16


@pytest.fixture
def conn(postgres_url):
    import psycopg  # after the fixture: it skips (or fails under CI) when psycopg is missing
    from pgvector.psycopg import register_vector

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS smoke")
        yield conn


def test_pgvector_is_the_series_system_deps_builds(conn):
    version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert version is not None and version[0].startswith("0.8.")
    # 0.8's iterative index scans keep a filtered top k full: the store relies on them
    conn.execute("LOAD 'vector'")  # its settings exist once the library is loaded
    assert conn.execute("SHOW hnsw.iterative_scan").fetchone() == ("off",)
    assert conn.execute("SHOW server_version").fetchone()[0].startswith("15.")


def test_hnsw_cosine_query_returns_the_nearest_neighbour(conn):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32)
    query = rng.normal(size=DIM).astype(np.float32)
    # The true neighbour by cosine is far away by L2 (10x the query's length): a query that used
    # L2, or no index at all, would not give the same answer and plan.
    vectors[123] = 10 * (query + 0.05 * rng.normal(size=DIM).astype(np.float32))
    conn.execute(f"CREATE TABLE smoke (id int PRIMARY KEY, embedding vector({DIM}))")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO smoke VALUES (%s, %s)", list(enumerate(vectors)))
    conn.execute("CREATE INDEX ON smoke USING hnsw (embedding vector_cosine_ops)")
    conn.execute("SET enable_seqscan = off")  # 300 rows: the planner would scan them otherwise

    sql = "SELECT id, embedding <=> %s AS distance FROM smoke ORDER BY embedding <=> %s LIMIT 5"
    plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, (query, query)))
    rows = conn.execute(sql, (query, query)).fetchall()

    assert "Index Scan using smoke_embedding_idx" in plan, plan
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = 1 - unit @ (query / np.linalg.norm(query))
    assert rows[0][0] == 123 == int(np.argmin(exact))
    assert rows[0][1] == pytest.approx(exact[123], abs=1e-5)
    assert int(np.argmin(np.linalg.norm(vectors - query, axis=1))) != 123  # L2 would pick another
