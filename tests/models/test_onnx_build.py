"""The fused int8 embedding graph: rebuilt from the packaged file to the pinned bytes, refused
when it differs, and close to the packaged graph's vectors."""

import hashlib
import json
import os
import subprocess
import sys
import time
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
    _onnx_build.build_in_child(packaged(), out, ModelError)  # as first use builds it
    assert _onnx_build.file_sha256(out) == FUSED_SHA256


@pytest.fixture(scope="module")
def fused() -> LocalMiniLM:
    return LocalMiniLM(graph="fused-int8")


def test_fused_vectors_match_the_packaged_graph(fused, embedder):
    new, plain = fused.embed(TEXTS), embedder.embed(TEXTS)
    assert embedder.graph == "packaged"
    cos = (new * plain).sum(axis=1)
    assert cos.min() >= 0.98 and cos.mean() >= 0.99, cos
    single = np.vstack([fused.embed([t]) for t in TEXTS])  # the one-thread query path
    assert np.allclose(single, new, atol=1e-5)


# sha256 of embed(TEXTS) (float32, little-endian) with the fused graph as first named
# "...+outliers+layernorm" (sha256 a7ba0786..., which took a mask and segment ids and pooled in numpy)
NAMED_VECTORS_SHA256 = "a75d4ab7db46a60be58d64a752353fd67c7ddbc0afcf001fb69acbb1acfe9640"


def test_the_vector_space_name_still_means_the_same_vectors(fused):
    """An index records the embedder's name; a graph that computes other vectors under the same
    name would be queried against it silently. A recipe change that moves a bit here needs a
    new name in embedding.NAMES (the later in-graph pooling and int32 ids moved none)."""
    vectors = np.vstack([fused.embed([t]) for t in TEXTS]).astype("<f4")
    assert hashlib.sha256(vectors.tobytes()).hexdigest() == NAMED_VECTORS_SHA256
    assert fused.name == embedding.NAMES["fused-int8"]


def test_a_batch_on_several_threads_gives_the_vectors_of_one_thread(fused):
    """Batches of the fused graph run one text per thread, `threads` at once (1.75x the texts a
    second): bit for bit what one thread at a time gives, in the order given."""
    alone = LocalMiniLM(graph="fused-int8", threads=1)
    texts = TEXTS * 5 + [TEXTS[0] * 8]  # a long one: sorted longest first, put back in place
    assert fused.threads > 1
    apart, one_by_one = fused.embed(texts), alone.embed(texts)
    assert np.array_equal(apart, one_by_one)
    assert np.array_equal(apart[:6], fused.embed(TEXTS[::-1])[::-1])


def test_a_failing_text_stops_the_batch_and_cancels_the_rest(fused, monkeypatch):
    """An error in one run (here the first of 200) surfaces at once; the runs not yet started are
    cancelled, not left to run on in the background (as after Ctrl-C)."""
    fused.warm_up()
    calls = []

    def failing(session, ids):
        calls.append(1)
        time.sleep(0.01)  # a run takes time: the rest are still waiting when the first fails
        raise RuntimeError("onnxruntime failed")

    monkeypatch.setattr(embedding, "_fused_pool", failing)
    with pytest.raises(RuntimeError, match="onnxruntime failed"):
        fused.embed([f"text number {i}" for i in range(200)])
    fused._runners.shutdown(wait=True)  # whatever was already running has ended
    assert len(calls) < 20
    fused._runners = None


def test_a_corrupted_cached_graph_is_refused_with_both_digests(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGWRIGHT_MODEL_CACHE", str(tmp_path))
    cached = tmp_path / f"all-MiniLM-L6-v2-fused-int8-{FUSED_SHA256[:16]}.onnx"
    cached.write_bytes(b"not an onnx file")
    actual = _onnx_build.file_sha256(cached)
    with pytest.raises(ModelError, match=f"sha256 {actual} does not match the expected {FUSED_SHA256}"):
        LocalMiniLM(graph="fused-int8").warm_up()


def test_a_build_that_differs_is_refused_and_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGWRIGHT_MODEL_CACHE", str(tmp_path))
    monkeypatch.setattr(_onnx_build, "build_in_child", lambda src, out, error: out.write_bytes(b"other bytes"))
    with pytest.raises(ModelError, match=f"not the expected {FUSED_SHA256}"):
        LocalMiniLM(graph="fused-int8").warm_up()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".lock"]  # neither the file nor its temporary copy


def test_first_use_builds_in_a_child_process(tmp_path):
    """A whole test run died (SIGABRT) building the graph in its own process, after the suite had
    loaded many native extensions; onnx's C++ extension also crashes a process that loaded
    usearch's before it. First use builds in a child: the process that asks never loads onnx."""
    script = (
        "import sys\n"
        "from ragwright.models.embedding import LocalMiniLM\n"
        "print(LocalMiniLM(graph='fused-int8').embed(['parental leave']).shape, 'onnx' in sys.modules)\n"
    )
    env = {**os.environ, "RAGWRIGHT_MODEL_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(1, 384) False"
    assert done.stderr.count("ragwright: building the fused embedding graph") == 1  # the wait is explained
    built = tmp_path / f"all-MiniLM-L6-v2-fused-int8-{FUSED_SHA256[:16]}.onnx"
    assert _onnx_build.file_sha256(built) == FUSED_SHA256


def test_a_failing_build_is_a_model_error_with_the_reason(tmp_path):
    with pytest.raises(ModelError, match=r"failed: .*(No such file|FileNotFound|not found|does not exist)"):
        _onnx_build.build_in_child(tmp_path / "missing.onnx", tmp_path / "out.onnx", ModelError)


def test_a_build_that_runs_past_its_time_is_a_model_error_naming_the_way_out(tmp_path, monkeypatch):
    """A stopped child is not a traceback from subprocess: the message says what happened and how
    to go on with the packaged graph."""
    monkeypatch.setattr(_onnx_build, "BUILD_TIMEOUT_S", 0.001)
    with pytest.raises(ModelError, match=r"took over 0.001 s and was stopped.*RAGWRIGHT_EMBEDDING_GRAPH=packaged"):
        _onnx_build.build_in_child(packaged(), tmp_path / "out.onnx", ModelError)
    assert not (tmp_path / "out.onnx").exists()


def test_float_nodes_must_name_nodes_of_the_graph(tmp_path):
    """A misspelt node to leave in float would otherwise be quantised silently (quantize_dynamic
    ignores names it does not find) and the variant measured would not be the one named."""
    out = tmp_path / "out.onnx"
    with pytest.raises(ModelError, match=r"no such nodes in the fused graph: \['l9_output.dense'\]"):
        _onnx_build.build_in_child(packaged(), out, ModelError, float_nodes=("l5_output.dense", "l9_output.dense"))
    assert not out.exists()


def test_unknown_graph_is_refused():
    with pytest.raises(ModelError, match="unknown embedding graph"):
        LocalMiniLM(graph="fp16")


def test_the_graph_is_chosen_by_environment(monkeypatch):
    from ragwright.config import EmbeddingSettings
    from ragwright.models.embedding import make_embedder

    assert make_embedder(EmbeddingSettings()).graph == "packaged"
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "fused-int8")
    assert make_embedder(EmbeddingSettings()).graph == "fused-int8"
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "fp16")
    with pytest.raises(ModelError, match="unknown embedding graph 'fp16'"):
        make_embedder(EmbeddingSettings())


def test_a_workspace_indexed_with_one_graph_refuses_the_other(tmp_path, fused, embedder):
    from ragwright import Settings, StoreError, TextRecord, Workspace

    with Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder) as ws:
        ws.ingest_records([TextRecord(id="a", text="Vitamin D and bone density")])
    with (
        Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=fused) as ws,
        pytest.raises(
            StoreError,
            match=r"with embedder 'all-MiniLM-L6-v2', but "
            r"'all-MiniLM-L6-v2\+fused-int8\+outliers\+layernorm' is configured: "
            r"set it back \(RAGWRIGHT_EMBEDDING_GRAPH=packaged runs the graph it was indexed with\)",
        ),
    ):
        ws.search("bone density")


def test_onnxruntime_runs_the_layer_norms_unfused(fused, tmp_path):
    """The recipe writes Sum + LayerNormalization because onnxruntime's SkipLayerNormalization took
    40 us where they take 8 (a 21-token query, one thread): ~0.4 ms of a 3 ms query. An onnxruntime
    whose optimiser fuses them back would lose that silently; this says so."""
    fused.warm_up()
    graph = _onnx_build.cache_dir() / f"all-MiniLM-L6-v2-fused-int8-{FUSED_SHA256[:16]}.onnx"
    script = (  # onnx is loaded in a child: it crashes a process that loaded usearch (see _onnx_build)
        "import json, sys, onnx, onnxruntime as ort\n"
        "options = ort.SessionOptions()\n"
        "options.optimized_model_filepath = sys.argv[2]\n"
        "ort.InferenceSession(sys.argv[1], options, providers=['CPUExecutionProvider'])\n"
        "print(json.dumps([node.op_type for node in onnx.load(sys.argv[2]).graph.node]))\n"
    )
    command = [sys.executable, "-c", script, str(graph), str(tmp_path / "optimised.onnx")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ops = json.loads(done.stdout)
    assert ops.count("LayerNormalization") == 12 and "SkipLayerNormalization" not in ops


def test_splitting_off_outlier_channels_computes_the_same_product(tmp_path):
    """In float32 the split graph ((x * mask) @ W + x[:, channels] @ W[channels]) is the plain one:
    only the int8 rounding of the rest changes."""
    plain, split = tmp_path / "plain.onnx", tmp_path / "split.onnx"
    _onnx_build.build_in_child(packaged(), plain, ModelError, quantised=False, outliers={})
    _onnx_build.build_in_child(packaged(), split, ModelError, quantised=False)
    assert _onnx_build.file_sha256(plain) != _onnx_build.file_sha256(split)
    a, b = (LocalMiniLM(graph="fused-int8", graph_file=f, threads=1).embed(TEXTS) for f in (plain, split))
    assert np.abs(a - b).max() < 1e-5


def test_the_pinned_outlier_channels_are_the_massive_ones_on_other_text():
    """The channels are the model's, not the calibration text's: on this test's texts, every input
    channel of a feed-forward product reaching 8x the product's median channel is one the recipe
    keeps in float32 (the smaller pinned ones, ~3-5x, vary with the text)."""
    script = (
        "import json, numpy as np, sys\n"
        "from tools.build_embedder import largest_channels, _onnx_build\n"
        "from ragwright.models.embedding import MODEL_FILE, MODEL_PACKAGE, MODEL_SHA256, _packaged_file\n"
        "names = list(_onnx_build.OUTLIER_CHANNELS)\n"
        "model = _packaged_file(MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256)\n"
        "rows = largest_channels(model, json.load(sys.stdin), names)\n"
        "print(json.dumps({n: np.flatnonzero(r > 8 * np.median(r)).tolist() for n, r in zip(names, rows)}))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(TEXTS), capture_output=True, text=True, cwd=root, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    massive = json.loads(done.stdout)
    assert len(massive) == 12 and all(massive[f"l{n}_output.dense"] for n in range(4)), massive
    assert {n: set(c) - set(_onnx_build.OUTLIER_CHANNELS[n]) for n, c in massive.items()} == {n: set() for n in massive}


def test_outlier_channels_round_trip_and_must_name_products(tmp_path):
    arg = _onnx_build.outliers_arg(_onnx_build.OUTLIER_CHANNELS)
    assert _onnx_build.parse_outliers(arg) == _onnx_build.OUTLIER_CHANNELS
    assert _onnx_build.parse_outliers(_onnx_build.outliers_arg({})) == {}
    with pytest.raises(ModelError, match=r"no such nodes in the fused graph: \['l9_output.dense'\]"):
        _onnx_build.build_in_child(packaged(), tmp_path / "x.onnx", ModelError, outliers={"l9_output.dense": (1,)})


def test_a_data_dir_keeps_the_graph_it_was_indexed_with(monkeypatch):
    """The migration path for a faster default: a caller that passes the store's recorded embedder
    gets the graph that recorded it (an existing index keeps working), a new data dir the fast
    graph; a caller that does not look gets today's default; the environment overrides both."""
    from ragwright.models.embedding import NAMES, choose_graph, switch_hint

    monkeypatch.delenv("RAGWRIGHT_EMBEDDING_GRAPH", raising=False)
    assert choose_graph() == "packaged"
    assert choose_graph(None) == "fused-int8"
    assert choose_graph(NAMES["packaged"]) == "packaged"
    assert choose_graph(NAMES["fused-int8"]) == "fused-int8"
    assert choose_graph("all-MiniLM-L6-v2+fused-int8+ffn2-fp32") == "fused-int8"  # an older recipe: refused later
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_GRAPH", "packaged")
    assert choose_graph(None) == "packaged" and choose_graph(NAMES["fused-int8"]) == "packaged"
    assert switch_hint("openai:emb-1") == "" and "=fused-int8 " in switch_hint(NAMES["fused-int8"])
