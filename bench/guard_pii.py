"""PII detection quality and speed on templates the name tagger has not seen.

    python bench/guard_pii.py [--data ../shared/data] [--folds 5] [--epochs 12]

Data: pii/dev.jsonl (754 synthetic sentences from 104 templates; sentences of one template are
near-duplicates). Template-grouped cross-validation: the tagger is trained on the other folds'
templates and the whole detector (tuned patterns + tagger + overlap resolution) scans the held-out
texts; counts are summed over the folds. Scores are exact span and label (strict); the overlap
column counts a found span of the right label that merely overlaps (what redaction needs).
Labels are mapped to Presidio's (GPE -> LOCATION, DOMAIN_NAME -> URL); AGE, TITLE, NRP and
ZIP_CODE are not detected and are left out.

In the same run: Presidio as shipped, patterns only (every predefined English recognizer but
SpacyRecognizer, on spacy.blank("en"), default threshold 0), the reference the issue quotes.
Its e-mail check is pointed at tldextract's bundled suffix list, as ours is, since the default
fetches it over the network. The pattern rules were written looking at all dev templates, so for
structured types the held-out figure measures the rules on seen templates; the trained part is the
name tagger. Speed: texts per second of PiiDetector.scan (one text at a time) and of scan_many
(batched), shipped weights, all dev texts; of the patterns alone; and of the baseline's analyze.

A table goes to stderr; one JSON object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, MachineLoad, emit, environment, say, table  # noqa: E402

from ragwright.guard.pii import STRUCTURED, PiiDetector  # noqa: E402
from ragwright.guard.train_ner import NAMES, Counts, crossvalidate, gold_spans, load_rows, untyped  # noqa: E402

REPORTED = (*STRUCTURED, "US_DRIVER_LICENSE", *NAMES, "STREET_ADDRESS")
TARGETS = {"structured precision": 0.95, "structured recall": 0.95, "names recall": 0.85}


def presidio_baseline(rows: list[dict[str, Any]]) -> tuple[Counts, Counts, float]:
    """Stock Presidio, patterns only: strict and overlap counts, texts per second."""
    import tldextract
    from presidio_analyzer import RecognizerRegistry

    from ragwright.guard.pii import build_analyzer

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # type: ignore[assignment]
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    registry.remove_recognizer("SpacyRecognizer")
    analyzer = build_analyzer(registry.recognizers, tuned=False)
    strict, overlap = Counts(), Counts()
    t0 = time.perf_counter()
    preds = [analyzer.analyze(text=r["text"], language="en") for r in rows]
    seconds = time.perf_counter() - t0
    for r, pred in zip(rows, preds):
        p = [(x.start, x.end, x.entity_type) for x in pred]
        strict.add(gold_spans(r), p)
        overlap.add(gold_spans(r), p, overlap=True)
        strict.add(untyped(gold_spans(r)), untyped(p))
    return strict, overlap, len(rows) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = args.data / "pii" / "dev.jsonl"
    if not path.is_file():
        sys.exit(f"bench: {path} not found (the PII dev set); point --data at the folder holding pii/dev.jsonl")
    rows = load_rows(path)
    load = MachineLoad()

    say(f"{len(rows)} texts, {len({r['template_id'] for r in rows})} templates, {args.folds} template-grouped folds")
    base_strict, base_overlap, base_tps = presidio_baseline(rows)
    cv = crossvalidate(rows, k=args.folds, seed=args.seed, epochs=args.epochs, runs=args.runs, log=say)
    shipped = PiiDetector()
    shipped.warm_up()
    shipped.scan("warm up the name model")
    t0 = time.perf_counter()
    for r in rows:
        shipped.scan(r["text"])
    single_tps = len(rows) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    shipped.scan_many([r["text"] for r in rows])
    batched_tps = len(rows) / (time.perf_counter() - t0)
    patterns = PiiDetector(names=False)
    patterns.warm_up()
    t0 = time.perf_counter()
    for r in rows:
        patterns.scan(r["text"])
    patterns_tps = len(rows) / (time.perf_counter() - t0)

    per_type, lines = {}, []
    groups = [(lab, [lab]) for lab in REPORTED] + [
        ("structured (micro)", list(STRUCTURED)), ("names (micro)", list(NAMES)), ("NAME, type ignored", ["NAME"])]
    for name, labs in groups:
        ours, ours_ov, base = cv.strict.prf(labs), cv.overlap.prf(labs), base_strict.prf(labs)
        per_type[name] = {"ragwright": ours, "ragwright_overlap": ours_ov, "presidio_patterns": base,
                          "presidio_patterns_overlap": base_overlap.prf(labs)}
        lines.append([name, ours["support"], ours["precision"], ours["recall"], ours["f1"], ours_ov["recall"],
                      base["precision"], base["recall"], base["f1"]])
    say(table(lines, ["type (held-out templates)", "gold", "P", "R", "F1", "R overlap",
                      "Presidio P", "Presidio R", "Presidio F1"]))
    speed = {"ragwright_scan_texts_per_s": round(single_tps, 1),
             "ragwright_scan_many_texts_per_s": round(batched_tps, 1),
             "ragwright_patterns_only_texts_per_s": round(patterns_tps, 1),
             "presidio_patterns_texts_per_s": round(base_tps, 1)}
    say(table([[k, v] for k, v in speed.items()], ["speed", "texts/s"]))
    s, n = per_type["structured (micro)"]["ragwright"], per_type["names (micro)"]["ragwright"]
    measured = {"structured precision": s["precision"], "structured recall": s["recall"], "names recall": n["recall"]}
    checks = {k: {"target": v, "measured": measured[k], "met": measured[k] >= v} for k, v in TARGETS.items()}
    say(table([[k, c["target"], c["measured"], "yes" if c["met"] else "NO"] for k, c in checks.items()],
              ["target", "min", "measured", "met"]))
    emit({"benchmark": "guard_pii", "texts": len(rows), "templates": len({r["template_id"] for r in rows}),
          "folds": args.folds, "epochs": args.epochs, "runs": args.runs, "per_type": per_type, "speed": speed,
          "targets": checks,
          "machine_load": load.report(), "environment": environment()})


if __name__ == "__main__":
    main()
