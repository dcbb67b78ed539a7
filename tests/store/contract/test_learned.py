"""Learned versions: what every store backend promises (store/contract/feedback.py)."""

from __future__ import annotations

import numpy as np

from .backends import document


def test_versions_save_activate_list_and_roll_back(backend):
    a, b = backend.open(), backend.open()
    a.write_documents([document("d1", ["One."]), document("d2", ["Two."])])
    stamp0 = b.learned_stamp()
    assert a.active_learned() is None and a.rollback_learned() == (None, None)
    v1 = a.save_learned("weights", b"blob-1", [(0, "d1", "d1#0", 1.0), (0, "gone", None, 1.0)], {"gain": 0.1})
    stamp1 = b.learned_stamp()
    assert stamp1 != stamp0
    v2 = a.save_learned("weights", b"blob-2", [(1, "d2", None, 0.5), (0, "d1", "d1#0", 2.0)], {"gain": 0.2})
    assert (v1, v2) == (1, 2)
    active = b.active_learned()  # another process sees the new version
    assert (active["version"], active["kind"], active["blob"], active["report"]) == (
        2,
        "weights",
        b"blob-2",
        {"gain": 0.2},
    )
    assert [tuple(m) for m in active["marks"]] == [(0, "d1", "d1#0", 2.0), (1, "d2", None, 0.5)]
    listed = b.list_learned()
    assert [(v["version"], v["active"], v["previous"], v["marks"]) for v in listed] == [
        (1, False, None, 1),  # the mark on a document no longer stored was dropped
        (2, True, 1, 2),
    ]
    assert b.learned_stamp() != stamp1
    assert b.rollback_learned() == (2, 1)
    assert a.active_learned()["blob"] == b"blob-1"
    assert [v["version"] for v in a.list_learned()] == [1]  # the rolled-back version is dropped
    assert a.rollback_learned() == (1, None)
    assert a.active_learned() is None and a.list_learned() == []
    a.save_learned("weights", b"blob-3", [], {})
    assert a.active_learned()["blob"] == b"blob-3"


def test_only_the_last_versions_are_kept(store):
    versions = [store.save_learned("weights", f"b{n}".encode(), [], {}) for n in range(7)]
    assert versions == list(range(1, 8))
    assert [v["version"] for v in store.list_learned()] == [3, 4, 5, 6, 7]


def test_a_written_document_moves_the_stamp_and_its_deletion_takes_its_marks(store):
    store.write_documents([document("d1", ["One."]), document("d2", ["Two."])])
    store.save_learned("weights", b"blob", [(0, "d1", "d1#0", 1.0), (0, "d2", "d2#0", 1.0)], {})
    before = store.learned_stamp()
    store.delete_document("d1")
    assert store.learned_stamp() != before
    assert [m[1] for m in store.active_learned()["marks"]] == ["d2"]


def test_chunk_vectors_come_in_write_order(store):
    vecs = np.eye(8, dtype=np.float32)
    store.write_documents([document("d1", ["One.", "Uno."], vectors=vecs[:2])])
    store.write_documents([document("d2", ["Two."], vectors=vecs[5:6])])
    ids, matrix = store.chunk_vectors()
    assert ids == ["d1#0", "d1#1", "d2#0"]
    assert matrix.dtype == np.float32 and np.allclose(matrix, vecs[[0, 1, 5]])
