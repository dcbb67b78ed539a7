"""The fused int8 embedding graph: rebuilt from the packaged file to the pinned bytes, refused
when it differs, and close to the packaged graph's vectors."""

from pathlib import Path

import numpy as np
import pytest

from ragwright import ModelError
from ragwright.models import _onnx_build, embedding
from ragwright.models.embedding import FUSED_SHA256, LocalMiniLM, _packaged_file

TEXTS = [
    "Vitamin D supplementation and bone mineral density in older adults",
    "Does aspirin reduce the risk of colorectal cancer?",
    "The BRCA1 mutation increases lifetime breast cancer risk.",
    "Mitochondria move along transvacuolar strands during programmed cell death in the lace plant.",
    "Statins lower LDL cholesterol but their effect on mortality in primary prevention is debated; "
    "this meta-analysis pools 18 randomised trials with 56,934 participants.",
    "How many vacation days do full-time employees get?",
]


def packaged() -> Path:
    return _packaged_file(embedding.MODEL_PACKAGE, embedding.MODEL_FILE, embedding.MODEL_SHA256)


def test_build_from_packaged_weights_gives_the_pinned_file(tmp_path):
    out = tmp_path / "fused.onnx"
    _onnx_build.build(packaged(), out)
    assert _onnx_build.file_sha256(out) == FUSED_SHA256


def test_fused_vectors_match_the_packaged_graph(embedder):
    fused, plain = embedder.embed(TEXTS), LocalMiniLM(graph="packaged").embed(TEXTS)
    assert embedder.graph == "fused-int8"
    cos = (fused * plain).sum(axis=1)
    assert cos.min() >= 0.98 and cos.mean() >= 0.99, cos
    single = np.vstack([embedder.embed([t]) for t in TEXTS])  # the one-thread query path
    assert np.allclose(single, fused, atol=1e-5)


def test_a_corrupted_cached_graph_is_refused_with_both_digests(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGWRIGHT_MODEL_CACHE", str(tmp_path))
    cached = tmp_path / f"all-MiniLM-L6-v2-fused-int8-{FUSED_SHA256[:16]}.onnx"
    cached.write_bytes(b"not an onnx file")
    actual = _onnx_build.file_sha256(cached)
    with pytest.raises(ModelError, match=f"sha256 {actual} does not match the expected {FUSED_SHA256}"):
        LocalMiniLM().warm_up()


def test_a_build_that_differs_is_refused_and_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGWRIGHT_MODEL_CACHE", str(tmp_path))
    monkeypatch.setattr(_onnx_build, "build", lambda src, out: out.write_bytes(b"other bytes"))
    with pytest.raises(ModelError, match=f"not the expected {FUSED_SHA256}"):
        LocalMiniLM().warm_up()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".lock"]  # neither the file nor its temporary copy


def test_unknown_graph_is_refused():
    with pytest.raises(ModelError, match="unknown embedding graph"):
        LocalMiniLM(graph="fp16")


def test_the_graph_is_chosen_by_environment(monkeypatch):
    from ragwright.config import EmbeddingSettings
    from ragwright.models.embedding import make_embedder

    assert make_embedder(EmbeddingSettings()).graph == "fused-int8"
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "packaged")
    assert make_embedder(EmbeddingSettings()).graph == "packaged"
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "fp16")
    with pytest.raises(ModelError, match="unknown embedding graph 'fp16'"):
        make_embedder(EmbeddingSettings())
