"""Which local graph a workspace runs: a new data dir the fused int8 one, an indexed one the graph
it was indexed with, the environment over both; and an unpinned graph file is a space of its own."""

import re
import shutil

import pytest

from ragwright import ModelError, Settings, StoreError, TextRecord, Workspace
from ragwright.models._onnx_build import cache_dir
from ragwright.models.embedding import FUSED_SHA256, NAMES, LocalMiniLM, unpinned_name

RECORD = TextRecord(id="a", text="Vitamin D supplementation and bone density in older adults")


@pytest.fixture
def no_graph_env(monkeypatch):
    monkeypatch.delenv("RAGWRIGHT_EMBEDDING_GRAPH", raising=False)


def graph_of(data_dir) -> str:
    with Workspace(settings=Settings(data_dir=data_dir)) as ws:
        embedder = ws.embedder
        assert isinstance(embedder, LocalMiniLM)
        return embedder.graph


def test_a_new_data_dir_gets_the_fused_graph(tmp_path, no_graph_env):
    assert graph_of(tmp_path / "new") == "fused-int8"


def test_a_data_dir_indexed_with_the_packaged_graph_keeps_it(tmp_path, no_graph_env, embedder):
    """An index built before the default changed is still searched, with the graph that built it."""
    with Workspace(settings=Settings(data_dir=tmp_path / "old"), embedder=embedder) as ws:
        ws.ingest_records([RECORD])
    assert graph_of(tmp_path / "old") == "packaged"
    with Workspace(settings=Settings(data_dir=tmp_path / "old")) as ws:
        assert [r.doc_id for r in ws.search("bone density", k=1)] == ["a"]


def test_the_environment_wins_and_a_mismatch_is_refused(tmp_path, monkeypatch, embedder):
    with Workspace(settings=Settings(data_dir=tmp_path / "old"), embedder=embedder) as ws:
        ws.ingest_records([RECORD])
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "packaged")
    assert graph_of(tmp_path / "new") == "packaged"
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "fused-int8")
    with (
        Workspace(settings=Settings(data_dir=tmp_path / "old")) as ws,
        pytest.raises(StoreError, match=r"RAGWRIGHT_EMBEDDING_GRAPH=packaged runs the graph it was indexed with"),
    ):
        ws.search("bone density")


def test_a_data_dir_of_an_older_fused_recipe_is_refused_naming_both(tmp_path, no_graph_env, embedder):
    older = "all-MiniLM-L6-v2+fused-int8+outliers"  # the recipe before Sum + LayerNormalization
    with Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder) as ws:
        ws.store.set_meta("embedder", older)
    with (
        Workspace(settings=Settings(data_dir=tmp_path / "d")) as ws,
        pytest.raises(StoreError, match=re.escape(f"indexed with embedder '{older}', but '{NAMES['fused-int8']}'")),
    ):
        ws.search("bone density")


def test_an_unpinned_graph_file_is_a_vector_space_of_its_own(tmp_path, embedder):
    """A variant build (bench, tests) runs unchecked: a store indexed with it must refuse the
    pinned graph, and the reverse, so it cannot share the pinned graph's name."""
    pinned = cache_dir() / f"all-MiniLM-L6-v2-fused-int8-{FUSED_SHA256[:16]}.onnx"
    LocalMiniLM(graph="fused-int8").warm_up()  # built (or checked) in the user's cache
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(pinned, copy)
    variant = LocalMiniLM(graph="fused-int8", graph_file=copy, threads=1)
    assert variant.name == unpinned_name(copy) == f"{NAMES['fused-int8']}+unpinned-{FUSED_SHA256[:16]}"
    assert variant.name != LocalMiniLM(graph="fused-int8").name
    with Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=variant) as ws:
        ws.ingest_records([RECORD])
    with (
        Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=LocalMiniLM(graph="fused-int8")) as ws,
        pytest.raises(StoreError, match=r"\+unpinned-"),
    ):
        ws.search("bone density")


def test_a_graph_file_needs_the_fused_graph_and_must_exist(tmp_path):
    with pytest.raises(ModelError, match="graph_file is a build of the fused-int8 graph"):
        LocalMiniLM(graph="packaged", graph_file=tmp_path / "x.onnx")
    with pytest.raises(ModelError, match=r"embedding graph file .*missing.onnx"):
        LocalMiniLM(graph="fused-int8", graph_file=tmp_path / "missing.onnx")
