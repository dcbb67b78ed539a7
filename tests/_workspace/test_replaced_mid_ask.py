"""A document re-ingested with new text while an ask that read it waits for its model.

Attack: the ask read the vault document's passage, another process re-ingested the document
(same id, new text: the way to take a leaked secret out of it) while the model wrote, and the ask
then saved its trace and its cached reply. Both quoted the old text and both were kept: the
replacement had already taken away what quoted the old text, and these came after. Now the ask
says which version of each document it read (SearchResult.doc_version, through the model call's
context and its trace), and the store keeps neither when that version is no longer the stored one
(tests/store/contract/test_replacement_race.py holds the store to it on both backends)."""

from __future__ import annotations

import sqlite3

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import ModelSettings, RouteSettings
from tests.provider_server import ProviderServer

SECRET = "OKAPI-2291"
OLD = TextRecord(id="vault", text=f"The vault code is {SECRET}. Change it monthly.", title="Vault")
NEW = TextRecord(id="vault", text="The vault code was rotated. Ask the office for the new one.", title="Vault")
LUNCH = TextRecord(id="lunch", text="Lunch is served from noon to two.", title="Lunch")


def _settings(tmp_path, provider: ProviderServer) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    settings.models = {"fake": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=10)}
    settings.routes = {"default": RouteSettings(models=["fake"])}
    settings.answer.model = "default"
    settings.answer.abstain_threshold = -1.0  # the question must reach the model
    return settings


def _rows_text(ws: Workspace) -> str:
    conn = sqlite3.connect(ws.settings.data_dir / "store.db")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def test_an_ask_whose_document_was_replaced_while_the_model_wrote_keeps_no_trace_or_cache_of_it(embedder, tmp_path):
    other: list[Workspace] = []

    def model_while_replaced(body):
        """Quotes the vault code it was given, as a grounded model would; while it writes, another
        process re-ingests the vault document with new text."""
        prompt = body["messages"][-1]["content"]
        if SECRET not in prompt:
            return "I don't know."
        other[0].ingest_records([NEW])
        return f"The vault code is {SECRET} [1]."

    with ProviderServer(reply=model_while_replaced) as provider:
        ws = Workspace(settings=_settings(tmp_path, provider), embedder=embedder)
        other.append(Workspace(settings=_settings(tmp_path, provider), embedder=embedder))
        try:
            ws.ingest_records([OLD, LUNCH])
            answer = ws.ask("What is the vault code?")
            assert SECRET in answer.answer and answer.trace_id  # the premise: it read the old text
            assert SECRET not in " ".join(ws.store.chunk_texts("vault"))  # and it was replaced meanwhile
            ws.store.flush_traces()
            assert ws.store.get_trace(answer.trace_id) is None, "the trace kept the replaced text"
            assert all(SECRET not in v for _, v in ws.store.cache_scan("gateway")), "the cache kept it"
            assert SECRET not in _rows_text(ws), "a table holds the replaced text"

            calls = provider.count("/chat/completions")
            again = ws.ask("What is the vault code?")  # answered from the new text, by the model
            assert SECRET not in again.answer and provider.count("/chat/completions") == calls + 1
            ws.store.flush_traces()
            assert ws.store.get_trace(again.trace_id) is not None  # an ask that read the current text is traced
        finally:
            other[0].close()
            ws.close()


def test_a_model_call_hands_the_versions_it_was_given_to_its_trace_and_cache():
    """The agent's calls and a streamed answer name their documents only through the model call's
    context (note_sent, the cache put): the versions must travel there too, the first read kept."""
    from dataclasses import replace

    from ragwright.models.types import CallContext
    from ragwright.observe.tracing import note_sent, start_trace

    context = replace(CallContext(), sources=("vault", "lunch"), versions=(("vault", "v1"),))
    assert context.quoted() == {"vault": "v1", "lunch": ""}
    saved = []
    with start_trace("ask", input={}, sink=saved.append):
        note_sent(context.quoted())
        note_sent({"vault": "v2"})  # read again later, after a replacement: the first read is the one held
    assert saved[0].doc_ids == {"vault", "lunch"} and saved[0].doc_versions == {"vault": "v1"}
    assert saved[0].to_dict()["doc_versions"] == {"vault": "v1"}
