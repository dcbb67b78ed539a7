"""A run whose answer was removed with a deleted document (store/records.py, forget_in_cases)
says so in the report, rather than showing an empty answer as if the system gave none."""

from ragwright.evaluate.report import render_report
from ragwright.store.records import REDACTED, forget_in_cases
from tests.evaluate.test_report import answers_run, cases_of, check


def test_a_removed_answer_is_named_in_the_report():
    run = answers_run()
    run["cases"] = forget_in_cases(run["cases"], "d2")
    assert run["cases"]["a1"]["answer"] == "" and run["cases"]["a1"]["redacted"] == REDACTED
    page = render_report([run])
    check(page)
    (a1,) = [c for c in cases_of(page) if "how many vacation days" in c]
    assert "25 days [1]" not in page and f"({REDACTED})" in a1 and "(empty)" not in a1
