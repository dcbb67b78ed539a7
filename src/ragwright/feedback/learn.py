"""`ragwright learn`: relevance marks from feedback become better retrieval, on the CPU, with no
provider. Each access scope (tenant, groups and admin-ness: the readers who read exactly the same
documents, as the feedback memory was already kept) learns alone, from its readers' feedback over
the chunks they may read, and what it learns applies to its readers' searches only (a scope with
too little feedback, or whose learning did not do better, searches as shipped). Per tenant was
not enough: the adapter moves every query, so one group's marks (a write key marking its own
upload relevant) moved another group's readers' results. Two parts, chosen per scope by how they
do on that scope's feedback held out from learning:

- a query adapter (see train.py), which moves what the dense search looks for toward what users
  marked relevant, for every query;
- a feedback memory: past queries and their marks, which move the marked chunks of queries that
  are close to a past one (see retrieve/adapter.py).

Steps: gather the marks (the latest mark of a chunk for a query wins; marks on deleted documents
are dropped; ratings and corrections are not used here), hold out a fifth of the queries (by a
hash of their text, so repeats of one query stay together), fit on the rest, choose by nDCG@10
on the held-out ones among retrieval as shipped, adapter, memory and both (the adapter's epochs
and the memory's threshold and weights on a small grid), measure the choice against retrieval as
shipped with the real search (if it does worse, nothing changes unless forced), refit it on all
the feedback, and store it as a new version that becomes active in the same transaction. A
failure anywhere before that leaves the active version as it was; `rollback()` restores the
version active before."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..config import RetrievalSettings
from ..errors import NotFoundError, RagwrightError, StoreError
from ..evaluate.metrics import evaluate
from ..models.embedding import Embedder
from ..retrieve import HybridRetriever
from ..retrieve.adapter import LearnedModel, LearnedVersion, chunk_doc, summary
from ..store.contract import CorpusStore, FeedbackStore, Filters, LearnedStore
from .examples import Example, KeyList, collect_examples, held_out
from .report import overall, wins
from .train import AdapterTrainer, training_pool


class LearningStore(CorpusStore, FeedbackStore, LearnedStore, KeyList, Protocol):
    """The store retrieval searches, plus the feedback it learns from (and the keys that gave it)
    and the versions it keeps."""


MIN_QUERIES = 5  # queries of one access scope with a relevant mark needed to learn anything for it
MIN_HELD_OUT_TO_TUNE = 10  # below this, the memory's defaults are used rather than tuned
DEPTH = 100
EPOCH_CHECKS = (5, 10, 15, 20, 30)
DEFAULT_MEMORY = {"threshold": 0.6, "weight": 1.0, "negative": 0.5, "neighbours": 10}
MEMORY_GRID = [
    {"threshold": t, "weight": w, "negative": n, "neighbours": 10}
    for t in (0.5, 0.6, 0.7, 0.8)
    for w in (0.1, 0.3, 1.0)
    for n in (0.0, 0.5, 1.0)
]


class NotEnoughFeedback(RagwrightError):
    """Too few relevance marks to learn from; nothing was changed."""


class NotImproved(RagwrightError):
    """What was learned did no better than retrieval as shipped on held-out feedback; not activated."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class _Data:
    examples: Sequence[Example]
    vectors: np.ndarray  # the examples' query embeddings
    chunk_ids: list[str]
    matrix: np.ndarray  # the stored chunk vectors, in chunk_ids order
    position: dict[str, int] = field(default_factory=dict)
    by_doc: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {c: n for n, c in enumerate(self.chunk_ids)}
        for c, n in self.position.items():
            self.by_doc.setdefault(chunk_doc(c), []).append(n)


class Learner:
    def __init__(
        self,
        store: LearningStore,
        embedder: Embedder,
        settings: RetrievalSettings,
        *,
        seed: int = 0,
        min_queries: int = MIN_QUERIES,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.store, self.embedder, self.settings = store, embedder, settings
        self.seed, self.min_queries = seed, min_queries
        self.say = progress or (lambda message: None)

    def learn(self, *, force: bool = False) -> dict[str, Any]:
        started = time.perf_counter()
        recorded, name = self.store.get_meta("embedder"), self.embedder.name
        if recorded and name and recorded != name:
            raise StoreError(
                f"the store was indexed with embedder '{recorded}', but '{name}' is configured: "
                "learning would mix two vector spaces; set it back"
            )
        examples, counts = collect_examples(self.store)
        scopes: dict[str, list[int]] = {}
        for i, e in enumerate(examples):
            scopes.setdefault(e.scope, []).append(i)
        usable = {s: sum(1 for i in which if examples[i].relevant_docs) for s, which in scopes.items()}
        if not any(n >= self.min_queries for n in usable.values()):
            raise NotEnoughFeedback(
                f"learning needs relevance marks on at least {self.min_queries} queries with a relevant chunk; "
                f"the feedback has {max(usable.values(), default=0)} ({counts['feedback']} feedback rows; the "
                "readers of each tenant, groups and admin-ness learn from their own). Mark what was relevant with "
                "`ragwright feedback TRACE_ID --relevant CHUNK_ID` (or POST /v1/feedback); nothing was changed"
            )
        self.say(f"embedding {len(examples)} feedback queries")
        vectors = np.asarray(self.embedder.embed([e.query for e in examples]), dtype=np.float32)
        chunk_ids, matrix = self.store.chunk_vectors()
        report: dict[str, Any] = {
            "feedback": {**counts, "queries": len(examples), "queries_with_relevant": sum(usable.values())},
            "pairs": {
                "relevant": sum(m > 0 for e in examples for m in e.marks.values()),
                "not_relevant": sum(m < 0 for e in examples for m in e.marks.values()),
            },
            "scopes": {},
        }
        version = LearnedVersion(embedder=recorded)
        for scope in sorted(s for s, n in usable.items() if n >= self.min_queries):
            which = scopes[scope]
            first = examples[which[0]]
            self.say(f"{first.label}: {usable[scope]} queries")
            data = self._data(first.filters, [examples[i] for i in which], vectors[which], chunk_ids, matrix)
            report["scopes"][first.label], part = self._learn_scope(data, force)
            if part is not None:
                version.parts[scope] = part
        report.update(overall(report["scopes"], version))
        report["seconds"] = round(time.perf_counter() - started, 1)
        if not version.parts:
            val = report["validation"]
            raise NotImproved(
                f"nothing learned did better on the {val['queries']} held-out feedback queries "
                f"(nDCG@10 {val['ndcg@10_before']:.4f} as shipped, {val['ndcg@10_after']:.4f} learned); "
                "nothing was changed",
                report,
            )
        version.kind = report["chosen"]["kind"]
        report["model"] = {k: v for k, v in summary(version).items() if k != "version"}
        previous = next((v["version"] for v in self.store.list_learned() if v["active"]), None)
        report["version"] = self.store.save_learned(version.kind, version.to_blob(), version.mark_rows(), report)
        report["previous_version"] = previous
        return report

    def _data(
        self,
        filters: Filters | None,
        examples: list[Example],
        vectors: np.ndarray,
        chunk_ids: list[str],
        matrix: np.ndarray,
    ) -> _Data:
        """A scope's examples over the chunks its readers may read (`filters`, the scope's; the
        operator's without a tenant: every chunk), so the adapter contrasts and the selection
        ranks against what their searches can return."""
        if filters:
            docs = {d.doc_id for d in self.store.list_documents(filters)}
            keep = [n for n, c in enumerate(chunk_ids) if chunk_doc(c) in docs]
            chunk_ids, matrix = [chunk_ids[n] for n in keep], matrix[keep]
        return _Data(examples, vectors, chunk_ids, matrix)

    def _learn_scope(self, data: _Data, force: bool) -> tuple[dict[str, Any], LearnedModel | None]:
        """Select on a fifth of the scope's queries held out, validate with the real search as
        its readers made it, and refit on all of them; None when it is not to be activated. Every
        query here, held out or not, is of this scope: what activates a scope's part is measured
        on its own readers' feedback, never on another's."""
        examples = data.examples
        val = held_out(examples)
        fit = [i for i in range(len(examples)) if i not in set(val)]
        qrels = {str(i): {d: 1 for d in examples[i].relevant_docs} for i in val}
        kind, W_best, params, epochs, scores = self._select(data, fit, val, qrels)
        held = self._model(data, fit, W_best, params) if kind != "shipped" else None
        before, after, per_query = self._validate(examples, val, qrels, held)
        report: dict[str, Any] = {
            "validation": {
                "queries": len(val),
                "fit_queries": len(fit),
                "ndcg@10_before": round(before, 4),
                "ndcg@10_after": round(after, 4),
                **wins(per_query),
                "candidates": {k: round(v, 4) for k, v in scores.items()},
                "tuned": len(val) >= MIN_HELD_OUT_TO_TUNE,
            },
            "chosen": {"kind": kind, "adapter_epochs": epochs if W_best is not None else 0, "memory": params or None},
            "activated": False,
        }
        if kind == "shipped" or (after < before - 1e-9 and not force):
            return report, None
        W_all = None
        if W_best is not None:
            self.say(f"refitting the adapter on all {len(examples)} queries")
            trainer = self._trainer(data, range(len(examples)))
            trainer.run(epochs)
            W_all = trainer.W
        model = self._model(data, range(len(examples)), W_all, params)
        model.kind = kind
        report["activated"] = True
        return report, model

    def _select(
        self, data: _Data, fit: list[int], val: list[int], qrels: dict[str, dict[str, int]]
    ) -> tuple[str, np.ndarray | None, dict[str, Any], int, dict[str, float]]:
        """Fit on `fit`, measure on `val`: the best of as shipped, adapter, memory and both (ties go
        to the simpler choice, except that the memory's defaults win a tie with other settings)."""
        bm25 = {i: self.store.keyword_search(data.examples[i].query, DEPTH, data.examples[i].filters) for i in val}
        lists: dict[str, dict[int, list[tuple[str, float]]]] = {}

        def measure(W: np.ndarray | None, memory: LearnedModel | None = None) -> float:
            key = "" if W is None else hashlib.blake2b(W.tobytes(), digest_size=16).hexdigest()
            if key not in lists:  # the dense search in memory, fused lists kept per W
                if len(lists) > 4:
                    lists.clear()
                adapt = LearnedModel(W=W).adapt
                lists[key] = {i: self._fused(bm25[i], adapt(data.vectors[i]), data) for i in val}
            run = {}
            for i in val:
                fused = lists[key][i]
                if memory is not None:
                    fused = memory.rerank(fused, data.vectors[i], data.examples[i].scope)[0]
                run[str(i)] = _doc_run(fused)
            return evaluate(qrels, run)[0]["ndcg@10"]

        scores = {"shipped": measure(None)}
        self.say(f"training the query adapter on {sum(1 for i in fit if data.examples[i].relevant_docs)} queries")
        W_fit, epochs, adapter = self._train(data, fit, measure)
        scores[f"adapter ({epochs} epochs)"] = adapter
        options: list[tuple[float, int, str, np.ndarray | None, dict[str, Any]]] = [
            (scores["shipped"], 3, "shipped", None, {}),
            (adapter, 2, "adapter", W_fit, {}),
        ]
        grid = MEMORY_GRID if len(val) >= MIN_HELD_OUT_TO_TUNE else [DEFAULT_MEMORY]
        for W, label in ((None, "memory"), (W_fit, "adapter+memory")):
            for params in grid:
                score = measure(W, self._model(data, fit, None, params))
                options.append((score, (params != DEFAULT_MEMORY) + (W is None), label, W, params))
            scores[label] = max(o[0] for o in options if o[2] == label)
        _, _, kind, W_best, params = max(options, key=lambda o: (round(o[0], 6), -o[1]))
        return kind, W_best, params, epochs, scores

    # -- parts ----------------------------------------------------------------------------------

    def _fused(self, bm25: list[tuple[str, float]], q: np.ndarray, data: _Data) -> list[tuple[str, float]]:
        """What the hybrid search fuses for a query vector, its dense part computed in memory."""
        sims = data.matrix @ q
        k = min(DEPTH, len(sims))
        top = np.argpartition(-sims, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        dense = [(data.chunk_ids[j], float(sims[j])) for j in top[np.argsort(-sims[top], kind="stable")]]
        return HybridRetriever(self.store, self.embedder, self.settings, learned=None).fuse(
            "hybrid", bm25, dense, DEPTH
        )

    def _trainer(self, data: _Data, which: Sequence[int]) -> AdapterTrainer:
        """The adapter's training set: each query with its relevant chunks (any chunk of a document
        marked as a whole), the other chunks of its relevant documents left out of the negatives."""
        rows, positives, masked = [], [], []
        for i in which:
            example = data.examples[i]
            pos = {
                n
                for ref, mark in example.marks.items()
                if mark > 0
                for n in (
                    data.by_doc.get(ref[4:], [])
                    if ref.startswith("doc:")
                    else [data.position[ref]]
                    if ref in data.position
                    else []
                )
            }
            if pos:
                rows.append(i)
                positives.append(sorted(pos))
                masked.append(sorted({n for d in example.relevant_docs for n in data.by_doc.get(d, [])} - pos))
        groups = [p + m for p, m in zip(positives, masked, strict=True)]
        pool = training_pool(data.matrix, data.vectors[rows], groups, self.seed)
        remap = {int(n): j for j, n in enumerate(pool)}

        def pooled(ids: list[list[int]]) -> list[np.ndarray]:
            return [np.array([remap[n] for n in row], dtype=np.int64) for row in ids]

        return AdapterTrainer(data.vectors[rows], pooled(positives), pooled(masked), data.matrix[pool], seed=self.seed)

    def _train(
        self, data: _Data, fit: Sequence[int], measure: Callable[[np.ndarray], float]
    ) -> tuple[np.ndarray | None, int, float]:
        """The adapter at the number of epochs that does best on the held-out queries."""
        trainer = self._trainer(data, fit)
        best: tuple[float, int, np.ndarray | None] = (-1.0, 0, None)
        for checkpoint in EPOCH_CHECKS:
            trainer.run(checkpoint - trainer.epochs)
            score = measure(trainer.W)
            if score > best[0] + 1e-9:
                best = (score, checkpoint, trainer.W.copy())
            elif checkpoint - best[1] >= 10:
                break  # two checks without gain
        return best[2], best[1], best[0]

    def _model(self, data: _Data, which: Sequence[int], W: np.ndarray | None, params: dict[str, Any]) -> LearnedModel:
        """A model of the adapter W and, when `params` are given, a memory of the `which` examples."""
        which = list(which) if params else []
        return LearnedModel(
            W=W,
            examples=data.vectors[which],
            params=dict(params),
            scopes=[data.examples[i].scope for i in which],
            marks=[dict(data.examples[i].marks) for i in which],
        )

    def _validate(
        self,
        examples: Sequence[Example],
        val: Sequence[int],
        qrels: dict[str, dict[str, int]],
        model: LearnedModel | None,
    ) -> tuple[float, float, dict[str, tuple[float, float]]]:
        """nDCG@10 on the held-out queries through the real search, as shipped and with `model`."""
        runs = []
        for learned in (None, model):
            retriever = HybridRetriever(self.store, self.embedder, self.settings, learned=learned)
            runs.append(
                {
                    str(i): _doc_run(
                        [
                            (r.chunk_id, r.score)
                            for r in retriever.search(
                                examples[i].query, DEPTH, examples[i].filters, max_chars=10**7
                            ).results
                        ]
                    )
                    for i in val
                }
            )
        (before, per_before), (after, per_after) = (evaluate(qrels, run) for run in runs)
        per = {q: (per_before[q]["ndcg@10"], per_after[q]["ndcg@10"]) for q in qrels}
        return before["ndcg@10"], after["ndcg@10"], per


def _doc_run(fused: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Chunks -> documents, each at its best chunk's score, the first DEPTH kept."""
    docs: dict[str, float] = {}
    for chunk_id, score in fused:
        docs.setdefault(chunk_doc(chunk_id), float(score))
        if len(docs) == DEPTH:
            break
    return docs


def learn(
    store: LearningStore,
    embedder: Embedder,
    settings: RetrievalSettings,
    *,
    force: bool = False,
    seed: int = 0,
    min_queries: int = MIN_QUERIES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Learn from the store's feedback and activate the result; returns the report. Raises
    NotEnoughFeedback or NotImproved (with its report) when nothing changed."""
    return Learner(store, embedder, settings, seed=seed, min_queries=min_queries, progress=progress).learn(force=force)


def rollback(store: LearningStore) -> dict[str, Any]:
    """Restore the version that was active before the active one (or retrieval as shipped)."""
    rolled, to = store.rollback_learned()
    if rolled is None:
        raise NotFoundError("no learned version is active: retrieval is as shipped (nothing to roll back)")
    return {"rolled_back": rolled, "active": to}
