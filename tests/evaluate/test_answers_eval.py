"""Answer evaluation end to end on a tiny BEIR folder, with a judge served by a real loopback
HTTP server: measured values, unmeasured reasons (never NaN), bounded concurrency, exact re-runs."""

import json
import threading
import time

import pytest

from ragwright.config import ModelSettings
from ragwright.evaluate.answers import contained
from tests.evaluate.test_retrieval_eval import make_beir
from tests.provider_server import ProviderServer, delay, status

GOLD = {
    "q1": ("yes", "Employees get 25 days of paid vacation every year."),
    "q2": ("no", "The meal allowance abroad is 80 euros a day."),
    "q3": ("yes", None),
}


def make_data(tmp_path, unanswerable=True):
    data = make_beir(tmp_path / "tiny")
    if unanswerable:  # a question the corpus cannot answer: the system should abstain
        with (data / "queries.jsonl").open("a") as fh:
            fh.write(
                json.dumps({"_id": "q5", "text": "What is the boiling point of liquid nitrogen in kelvin?"}) + "\n"
            )
        with (data / "qrels" / "test.tsv").open("a") as fh:
            fh.write("q5\td5\t1\n")
    rows = [
        {"_id": q, "final_decision": label, **({"long_answer": ref} if ref else {})} for q, (label, ref) in GOLD.items()
    ]
    (data / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def judge_reply(body):
    prompt = body["messages"][-1]["content"]
    if '"label"' in prompt:
        question = prompt.split("\n")[0]
        return json.dumps({"label": "no" if "meal" in question else "yes"})
    return '{"supported": true}'


def add_judge(workspace, srv, timeout_s=5.0):
    workspace.settings.models = {
        "judge": ModelSettings(base_url=srv.base_url + "/v1", model="test-model", timeout_s=timeout_s)
    }


def test_offline_answer_measures_and_unmeasured_reasons(workspace, tmp_path):
    run = workspace.evaluate_answers(make_data(tmp_path))
    assert run.kind == "answers" and run.n_queries == 5 and run.pipeline == "extractive"
    assert run.per_query["q5"]["abstention"] == 1.0 and run.cases["q5"]["abstained"] is True
    assert run.cases["q5"]["unmeasured"]["citation_precision"].startswith("abstained")
    assert run.per_query["q1"]["citation_recall"] == 1.0 and run.per_query["q3"]["citation_precision"] == 1.0
    assert run.per_query["q1"]["faithfulness"] == 1.0  # extractive sentences are quoted from what they cite
    assert run.metrics["abstention"] == pytest.approx(1 / 5)
    assert run.metrics["correctness"] is None
    cov = run.coverage["correctness"]
    assert cov["measured"] == 0 and cov["unmeasured"] == 5
    assert cov["reasons"]["needs a judge model to read the answer's verdict (--judge MODEL)"] == 3
    assert cov["reasons"]["no gold label for this query"] == 2  # q4 and q5 have none
    assert set(run.per_query["q1"]) >= {"answer_similarity"} and "answer_similarity" not in run.per_query["q3"]
    assert 0.5 < run.per_query["q1"]["answer_similarity"] <= 1.0
    stored = workspace.store.get_eval_run(run.run_id)
    json.dumps(stored, allow_nan=False)  # never NaN, anywhere
    assert stored["coverage"] == run.coverage and stored["cases"]["q5"]["unmeasured"] == run.cases["q5"]["unmeasured"]


def test_judged_run_repeats_exactly_from_the_cache(workspace, tmp_path):
    data = make_data(tmp_path)
    with ProviderServer(reply=judge_reply) as srv:
        add_judge(workspace, srv)
        first = workspace.evaluate_answers(data, judge_model="judge")
        calls = srv.count("/chat/completions")
        assert calls >= 3 and all(r.body["temperature"] == 0.0 for r in srv.requests)
        schemas = [r.body["response_format"]["json_schema"]["schema"] for r in srv.requests]
        assert {"enum": ["no", "yes"]} in [s["properties"].get("label") for s in schemas]  # constrained output
        assert {"type": "boolean"} in [s["properties"].get("supported") for s in schemas]
        again = workspace.evaluate_answers(data, judge_model="judge")
        assert srv.count("/chat/completions") == calls  # every verdict came from the cache
    assert first.metrics["correctness"] == 1.0 and first.coverage["correctness"]["measured"] == 3
    assert first.cases["q2"]["verdict"] == "no" and first.cases["q2"]["gold"] == "no"
    assert again.per_query == first.per_query and again.metrics == first.metrics
    assert first.config["judge"] == "judge:openai:test-model"


@pytest.mark.parametrize(
    "behaviour, reason",
    [
        ("garbage", "judge reply not understood"),
        ("wrong-label", "judge gave label="),
        ("error", "judge call failed"),
        ("timeout", "judge call failed"),
    ],
)
def test_a_bad_judge_leaves_cases_unmeasured_never_nan(workspace, tmp_path, behaviour, reason):
    data = make_data(tmp_path, unanswerable=False)
    replies = {
        "garbage": lambda body: "Well, I would say it is probably fine.",
        "wrong-label": lambda body: '{"label": "perhaps", "supported": "sometimes"}',
    }
    with ProviderServer(reply=replies.get(behaviour, judge_reply)) as srv:
        if behaviour == "error":
            srv.fail_always(status(500))
        if behaviour == "timeout":
            srv.fail_always(delay(1.5))
        add_judge(workspace, srv, timeout_s=0.3)
        run = workspace.evaluate_answers(data, judge_model="judge")
    assert run.metrics["correctness"] is None and run.metrics["faithfulness"] is None
    assert run.coverage["correctness"]["measured"] == 0
    assert any(r.startswith(reason.split(":")[0].split("=")[0]) for r in run.coverage["correctness"]["reasons"])
    assert all(reason in run.cases[q]["unmeasured"]["correctness"] for q in ("q1", "q2", "q3"))
    assert run.metrics["citation_recall"] is not None  # the measures that need no judge are still taken
    json.dumps(run.to_dict(), allow_nan=False)


def test_judge_calls_are_concurrent_but_bounded(workspace, tmp_path):
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def slow_reply(body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return judge_reply(body)

    with ProviderServer(reply=slow_reply) as srv:
        add_judge(workspace, srv)
        workspace.evaluate_answers(make_data(tmp_path), judge_model="judge", concurrency=2)
    assert state["peak"] == 2


def test_offline_support_is_word_containment():
    assert (
        contained("Employees receive 25 days of vacation.", "Employees receive 25 days of paid vacation per year.")
        == 1.0
    )
    assert contained("Managers receive 40 days of vacation.", "Employees receive 25 days of paid vacation.") < 0.75
