"""Query vectors shared by a server's worker processes through one SQLite file."""

import time

import numpy as np

from ragwright.models.embedding import LocalMiniLM
from ragwright.models.shared_vectors import SharedVectors


def test_one_process_embeds_the_other_looks_up(tmp_path):
    first, second = LocalMiniLM(), LocalMiniLM()  # two workers' embedders
    for e in (first, second):
        e.shared = SharedVectors(tmp_path / "q.db", "minilm", 384)
    query = "Vitamin D lowers the risk of fractures."
    expected = first.embed([query])[0]
    first.shared.flush()  # written by a thread of its own, off the request's path

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model ran although another process had embedded this query")

    second.warm_up()
    second._embed_many = no_model  # type: ignore[method-assign]
    assert np.array_equal(second.embed([query])[0], expected)
    assert query in second._recent  # and it is now in that process's own memory
    other = "Statins raise the risk of diabetes."
    assert not second.remembers(other)
    first.embed([other])
    first.shared.flush()
    assert second.remembers(other)  # the server then searches on its event loop: no model run is coming
    assert np.array_equal(second.embed([other])[0], first.embed([other])[0])
    assert b"Vitamin" not in (tmp_path / "q.db").read_bytes()  # digests, never the text


def test_other_models_and_damaged_files_are_misses(tmp_path):
    cache = SharedVectors(tmp_path / "q.db", "model-a", 4)
    cache.put("q", np.ones(4, np.float32))
    cache.flush()
    assert cache.get("q") is not None
    assert SharedVectors(tmp_path / "q.db", "model-b", 4).get("q") is None
    assert SharedVectors(tmp_path / "q.db", "model-a", 8).get("q") is None  # wrong size
    (tmp_path / "bad.db").write_bytes(b"not a database" * 100)
    bad = SharedVectors(tmp_path / "bad.db", "model-a", 4)
    bad.put("q", np.ones(4, np.float32))
    bad.flush()
    assert bad.get("q") is None


def test_only_the_newest_queries_are_kept(tmp_path):
    cache = SharedVectors(tmp_path / "q.db", "m", 2, limit=500)
    for i in range(2000):
        cache.put(f"query {i}", np.full(2, i, np.float32))
        if i % 100 == 99:
            cache.flush()  # a server's writes come in batches of what gathered meanwhile
    assert cache.get("query 1999")[0] == 1999 and cache.get("query 0") is None
    assert cache._conn().execute("SELECT count(*) FROM vectors").fetchone()[0] <= 1500


def test_a_new_query_is_looked_up_in_the_shared_file_once(tmp_path):
    """The server asks remembers() on its event loop, then embeds in a thread: a new query's miss
    is not looked up a second time; a query another process embedded meanwhile is still found
    by the next remembers()."""
    embedder = LocalMiniLM()
    embedder.shared = SharedVectors(tmp_path / "q.db", "minilm", 384)
    embedder.warm_up()
    looked: list[str] = []
    real_get = embedder.shared.get

    def counted(key: str):
        looked.append(key)
        return real_get(key)

    embedder.shared.get = counted  # type: ignore[method-assign]
    query = "Does aspirin prevent colorectal cancer?"
    assert not embedder.remembers(query)
    vector = embedder.embed([query])[0]
    assert len(looked) == 1  # two before: remembers() and the embed each read the file
    embedder.shared.flush()
    assert np.array_equal(real_get(query), vector)  # and the vector is there for the other workers
    other = LocalMiniLM()
    other.shared = SharedVectors(tmp_path / "q.db", "minilm", 384)
    other.warm_up()
    assert other.remembers(query)
    assert embedder.embed(["Another new question?"]) is not None and len(looked) == 2  # no remembers(): looked up


def test_vectors_are_written_off_the_callers_thread_in_batches(tmp_path):
    """put() only queues: the caller never waits for SQLite (the other worker's write lock slept in
    the busy handler on the request's path); the writer thread writes what gathered at once."""
    cache = SharedVectors(tmp_path / "q.db", "m", 2)
    writer = tmp_path / "q.db"
    lock = SharedVectors(writer, "m", 2)._conn()
    lock.execute("BEGIN IMMEDIATE")  # another worker holds the write lock
    started = time.perf_counter()
    for i in range(50):
        cache.put(f"query {i}", np.full(2, i, np.float32))
    assert time.perf_counter() - started < 0.05  # 50 puts, none waiting for the lock
    lock.execute("COMMIT")
    cache.flush()
    assert all(cache.get(f"query {i}")[0] == i for i in range(50))
