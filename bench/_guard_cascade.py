"""The injection cascade for bench/guard.py: grouped-CV figures, false alarms per corpus, latency.

- Grouped CV: tools/guard/train_injection_head.out_of_fold on the folds bench/_guard_grouped.py
  uses (same seed, same near-duplicate groups): the first stage alone at the threshold those folds
  choose, the cascade at its shipped band, blend and threshold (chosen by the head's trainer on the
  first 3 repeats of these folds: optimistic by that choice; its user threshold the best accuracy
  within 2 % of held-out generated statements flagged), the same at the threshold of best accuracy,
  and the TF-IDF peer at 0.5. Beside them, with no choice read off the scores it reports
  (tools/guard/injection_nested.py): the fixed-blend recipe (before the stacker) with band, blend and
  threshold chosen on the other folds only, and the shipped stacker of both second stages
  (fine-tuned and frozen-MiniLM head) with band, max parts, C and threshold chosen likewise.
- False alarms on texts no stage trained on: benign statements (pii/dev.jsonl) as user messages;
  SciFact and PubMedQA passages, and the sample corpus (examples/sample-corpus, every file chunked
  by ragwright's own parser and chunker) and onboarding.md's chunks alone, as retrieved chunks. Each
  for the first stage alone (shipped threshold), the cascade (shipped), and the TF-IDF peer (0.5,
  trained on all of train.jsonl).
- Latency of the shipped cascade, one check at a time on one core (the embedder on one thread):
  the train texts as user messages and SciFact abstracts as retrieved chunks; mean, p50/p95/p99/max,
  and the share of checks that ran the second stage.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _common import percentiles_ms
from _guard_peers import PEERS, TfidfLR

from ragwright.guard.cascade import CascadeDetector
from ragwright.guard.injection import InjectionDetector
from ragwright.guard.injection_head import load_head
from ragwright.ingest.chunking import Chunker
from ragwright.ingest.parsers import parse
from tools.guard import injection_nested as N
from tools.guard import train_injection as T
from tools.guard import train_injection_head as H
from tools.guard import train_injection_stack as TS

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-corpus"
PEER = "tfidf_lr char_wb 2-5, sublinear, C=10"
QUALITY_DEADLINE_S = 30.0


def sample_chunks(folder: Path = SAMPLE) -> dict[str, list[str]]:
    """Chunks of every sample-corpus file, as ingestion makes them, by file name."""
    out: dict[str, list[str]] = {}
    for path in sorted(folder.iterdir()):
        doc = parse(path, path.read_bytes(), max_docx_bytes=50_000_000)
        out[path.name] = [c.text for c in Chunker().chunk(path.name, doc.blocks, doc.title)]
    return out


def grouped_cv(texts: list[str], y: np.ndarray, groups: np.ndarray, repeats: int, data: Path) -> dict[str, Any]:
    """First stage alone vs the shipped cascade on the same grouped out-of-fold parts; the second
    stage is trained inside each fold, with the extra negatives when the shipped one was. The
    fine-tuned stage's fold logits come from its trainer's run (tools/guard/train_injection_ft.py,
    oof_cache: same folds, same seeds; `--repeats` at most the trainer's). When that stage trained
    on the pii/dev statements by template fold, their out-of-fold share flagged is reported too."""
    from tools.guard.ft_fold_logits import cached_fit
    from tools.guard.train_injection_ft import training_sets

    emb = H.Embeddings()
    statements = [*(s := T.load_negatives(H.STATEMENTS))[0], *s[1]]
    head, info = load_head()
    sets = training_sets(data, info["train"])
    measured = sets.measured
    fit = None
    if head.finetuned_sha256:  # each fold's fine-tuned logits, saved by the trainer (torch is not needed here)
        fit = cached_fit(info["finetuned"]["settings"])
    args = (texts, y, groups, T.load_negatives(), [*statements, *sets.held], emb, repeats)
    oof, folds = H.out_of_fold(*args, fit=fit, extra=sets.train_only, measured=measured)
    frozen = H.out_of_fold(*args, extra=sets.train_only, measured=measured)[0] if fit else None
    emb.save()
    first = H.first_stage_only(oof, y)
    blend_oof, oof = oof, (TS.paired(oof, frozen) if head.stack and frozen else oof)  # a stacker reads both
    runs = [(np.array([H.cascade_score(s, head)[0] for s in row]), y) for row in oof.user]
    sent = float(np.mean([[H.cascade_score(s, head)[1] for s in row] for row in oof.user]))
    cascade = {k: v["mean"] for k, v in T.repeat_metrics(runs, head.thresholds["user"]).items()}
    r_runs = [
        (np.array([H.cascade_score(s, head, "retrieved")[0] for s, _ in row]), np.array([lab for _, lab in row]))
        for row in oof.retrieved
    ]
    retrieved = {k: v["mean"] for k, v in T.repeat_metrics(r_runs, head.thresholds["retrieved"]).items()}
    thr_best = other_threshold()
    best = {k: v["mean"] for k, v in T.repeat_metrics(runs, thr_best).items()}
    held = [np.array([H.cascade_score(s, head)[0] for s in row]) for row in oof.statements]
    split = N.Split(y, folds)
    first_retrieved = head.thresholds["retrieved"]
    return {
        # the same recipe with band, blend and threshold chosen on the other folds only, and the
        # stacker of both second stages (tools/guard/injection_nested.py: measured, not shipped)
        "cascade_nested": N.nested(
            blend_oof, split, replace(head, thresholds={}, stack=(), max_parts=H.MAX_PARTS), first_retrieved
        ),
        "stacked_nested": (
            N.stacked(blend_oof, frozen, split, N.stack_candidates(replace(head, stack=()))) if frozen else None
        ),
        "first_stage": first,
        "cascade": {"threshold": head.thresholds["user"], "sent_share": sent, "stacked": bool(head.stack), **cascade},
        "cascade_retrieved_handwritten": {"threshold": head.thresholds["retrieved"], **retrieved},
        "cascade_best_accuracy": {"threshold": thr_best, **best},
        "statements_held_out_flagged": {
            "shipped": float(np.mean([(h >= head.thresholds["user"]).mean() for h in held])),
            "best_accuracy": float(np.mean([(h >= thr_best).mean() for h in held])),
        },
        # pii/dev as user messages, each scored by a second stage trained without its template
        # (None when the shipped stage did not train on them: then false_alarms' figure is the one)
        "dev_statements_out_of_fold_flagged": {
            "texts": len(measured.texts) if measured else 0,
            "shipped": H.measured_flagged(oof, head, head.thresholds["user"]),
            "best_accuracy": H.measured_flagged(oof, head, thr_best),
        },
    }


def other_threshold() -> float:
    """The user threshold of best grouped-CV accuracy recorded beside the shipped one (which keeps
    to the statements budget, tools/guard/train_injection_head.SHIP_BUDGET)."""
    cv = load_head()[1]["cv"]
    return float(cv.get("best_accuracy", cv["fewer_false_alarms"])["threshold"])


def detector_at(rev: str) -> InjectionDetector:
    """The first stage as shipped at a git revision (its weights and thresholds, read with `git
    show`), scored with the sentence splitting of that time (no joining of short pieces)."""
    from ragwright.guard.injection import WEIGHTS_JSON, WEIGHTS_NPZ, load_model

    root = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(prefix="guard-before-"))
    for f in (WEIGHTS_JSON, WEIGHTS_NPZ):
        rel = f.relative_to(root).as_posix()
        (tmp / f.name).write_bytes(
            subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=root, capture_output=True, check=True).stdout
        )
    meta = json.loads((tmp / WEIGHTS_JSON.name).read_text(encoding="utf-8"))
    meta["features"] = {**meta["features"], "min_words": meta["features"].get("min_words", 1)}
    (tmp / WEIGHTS_JSON.name).write_text(json.dumps(meta), encoding="utf-8")
    model, info = load_model(tmp / WEIGHTS_NPZ.name, tmp / WEIGHTS_JSON.name)
    return InjectionDetector(model=model, meta=info)


def false_alarms(
    texts: list[str], y: np.ndarray, sets: dict[str, tuple[list[str], str]], before: str | None = None
) -> dict[str, dict[str, float]]:
    """Share flagged per corpus, for the first stage alone, the cascade and the TF-IDF peer (and the
    first stage as shipped at git revision `before`)."""
    # a long deadline: on a busy machine a second-stage run past the shipped 250 ms is skipped and the
    # first stage's verdict stands, which measures the machine's load, not the cascade's verdicts
    # (one run at 98 % load: pii/dev 6.6 % flagged with the shipped deadline); latency() keeps it
    systems: dict[str, Any] = {
        "first_stage": InjectionDetector(),
        "cascade": CascadeDetector(deadline_s=QUALITY_DEADLINE_S),
        "cascade_best": CascadeDetector(thresholds={"user": other_threshold()}, deadline_s=QUALITY_DEADLINE_S),
    }
    if before:
        systems = {"before": detector_at(before), **systems}
    systems["cascade"].warm_up()
    peer = TfidfLR(texts, y, **PEERS[PEER])
    out: dict[str, dict[str, float]] = {}
    for name, (items, source) in sets.items():
        if not items:
            continue
        out[name] = {"texts": len(items), "tfidf_peer": float(np.mean(peer(items) >= 0.5))}
        for key, det in systems.items():
            out[name][key] = float(np.mean([v.flagged for v in det.check_many(items, source)]))
    return out


def latency(items: Sequence[str], source: str) -> dict[str, Any]:
    """One check at a time with the shipped cascade: percentiles and the second stage's share;
    `cpu` the same as the process's CPU time per check (the second stage runs in the deadline's
    worker thread, so the calling thread's alone would miss it), which other processes on a
    shared machine disturb far less than wall time."""
    cascade = CascadeDetector()
    cascade.warm_up()
    samples, cpu, used = [], [], 0
    for t in items:
        t0, c0 = time.perf_counter(), time.process_time()
        v = cascade.check(t, source)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        used += v.second_stage == "used"
    share = round(used / max(len(items), 1), 3)
    return {**percentiles_ms(samples), "cpu": percentiles_ms(cpu), "second_stage_share": share}


def peer_latency(texts: list[str], y: np.ndarray) -> dict[str, Any]:
    peer = TfidfLR(texts, y, **PEERS[PEER])
    fn: Callable[[str], Any] = lambda t: peer([t])  # noqa: E731
    samples = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        samples.append(time.perf_counter() - t0)
    return percentiles_ms(samples)


def rows_cv(cv: dict[str, Any], peer: dict[str, Any]) -> list[list[Any]]:
    def row(name: str, m: dict[str, Any], thr: Any) -> list[Any]:
        return [name, thr, *(round(float(m[k]), 3) for k in ("accuracy", "precision", "recall", "false_positive_rate"))]

    best, st = cv["cascade_best_accuracy"], cv.get("stacked_nested")
    return [
        row(f"TF-IDF peer ({PEER})", {k: v["mean"] for k, v in peer.items() if isinstance(v, dict)}, 0.5),
        row("first stage + rules (alone)", cv["first_stage"], cv["first_stage"]["threshold"]),
        row(
            f"cascade{', stacked' if cv['cascade'].get('stacked') else ''} (sent to stage 2: "
            f"{cv['cascade']['sent_share']:.0%})",
            cv["cascade"],
            cv["cascade"]["threshold"],
        ),
        row("cascade, threshold of best accuracy (not shipped)", best, best["threshold"]),
        row("fixed-blend cascade (before), chosen inside each fold", cv["cascade_nested"], "per fold"),
        *([row("stacked cascade (shipped recipe), chosen inside each fold", st, "per fold")] if st else []),
    ]
