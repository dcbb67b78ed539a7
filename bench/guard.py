"""Guard quality and speed: PII detection on templates held out from training, prompt-injection
detection by cross-validation, each beside its peers measured in the same run.

    python bench/guard.py [--data ../shared/data] [--only pii|injection] [--folds 5] [--runs 5]
                          [--repeats 5] [--pii-repeats 3]

PII (pii/dev.jsonl: 754 synthetic sentences from 104 templates; sentences of one template are
near-duplicates). Template-grouped k-fold: the name tagger is trained on the other folds' templates
and the whole detector (tuned patterns + tagger + overlap resolution) scans the held-out texts;
counts are summed over the folds. Scores are exact span and label (strict); "R overlap" counts a
found span of the right label that merely overlaps (what redaction needs), and "NAME" rows ignore
which of PERSON / ORGANIZATION / LOCATION a name was given. A second table scores words, as
presidio-research's TokenEvaluator does (the data set's own evaluator): a word of a name is found
when it gets its gold type, and "name words redacted" counts it found under any label, which is
what keeps it from leaving the machine. The tagger also trains on tools/guard/data/ner_synthetic.jsonl
(hand-written patterns filled by Faker; never scored). An address's town and country lines are
reported as LOCATION (ner.split_address); where the data set marks the whole address as one span
they count as false names, and the bench says how many of those there are. Labels are mapped to
Presidio's (GPE -> LOCATION, DOMAIN_NAME -> URL); AGE, TITLE, NRP and ZIP_CODE are not detected.
Targets are checked as the issue scores: same label, overlapping span, structured types without
DATE_TIME. That scoring was found by reproducing the issue's reference figure for Presidio with
patterns only (P 0.61, R 0.81 on the dev set; the bench prints it); strict figures stand beside.
The pattern rules were written looking at all dev templates, so for structured types the held-out
figure measures the rules on seen templates; the trained part is the name tagger. Speed: texts per
second of PiiDetector.scan (one at a time) and scan_many (batched), shipped weights, all dev texts.

Injection (injection/train.jsonl, 546 texts). Direct (the user's message): repeated stratified
k-fold, the same folds for every system; the detector's threshold is chosen on the same
out-of-fold scores, so its figures carry a small optimistic bias that the peers' fixed 0.5 does
not (`accuracy@0.5` shows every system at 0.5). The hand-written negatives
(tools/guard/data/injection_negatives.jsonl) are ablated: trained on or not, by kind, scored on the same
train.jsonl folds. Indirect (a retrieved chunk): held-out hand-written passages, clean and with a
held-out injection inserted; SciFact abstracts (never trained or tuned on) with each fold's
held-out injections inserted, scored by that fold's model; clean SciFact and PubMedQA. Benign
statements (pii/dev.jsonl) as user messages, shipped detector: a check on what CV cannot see,
since every benign train.jsonl text is a question or a keyword query. Rules:
hits on the train set (in-sample: written with sight of it) and on benign SciFact/PubMedQA texts.
Cost: one check at a time, p50/p99 ms, and batched texts/s.

Grouped CV (bench/_guard_grouped.py, tools/guard/groups.py): the same systems on folds that keep
near duplicates (shared suffix, shared sentence, same prefix, MiniLM or char n-gram cosine) in one
fold, beside the stratified figure: the estimate every threshold and feature choice is judged by.

Phone numbers in national formats (before/after, per region, false alarms on SciFact/PubMedQA):
bench/guard_phones.py.

Peers (bench/_guard_peers.py): Presidio with patterns only; TF-IDF + logistic regression.
Tables go to stderr; one JSON object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]  # bench/, tools/
import _guard_cascade as GC  # noqa: E402
import _guard_orgs as GO  # noqa: E402
import _guard_phone_recall as PR  # noqa: E402
from _common import DEFAULT_DATA, MachineLoad, emit, environment, load_jsonl, percentiles_ms, say, table  # noqa: E402
from _guard_grouped import HEADER as GROUPED_HEADER  # noqa: E402
from _guard_grouped import Split, grouped_estimate  # noqa: E402
from _guard_grouped import rows as grouped_rows  # noqa: E402
from _guard_peers import PEERS, TfidfLR, presidio_baseline  # noqa: E402

from ragwright.guard.injection import RULE_NAMES, FeatureConfig, InjectionDetector, fired_rules  # noqa: E402
from ragwright.guard.pii import STRUCTURED, PiiDetector  # noqa: E402
from tools.guard import train_injection as T  # noqa: E402
from tools.guard.ner_eval import NAMES, CrossValidation, crossvalidate  # noqa: E402
from tools.guard.train_ner import load_rows  # noqa: E402

REPORTED = (*STRUCTURED, "US_DRIVER_LICENSE", *NAMES, "STREET_ADDRESS")
PII_TARGETS = {"structured precision": 0.95, "structured recall": 0.95, "names recall": 0.85}
# The structured types of the issue's reference figure (DATE_TIME is scored in the tables, not here).
ISSUE_STRUCTURED = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "US_DRIVER_LICENSE",
)
ABLATION = {
    "none": (),
    "questions": ("questions",),
    "passages": ("passages",),
    "both (shipped)": ("passages", "questions"),
}


def texts_per_s(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return round(n / (time.perf_counter() - t0), 1)


def latency(fn: Callable[[str], Any], texts: Sequence[str], rounds: int = 1) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        for t in texts:
            t0 = time.perf_counter()
            fn(t)
            samples.append(time.perf_counter() - t0)
    return percentiles_ms(samples)


def bench_pii(args: argparse.Namespace) -> dict[str, Any]:
    path = args.data / "pii" / "dev.jsonl"
    if not path.is_file():
        sys.exit(f"bench: {path} not found (the PII dev set); point --data at the folder holding pii/dev.jsonl")
    rows = load_rows(path)
    say(
        f"PII: {len(rows)} texts, {len({r['template_id'] for r in rows})} templates, "
        f"{args.folds} template-grouped folds"
    )
    base_strict, base_overlap, base_tps = presidio_baseline(rows)
    runs = [
        crossvalidate(rows, k=args.folds, seed=args.seed + r, epochs=args.epochs, runs=args.runs, log=say)
        for r in range(args.pii_repeats)
    ]
    cv = CrossValidation.pooled(runs)
    by_seed = [
        {
            "fold_seed": args.seed + r,
            "names_recall_overlap": run.overlap.prf(NAMES)["recall"],
            "names_recall_strict": run.strict.prf(NAMES)["recall"],
            "names_recall_words": run.tokens.prf(NAMES)["recall"],
        }
        for r, run in enumerate(runs)
    ]
    say(table([list(x.values()) for x in by_seed], list(by_seed[0])))
    shipped, patterns = PiiDetector(), PiiDetector(names=False)
    shipped.scan("warm up the name model")
    patterns.warm_up()
    texts = [r["text"] for r in rows]
    speed = {
        "ragwright_scan_texts_per_s": texts_per_s(lambda: [shipped.scan(t) for t in texts], len(texts)),
        "ragwright_scan_many_texts_per_s": texts_per_s(lambda: shipped.scan_many(texts), len(texts)),
        "ragwright_patterns_only_texts_per_s": texts_per_s(lambda: [patterns.scan(t) for t in texts], len(texts)),
        "presidio_patterns_texts_per_s": round(base_tps, 1),
    }

    per_type, lines = {}, []
    groups = [(lab, [lab]) for lab in REPORTED] + [
        ("structured (micro)", list(STRUCTURED)),
        ("names (micro)", list(NAMES)),
        ("NAME, type ignored", ["NAME"]),
    ]
    for name, labs in groups:
        ours, ours_ov, base = cv.strict.prf(labs), cv.overlap.prf(labs), base_strict.prf(labs)
        per_type[name] = {
            "ragwright": ours,
            "ragwright_overlap": ours_ov,
            "presidio_patterns": base,
            "presidio_patterns_overlap": base_overlap.prf(labs),
        }
        lines.append(
            [
                name,
                ours["support"],
                ours["precision"],
                ours["recall"],
                ours["f1"],
                ours_ov["precision"],
                ours_ov["recall"],
                base["precision"],
                base["recall"],
                base["f1"],
            ]
        )
    say(
        table(
            lines,
            [
                "type (held-out templates)",
                "gold",
                "P",
                "R",
                "F1",
                "P overlap",
                "R overlap",
                "Presidio P",
                "Presidio R",
                "Presidio F1",
            ],
        )
    )
    say(table([[k, v, round(1000 / v, 2)] for k, v in speed.items()], ["speed", "texts/s", "ms/text"]))
    words = {
        name: cv.tokens.prf(labs)
        for name, labs in [(lab, [lab]) for lab in (*NAMES, "STREET_ADDRESS")]
        + [("names (micro)", list(NAMES)), ("name words redacted (any label)", ["ANY"])]
    }
    say(
        table(
            [
                [
                    k,
                    v["support"],
                    v["precision"] if k in (*NAMES, "STREET_ADDRESS", "names (micro)") else "",
                    v["recall"],
                ]
                for k, v in words.items()
            ],
            ["words (held-out templates)", "gold words", "P", "R"],
        )
    )
    # The issue's scoring: its reference figure for Presidio (structured P 0.61, R 0.81) is what
    # same-label overlap over these eight types gives; printed so that the match can be seen.
    issue = {
        "structured": (ISSUE_STRUCTURED, cv.overlap, base_overlap, cv.strict),
        "names": (NAMES, cv.overlap, None, cv.strict),
    }
    scored = {
        k: {
            "ragwright": ours.prf(labs),
            "strict": strict.prf(labs),
            "presidio_patterns": base.prf(labs) if base else None,
        }
        for k, (labs, ours, base, strict) in issue.items()
    }
    say(
        table(
            [
                [
                    k,
                    v["ragwright"]["support"],
                    v["ragwright"]["precision"],
                    v["ragwright"]["recall"],
                    v["strict"]["precision"],
                    v["strict"]["recall"],
                    *(
                        (v["presidio_patterns"]["precision"], v["presidio_patterns"]["recall"])
                        if v["presidio_patterns"]
                        else ("", "")
                    ),
                ]
                for k, v in scored.items()
            ],
            [
                "as the issue scores (same label, overlap)",
                "gold",
                "P",
                "R",
                "P strict",
                "R strict",
                "Presidio P",
                "Presidio R",
            ],
        )
    )
    # Towns and countries inside an address are reported as LOCATION (ner.split_address); where the
    # data set marks the whole address as one STREET_ADDRESS they count as false names above.
    names = scored["names"]["ragwright"]
    tp = sum(cv.overlap.tp[lab] for lab in NAMES)
    scored["names"]["places_in_gold_addresses"] = cv.places_in_addresses
    scored["names"]["precision_without_them"] = round(tp / (names["predicted"] - cv.places_in_addresses), 4)
    say(
        f"names: {cv.places_in_addresses} of the {names['predicted'] - tp} false names are towns or countries "
        f"inside a gold STREET_ADDRESS; without them, P {scored['names']['precision_without_them']}"
    )
    checks = {}
    for k, v in PII_TARGETS.items():  # "structured precision" -> scored["structured"][...]["precision"]
        group, metric = k.split()
        got = scored[group]["ragwright"][metric]
        checks[k] = {"target": v, "measured": got, "strict": scored[group]["strict"][metric], "met": got >= v}
    say(
        table(
            [[k, c["target"], c["measured"], "yes" if c["met"] else "NO", c["strict"]] for k, c in checks.items()],
            ["target (the issue's scoring)", "min", "measured", "met", "strict"],
        )
    )
    return {
        "texts": len(rows),
        "templates": len({r["template_id"] for r in rows}),
        "folds": args.folds,
        "epochs": args.epochs,
        "runs": args.runs,
        "fold_seeds": by_seed,
        "per_type": per_type,
        "words": words,
        "as_the_issue_scores": scored,
        "speed": speed,
        "targets": checks,
    }


def fmt(m: dict[str, dict[str, float]], key: str) -> str:
    return f"{m[key]['mean']:.3f} ± {m[key]['sd']:.3f}"


def bench_injection(args: argparse.Namespace) -> dict[str, Any]:
    path = args.data / "injection" / "train.jsonl"
    if not path.is_file():
        sys.exit(f"bench: {path} not found; point --data at the folder holding injection/train.jsonl")
    texts, y = T.load_jsonl(path)
    passages, questions = T.load_negatives()
    abstracts = [
        (d["title"] + ". " + d["text"])[:1200]
        for d in load_jsonl(args.data / "scifact" / "corpus.jsonl", args.abstracts)
    ]
    pubmed = [d["text"][:1200] for d in load_jsonl(args.data / "pubmedqa" / "corpus.jsonl", args.abstracts)]
    seeds = [args.seed + r for r in range(args.repeats)]

    # --- the peers, on the same folds
    peers = {name: np.empty((args.repeats, len(texts))) for name in PEERS}
    assign = np.empty((args.repeats, len(texts)), dtype=np.int64)
    for r, seed in enumerate(seeds):
        fold = assign[r] = T.stratified_folds(y, args.folds, seed)
        for f in range(args.folds):
            tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            for name, kw in PEERS.items():
                peers[name][r, te] = TfidfLR([texts[i] for i in tr], y[tr], **kw)([texts[i] for i in te])

    # --- the detector, as shipped, with SciFact abstracts carrying each fold's held-out injections
    sci_inj: list[float] = []
    sci_inj_rules: list[float] = []
    rng = np.random.default_rng(args.seed)

    def on_fold(scorer: T.Scorer, te: np.ndarray) -> None:
        attacks = [texts[i] for i in te if y[i] == 1]
        chunks = [
            T.inject(abstracts[h], a, rng)
            for h, a in zip(rng.integers(0, len(abstracts), len(attacks)), attacks, strict=True)
        ]
        p = scorer(chunks, "retrieved")
        sci_inj.extend(p.tolist())
        sci_inj_rules.extend(T.with_rules(p, chunks).tolist())

    feats = T.Features(FeatureConfig())
    cv = T.cross_validate(
        texts, y, feats, T.C_DEFAULT, passages, questions, args.folds, args.repeats, args.seed, on_fold
    )
    ev = T.evaluate(cv)
    rows, direct = [], {}
    for name, scores, thr in (
        *((n, s, 0.5) for n, s in peers.items()),
        ("detector, no rules", cv.user_scores(False), ev["thresholds"]["user"]["classifier"]),
        ("detector + rules", cv.user_scores(True), ev["thresholds"]["user"]["with_rules"]),
    ):
        m, m05 = T.fold_metrics(y, scores, assign, thr), T.fold_metrics(y, scores, assign, 0.5)
        rows.append(
            [
                name,
                thr,
                fmt(m, "accuracy"),
                fmt(m, "precision"),
                fmt(m, "recall"),
                fmt(m, "f1"),
                f"{m05['accuracy']['mean']:.3f}",
            ]
        )
        direct[name] = {"threshold": thr, **m, "threshold_at_0.5": m05}
    say(
        f"\nInjection, direct: {args.repeats}x{args.folds}-fold stratified CV on {len(texts)} texts "
        f"({int(y.sum())} injections); mean ± sd over {args.repeats * args.folds} folds"
    )
    say(table(rows, ["system", "threshold", "accuracy", "precision", "recall", "F1", "accuracy@0.5"]))

    # --- the honest estimate: folds grouped by near duplicates beside the stratified ones above
    grouped = grouped_estimate(Split(texts, y, passages, questions, args.folds, args.repeats, args.seed))
    gs = grouped["groups"]
    say(
        f"\nInjection, direct, grouped: {args.repeats}x{args.folds}-fold with near duplicates kept in one fold "
        f"({gs['count']} groups, largest {gs['largest']}, {gs['texts_in_groups_of_2_or_more']} texts have a near "
        f"duplicate; stratified folds split {grouped['stratified']['texts_with_near_duplicate_across_folds']} of "
        "them). Mean over folds, stratified -> grouped (± sd over grouped folds)"
    )
    say(table(grouped_rows(grouped), GROUPED_HEADER))
    cascade = bench_cascade(args, texts, y, grouped)

    # --- the hand-written negatives, ablated on the same folds
    ablation, ab_rows = {}, []
    for name, kinds in ABLATION.items():
        a_ev = (
            ev
            if kinds == ABLATION["both (shipped)"]
            else T.evaluate(
                T.cross_validate(
                    texts,
                    y,
                    feats,
                    T.C_DEFAULT,
                    passages,
                    questions,
                    args.folds,
                    args.repeats,
                    args.seed,
                    train_on=kinds,
                )
            )
        )
        u, rr = a_ev["user"]["with_rules"], a_ev["retrieved"]["with_rules"]
        ablation[name] = {"user": u, "retrieved": rr, "thresholds": a_ev["thresholds"]}
        ab_rows.append(
            [
                name,
                fmt(u, "accuracy"),
                fmt(u, "precision"),
                fmt(u, "recall"),
                a_ev["thresholds"]["retrieved"]["with_rules"],
                fmt(rr, "recall"),
                fmt(rr, "false_positive_rate"),
            ]
        )
    say(
        f"\nHand-written negatives ({len(questions)} questions, {len(passages)} passages) trained on or not "
        "(detector + rules; direct on the train.jsonl folds, retrieved on held-out hand-written passages)"
    )
    say(
        table(
            ab_rows,
            ["trained on", "accuracy", "precision", "recall", "retrieved thr", "retrieved recall", "retrieved FPR"],
        )
    )

    # --- indirect
    shipped = InjectionDetector()
    clean = {
        "scifact": shipped._load().scores(abstracts, "retrieved"),
        "pubmedqa": shipped._load().scores(pubmed, "retrieved"),
    }
    ind_rows, indirect = [], {}
    for name, key, rules in (("no rules", "classifier", False), ("+ rules", "with_rules", True)):
        thr, m = ev["thresholds"]["retrieved"][key], ev["retrieved"][key]
        inj = np.array(sci_inj_rules if rules else sci_inj)
        fpr = {
            k: float(((T.with_rules(v, abstracts if k == "scifact" else pubmed) if rules else v) >= thr).mean())
            for k, v in clean.items()
        }
        rec = float((inj >= thr).mean())
        ind_rows.append(
            [
                name,
                thr,
                fmt(m, "recall"),
                fmt(m, "false_positive_rate"),
                f"{rec:.3f}",
                f"{fpr['scifact']:.3f}",
                f"{fpr['pubmedqa']:.3f}",
            ]
        )
        indirect[key] = {
            "threshold": thr,
            "handwritten_passages": m,
            "scifact_injected_recall": rec,
            "scifact_injected_n": int(inj.size),
            "clean_false_positive_rate": fpr,
        }
    say(
        f"\nInjection, indirect (source='retrieved'): held-out hand-written passages ({len(passages)}), "
        f"{len(abstracts)} SciFact / {len(pubmed)} PubMedQA passages never trained on"
    )
    say(
        table(
            ind_rows,
            [
                "detector",
                "threshold",
                "recall (hand-written)",
                "FPR (hand-written)",
                "recall (SciFact+injection)",
                "FPR SciFact",
                "FPR PubMedQA",
            ],
        )
    )

    # --- benign statements as user messages: a check beside the target, not a target. Every benign
    # train.jsonl text is a question or a keyword query, so a model can gain CV accuracy by
    # flagging statements (measured: +1.6 points of CV accuracy came with 51 % of these flagged).
    path = args.data / "pii" / "dev.jsonl"
    statements = [d["text"] for d in load_jsonl(path)] if path.is_file() else []
    flagged = [v.flagged for v in shipped.check_many(statements)]
    benign_user = {
        "texts": len(statements),
        "threshold": shipped.threshold("user"),
        "flagged_rate": float(np.mean(flagged)) if flagged else None,
    }
    if statements:
        say(
            f"\nBenign statements as user messages (pii/dev.jsonl, {len(statements)} texts, never trained on; "
            f"shipped detector + rules, threshold {benign_user['threshold']}): "
            f"{benign_user['flagged_rate']:.3f} flagged"
        )

    # --- rules
    pool = [
        d["text"]
        for name in ("scifact/corpus", "pubmedqa/corpus", "scifact/queries")
        for d in load_jsonl(args.data / f"{name}.jsonl")
    ]
    hits = Counter(r for t, lab in zip(texts, y, strict=True) if lab == 1 for r in fired_rules(t))
    false_hits = Counter(r for t, lab in zip(texts, y, strict=True) if lab == 0 for r in fired_rules(t))
    pool_hits = Counter(r for t in pool for r in fired_rules(t))
    any_pos = sum(1 for t, lab in zip(texts, y, strict=True) if lab == 1 and fired_rules(t))
    say(f"\nRules (in-sample on train); any rule fires on {any_pos}/{int(y.sum())} injections")
    say(
        table(
            [[n, hits[n], false_hits[n], pool_hits[n]] for n in RULE_NAMES],
            ["rule", "injections hit", "benign train hit", f"benign SciFact/PubMedQA hit (of {len(pool)})"],
        )
    )

    # --- cost
    shipped.check("warm up")
    user_lat = latency(shipped.check, texts, rounds=3)
    ret_lat = latency(lambda t: shipped.check(t, "retrieved"), abstracts)
    batch_tps = texts_per_s(lambda: shipped.check_many(texts * 4), 4 * len(texts))
    peer = TfidfLR(texts, y, **PEERS["tfidf_lr char_wb 2-5, sublinear, C=10"])
    peer_lat = latency(lambda t: peer([t]), texts, rounds=3)
    say(f"\nCost per check (one text at a time, {len(texts)} user texts x3; {len(abstracts)} chunks of <= 1,200 chars)")
    say(
        table(
            [
                [name, lat["p50"], lat["p99"], round(1000 / lat["mean"])]
                for name, lat in (
                    ("detector, user message", user_lat),
                    ("detector, retrieved chunk", ret_lat),
                    ("tfidf_lr char_wb peer, user message", peer_lat),
                )
            ],
            ["", "p50 ms", "p99 ms", "texts/s"],
        )
    )
    say(f"batch check_many: {batch_tps:,.0f} texts/s")
    acc = direct["detector + rules"]["accuracy"]["mean"]
    ok = acc >= 0.97 and user_lat["p99"] <= 5.0
    say(f"target accuracy >= 0.97 at <= 5 ms: {'met' if ok else 'NOT met'} ({acc:.3f}, p99 {user_lat['p99']} ms)")
    return {
        "cv": {
            "folds": args.folds,
            "repeats": args.repeats,
            "seed": args.seed,
            "texts": len(texts),
            "injections": int(y.sum()),
        },
        "direct": direct,
        "grouped_cv": grouped,
        "cascade": cascade,
        "negatives_ablation": ablation,
        "indirect": indirect,
        "benign_statements_user": benign_user,
        "rules": {
            "injections_hit": dict(hits),
            "benign_train_hit": dict(false_hits),
            "benign_pool_hit": dict(pool_hits),
            "benign_pool_size": len(pool),
            "any_rule_on_injections": any_pos,
        },
        "latency_ms": {"user": user_lat, "retrieved": ret_lat, "peer_user": peer_lat},
        "batch_texts_per_s": batch_tps,
        "target_met": ok,
    }


def bench_cascade(args: argparse.Namespace, texts: list[str], y: np.ndarray, grouped: dict[str, Any]) -> dict[str, Any]:
    """The cascade (bench/_guard_cascade.py) beside the first stage and the TF-IDF peer: grouped CV,
    false alarms per corpus, latency."""
    from tools.guard.groups import near_duplicate_groups

    cv = GC.grouped_cv(texts, y, near_duplicate_groups(texts), args.repeats, args.data)
    peer = grouped["grouped"]["systems"][GC.PEER]
    say(f"\nInjection cascade, grouped CV ({args.repeats}x{args.folds}, the folds above), mean over repeats")
    say(table(GC.rows_cv(cv, peer), ["system", "threshold", "accuracy", "precision", "recall", "FPR"]))
    h = cv["cascade_retrieved_handwritten"]
    held = cv["statements_held_out_flagged"]
    say(
        f"held-out generated statements flagged (user): shipped threshold {held['shipped']:.3f}, "
        f"best-accuracy threshold {held['best_accuracy']:.3f}"
    )
    dev = cv["dev_statements_out_of_fold_flagged"]
    if dev["shipped"] is not None:
        say(
            f"pii/dev statements flagged (user), out of fold (a second stage trained without their template, "
            f"{dev['texts']} texts): shipped threshold {dev['shipped']:.3f}, best-accuracy threshold "
            f"{dev['best_accuracy']:.3f} (the shipped stage trained on them: its row below is in-sample)"
        )
    say(
        f"cascade on held-out hand-written passages (retrieved): recall {h['recall']:.3f}, "
        f"FPR {h['false_positive_rate']:.3f}"
    )
    stm = args.data / "pii" / "dev.jsonl"
    chunks = GC.sample_chunks()
    sets = {
        "benign statements (pii dev, user)": ([d["text"] for d in load_jsonl(stm)] if stm.is_file() else [], "user"),
        "SciFact passages": (
            [
                (d["title"] + ". " + d["text"])[:1200]
                for d in load_jsonl(args.data / "scifact" / "corpus.jsonl", args.abstracts)
            ],
            "retrieved",
        ),
        "PubMedQA passages": (
            [d["text"][:1200] for d in load_jsonl(args.data / "pubmedqa" / "corpus.jsonl", args.abstracts)],
            "retrieved",
        ),
        "sample corpus chunks": ([c for cs in chunks.values() for c in cs], "retrieved"),
        "onboarding.md chunks": (chunks.get("onboarding.md", []), "retrieved"),
        "onboarding.md chunks as user messages": (chunks.get("onboarding.md", []), "user"),
    }
    fa = GC.false_alarms(texts, y, sets, args.before)
    say("\nFalse alarms (share flagged) on texts no stage trained on")
    cols = [
        c for c in ("tfidf_peer", "before", "first_stage", "cascade", "cascade_best") if c in next(iter(fa.values()))
    ]
    names = {
        "tfidf_peer": "TF-IDF peer",
        "before": f"shipped at {args.before}",
        "first_stage": "first stage",
        "cascade_best": "cascade, best-accuracy threshold",
    }
    say(
        table(
            [[k, v["texts"], *(round(v[c], 3) for c in cols)] for k, v in fa.items()],
            ["corpus", "texts", *(names.get(c, c) for c in cols)],
        )
    )
    load = MachineLoad()
    lat: dict[str, Any] = {
        "user": GC.latency(texts, "user"),
        "retrieved": GC.latency(sets["SciFact passages"][0][:200], "retrieved"),
        "peer_user": GC.peer_latency(texts, y),
    }
    lat["machine_load"] = load.report()
    share = (lat["machine_load"] or {}).get("other_processes_share_of_machine", "?")
    say(f"\nCascade latency per check, one at a time, one core (ms; wall and process CPU; other processes {share})")
    say(
        table(
            [
                [k, v["n"], v["mean"], v["p50"], v["p95"], v["p99"], v["max"], v.get("second_stage_share", "")]
                for k, v in [
                    *((k, v) for k, v in lat.items() if k != "machine_load"),
                    *((f"{k} (CPU time)", v["cpu"]) for k, v in lat.items() if isinstance(v, dict) and "cpu" in v),
                ]
            ],
            ["texts", "n", "mean", "p50", "p95", "p99", "max", "stage 2 share"],
        )
    )
    return {"grouped_cv": cv, "false_alarms": fa, "latency_ms": lat}


def bench_phones(args: argparse.Namespace) -> dict[str, Any]:
    rec = PR.phone_recall(args.per_locale)
    for src, r in rec.items():
        say(f"\nPhone recall on national-format numbers, {src}")
        say(table(PR.summary_rows(r), PR.HEADER))
    say("\nPer Faker locale, no phone word nearby (without national check -> shipped)")
    say(table(PR.locale_rows(rec), ["locale", "without", "shipped"]))
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--only", choices=("pii", "injection", "phones", "orgs"), help="run one part")
    ap.add_argument("--per-locale", type=int, default=10, help="Faker phone numbers per locale")
    ap.add_argument("--before", help="git revision whose shipped injection detector gets a false-alarm column")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=12, help="name tagger epochs")
    ap.add_argument("--runs", type=int, default=5, help="name tagger perceptrons averaged")
    ap.add_argument("--pii-repeats", type=int, default=3, help="template folds drawn this many times (counts pooled)")
    ap.add_argument("--repeats", type=int, default=5, help="injection CV repeats")
    ap.add_argument("--seed", type=int, default=None, help="fold seed (default: each trainer's own)")
    ap.add_argument("--abstracts", type=int, default=500, help="SciFact / PubMedQA passages for the indirect check")
    args = ap.parse_args()
    load = MachineLoad()
    result: dict[str, Any] = {"benchmark": "guard"}
    if args.only in (None, "phones"):
        result["phones"] = bench_phones(args)
    if args.only == "orgs":  # two tagger cross-validations: on request only
        result["orgs"] = GO.compare(args.data / "pii" / "dev.jsonl", args.folds, args.seed or 0, args.epochs, args.runs)
        say("\nNames before and after guard/orgs.py (template-grouped CV, one draw of folds)")
        say(table(GO.rows(result["orgs"]), GO.HEADER))
    if args.only not in ("injection", "phones", "orgs"):
        result["pii"] = bench_pii(argparse.Namespace(**{**vars(args), "seed": args.seed or 0}))
    if args.only not in ("pii", "phones", "orgs"):
        result["injection"] = bench_injection(argparse.Namespace(**{**vars(args), "seed": args.seed or T.SEED}))
    emit({**result, "machine_load": load.report(), "environment": environment()})


if __name__ == "__main__":
    main()
