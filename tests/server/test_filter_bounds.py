"""Client filters are bounded at the API edge and in the store: a list of 40,000 values or 2,000
`metadata.*` keys used to reach SQLite and come back as a bare 500 (sqlite3.OperationalError:
too many SQL variables / expression tree too deep), outside the API's error shape."""

from __future__ import annotations

import pydantic
import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.mcp.tools import AskArgs, SearchArgs
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.store.sql import MAX_FILTER_FIELDS, MAX_FILTER_GLOBS, MAX_FILTER_VALUES
from ragwright.types import Access


@pytest.fixture
def client(tmp_path, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    ws.ingest_records(
        [TextRecord(id="d1", text="Vacation is 25 days.", metadata={"a-b": "x", "year": 2021})], access=Access("acme")
    )
    key = create_key(ws.store, "acme", ["read"], [])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as c:
        yield c
    ws.close()


def _search(client: TestClient, filters: dict) -> tuple[int, dict]:
    res = client.post("/v1/search", json={"query": "vacation", "mode": "bm25", "filters": filters})
    return res.status_code, res.json()


@pytest.mark.parametrize(
    ("filters", "limit"),
    [
        ({"source": [f"s{i}" for i in range(40_000)]}, f"at most {MAX_FILTER_VALUES} values"),
        ({"doc_id": [f"d{i}" for i in range(MAX_FILTER_VALUES + 1)]}, f"at most {MAX_FILTER_VALUES} values"),
        ({f"metadata.k{i}": "x" for i in range(2_000)}, f"at most {MAX_FILTER_FIELDS} filter fields"),
        ({"source": "*a" * 1_000}, "more than 1000 characters"),
        ({"source": [f"*{i}" for i in range(MAX_FILTER_GLOBS + 1)]}, f"at most {MAX_FILTER_GLOBS} patterns"),
    ],
)
def test_an_oversized_filter_is_a_422_naming_the_limit(client, filters, limit):
    for path, body in (("/v1/search", {"query": "vacation"}), ("/v1/ask", {"question": "vacation?"})):
        res = client.post(path, json={**body, "filters": filters})
        assert res.status_code == 422, (path, res.text[:200])
        assert res.json()["error"]["type"] == "invalid_request"
        assert limit in res.json()["error"]["message"]


def test_filters_inside_the_bounds_still_work(client):
    assert _search(client, {"doc_id": ["d1", *(f"x{i}" for i in range(MAX_FILTER_VALUES - 1))]})[1]["results"]
    assert _search(client, {"metadata.a-b": "x"})[1]["results"]
    assert _search(client, {"metadata.year": 2021})[1]["results"]
    assert _search(client, {"metadata.year": 2020})[1]["results"] == []


@pytest.mark.parametrize("field", ["metadata.a..b", "metadata.a.", "metadata."])
def test_a_malformed_metadata_key_is_a_400_in_the_error_shape(client, field):
    status, body = _search(client, {field: "x"})
    assert status == 400 and body["error"]["type"] == "invalid_request"


def test_mcp_tool_arguments_are_bounded_the_same_way():
    many = {f"metadata.k{i}": "x" for i in range(MAX_FILTER_FIELDS + 1)}
    for model, args in ((SearchArgs, {"query": "q"}), (AskArgs, {"question": "q"})):
        with pytest.raises(pydantic.ValidationError, match=f"at most {MAX_FILTER_FIELDS} filter fields"):
            model.model_validate({**args, "filters": many})
        model.model_validate({**args, "filters": {"doc_id": ["d1"] * MAX_FILTER_VALUES}})
