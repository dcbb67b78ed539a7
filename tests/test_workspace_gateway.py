"""One gateway per workspace: the server's chat endpoint, generated answers and evaluation judges
share its circuit breakers, so a model that one path found broken is not tried again by another
(each used to build a gateway of its own, with breakers and latency figures of its own)."""

from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import GatewaySettings, ModelSettings, RouteSettings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.evaluate.test_answers_eval import make_data
from tests.provider_server import ProviderServer, status

LEAVE = TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.", title="Leave policy")


def _settings(tmp_path, broken: ProviderServer, backup: ProviderServer) -> Settings:
    settings = Settings(data_dir=tmp_path / "d")
    settings.models = {
        "primary": ModelSettings(base_url=broken.base_url + "/v1", model="p", timeout_s=5),
        "backup": ModelSettings(base_url=backup.base_url + "/v1", model="b", timeout_s=5),
    }
    settings.routes = {"default": RouteSettings(models=["primary", "backup"])}
    settings.gateway = GatewaySettings(breaker_threshold=2, breaker_cooldown_s=600, max_retries=0, cache=False)
    return settings


def test_a_breaker_opened_by_chat_traffic_also_stops_answer_traffic(embedder, tmp_path):
    with ProviderServer() as broken, ProviderServer(reply=lambda body: "Parental leave lasts 16 weeks [1].") as backup:
        settings = _settings(tmp_path, broken, backup)
        settings.answer.model = "default"
        settings.answer.abstain_threshold = -1.0  # the question must reach the model
        ws = Workspace(settings=settings, embedder=embedder)
        ws.ingest_records([LEAVE])
        broken.fail_always(status(500))
        headers = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
        with TestClient(create_app(workspace=ws)) as client:
            for _ in range(2):  # chat traffic: the primary fails twice, its breaker opens
                chat = client.post(
                    "/v1/chat/completions",
                    headers=headers,
                    json={"model": "default", "messages": [{"role": "user", "content": "Say hello"}]},
                )
                assert chat.status_code == 200 and chat.json()["model"] == "default"
            assert broken.count() == 2 and backup.count() == 2
            ask = client.post("/v1/ask", json={"question": "How long is parental leave?"}, headers=headers)
        assert ask.status_code == 200 and "16 weeks" in ask.json()["answer"]
        assert backup.count() > 2  # the answer was generated ...
        assert broken.count() == 2  # ... without trying the model whose breaker chat traffic opened
        ws.close()


def test_judges_share_the_workspace_gateway(workspace, tmp_path):
    data = make_data(tmp_path)
    with ProviderServer() as broken, ProviderServer() as backup:
        workspace.settings.models = _settings(tmp_path, broken, backup).models
        workspace.settings.gateway = GatewaySettings(breaker_threshold=2, breaker_cooldown_s=600, max_retries=0)
        broken.fail_always(status(500))
        workspace.evaluate_answers(data, judge_model="primary", concurrency=1)
        assert broken.count() == 2  # the judge's breaker opened after two failures: the rest were skipped
        assert workspace.gateway.breaker("primary").state == "open"  # the one every path sees
