"""`privacy = "redact"`: personal data from the user's input and from retrieved context never
reaches the model; the user gets the real values back wherever the model echoed a placeholder."""

from __future__ import annotations

import json
import re

import pytest

from ragwright.config import ModelSettings, RouteSettings, Settings
from ragwright.errors import ConfigError
from ragwright.guard.policy import gateway_guards
from ragwright.models import ChatMessage, Gateway
from ragwright.store import SqliteStore
from tests.provider_server import ProviderServer

SECRETS = {
    "email": "maria.keller@example.org",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "536-22-8741",
    "ip": "192.168.13.77",
}
CONTEXT = (
    f"[1] Billing record: the card on file is {SECRETS['card']}, refunds go to IBAN {SECRETS['iban']}. "
    f"The account was opened from {SECRETS['ip']}."
)
QUESTION = (
    f"I am writing from {SECRETS['email']} (call me on {SECRETS['phone']}, SSN {SECRETS['ssn']}). "
    "Which card and IBAN are on file for me?"
)


def _echo_everything(body: dict) -> str:
    """A model that repeats every message it got: every placeholder comes back to be restored."""
    return " || ".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str))


def _settings(tmp_path, srv: ProviderServer, privacy: str = "redact") -> Settings:
    settings = Settings(data_dir=tmp_path)
    settings.models = {"ext": ModelSettings(base_url=srv.base_url + "/v1", model="x", timeout_s=5, privacy=privacy)}
    settings.routes = {"default": RouteSettings(models=["ext"])}
    settings.gateway.cache = False
    return settings


def _gateway(tmp_path, srv: ProviderServer, privacy: str = "redact") -> Gateway:
    return Gateway(_settings(tmp_path, srv, privacy), SqliteStore(tmp_path / "s.db"), guards=gateway_guards())


def _leaks(srv: ProviderServer) -> list[str]:
    sent = " ".join(r.raw.decode() for r in srv.requests)
    sent_digits = re.sub(r"\D", "", sent)
    return [
        name
        for name, value in SECRETS.items()
        if value in sent
        or value in json.dumps(sent)
        or (name in ("card", "iban", "phone", "ssn") and re.sub(r"\D", "", value) in sent_digits)
    ]


MESSAGES = [ChatMessage("system", "Answer from the passages.\n" + CONTEXT), ChatMessage("user", QUESTION)]


def test_nothing_personal_reaches_a_redacting_model_and_the_echo_is_restored(tmp_path):
    with ProviderServer(reply=_echo_everything) as srv:
        gw = _gateway(tmp_path, srv)
        result = gw.chat(MESSAGES, model="default")
        assert srv.requests and _leaks(srv) == []
        sent = json.dumps(srv.requests[0].body)
        for label in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"):
            assert f"<{label}_1>" in sent  # typed, numbered placeholders the model can still talk about
        for value in SECRETS.values():
            assert value in result.text  # restored for the user
        assert "<" not in result.text.replace("<=", "")
        gw.close()


def test_same_value_same_placeholder_across_messages(tmp_path):
    with ProviderServer(reply=_echo_everything) as srv:
        gw = _gateway(tmp_path, srv)
        gw.chat(
            [
                ChatMessage("system", f"Context: write to {SECRETS['email']}."),
                ChatMessage("user", f"Is {SECRETS['email'].upper()} the address?"),
            ],
            model="default",
        )
        sent = json.dumps(srv.requests[0].body)
        assert sent.count("<EMAIL_ADDRESS_1>") == 2 and "<EMAIL_ADDRESS_2>" not in sent
        gw.close()


def test_streamed_answers_are_restored_even_when_a_placeholder_is_split(tmp_path):
    with ProviderServer(reply=_echo_everything) as srv:  # the server streams word by word
        gw = _gateway(tmp_path, srv)
        with gw.stream(MESSAGES, model="default") as stream:
            pieces = list(stream)
        assert _leaks(srv) == []
        text = "".join(pieces)
        for value in SECRETS.values():
            assert value in text
        assert not re.search(r"<[A-Z_]+_\d+>", text) and stream.result.text == text
        gw.close()


def test_a_gateway_without_the_guard_refuses_a_redacting_model_rather_than_send_it_in_clear(tmp_path):
    """The gateway cannot import the guard (layers): built without it, it must not fall back to no redaction."""
    with ProviderServer(reply=_echo_everything) as srv:
        settings = _settings(tmp_path, srv)
        with pytest.raises(ConfigError, match=r'models\.ext\.privacy = "redact" needs the guard'):
            Gateway(settings, SqliteStore(tmp_path / "s.db"))
        settings.models["ext"].privacy = "none"  # set after the gateway was built: still refused
        gw = Gateway(settings, SqliteStore(tmp_path / "s.db"))
        settings.models["ext"].privacy = "redact"
        with pytest.raises(ConfigError, match="needs the guard's redaction"):
            gw.chat(MESSAGES, model="default")
        assert srv.requests == []
        gw.close()


def test_without_privacy_the_same_request_is_sent_as_is(tmp_path):
    """The control: the leak check above would see these values if redaction did nothing."""
    with ProviderServer(reply=_echo_everything) as srv:
        gw = _gateway(tmp_path, srv, privacy="none")
        gw.chat(MESSAGES, model="default")
        assert sorted(_leaks(srv)) == sorted(SECRETS)
        gw.close()


def test_a_cited_answer_over_private_documents_leaks_nothing(workspace, tmp_path):
    """The RAG path: retrieved chunks and the question both go through the redacting model; the
    trace keeps the redacted prompt, the user sees the real values."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "billing.md").write_text(f"# Billing\n\n{CONTEXT[4:]}\n\nSupport: {SECRETS['email']}.\n")
    with ProviderServer(
        reply=lambda body: (
            f"The card is {re.search(r'<CREDIT_CARD_1>', json.dumps(body)).group()} and the IBAN <IBAN_CODE_1> [1]."
        )
    ) as srv:
        ws = workspace
        ws.settings.models = {
            "ext": ModelSettings(base_url=srv.base_url + "/v1", model="x", timeout_s=5, privacy="redact")
        }
        ws.settings.routes = {"default": RouteSettings(models=["ext"])}
        ws.settings.answer.model = "default"
        ws.ingest([docs])
        answer = ws.ask(f"Which card and IBAN are on file? I am {SECRETS['email']}.")
        assert srv.requests and _leaks(srv) == []
    assert SECRETS["card"] in answer.answer and SECRETS["iban"] in answer.answer
    trace = ws.store.get_trace(answer.trace_id)
    sent = json.dumps([s for s in trace["spans"] if s["name"] == "model.call"])
    assert "<CREDIT_CARD_1>" in sent  # the trace shows what the model was sent
    stored = json.dumps(trace)  # and, with a redacting model configured, no personal data anywhere
    assert not [name for name, value in SECRETS.items() if value in stored]
    assert "<EMAIL_ADDRESS>" in json.dumps(trace["input"]) and trace["trace_id"] == answer.trace_id
