"""Phone numbers in national formats: the PII detector before and after the national check
(src/ragwright/guard/phones.py), side by side in one run.

    python bench/guard_phones.py [--data ../shared/data] [--docs N] [--per-locale 20]

- Recall: numbers generated in each region's own formats, with no country code, placed in a
  sentence with no phone word near them ("You can get Maria on {n} most afternoons.") and in one
  with a phone word ("Call Maria on ..."). Two sources: Faker's phone_number() for every locale
  whose output has national numbers (Faker writes shapes, not always valid numbers), and
  phonenumbers' example fixed-line and mobile number of every region, formatted NATIONAL and
  with its spaces turned into "-" and "." (a valid number in the region's own grouping).
- False alarms: every phone finding in SciFact and PubMedQA passages is false (scientific
  abstracts: dates, amounts, p-values, DOIs, ids, no phone numbers); counted per passage.
- PII dev set (pii/dev.jsonl, patterns only, same label and overlapping span as the issue scores):
  PHONE_NUMBER and structured precision / recall, which must stay >= 0.95.
- Cost: milliseconds per passage of a patterns-only scan, and of the national check alone over
  every region vs the 30 most populous.
Tables go to stderr; one JSON object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from _common import DEFAULT_DATA, MachineLoad, emit, environment, load_jsonl, say, table  # noqa: E402

from ragwright.guard.phones import NationalPhones  # noqa: E402
from ragwright.guard.pii import PiiDetector  # noqa: E402
from tools.guard.ner_eval import Counts  # noqa: E402
from tools.guard.train_ner import gold_spans, load_rows  # noqa: E402

TEMPLATES = {
    "no phone word": "You can get Maria on {n} most afternoons.",
    "phone word": "Call Maria on {n} most afternoons.",
}
STRUCTURED = ("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "URL")
STRUCTURED += ("US_DRIVER_LICENSE",)  # the structured types (bench/guard.py ISSUE_STRUCTURED)
POPULOUS = [
    "IN",
    "CN",
    "US",
    "ID",
    "PK",
    "NG",
    "BR",
    "BD",
    "RU",
    "ET",
    "MX",
    "JP",
    "EG",
    "PH",
    "CD",
    "VN",
    "IR",
    "TR",
    "DE",
    "TH",
    "GB",
    "FR",
    "TZ",
    "ZA",
    "IT",
    "KE",
    "MM",
    "CO",
    "KR",
    "ES",
]  # the 30 most populous regions, 2024


def faker_numbers(per_locale: int) -> dict[str, list[str]]:
    """Faker's national-format numbers (no "+", no "00" prefix, no extension) per locale."""
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    out: dict[str, list[str]] = {}
    for loc in sorted(AVAILABLE_LOCALES):
        fake = Faker(loc)
        fake.seed_instance(7)
        try:
            nums = {fake.phone_number() for _ in range(per_locale)}
        except AttributeError:
            continue
        national = sorted(n for n in nums if not n.startswith(("+", "00")) and "x" not in n.lower())
        if national:
            out[loc] = national
    return out


def example_numbers() -> dict[str, list[str]]:
    """phonenumbers' example fixed-line and mobile numbers per region, NATIONAL, three separators."""
    import phonenumbers as pn

    out: dict[str, list[str]] = {}
    for region in sorted(pn.SUPPORTED_REGIONS):
        nums = set()
        for kind in (pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.MOBILE):
            ex = pn.example_number_for_type(region, kind)
            if ex is None:
                continue
            text = pn.format_number(ex, pn.PhoneNumberFormat.NATIONAL)
            if not any(c in text for c in " -.()"):
                continue  # written as one run of digits: an id without a phone word, out of scope
            nums |= {text, text.replace(" ", "-"), text.replace(" ", ".")}
        if nums:
            out[region] = sorted(nums)
    return out


def found(det: PiiDetector, text: str, start: int, end: int) -> bool:
    return any(s.label == "PHONE_NUMBER" and s.start < end and start < s.end for s in det.scan(text))


def recall(dets: dict[str, PiiDetector], numbers: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per system and template: per-key recall and the pooled figure."""
    out: dict[str, dict[str, Any]] = {}
    for name, det in dets.items():
        for tname, tpl in TEMPLATES.items():
            per = {}
            for key, nums in numbers.items():
                hits = 0
                for n in nums:
                    start = tpl.index("{n}")
                    hits += found(det, tpl.format(n=n), start, start + len(n))
                per[key] = hits / len(nums)
            total = sum(len(v) for v in numbers.values())
            pooled = sum(per[k] * len(v) for k, v in numbers.items()) / total
            out[f"{name} / {tname}"] = {"pooled": round(pooled, 4), "per_key": per, "numbers": total}
    return out


def false_alarms(dets: dict[str, PiiDetector], corpora: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Phone findings in passages with no phone numbers: rate of passages flagged, examples, cost."""
    out: dict[str, dict[str, Any]] = {}
    for name, det in dets.items():
        for cname, texts in corpora.items():
            t0 = time.perf_counter()
            hits = [[s.text for s in det.scan(t) if s.label == "PHONE_NUMBER"] for t in texts]
            ms = (time.perf_counter() - t0) * 1000 / len(texts)
            flat = [h for hs in hits for h in hs]
            out[f"{name} / {cname}"] = {
                "passages": len(texts),
                "flagged_rate": round(sum(bool(h) for h in hits) / len(texts), 4),
                "findings": len(flat),
                "examples": flat[:12],
                "ms_per_passage": round(ms, 2),
            }
    return out


def dev_scores(dets: dict[str, PiiDetector], path: Path) -> dict[str, dict[str, Any]]:
    rows = load_rows(path)
    out = {}
    for name, det in dets.items():
        counts = Counts()
        for r in rows:
            counts.add(gold_spans(r), [(s.start, s.end, s.label) for s in det.scan(r["text"])], overlap=True)
        out[name] = {"PHONE_NUMBER": counts.prf(["PHONE_NUMBER"]), "structured": counts.prf(STRUCTURED)}
    return out


def check_cost(candidates: Sequence[str], regions: Sequence[str] | None) -> float:
    """Microseconds per candidate of the national check alone (uncached, plans loaded)."""
    checker = NationalPhones(regions)
    checker.regions("0")
    fn: Callable[[str], Any] = checker._regions  # uncached
    t0 = time.perf_counter()
    for c in candidates:
        fn(c)
    return round((time.perf_counter() - t0) * 1e6 / max(len(candidates), 1), 1)


def summary_rows(rec: dict[str, dict[str, Any]]) -> list[list[Any]]:
    by_system: dict[str, dict[str, Any]] = defaultdict(dict)
    for key, v in rec.items():
        system, tname = key.split(" / ")
        by_system[system][tname] = v
    rows = []
    for system, v in by_system.items():
        per = v["no phone word"]["per_key"]
        rows.append(
            [
                system,
                v["no phone word"]["numbers"],
                v["no phone word"]["pooled"],
                v["phone word"]["pooled"],
                sum(1 for x in per.values() if x == 1.0),
                sum(1 for x in per.values() if x == 0.0),
                len(per),
            ]
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--docs", type=int, default=None, help="passages per corpus (default: all)")
    ap.add_argument("--per-locale", type=int, default=20)
    args = ap.parse_args()
    load = MachineLoad()
    dets = {
        "before (no national check)": PiiDetector(names=False, national_phones=False),
        "after (national check)": PiiDetector(names=False),
    }
    for d in dets.values():
        d.scan("warm up 020 7946 0018")
    sci = [(d["title"] + ". " + d["text"]) for d in load_jsonl(args.data / "scifact" / "corpus.jsonl", args.docs)]
    pub = [d["text"] for d in load_jsonl(args.data / "pubmedqa" / "corpus.jsonl", args.docs)]
    corpora = {"scifact": sci, "pubmedqa": pub}
    sources = {"faker locales": faker_numbers(args.per_locale), "phonenumbers examples": example_numbers()}
    rec = {src: recall(dets, nums) for src, nums in sources.items()}
    for src, r in rec.items():
        say(f"\nRecall on national-format numbers, {src} (keys: {len(sources[src])})")
        say(
            table(
                summary_rows(r),
                ["system", "numbers", "R, no phone word", "R, phone word", "keys at 1.0", "keys at 0", "keys"],
            )
        )
    after = rec["faker locales"]["after (national check) / no phone word"]["per_key"]
    before = rec["faker locales"]["before (no national check) / no phone word"]["per_key"]
    say("\nPer Faker locale, no phone word (before -> after)")
    say(
        table(
            [[k, before[k], after[k], ", ".join(sources["faker locales"][k][:3])] for k in after],
            ["locale", "before", "after", "examples"],
        )
    )
    fa = false_alarms(dets, corpora)
    say("\nFalse alarms: phone findings in passages that hold no phone number")
    say(
        table(
            [
                [k, v["passages"], v["flagged_rate"], v["findings"], v["ms_per_passage"], "; ".join(v["examples"][:5])]
                for k, v in fa.items()
            ],
            ["system / corpus", "passages", "flagged", "findings", "ms/passage", "examples"],
        )
    )
    dev = dev_scores(dets, args.data / "pii" / "dev.jsonl")
    say("\nPII dev set, patterns only, same label + overlap")
    say(
        table(
            [
                [
                    k,
                    v["PHONE_NUMBER"]["precision"],
                    v["PHONE_NUMBER"]["recall"],
                    v["structured"]["precision"],
                    v["structured"]["recall"],
                ]
                for k, v in dev.items()
            ],
            ["system", "phone P", "phone R", "structured P", "structured R"],
        )
    )
    cands = [n for nums in sources.values() for ns in nums.values() for n in ns]
    cost = {"all regions": check_cost(cands, None), "30 most populous": check_cost(cands, POPULOUS)}
    say(f"\nNational check alone, µs per candidate over {len(cands)} generated numbers: {cost}")
    emit(
        {
            "benchmark": "guard_phones",
            "recall": rec,
            "false_alarms": fa,
            "pii_dev": dev,
            "check_cost_us": cost,
            "machine_load": load.report(),
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    main()
