import numpy as np
import pytest

from ragwright import ModelError
from ragwright.models import embedding
from ragwright.models.embedding import OpenAIEmbedder, _packaged_file
from tests.openai_server import FakeOpenAI


def test_local_embeddings_are_normalised_and_meaningful(embedder):
    vecs = embedder.embed(["A dog runs in the park.", "A puppy plays outside.", "Interest rates rose sharply."])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3


def test_batching_and_order_do_not_change_vectors(embedder):
    texts = [f"sentence {'long ' * i}number {i}" for i in range(40)]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts[:5]])
    assert np.allclose(together[:5], alone, atol=1e-4)


def test_model_file_checksum_is_enforced():
    with pytest.raises(ModelError, match="does not match the expected"):
        _packaged_file(embedding.MODEL_PACKAGE, embedding.MODEL_FILE, "0" * 64)
    with pytest.raises(ModelError, match="not installed"):
        _packaged_file("no_such_model_package", "x", "0" * 64)


def test_openai_compatible_embedder():
    with FakeOpenAI() as server:
        emb = OpenAIEmbedder(server.base_url, "emb-1", api_key="k", batch_size=2)
        vecs = emb.embed(["a", "b", "c"])
        again = emb.embed(["c"])
    assert vecs.shape == (3, 8) and emb.dim == 8
    assert np.allclose(vecs[2], again[0])  # responses came back out of order and were re-sorted
    assert [r["input"] for r in server.requests[:2]] == [["a", "b"], ["c"]]
    assert server.requests[0]["_auth"] == "Bearer k"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_vector_with_nan_or_infinity_is_refused(value):
    with FakeOpenAI() as server:
        server.embed_first = value
        with pytest.raises(ModelError, match="NaN or infinite"):
            OpenAIEmbedder(server.base_url, "emb-1").embed(["a", "b"])


def test_openai_embedder_unreachable():
    with FakeOpenAI() as server:
        url = server.base_url
    with pytest.raises(ModelError, match="unreachable"):
        OpenAIEmbedder(url, "emb", timeout_s=2).embed(["x"])


def test_workspace_with_openai_embedder_refuses_mixed_vector_spaces(tmp_path, embedder):
    from ragwright import Settings, StoreError, TextRecord, Workspace

    with FakeOpenAI() as server:
        settings = Settings(
            data_dir=tmp_path / "d", embedding={"provider": "openai", "base_url": server.base_url, "model": "emb-1"}
        )
        with Workspace(settings=settings) as ws:
            report = ws.ingest_records([TextRecord(id="a", text="hello world")])
            assert report.ingested == 1 and len(ws.search("hello", k=1)) == 1
    with (
        Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder) as ws,
        pytest.raises(StoreError, match="indexed with embedder 'openai:emb-1'"),
    ):
        ws.search("hello")


@pytest.mark.parametrize("theirs", [None, "true"])
def test_the_tokenizers_pool_is_off_unless_the_caller_chose(monkeypatch, theirs):
    """Its pool of every core fought onnxruntime's threads while ingestion chunked beside a batch."""
    import os

    if theirs is None:
        monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    else:
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", theirs)
    embedding.LocalMiniLM().warm_up()
    assert os.environ["TOKENIZERS_PARALLELISM"] == (theirs or "false")
