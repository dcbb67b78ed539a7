"""Deleting a document through the API removes its text from every path: search, ask, the
OpenAI endpoint, the document list, the model-reply cache, the uploaded file, the database bytes."""

import time

import openai
import pytest

from tests.provider_server import ProviderServer
from tests.stores import BACKENDS, StoreLiveServer, rows_text, store_url

pytestmark = pytest.mark.slow
SECRET = "ZEBRA-4417"


def quoting_model(body):
    """A model that answers from the sources it is given, as a grounded model would."""
    prompt = body["messages"][-1]["content"]
    if SECRET in prompt:
        return f"The vault code is {SECRET} [1]."
    return "I don't know."


@pytest.mark.parametrize("backend", BACKENDS)
def test_deleted_text_never_comes_back(tmp_path, backend, request):
    with store_url(backend, request) as url:
        check_deleted_text_never_comes_back(tmp_path, url)


def check_deleted_text_never_comes_back(tmp_path, url: str) -> None:
    with ProviderServer(reply=quoting_model) as provider:
        config = tmp_path / "ragwright.toml"
        config.write_text(
            f'[answer]\nmodel = "fake"\n\n[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\n'
        )
        server = StoreLiveServer(tmp_path / "data", config, url=url)
        key = server.key("acme", "read,write")
        server.start()
        try:
            with server.client(key) as c:
                up = c.post(
                    "/v1/documents",
                    files=[
                        ("file", ("vault.md", f"# Vault\nThe vault code is {SECRET}. Change it monthly.\n".encode())),
                        ("file", ("lunch.md", b"# Lunch\nLunch is served from noon to two.\n")),
                    ],
                ).json()
                assert server.wait_job(c, up["job_id"])["status"] == "done"
                vault_id = up["document_ids"][0]
                question = {"question": "What is the vault code?"}
                first = c.post("/v1/ask", json=question).json()
                assert SECRET in first["answer"] and first["citations"][0]["doc_id"] == vault_id
                calls = provider.count("/chat/completions")
                assert SECRET in c.post("/v1/ask", json=question).json()["answer"]
                assert provider.count("/chat/completions") == calls  # served from the cache this time

                assert c.delete(f"/v1/documents/{vault_id}").json()["deleted"] == vault_id
                oai = openai.OpenAI(base_url=server.url + "/v1", api_key=key)
                seen = [
                    c.post("/v1/search", json={"query": "vault code", "k": 10}).text,
                    c.post("/v1/search", json={"query": "zebra 4417", "k": 10, "mode": "bm25"}).text,
                    c.post("/v1/ask", json=question).text,
                    c.post("/v1/ask", json={**question, "stream": True}).text,
                    c.get("/v1/documents").text,
                    c.get(f"/v1/documents/{vault_id}").text,
                    c.get(f"/v1/jobs/{up['job_id']}").text,
                    oai.chat.completions.create(
                        model="rag:default", messages=[{"role": "user", "content": "What is the vault code?"}]
                    ).model_dump_json(),
                ]
                traces = c.get("/v1/traces", params={"limit": 1000}).json()["traces"]
                assert traces  # the requests after the deletion were traced
                seen += [c.get(f"/v1/traces/{t['trace_id']}").text for t in traces]
                assert all(SECRET not in text for text in seen), [t for t in seen if SECRET in t]
                assert c.get(f"/v1/documents/{vault_id}").status_code == 404
        finally:
            server.stop()
    time.sleep(0.1)
    if url:  # PostgreSQL: in no row of any table (the dead rows' bytes wait for VACUUM: see the README)
        stored_rows = rows_text(url)
        assert SECRET not in stored_rows and "Lunch is served from noon" in stored_rows  # the other one stays
    else:
        stored = b"".join(p.read_bytes() for p in server.data_dir.glob("ragwright.db*"))
        assert SECRET.encode() not in stored  # not in chunks, the cache, the WAL or free pages
    assert not any(p.name == "vault.md" for p in (server.data_dir / "uploads").rglob("*"))
