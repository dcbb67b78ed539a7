"""The source-filter oracle through the agent: a reader tells the model to search with a `source`
pattern naming the server's data dir, character by character; whether anything comes back would
spell the path out. A reader's model-chosen `source` is matched as the API shows sources (a file
under the data dir as `<data dir>/...`), as the reader's own filter is."""

import json

from fastapi.testclient import TestClient

from ragwright import Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.generate.test_agent import agent_settings
from tests.provider_server import ProviderServer, tool_call


def searching_with(pattern):
    def reply(body):
        if not any(m["role"] == "tool" for m in body["messages"]):
            return [tool_call("search_documents", {"query": "parental leave", "filters": {"source": pattern}})]
        return "Done."

    return reply


def tool_results(srv):
    return " ".join(m["content"] for r in srv.requests for m in r.body["messages"] if m["role"] == "tool")


def ask_with(tmp_path, embedder, pattern):
    data_dir = tmp_path / "d"
    with ProviderServer(reply=searching_with(pattern(data_dir))) as srv:
        ws = Workspace(settings=agent_settings(data_dir, srv), embedder=embedder)
        data_dir.mkdir(parents=True, exist_ok=True)
        note = data_dir / "notes.md"
        note.write_text("# Leave\n\nParental leave lasts 16 weeks at full pay.\n")
        ws.ingest([note])
        key = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
        with TestClient(create_app(workspace=ws)) as client:
            res = client.post("/v1/ask", json={"question": "How long is leave?", "agent": True}, headers=key)
        ws.close()
        return res, tool_results(srv)


def test_a_server_path_pattern_chosen_for_the_agent_finds_nothing(tmp_path, embedder):
    res, shown = ask_with(tmp_path, embedder, lambda d: str(d.resolve())[:5] + "*")
    assert res.status_code == 200, res.text
    assert "no passages matched" in shown and "16 weeks" not in shown, shown


def test_the_shown_form_of_a_source_still_matches(tmp_path, embedder):
    res, shown = ask_with(tmp_path, embedder, lambda d: "<data dir>/notes*")
    assert res.status_code == 200, res.text
    assert "16 weeks" in shown, json.dumps(shown)
