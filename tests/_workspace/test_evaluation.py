"""An evaluation index is a rebuildable cache of a corpus: named by everything that shaped it."""

from __future__ import annotations

from ragwright import Settings
from ragwright._workspace.evaluation import eval_settings


def test_another_embedder_graph_gets_its_own_evaluation_index(tmp_path):
    """The graph (RAGWRIGHT_EMBEDDING_GRAPH) is not in the settings: with the same settings, an
    index built by one graph would be refused by the other instead of rebuilt."""
    settings = Settings(data_dir=tmp_path)
    packaged = eval_settings(settings, "scifact", "corpus-v1", "all-MiniLM-L6-v2")
    fused = eval_settings(settings, "scifact", "corpus-v1", "all-MiniLM-L6-v2+fused-int8+outliers")
    again = eval_settings(settings, "scifact", "corpus-v1", "all-MiniLM-L6-v2")
    assert packaged.data_dir != fused.data_dir
    assert packaged.data_dir == again.data_dir
    assert packaged.data_dir.parent == tmp_path / "eval" and packaged.data_dir.name.startswith("scifact-")
    assert packaged.store.url == "" and fused.store.url == ""
