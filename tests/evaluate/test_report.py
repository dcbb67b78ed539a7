import copy
import re
from html.parser import HTMLParser

import pytest

from ragwright.evaluate.report import render_report

XSS = "<script>alert(1)</script>"
CHECKED = {
    "html",
    "body",
    "main",
    "section",
    "div",
    "table",
    "tr",
    "td",
    "th",
    "svg",
    "defs",
    "pattern",
    "rect",
    "text",
    "p",
    "span",
    "code",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "title",
    "style",
}


class TagChecker(HTMLParser):
    """Every opened tag among CHECKED is closed, in order."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.count: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.count[tag] = self.count.get(tag, 0) + 1
        if tag in CHECKED:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag not in CHECKED:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check(page: str) -> TagChecker:
    parser = TagChecker()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    return parser


def retrieval_run(run_id="r-a", ndcg=None, dataset_hash="h1"):
    ndcg = ndcg if ndcg is not None else {"q4": 0.1, "q1": 0.9, "q3": 0.5, "q2": 0.1}  # not in id order
    per_query = {q: {"ndcg@10": v, "recall@10": min(1.0, v + 0.1)} for q, v in ndcg.items()}
    cases = {
        q: {
            "query": f"query text {q}",
            "relevant": {f"{q}-rel": 2, f"{q}-missed": 1, f"{q}-judged": 0},
            "retrieved": [
                {"doc_id": f"{q}-other", "score": 0.91, "title": f"Other {q}", "grade": 0},
                {"doc_id": f"{q}-rel", "score": 0.5, "title": f"Relevant {q}", "grade": 2},
            ],
        }
        for q in ndcg
    }
    n = len(per_query)
    metrics = {
        m: (round(sum(v[m] for v in per_query.values()) / n, 6) if n else None) for m in ("ndcg@10", "recall@10")
    }
    return {
        "run_id": run_id,
        "created_at": "2025-01-01T00:00:00+00:00",
        "kind": "retrieval",
        "dataset": "tiny",
        "split": "test",
        "pipeline": "hybrid",
        "dataset_hash": dataset_hash,
        "code_version": "0.1.0",
        "config": {"retrieval": {"rrf_k": 60}},
        "metrics": metrics,
        "per_query": per_query,
        "coverage": {m: {"measured": n, "unmeasured": 0, "reasons": {}} for m in metrics},
        "cases": cases,
        "seconds": 1.5,
    }


def answers_run(run_id="r-ans"):
    return {
        "run_id": run_id,
        "created_at": "2025-01-02T00:00:00+00:00",
        "kind": "answers",
        "dataset": "tiny",
        "split": "test",
        "pipeline": "hybrid",
        "dataset_hash": "h1",
        "code_version": "0.1.0",
        "config": {},
        "metrics": {"citation_recall": 0.5, "faithfulness": 0.75, "correctness": None, "abstention": 0.5},
        "per_query": {
            "a1": {"citation_recall": 1.0, "faithfulness": 0.75, "abstention": 0.0},
            "a2": {"abstention": 1.0},
        },
        "coverage": {
            "citation_recall": {"measured": 1, "unmeasured": 1, "reasons": {"abstained": 1}},
            "faithfulness": {"measured": 1, "unmeasured": 1, "reasons": {"abstained": 1}},
            "correctness": {"measured": 0, "unmeasured": 2, "reasons": {"no judge": 2}},
            "abstention": {"measured": 2, "unmeasured": 0, "reasons": {}},
        },
        "cases": {
            "a1": {
                "query": "how many vacation days",
                "answer": "25 days [1].",
                "abstained": False,
                "cited": ["d1", "d9"],
                "relevant": {"d1": 1, "d2": 1},
                "gold": "25 days",
                "verdict": "correct-ish",
                "unmeasured": {"correctness": "no judge"},
            },
            "a2": {
                "query": "unanswerable",
                "answer": "",
                "abstained": True,
                "cited": [],
                "relevant": {"d3": 1},
                "unmeasured": {"faithfulness": "abstained: no sentence"},
            },
        },
        "seconds": 3.0,
    }


def cases_of(page: str) -> list[str]:
    return page.split('<div class="case">')[1:]


def bar_heights(page: str) -> dict[tuple[str, str], float]:
    rects = re.findall(r'<rect class="bar" data-run="([^"]*)" data-metric="([^"]*)"[^>]*? height="([0-9.]+)"', page)
    return {(run, metric): float(h) for run, metric, h in rects}


def test_page_is_well_formed_and_self_contained():
    page = render_report([retrieval_run("r-a"), retrieval_run("r-b", dataset_hash="h2"), answers_run()])
    check(page)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)\s*=", page) and "<script" not in page and "<link" not in page
    assert re.findall(r"url\(([^)]*)\)", page) and all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", page))


def test_user_strings_are_escaped():
    run = retrieval_run(run_id=f"r{XSS}")
    run["cases"]["q2"]["query"] = XSS
    run["cases"]["q2"]["retrieved"][0]["title"] = XSS
    run["cases"]["q2"]["retrieved"][0]["doc_id"] = f'd"{XSS}'
    run["per_query"]["q2"][XSS] = 0.5
    run["config"] = {XSS: "x"}
    page = render_report([run, retrieval_run("r-b")], title=XSS)
    check(page)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5


def test_worst_query_first_with_retrieved_docs_and_relevance_marks():
    page = render_report([retrieval_run()], worst=3)
    cases = cases_of(page)
    # q2 and q4 tie at 0.1: the query id breaks the tie; q1 (0.9) is not among the worst 3
    assert [re.search(r"<code>(q\d)</code>", c).group(1) for c in cases] == ["q2", "q4", "q3"]
    first = cases[0]
    assert "query text q2" in first and "ndcg@10 0.100" in first
    assert first.index("q2-other") < first.index("q2-rel") and "Relevant q2" in first and "0.9100" in first
    row_rel = re.search(r"<tr>(?:(?!</tr>).)*q2-rel(?:(?!</tr>).)*</tr>", first).group(0)
    row_other = re.search(r"<tr>(?:(?!</tr>).)*q2-other(?:(?!</tr>).)*</tr>", first).group(0)
    assert "✓ grade 2" in row_rel and "✓" not in row_other
    missed = first[first.index("Relevant, not in the top 2") :]
    assert "q2-missed" in missed and "grade 1" in missed and "q2-judged" not in first  # grade 0 is not relevant


def test_none_and_nan_metrics_are_unmeasured_never_zero_or_nan():
    run = retrieval_run()
    run["metrics"] = {"ndcg@10": None, "recall@10": float("nan")}
    run["per_query"]["q1"]["ndcg@10"] = float("nan")
    page = render_report([run])
    check(page)
    assert not re.search(r"\bnan\b", page, re.IGNORECASE)
    assert page.count('<rect class="unmeasured"') == 2 and bar_heights(page) == {}
    table = page[page.index("<th>metric</th>") :]
    table = table[: table.index("</table>")]
    assert table.count("<i>unmeasured</i>") == 2 and "0.0000" not in table
    assert "3 queries with ndcg@10" in page  # the NaN value was dropped, not ranked as a score


def test_metric_none_everywhere_and_empty_per_query():
    run = retrieval_run(ndcg={})
    run["cases"] = {}
    assert all(v is None for v in run["metrics"].values())
    page = render_report([run, answers_run()])
    check(page)
    assert "no per-query values" in page and page.count("<svg") == 4
    assert not re.search(r"\bnan\b", page, re.IGNORECASE)


def test_one_svg_per_chart():
    assert render_report([retrieval_run()]).count("<svg") == 2  # metric bars + distribution
    assert render_report([retrieval_run("a"), retrieval_run("b"), retrieval_run("c")]).count("<svg") == 2
    assert render_report([retrieval_run(), answers_run()]).count("<svg") == 4
    assert "<svg" not in render_report([])


def test_bar_heights_are_proportional_to_the_values():
    a = retrieval_run("r-a", ndcg={"q1": 0.8})
    b = retrieval_run("r-b", ndcg={"q1": 0.4})
    b["per_query"]["q1"]["recall@10"] = b["metrics"]["recall@10"] = 0.1
    heights = bar_heights(render_report([a, b]))
    assert len(heights) == 4
    assert heights["r-a", "ndcg@10"] == pytest.approx(2 * heights["r-b", "ndcg@10"], rel=1e-3)
    assert heights["r-a", "recall@10"] == pytest.approx(9 * heights["r-b", "recall@10"], rel=1e-3)
    assert heights["r-a", "ndcg@10"] == pytest.approx(0.8 / 0.9 * heights["r-a", "recall@10"], rel=1e-3)


def test_histogram_counts_every_measured_query():
    page = render_report([retrieval_run(ndcg={"q1": 0.0, "q2": 0.05, "q3": 0.55, "q4": 1.0, "q5": 0.999})])
    counts = [int(c) for c in re.findall(r'class="hbin" data-count="(\d+)"', page)]
    assert counts == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]  # 1.0 falls in the last bin


def test_output_is_deterministic_and_input_untouched():
    runs = [retrieval_run("r-a"), answers_run(), retrieval_run("r-b", ndcg={"q9": 0.3, "q1": 0.2})]
    before = copy.deepcopy(runs)
    page = render_report(runs)
    assert render_report(copy.deepcopy(runs)) == page and runs == before
    assert "generated" not in page
    assert "generated 2025-02-03" in render_report(runs, generated_at="2025-02-03")


def test_retrieval_and_answer_runs_together():
    page = render_report([retrieval_run(), answers_run()])
    check(page)
    assert "Retrieval runs" in page and "Answers runs" in page
    answers = page[page.index("Answers runs") :]
    assert "Worst queries by faithfulness" in answers and "Per-query faithfulness" in answers
    cases = cases_of(answers)
    assert len(cases) == 1 and "a2 without faithfulness" not in answers and "1 without faithfulness" in answers
    case = cases[0]
    assert "25 days [1]." in case and "Gold: 25 days" in case and "Verdict: correct-ish" in case
    assert re.search(r"<code>d1</code> <span class=\"rel\">✓ grade 1</span>", case)
    assert "Relevant, not cited:</span> <code>d2</code>" in case and "correctness: no judge" in case
    coverage = answers[answers.index("<h4>Coverage</h4>") :]
    coverage = coverage[: coverage.index("</table>")]
    assert "no judge: 2" in coverage and "abstained: 1" in coverage and "abstention" not in coverage
    assert "dataset hashes differ" not in page


def test_different_dataset_hashes_warn():
    assert "dataset hashes differ" in render_report([retrieval_run("a"), retrieval_run("b", dataset_hash="h2")])
    assert "dataset hashes differ" not in render_report([retrieval_run("a"), retrieval_run("b")])


def test_other_runs_scores_and_differing_settings_are_shown():
    a, b = retrieval_run("r-a"), retrieval_run("r-b", ndcg={"q1": 0.3, "q2": 0.7})
    b["config"] = {"retrieval": {"rrf_k": 10}}
    page = render_report([a, b])
    assert "Settings that differ" in page and "retrieval.rrf_k" in page
    first_a = cases_of(page)[0]
    assert "ndcg@10 in the other runs: r-b 0.700" in first_a


def test_sparse_run_dicts_do_not_crash():
    page = render_report(
        [
            {"kind": "answers"},
            {"run_id": "x", "metrics": {"m": 0.5}, "per_query": {"q": {"m": 0.5}}, "cases": {"q": None}},
            {},
        ]
    )
    check(page)
    assert "No case recorded" in page


def test_large_run_stays_small_and_long_texts_are_cut():
    ndcg = {f"q{i:03d}": (i % 17) / 16 for i in range(300)}
    runs = [retrieval_run(f"r{k}", ndcg=ndcg) for k in range(3)] + [answers_run()]
    for case in runs[0]["cases"].values():
        case["query"] = "long " * 20_000
        case["retrieved"] = [{"doc_id": f"d{i}", "score": 1 / (i + 1), "title": "t" * 5000} for i in range(10)]
    runs[-1]["cases"]["a1"]["answer"] = "word " * 100_000
    page = render_report(runs)
    check(page)
    assert len(page.encode()) < 300_000
    assert "word " * 200 in page and "word " * 400 not in page
