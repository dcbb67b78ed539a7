"""The other ways text reaches a `privacy = "redact"` model, each through a loopback provider that
records every byte: a follow-up's rewrite, the agent's tool loop (the search tool's results and
its definition), an evaluation judge, a streamed turn with tools, and a route whose first model
fails over to the redacting one. None may carry the personal data in clear."""

from __future__ import annotations

import json
import re

import pytest

from ragwright.config import ModelSettings, RouteSettings
from ragwright.evaluate.judge import Judge
from ragwright.generate.followup import Turn
from ragwright.guard.policy import Pseudonyms, gateway_guards
from ragwright.models import ChatMessage, Gateway, GatewayChat, Tool
from ragwright.store import SqliteStore
from tests.models.test_privacy import _gateway, _settings
from tests.provider_server import ProviderServer, status, tool_call

EMAIL, OTHER = "jane.doe@example.com", "maria.keller@example.org"


@pytest.fixture(autouse=True, scope="module")
def _detector_loaded():
    """The detector loads in seconds on a busy machine: not inside a call's deadline."""
    Pseudonyms().redact(EMAIL, ["EMAIL_ADDRESS", "PERSON"])


def _chat_bodies(srv: ProviderServer) -> list[str]:
    return [r.raw.decode() for r in srv.requests if r.path.endswith("/chat/completions")]


def _clean(srv: ProviderServer) -> bool:
    sent = _chat_bodies(srv)
    return bool(sent) and not any(EMAIL in t or OTHER in t for t in sent)


def _redacting_answers(workspace, srv: ProviderServer) -> None:
    workspace.settings.models = {
        "ext": ModelSettings(base_url=srv.base_url + "/v1", model="x", timeout_s=30, privacy="redact")
    }
    workspace.settings.routes = {"default": RouteSettings(models=["ext"])}
    workspace.settings.answer.model = "default"
    workspace.settings.gateway.cache = False


def _search_then_answer(body: dict) -> object:
    """The agent's model: a search with the placeholder it was shown, then an answer citing [1]."""
    if any(m.get("role") == "tool" for m in body["messages"]):
        return "Refunds to <EMAIL_ADDRESS_1> are paid within 14 days [1]."
    placeholder = re.search(r"<EMAIL_ADDRESS_\d+>", json.dumps(body["messages"]))
    return [tool_call("search_documents", {"query": f"refund {placeholder.group() if placeholder else ''}"})]


def test_a_followup_rewrite_and_the_answer_reach_the_model_redacted(workspace, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "refunds.md").write_text(f"# Refunds\n\nRefunds are paid within 14 days. Contact {OTHER}.\n")
    with ProviderServer(reply=lambda body: "When will the refund for <EMAIL_ADDRESS_1> be paid?") as srv:
        _redacting_answers(workspace, srv)
        workspace.ingest([tmp_path / "d"])
        history = [Turn("user", f"I am {EMAIL} and asked for a refund."), Turn("assistant", "Noted.")]
        answer = workspace.ask("When is it paid?", history=history)
        assert len(_chat_bodies(srv)) >= 2 and _clean(srv)  # the rewrite, then the answer
    assert EMAIL in answer.question  # the rewrite came back with the value, and retrieval used it


def test_the_agents_searches_and_their_results_reach_the_model_redacted(workspace, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "refunds.md").write_text(f"# Refunds\n\nRefunds to {EMAIL} are paid within 14 days.\n")
    with ProviderServer(reply=_search_then_answer) as srv:
        _redacting_answers(workspace, srv)
        workspace.ingest([tmp_path / "d"])
        answer = workspace.ask(f"When are refunds to {EMAIL} paid? Copy {OTHER}.", agent=True)
        bodies = [json.loads(t) for t in _chat_bodies(srv)]
        assert _clean(srv) and any(m.get("role") == "tool" for b in bodies for m in b["messages"])
    assert EMAIL in answer.answer


def test_an_evaluation_judge_reaches_the_model_redacted(tmp_path):
    with ProviderServer(reply=lambda body: '{"supported": true}') as srv:
        gw = _gateway(tmp_path, srv)
        judge = Judge(GatewayChat(gw, "default"))
        prompts = [f"Passage: refunds go to {OTHER}. Answer: write to {EMAIL}. Is the answer supported?"]
        assert judge.ask_json(prompts, "supported", [True, False])[0].value is True
        assert _clean(srv)
        gw.close()


def test_a_streamed_turn_with_tools_reaches_the_model_redacted(tmp_path):
    mail = Tool("send_mail", f"Mail {OTHER}.", {"type": "object", "properties": {"to": {"enum": [EMAIL]}}})
    with ProviderServer(reply=lambda body: [tool_call("send_mail", {"to": "<EMAIL_ADDRESS_1>"})]) as srv:
        gw = _gateway(tmp_path, srv)
        with gw.stream([ChatMessage("user", f"Mail {EMAIL}.")], model="default", tools=[mail]) as stream:
            list(stream)
        assert _clean(srv) and stream.result.tool_calls[0].arguments == {"to": EMAIL}
        gw.close()


def test_a_fallback_onto_a_redacting_model_sends_it_the_redacted_request(tmp_path):
    """Privacy is each model's: the first model (privacy none) fails, the redacting one gets placeholders."""
    with ProviderServer(reply=lambda body: "ok") as plain, ProviderServer(reply=lambda body: "ok") as private:
        settings = _settings(tmp_path, private)
        settings.models["plain"] = ModelSettings(base_url=plain.base_url + "/v1", model="p", timeout_s=5)
        settings.routes = {"default": RouteSettings(models=["plain", "ext"])}
        settings.gateway.max_retries = 0
        gw = Gateway(settings, SqliteStore(tmp_path / "f.db"), guards=gateway_guards())
        plain.fail_always(status(503))
        result = gw.chat([ChatMessage("user", f"Mail {EMAIL}.")], model="default")
        assert result.model == "ext" and _clean(private)
        assert EMAIL in _chat_bodies(plain)[0]  # the model without privacy was sent it as it is: its setting
        gw.close()
