"""`ragwright audit` shows what a folded row stands for: requests without a valid key are one row
per minute, address, route and status (review 15), with their count and address."""

from __future__ import annotations

from ragwright.store import SqliteStore
from tests.cli.test_cli import run


def test_a_folded_row_says_how_many_requests_and_from_where(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = SqliteStore(data / "ragwright.db")
    try:
        store.write_audit(
            [
                (1000.0, "k_abc", "acme", "POST", "/v1/search", 200, ["d1"], 3.0, "/v1/search", "10.0.0.7", 1),
                (1060.0, None, None, "GET", "/v1/x", 401, [], 0.2, "", "203.0.113.9", 299),
            ]
        )
    finally:
        store.close()
    lines = run("audit", "--data-dir", str(data)).stdout.splitlines()
    folded = next(line for line in lines if " 401" in line)
    assert "401 x299" in folded and "from 203.0.113.9" in folded
    keyed = next(line for line in lines if "k_abc" in line)
    assert " x" not in keyed.split("POST")[1] and "from" not in keyed  # one request, its key says who
