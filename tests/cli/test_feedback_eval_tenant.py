"""The README's feedback-to-evaluation steps, written as the attack (review): acme's board member
asks about a board-only document and marks it relevant; the operator follows the README
(`eval dataset from-feedback --out DIR`, then `eval retrieval --data DIR`, neither with
--tenant). The export took every tenant's feedback and documents and the run was filed under
tenant `default`, so `default`'s admin read acme's question and the board-only title over
GET /v1/eval/runs/{id}. Now the export refuses a store of several tenants without --tenant, and a
run is filed under the tenant its dataset was made from."""

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ragwright.cli.app import app
from ragwright.ingest import TextRecord
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access

QUESTION = "Is the Berlin office of acme being closed in March?"
TITLE = "Acme Berlin closure plan (board only)"


def client(ws, tenant, scopes=("read",), groups=()):
    key = create_key(ws.store, tenant, list(scopes), list(groups))["key"]
    return TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"})


def cli(ws, *args):
    return CliRunner().invoke(app, [*args, "--data-dir", str(ws.settings.data_dir), "--json"])


def run_texts(ws, tenant):
    with client(ws, tenant, scopes=("admin",)) as admin:
        runs = admin.get("/v1/eval/runs").json()["runs"]
        return [admin.get(f"/v1/eval/runs/{r['run_id']}").text for r in runs]


def test_an_eval_run_of_acmes_feedback_is_acmes(workspace, tmp_path):
    ws = workspace
    ws.ingest_records([TextRecord(id="p", text="The Berlin office closes on 31 March.", title=TITLE)],
                      access=Access("acme", ("board",)))  # fmt: skip
    ws.ingest_records([TextRecord(id="d", text="Lunch is served from noon.", title="Lunch")], access=Access("default"))
    with client(ws, "acme", groups=["board"]) as acme:
        trace = acme.post("/v1/search", json={"query": QUESTION, "k": 1}).json()
        ws.store.flush_traces()
        marks = [{"doc_id": trace["results"][0]["doc_id"], "relevant": True}]
        assert acme.post("/v1/feedback", json={"trace_id": trace["trace_id"], "marks": marks}).status_code == 201
    out = tmp_path / "eval" / "feedback"
    refused = cli(ws, "eval", "dataset", "from-feedback", "--out", str(out))  # as the README's steps were
    assert refused.exit_code != 0 and "give --tenant" in refused.output and not out.exists()
    made = cli(ws, "eval", "dataset", "from-feedback", "--out", str(out), "--tenant", "acme")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["tenant"] == "acme" and json.loads(made.stdout)["judged_queries"] == 1
    wrong = cli(ws, "eval", "retrieval", "--data", str(out), "--tenant", "default")
    assert wrong.exit_code != 0 and "belong to that tenant" in wrong.output
    ran = cli(ws, "eval", "retrieval", "--data", str(out))
    assert ran.exit_code == 0, ran.output
    assert [r["tenant"] for r in ws.store.list_eval_runs()] == ["acme"]
    seen = run_texts(ws, "default")
    assert not any(QUESTION in text or TITLE in text for text in seen)
    assert any(QUESTION in text for text in run_texts(ws, "acme"))  # acme's own admin reads it


def test_a_single_tenant_store_exports_without_a_tenant_and_says_whose(workspace, tmp_path):
    workspace.ingest_records([TextRecord(id="d", text="Lunch is served from noon.", title="Lunch")])
    result = cli(workspace, "eval", "dataset", "from-feedback", "--out", str(tmp_path / "fb"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tenant"] == "default"
    assert json.loads((tmp_path / "fb" / "dataset.json").read_text())["tenant"] == "default"
