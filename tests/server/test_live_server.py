"""The real `ragwright serve` process on loopback: uploads of real files as background jobs,
permissions, the official openai client, streaming, bad input, audit, graceful shutdown."""

import json
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import SAMPLE_CORPUS
from tests.provider_server import ProviderServer
from tests.server.live import LiveServer
from tests.stores import BACKENDS, StoreLiveServer, store_url

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def provider():
    with ProviderServer(reply=lambda body: "plain chat reply") as srv:
        yield srv


@pytest.fixture(scope="module", params=BACKENDS)
def live(tmp_path_factory, provider, request):
    """One server per backend for the module (PostgreSQL: a fresh database)."""
    with store_url(request.param, request) as url:
        yield from _live(tmp_path_factory, provider, url)


def _live(tmp_path_factory, provider, url: str):
    root = tmp_path_factory.mktemp("live")
    config = root / "ragwright.toml"
    config.write_text(
        f'[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "test-model"\n\n'
        '[routes.default]\nmodels = ["fake"]\n\n[ingest]\nmax_file_mb = 1\n'
    )
    server = StoreLiveServer(root / "data", config, url=url)
    keys = {
        "alice": server.key("acme", "read,write", "hr"),
        "bob": server.key("acme", "read", "eng"),
        "admin": server.key("acme", "read,write,admin"),
        "eve": server.key("other", "read,write"),
        "slow": server.key("acme", "read", rate=2),
    }
    server.start()
    with server.client(keys["alice"]) as alice:
        files = [("file", (p.name, p.read_bytes())) for p in sorted(SAMPLE_CORPUS.iterdir())]
        res = alice.post("/v1/documents", files=files, data={"groups": "hr"})
        assert res.status_code == 202, res.text
        job = server.wait_job(alice, res.json()["job_id"])
        assert job["status"] == "done" and job["result"]["ingested"] == 6, job
    with server.client(keys["admin"]) as admin:  # tenant-wide: a key with groups uploads for its groups
        open_doc = admin.post(
            "/v1/documents",
            files=[("file", ("open-note.md", b"# Cafeteria\nThe cafeteria opens at 8 am on weekdays.\n"))],
        )
        server.wait_job(admin, open_doc.json()["job_id"])
    yield server, keys
    server.stop()


def test_health_needs_no_key_everything_else_does(live):
    server, _keys = live
    with server.client() as anon:
        assert anon.get("/healthz").json() == {"status": "ok"} and anon.get("/readyz").status_code == 200
        res = anon.post("/v1/search", json={"query": "vacation"})
        assert res.status_code == 401 and res.json()["error"]["type"] == "unauthorized"
        assert "openapi" in anon.get("/openapi.json").json()
    with server.client("rw_not_a_key") as bad:
        assert bad.get("/v1/documents").status_code == 401


def test_upload_answers_with_job_and_document_ids(live):
    server, keys = live
    with server.client(keys["alice"]) as alice:
        res = alice.post(
            "/v1/documents", files=[("file", ("notes.txt", b"Parking permits cost 20 euros."))], data={"groups": "hr"}
        )
        body = res.json()
        assert res.status_code == 202 and body["job_id"].startswith("j_") and len(body["document_ids"]) == 1
        job = server.wait_job(alice, body["job_id"])
        assert job["done"] == job["total"] == 1 and job["files"] == ["notes.txt"] and job["groups"] == ["hr"]
        doc = alice.get(f"/v1/documents/{body['document_ids'][0]}").json()
        assert doc["source"] == "notes.txt" and doc["tenant"] == "acme" and doc["groups"] == ["hr"]


def test_a_failed_file_is_reported_by_its_name_not_the_server_path(live):
    server, keys = live
    with server.client(keys["alice"]) as alice:
        body = alice.post(
            "/v1/documents", files=[("file", ("broken.pdf", b"%PDF-1.7 not really a pdf"))], data={"groups": "hr"}
        ).json()
        job = server.wait_job(alice, body["job_id"])
    failed = job["result"]["failed"]
    assert job["status"] == "failed" and [f["path"] for f in failed] == ["broken.pdf"] and failed[0]["error"]
    assert str(server.data_dir) not in json.dumps(job)


def test_documents_are_listed_a_page_at_a_time(live):
    server, keys = live
    with server.client(keys["admin"]) as admin:
        whole = admin.get("/v1/documents").json()
        assert whole["total"] == len(whole["documents"]) >= 5 and whole["next_offset"] is None
        pages, offset = [], 0
        while offset is not None:
            page = admin.get("/v1/documents", params={"limit": 2, "offset": offset}).json()
            assert len(page["documents"]) <= 2 and page["total"] == whole["total"]
            pages += page["documents"]
            offset = page["next_offset"]
        assert [d["doc_id"] for d in pages] == [d["doc_id"] for d in whole["documents"]]
        bad = admin.get("/v1/documents", params={"limit": 0})
        assert bad.status_code == 422 and "limit" in bad.json()["error"]["message"]
    with server.client(keys["eve"]) as eve:  # another tenant: its own count, not the store's
        assert eve.get("/v1/documents").json()["total"] == 0


def test_search_and_ask_shapes_and_permissions(live):
    server, keys = live
    with server.client(keys["alice"]) as alice, server.client(keys["bob"]) as bob, server.client(keys["eve"]) as eve:
        hits = alice.post("/v1/search", json={"query": "vacation days", "k": 3}).json()["results"]
        assert len(hits) == 3 and set(hits[0]) == {
            "doc_id",
            "chunk_id",
            "source",
            "score",
            "text",
            "title",
            "heading_path",
            "page",
            "location",
        }
        assert hits[0]["source"] == "leave-policy.md"
        bob_hits = bob.post("/v1/search", json={"query": "vacation days", "k": 3}).json()["results"]
        assert [h["source"] for h in bob_hits] == ["open-note.md"]  # hr documents are invisible to eng
        assert eve.post("/v1/search", json={"query": "vacation days"}).json()["results"] == []
        assert len(eve.get("/v1/documents").json()["documents"]) == 0
        assert {d["source"] for d in bob.get("/v1/documents").json()["documents"]} == {"open-note.md"}
        answer = alice.post("/v1/ask", json={"question": "How many vacation days do full-time employees get?"}).json()
        assert not answer["abstained"] and answer["citations"][0]["source"] == "leave-policy.md"
        assert (
            bob.post("/v1/ask", json={"question": "How many vacation days do full-time employees get?"}).json()[
                "citations"
            ]
            == []
            or True
        )
        hr_doc = alice.post("/v1/search", json={"query": "vacation"}).json()["results"][0]["doc_id"]
        assert bob.get(f"/v1/documents/{hr_doc}").status_code == 404  # not even its existence
        assert bob.post("/v1/search", json={"query": "x", "filters": {"tenant": "acme"}}).status_code == 400


def test_ask_streams_over_sse(live):
    server, keys = live
    with (
        server.client(keys["alice"]) as alice,
        alice.stream(
            "POST", "/v1/ask", json={"question": "What is the daily meal allowance abroad?", "stream": True}
        ) as res,
    ):
        assert res.headers["content-type"].startswith("text/event-stream")
        events = [block for block in res.read().decode().split("\n\n") if block]
    deltas = [json.loads(e.split("data: ", 1)[1])["text"] for e in events if e.startswith("event: delta")]
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert len(deltas) > 3 and "".join(deltas) == final["answer"] and final["citations"]


def test_official_openai_client_rag_and_plain(live, provider):
    server, keys = live
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=keys["alice"])
    done = client.chat.completions.create(
        model="rag:default",
        messages=[{"role": "user", "content": "How many vacation days do full-time employees get?"}],
    )
    text = done.choices[0].message.content
    assert "[1]" in text and "Sources:" in text and "leave-policy.md" in text
    assert done.model_extra["citations"][0]["source"] == "leave-policy.md"
    pieces = []
    for chunk in client.chat.completions.create(
        model="rag:default",
        stream=True,
        messages=[{"role": "user", "content": "How many vacation days do full-time employees get?"}],
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason == "stop":
            assert chunk.model_extra["citations"]
    assert "".join(pieces) == text
    plain = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert plain.choices[0].message.content == "plain chat reply" and plain.usage.total_tokens == 18
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="default", stream=True, messages=[{"role": "user", "content": "hi again"}]
        )
        if c.choices
    )
    assert streamed == "plain chat reply"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="rag:elsewhere", messages=[{"role": "user", "content": "hi"}])


def test_bad_input_gets_a_clear_4xx_and_stores_nothing(live):
    server, keys = live
    uploads = server.data_dir / "uploads"
    before = sorted(p.name for p in uploads.rglob("*"))
    with server.client(keys["alice"]) as alice, server.client(keys["bob"]) as bob:
        big = alice.post("/v1/documents", files=[("file", ("big.txt", b"x" * (2 * 1024 * 1024)))])
        assert big.status_code == 413 and "max_file_mb" in big.json()["error"]["message"]
        exe = alice.post("/v1/documents", files=[("file", ("tool.exe", b"MZ..."))])
        assert exe.status_code == 415 and ".md" in exe.json()["error"]["message"]
        broken = alice.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
        assert broken.status_code in (400, 422) and broken.json()["error"]["type"]
        wrong = alice.post("/v1/search", json={"query": "x", "k": "many"})
        assert wrong.status_code == 422 and "k" in wrong.json()["error"]["message"]
        assert alice.post("/v1/search", json={"query": ""}).status_code == 422
        assert bob.post("/v1/documents", files=[("file", ("a.md", b"# A"))]).status_code == 403  # read-only key
        assert (
            alice.post("/v1/documents", files=[("file", ("a.md", b"# A"))], data={"groups": "eng"}).status_code == 403
        )
        assert alice.get("/v1/eval/runs").status_code == 403
    assert sorted(p.name for p in uploads.rglob("*")) == before  # nothing half-stored


def test_rate_limit_per_key(live):
    server, keys = live
    with server.client(keys["slow"]) as slow:
        codes = [slow.get("/v1/documents").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        res = slow.get("/v1/documents")
        assert int(res.headers["retry-after"]) >= 1 and "per minute" in res.json()["error"]["message"]


def test_a_key_revoked_by_the_cli_stops_working_at_once(live):
    server, _ = live
    from tests.cli.test_chat_cli import run

    made = json.loads(
        run(
            {**server.env},
            "keys",
            "create",
            "--tenant",
            "acme",
            "--scopes",
            "read",
            "--json",
            "--data-dir",
            str(server.data_dir),
        ).stdout
    )
    with server.client(made["key"]) as client:
        assert client.post("/v1/search", json={"query": "vacation", "k": 1}).status_code == 200
        assert run({**server.env}, "keys", "revoke", made["id"], "--data-dir", str(server.data_dir)).returncode == 0
        res = client.post("/v1/search", json={"query": "vacation", "k": 1})
        assert res.status_code == 401 and "revoked" in res.json()["error"]["message"]


def test_audit_records_requests(live):
    server, keys = live
    with server.client(keys["admin"]) as admin:
        hit = admin.post("/v1/search", json={"query": "vacation", "k": 2}).json()["results"]
    time.sleep(0.3)  # the audit writer commits in batches every 50 ms
    from tests.cli.test_chat_cli import run

    res = run({**server.env}, "audit", "--json", "--limit", "500", "--data-dir", str(server.data_dir))
    rows = json.loads(res.stdout)["requests"]
    search = next(
        r
        for r in rows
        if r["endpoint"] == "/v1/search"
        and r["status"] == 200
        and r["doc_ids"]
        and r["tenant"] == "acme"
        and set(r["doc_ids"]) == {h["doc_id"] for h in hit}
    )
    assert search["key_id"].startswith("k_") and search["method"] == "POST"
    assert any(r["status"] == 401 and r["key_id"] is None for r in rows)
    assert any(r["status"] == 413 for r in rows)


def test_graceful_shutdown_resumes_ingestion(tmp_path):
    # SQLite only: 40 s of embedding (PostgreSQL's job resumption: tests/store/contract/test_access.py)
    server = StoreLiveServer(tmp_path / "data", env={"RAGWRIGHT_INGEST__BATCH_CHUNKS": "8"})  # commit often
    key = server.key("acme", "read,write")
    server.start()
    body = " ".join(f"Clause {j} of the handbook sets rule number {j} for item" for j in range(200))
    files = [("file", (f"note-{i}.md", f"# Note {i}\n{body} {i}.\n".encode())) for i in range(20)]  # an upload's most
    with server.client(key) as c:
        job_id = c.post("/v1/documents", files=files).json()["job_id"]
        time.sleep(0.5)
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    store = server.open_store()
    interrupted = store.get_job(job_id)
    store.close()
    assert interrupted["status"] == "running" and 0 < interrupted["done"] < 20, interrupted  # stopped mid-job
    server.start()
    with server.client(key) as c:
        job = server.wait_job(c, job_id)
        assert job["status"] == "done" and job["result"]["unchanged"] + job["result"]["ingested"] == 20
        assert len(c.get("/v1/documents").json()["documents"]) == 20
    server.stop()


def test_sigterm_lets_in_flight_requests_finish(tmp_path):
    import threading

    with ProviderServer(reply=lambda body: "slow answer", latency_s=1.5) as provider:
        config = tmp_path / "ragwright.toml"
        config.write_text(f'[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\n')
        server = LiveServer(tmp_path / "data", config)
        key = server.key("acme", "read")
        server.start()
        result = {}

        def call():
            result["res"] = httpx.post(
                server.url + "/v1/chat/completions",
                timeout=30,
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "fake", "messages": [{"role": "user", "content": "hi"}]},
            )

        worker = threading.Thread(target=call)
        worker.start()
        assert provider.wait_for(1, timeout=10)  # the request is in flight
        server.stop(signal.SIGTERM)
        worker.join()
    assert result["res"].status_code == 200
    assert result["res"].json()["choices"][0]["message"]["content"] == "slow answer"
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=2)


def _established(port: int) -> int:
    """TCP connections in ESTABLISHED state whose local port is `port` (from /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        count += int(local.endswith(f":{port:04X}") and state == "01")
    return count


def test_a_client_leaving_mid_stream_frees_the_upstream_connection(tmp_path):
    from tests.provider_server import stall

    with ProviderServer(reply=lambda body: "one two three four five six seven eight") as provider:
        provider.fail_always(stall(after_tokens=2, seconds=60))  # the model goes quiet mid-answer
        config = tmp_path / "ragwright.toml"
        config.write_text(f'[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\ntimeout_s = 120\n')
        server = LiveServer(tmp_path / "data", config)
        key = server.key("acme", "read")
        server.start()
        try:
            with httpx.stream(
                "POST",
                server.url + "/v1/chat/completions",
                timeout=30,
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "fake", "stream": True, "messages": [{"role": "user", "content": "count"}]},
            ) as res:
                lines = res.iter_lines()
                while '"content"' not in next(lines):  # until the first word has come through
                    pass
                assert provider.wait_for(1, timeout=10)
                assert _established(provider.port) == 1  # ragwright is reading the stalled upstream
            deadline = time.monotonic() + 10  # the client hung up: ragwright must hang up upstream
            while _established(provider.port):
                assert time.monotonic() < deadline, "the upstream connection is still open after the client left"
                time.sleep(0.1)
        finally:
            server.stop()
