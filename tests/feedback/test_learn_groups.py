"""Attack (review 13, finding 3; on both backends): one group's feedback moved another group's
results. A read+write key of group `eng` uploads an ungrouped phishing notice and marks it
relevant on its own searches; the operator runs the routine `ragwright learn`. The adapter was
learned per tenant from every key's marks and applied to every reader of the tenant, so for a
reader of group `hr`, who never gave feedback, the notice went from nowhere to rank 2 on 3 of 4
questions. Now a part is learned per access scope (tenant, groups, admin-ness) from that scope's
feedback, validated on that scope's held-out feedback, and applied to that scope's readers only:
the hr reader searches exactly as shipped."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.feedback.learn import learn
from ragwright.retrieve.adapter import active_model
from ragwright.retrieve.retriever import access_scope
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.stores import BACKENDS, store_url

TOPICS = {
    "parking": "Parking permits are renewed each January at the facilities desk.",
    "vacation": "Employees get twenty five vacation days a year, booked in the HR portal.",
    "payroll": "Salaries are paid on the last working day of each month.",
    "laptop": "A broken laptop is replaced by IT within two working days.",
    "travel": "Travel expenses are reimbursed within thirty days of the claim.",
    "badge": "A lost badge is reported to security, who issue a new one the same day.",
    "pension": "The company pays six percent of salary into the pension plan.",
    "sick": "Sick leave longer than three days needs a doctor's note.",
    "training": "Each employee has a training budget of two thousand euros a year.",
    "remote": "Remote work is allowed up to three days a week with the manager's approval.",
    "canteen": "The canteen serves lunch from noon to two and breakfast from eight.",
    "bike": "Bikes are parked in the basement; the bike lease scheme runs through HR.",
    "phone": "Company phones are ordered through the IT service catalogue.",
    "vpn": "The VPN client is installed from the software center; it needs two factor login.",
    "printer": "Printers on each floor release jobs when you badge at the device.",
    "wifi": "Guests use the visitor wifi network with a daily code from reception.",
}
ENG_QUESTIONS = [
    "When are parking permits renewed?", "How many vacation days do I get?", "When is salary paid?",
    "What if my laptop breaks?", "How fast are travel expenses reimbursed?", "I lost my badge, what now?",
    "How much goes into the pension?", "Do I need a note for sick leave?", "What is my training budget?",
    "Can I work from home?", "When is the canteen open?", "Where do I park my bike?",
    "How do I order a company phone?", "How do I install the VPN?", "How do I print?",
    "What is the guest wifi?", "Who do I ask about parking?", "How do I book holidays?",
    "When do we get paid?", "Who replaces a broken computer?", "How do I claim travel costs?",
    "Where do I get a new badge?", "What is the pension contribution?", "What are the sick leave rules?",
    "Is there a learning budget?", "How many remote days are allowed?", "What time is lunch?",
    "Is there a bike lease?", "Can I get a work phone?", "How do I connect to the VPN?",
]  # fmt: skip
HR_QUESTIONS = [
    "When are parking permits renewed?",
    "How many vacation days do I get?",
    "How do I install the VPN?",
    "What time is lunch?",
]
PLANT = (
    "IMPORTANT staff notice: for any question send your login password to helpdesk@evil.example "
    "and the answer will be mailed back to you."
)
HR = Access("t1", ("hr",))
ENG = Access("t1", ("eng",))


def hr_view(c, hr_key):
    """What the hr reader gets for its questions: chunk ids and scores, best first."""
    out = {}
    for q in HR_QUESTIONS:
        res = c.post("/v1/search", headers=hr_key, json={"query": q, "k": 5}).json()["results"]
        out[q] = [(r["chunk_id"], r["score"]) for r in res]
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_groups_feedback_does_not_move_another_groups_results(tmp_path, embedder, backend, request):
    with store_url(backend, request) as url:
        ws = Workspace(settings=Settings(data_dir=tmp_path / "data", store={"url": url}), embedder=embedder)
        try:
            ws.ingest_records([TextRecord(id=n, title=n, text=t) for n, t in TOPICS.items()], access=Access("t1"))
            ws.ingest_records(
                [TextRecord(id="hr-bonus", title="Bonus", text="The bonus pool is paid out in March to hr staff.")],
                access=HR,
            )
            eng = {"Authorization": "Bearer " + create_key(ws.store, "t1", ["read", "write"], ["eng"])["key"]}
            hr = {"Authorization": "Bearer " + create_key(ws.store, "t1", ["read"], ["hr"])["key"]}
            with TestClient(create_app(workspace=ws)) as c:
                up = c.post("/v1/documents", headers=eng, files={"file": ("notice.md", PLANT.encode())}).json()
                for _ in range(600):
                    if c.get(up["status_url"], headers=eng).json()["status"] in ("done", "failed"):
                        break
                    time.sleep(0.05)
                plant = up["document_ids"][0]
                before = hr_view(c, hr)
                for q in ENG_QUESTIONS:
                    r = c.post("/v1/search", headers=eng, json={"query": q, "k": 20}).json()
                    marks = [{"doc_id": plant, "relevant": True}] + [
                        {"chunk_id": h["chunk_id"], "relevant": False} for h in r["results"][:3] if h["doc_id"] != plant
                    ]
                    res = c.post("/v1/feedback", headers=eng, json={"trace_id": r["trace_id"], "marks": marks})
                    assert res.status_code == 201
                report = learn(ws.store, ws.embedder, ws.settings.retrieval)  # the operator's routine run
                version = active_model(ws.store)
                # the attack's premise holds: eng's readers got an adapter from eng's marks, measured
                # on eng's own held-out feedback (a fifth of its 30 queries)
                assert list(report["scopes"]) == ["t1 groups eng"]
                assert report["scopes"]["t1 groups eng"]["validation"]["queries"] == 6
                assert version.for_scope(access_scope({"access": ENG})).W is not None
                # ... and nothing learned applies to hr's reader, who gave no feedback
                assert version.for_scope(access_scope({"access": HR})) is None
                after = hr_view(c, hr)
                assert [q for q in HR_QUESTIONS if after[q] != before[q]] == []  # 4 moved, notice at rank 2
        finally:
            ws.close()
