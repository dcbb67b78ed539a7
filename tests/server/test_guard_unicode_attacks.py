"""Unicode disguises of an injection, end to end (review 12, c_guard_unicode.py): through a route
with injection = "block" a user's message in Cyrillic look-alikes, with an accent on every letter
or with U+3164 HANGUL FILLER for spaces was answered (200, the model received it), and through
[answer] injection = "drop" a retrieved passage in any of the five disguises was kept. The
detector scores NFKC text without six zero-width characters; guard/unicode_fold.py takes the rest
off, and the cascade scores the folded text too, keeping the worse verdict."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import AnswerSettings, GatewaySettings, ModelSettings, RouteSettings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.guard.test_unicode_fold import ATTACK, VARIANTS
from tests.provider_server import ProviderServer


@pytest.fixture(scope="module")
def provider():
    with ProviderServer(reply=lambda body: "Sure.", tools=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder, provider):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("unicode") / "data",
        models={"plain": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=5, tools=False)},
        routes={"guarded": RouteSettings(models=["plain"], injection="block")},
        gateway=GatewaySettings(max_retries=0, cache=False),
        answer=AnswerSettings(model="plain", injection="drop"),
    )
    ws = Workspace(settings=settings, embedder=embedder)
    records = [
        TextRecord(
            id=f"doc-{name}", text=f"Office parking rules {name}. Parking permits are renewed each January. {text}"
        )
        for name, text in {"plain": ATTACK, **VARIANTS}.items()
    ]
    ws.ingest_records(records, access=Access("t1"))
    with TestClient(create_app(workspace=ws)) as c:
        c.headers["Authorization"] = "Bearer " + create_key(ws.store, "t1", ["read"])["key"]
        yield c
    ws.close()


NAMES = ["plain", *VARIANTS]


@pytest.mark.parametrize("name", NAMES)
def test_a_disguised_injection_to_a_blocking_route_never_reaches_the_model(client, provider, name):
    text = {"plain": ATTACK, **VARIANTS}[name]
    before = provider.count()
    res = client.post(
        "/v1/chat/completions", json={"model": "guarded", "messages": [{"role": "user", "content": text}]}
    )
    assert res.status_code == 400 and res.json()["error"]["type"] == "injection_blocked", res.text
    assert provider.count() == before


@pytest.mark.parametrize("name", NAMES)
def test_a_disguised_injection_in_a_passage_is_dropped_under_answer_drop(client, provider, name):
    text = {"plain": ATTACK, **VARIANTS}[name]
    before = provider.count()
    res = client.post(
        "/v1/ask",
        json={"question": f"When are parking permits renewed? rules {name}", "filters": {"doc_id": f"doc-{name}"}},
    )
    assert res.status_code == 200, res.text
    dropped = [d["doc_id"] for d in (res.json().get("guard") or {}).get("dropped", [])]
    assert dropped == [f"doc-{name}"]
    if provider.count() > before:  # the answer was written from what was kept
        prompt = "".join(str(m.get("content")) for m in provider.last("/chat/completions").body["messages"])
        assert text not in prompt and "renewed each January" not in prompt
