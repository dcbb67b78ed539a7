"""A workspace on a new PostgreSQL store, through ingestion, as a user meets it."""

from __future__ import annotations

from ragwright import Settings, Workspace
from ragwright.config import StoreSettings
from ragwright.ingest.pipeline import TextRecord
from ragwright.types import Access
from tests.stores import fresh_database


def test_a_new_store_takes_a_second_ingestion(postgres_url, tmp_path, embedder):
    """The first write fixes the vector column's dimension (ALTER TABLE); a statement the server
    had prepared on another pooled connection before it then failed with 'cached plan must not
    change result type', so a new store's second ingestion broke (bench/pg_workspace.py found it)."""
    records = [
        TextRecord(id=f"d{i}", title=f"Note {i}", text=f"Note number {i} is about topic {i % 3}. " * 3)
        for i in range(40)
    ]
    with fresh_database(postgres_url) as url:
        ws = Workspace(settings=Settings(data_dir=tmp_path / "data", store=StoreSettings(url=url)), embedder=embedder)
        try:
            for lo in range(0, len(records), 20):
                report = ws.ingest_records(records[lo : lo + 20], access=Access("t"))
                assert report.ingested == 20
            assert len(ws.documents()) == 40
        finally:
            ws.close()
