"""Answer evaluation: run `ask` over a dataset's queries and score each answer.

- citation_precision / citation_recall: the cited documents against the qrels;
- faithfulness: the share of answer sentences supported by the passages they cite. With a judge
  model, the judge decides per sentence; offline, a sentence counts as supported when at least
  75% of its stemmed content words occur in the passages it cites (conservative: a paraphrase
  can fail it, a sentence without a citation always does; it cannot see a negation flipped);
- correctness: the label the answer gives (read by the judge) against the gold label;
- answer_similarity: cosine between the answer and a gold reference answer;
- abstention: 1 when the system declined to answer.

A measure that cannot be taken for a case is left out of its mean and recorded with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..generate.citations import find_markers, strip_markers
from ..generate.support import SUPPORT_CONTAINMENT, contained
from ..ingest.chunking import split_sentences
from ..models.embedding import Embedder
from ..types import Answer
from .beir import BeirDataset
from .judge import Judge, Verdict
from .labels import GoldAnswers
from .runs import EvalRun, aggregate

ANSWER_MEASURES = (
    "citation_precision",
    "citation_recall",
    "faithfulness",
    "correctness",
    "answer_similarity",
    "abstention",
)
_LABEL_HINTS = {
    ("CONTRADICT", "SUPPORT"): "SUPPORT: the answer says the evidence supports the claim. "
    "CONTRADICT: the answer says the evidence contradicts the claim.",
    ("maybe", "no", "yes"): "yes / no: the answer clearly says so. maybe: the answer is undecided or mixed.",
}


def evaluate_answers(
    dataset: BeirDataset,
    ask: Callable[[str], Answer],
    embedder: Embedder,
    *,
    pipeline: str,
    judge: Judge | None = None,
    gold: GoldAnswers | None = None,
    config: dict[str, Any] | None = None,
    limit: int | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> EvalRun:
    started = time.perf_counter()
    gold = gold or GoldAnswers()
    qids = list(dataset.qrels)[: limit or None]
    answers: dict[str, Answer] = {}
    for qid in qids:
        answers[qid] = ask(dataset.queries[qid])
        if progress:
            progress(1, qid)
    scores: dict[str, dict[str, float]] = {q: {} for q in qids}
    missing: dict[str, dict[str, str]] = {q: {} for q in qids}
    for qid in qids:
        _citations(answers[qid], dataset.qrels[qid], scores[qid], missing[qid])
    _faithfulness(qids, answers, judge, scores, missing)
    _correctness(qids, dataset, answers, judge, gold, scores, missing)
    _similarity(qids, answers, embedder, gold, scores, missing)
    metrics, coverage = aggregate(scores, missing, ANSWER_MEASURES)
    cases = {
        q: {
            "query": dataset.queries[q],
            "answer": answers[q].answer,
            "abstained": answers[q].abstained,
            "cited": list(dict.fromkeys(c.doc_id for c in answers[q].citations)),
            "relevant": dict(dataset.qrels[q]),
            "gold": gold.labels.get(q),
            "verdict": scores[q].pop("_verdict", None),
            "unmeasured": missing[q],
        }
        for q in qids
    }
    cfg = dict(config or {})
    cfg["judge"] = judge.identity if judge else None
    return EvalRun(
        kind="answers",
        dataset=dataset.name,
        split=dataset.split,
        pipeline=pipeline,
        dataset_hash=dataset.fingerprint(),
        metrics=metrics,
        per_query=scores,
        config=cfg,
        seconds=round(time.perf_counter() - started, 3),
        coverage=coverage,
        cases=cases,
    )


def _citations(answer: Answer, relevance: dict[str, int], score: dict[str, Any], missing: dict[str, str]) -> None:
    score["abstention"] = 1.0 if answer.abstained else 0.0
    relevant = {d for d, g in relevance.items() if g >= 1}
    cited = set(c.doc_id for c in answer.citations)
    if answer.abstained:
        missing["citation_precision"] = missing["citation_recall"] = "abstained: nothing was cited"
        return
    if cited:
        score["citation_precision"] = len(cited & relevant) / len(cited)
    else:
        missing["citation_precision"] = "the answer cites nothing"
    if relevant:
        score["citation_recall"] = len(cited & relevant) / len(relevant)
    else:
        missing["citation_recall"] = "no relevant document in the qrels"


def _claims(answer: Answer) -> list[tuple[str, str]]:
    """(sentence, text of the passages it cites) for every sentence of an answer."""
    texts = {c.n: c.text for c in answer.citations}
    out = []
    for sentence in split_sentences(answer.answer):
        plain = strip_markers(sentence)
        if plain:
            out.append((plain, "\n".join(texts[n] for n in dict.fromkeys(find_markers(sentence)) if n in texts)))
    return out


def _faithfulness(
    qids: Sequence[str],
    answers: dict[str, Answer],
    judge: Judge | None,
    scores: dict[str, dict[str, Any]],
    missing: dict[str, dict[str, str]],
) -> None:
    prompts: list[str] = []
    owners: list[str] = []  # the case each prompt checks a sentence of
    claims = {q: _claims(answers[q]) for q in qids}
    for q in qids:
        if answers[q].abstained or not claims[q]:
            missing[q]["faithfulness"] = "abstained: no sentence to check"
            continue
        if judge is None:
            supported = [bool(src) and contained(s, src) >= SUPPORT_CONTAINMENT for s, src in claims[q]]
            scores[q]["faithfulness"] = sum(supported) / len(supported)
            continue
        for sentence, source in claims[q]:
            if source:
                prompts.append(_support_prompt(sentence, source))
                owners.append(q)
    if judge is None or not prompts:
        return
    verdicts = judge.ask_json(prompts, "supported", [True, False])
    by_case: dict[str, list[Verdict]] = {}
    for q, verdict in zip(owners, verdicts, strict=True):
        by_case.setdefault(q, []).append(verdict)
    for q in qids:
        if "faithfulness" in missing[q]:
            continue
        found = by_case.get(q, [])
        failed = next((v for v in found if not v.ok), None)
        if failed is not None:
            missing[q]["faithfulness"] = failed.reason
        else:  # sentences that cite nothing were never sent: they count as unsupported
            scores[q]["faithfulness"] = sum(1 for v in found if v.value is True) / len(claims[q])


def _support_prompt(sentence: str, source: str) -> str:
    return (
        f"Source passages:\n{source}\n\nStatement: {sentence}\n\n"
        "Is every fact in the statement stated in, or directly implied by, the source passages? "
        'Reply with JSON: {"supported": true} or {"supported": false}'
    )


def _correctness(
    qids: Sequence[str],
    dataset: BeirDataset,
    answers: dict[str, Answer],
    judge: Judge | None,
    gold: GoldAnswers,
    scores: dict[str, dict[str, Any]],
    missing: dict[str, dict[str, str]],
) -> None:
    asked: list[str] = []
    for q in qids:
        if q not in gold.labels:
            missing[q]["correctness"] = gold.no_label.get(q, "no gold label for this query")
        elif answers[q].abstained:
            missing[q]["correctness"] = "abstained: the answer gives no verdict"
        elif judge is None:
            missing[q]["correctness"] = "needs a judge model to read the answer's verdict (--judge MODEL)"
        else:
            asked.append(q)
    if not asked or judge is None:
        return
    hint = _LABEL_HINTS.get(tuple(sorted(gold.choices)), "")
    prompts = [
        f"Question or claim: {dataset.queries[q]}\nAnswer: {strip_markers(answers[q].answer)}\n\n"
        f"Which label does this answer give? Labels: {', '.join(gold.choices)}. {hint}\n"
        'Reply with JSON: {"label": "<one label>"}'
        for q in asked
    ]
    for q, verdict in zip(asked, judge.ask_json(prompts, "label", gold.choices), strict=True):
        if verdict.ok:
            scores[q]["correctness"] = 1.0 if verdict.value == gold.labels[q] else 0.0
            scores[q]["_verdict"] = verdict.value
        else:
            missing[q]["correctness"] = verdict.reason


def _similarity(
    qids: Sequence[str],
    answers: dict[str, Answer],
    embedder: Embedder,
    gold: GoldAnswers,
    scores: dict[str, dict[str, Any]],
    missing: dict[str, dict[str, str]],
) -> None:
    pairs = []
    for q in qids:
        if q not in gold.references:
            missing[q]["answer_similarity"] = "no reference answer"
        elif answers[q].abstained:
            missing[q]["answer_similarity"] = "abstained: no answer to compare"
        else:
            pairs.append(q)
    if not pairs:
        return
    a = embedder.embed([strip_markers(answers[q].answer) for q in pairs])
    b = embedder.embed([gold.references[q] for q in pairs])
    for q, sim in zip(pairs, np.sum(np.asarray(a) * np.asarray(b), axis=1), strict=True):
        scores[q]["answer_similarity"] = round(float(sim), 6)
