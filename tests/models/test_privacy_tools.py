"""`privacy = "redact"` on what surrounds the messages: tool definitions (descriptions, and the
enum values, defaults and examples of their parameter schemas), tool results, a structured
output's schema and stop sequences reach a redacting model pseudonymised too, while tool names,
property names and structural keywords stay as they are, and a call the model makes with a
placeholder comes back with the value and validates against the caller's own schema."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from ragwright.guard.policy import Pseudonyms
from ragwright.models import ChatMessage, Tool
from ragwright.models.privacy import SEAM, CallPrivacy, redact_all, redact_schema
from ragwright.models.tools import tool_result
from ragwright.models.types import ChatRequest, ToolCall
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.models.test_privacy import _gateway
from tests.provider_server import ProviderServer, tool_call

EMAIL, PHONE, OTHER = "jane.doe@example.com", "+1 415 555 0132", "peter.pan@example.org"
MAIL_TOOL = Tool(
    "send_mail",
    f"Send a mail to our customer {EMAIL} (phone {PHONE}).",
    {
        "type": "object",
        "properties": {
            "to": {
                "type": "string",
                "description": f"the address, e.g. {OTHER}",
                "enum": [EMAIL, OTHER],
                "default": EMAIL,
                "examples": [EMAIL],
            },
            "cc": {"type": "array", "items": {"type": "string", "const": OTHER}},
        },
        "required": ["to"],
    },
)


@pytest.fixture(autouse=True, scope="module")
def _detector_loaded():
    """The detector loads in seconds on a busy machine: not inside a call's deadline."""
    Pseudonyms().redact(EMAIL, ["EMAIL_ADDRESS", "PERSON"])


def _sent(srv: ProviderServer) -> str:
    return " ".join(r.raw.decode() for r in srv.requests)


def _calls_the_first_enum_value(body: dict) -> object:
    """A model that calls the tool with the placeholder it was shown as the enum's first value."""
    if any(m.get("role") == "tool" for m in body["messages"]):
        return "Sent."
    value = body["tools"][0]["function"]["parameters"]["properties"]["to"]["enum"][0]
    return [tool_call("send_mail", {"to": value})]


def test_tool_definitions_and_results_reach_a_redacting_model_pseudonymised(tmp_path):
    with ProviderServer(reply=_calls_the_first_enum_value) as srv:
        gw = _gateway(tmp_path, srv)
        messages = [ChatMessage("user", f"Write to {EMAIL} that the order shipped.")]
        first = gw.chat(messages, model="default", tools=[MAIL_TOOL], tool_choice="send_mail")
        assert first.tool_calls[0].arguments == {"to": EMAIL}  # restored, and valid against the real enum
        call = first.tool_calls[0]
        messages += [first.message, tool_result(call, f"queued for {EMAIL}, copy to {OTHER}")]
        gw.chat(messages, model="default", tools=[MAIL_TOOL])
        sent = _sent(srv)
        assert EMAIL not in sent and OTHER not in sent and "415 555" not in sent
        tool = srv.requests[0].body["tools"][0]["function"]
        to = tool["parameters"]["properties"]["to"]
        assert tool["name"] == "send_mail" and srv.requests[0].body["tool_choice"]["function"]["name"] == "send_mail"
        assert to["type"] == "string" and tool["parameters"]["required"] == ["to"]  # structure untouched
        user = srv.requests[0].body["messages"][-1]["content"]
        placeholder = re.search(r"<EMAIL_ADDRESS_\d+>", user).group()
        assert to["enum"][0] == to["default"] == to["examples"][0] == placeholder  # one value, one placeholder
        assert placeholder in tool["description"] and "<PHONE_NUMBER_1>" in tool["description"]
        assert tool["parameters"]["properties"]["cc"]["items"]["const"] == to["enum"][1] != placeholder
        gw.close()


def test_a_structured_output_schema_and_stop_sequences_are_pseudonymised(tmp_path):
    schema = {
        "type": "object",
        "properties": {"owner": {"type": "string", "description": f"who owns it, e.g. {EMAIL}"}},
        "required": ["owner"],
    }
    with ProviderServer(reply=lambda body: '{"owner": "<EMAIL_ADDRESS_1>"}') as srv:
        gw = _gateway(tmp_path, srv)
        result = gw.chat(
            [ChatMessage("user", "Who owns the account?")],
            model="default",
            json_schema=schema,
        )
        assert EMAIL not in _sent(srv)
        body = srv.requests[0].body
        assert body["response_format"]["json_schema"]["schema"]["properties"]["owner"]["type"] == "string"
        assert json.loads(result.text) == {"owner": EMAIL}  # the model's placeholder restored
        gw.close()
    # a stop sequence (Python API only) stops the model where it would write the value's placeholder
    privacy = CallPrivacy(Pseudonyms())
    request = ChatRequest((ChatMessage("user", f"Mail {EMAIL}."),), stop=(f"Regards, {EMAIL}",))
    assert privacy.request(request, ["EMAIL_ADDRESS"]).stop == ("Regards, <EMAIL_ADDRESS_1>",)


def test_a_tool_call_replayed_in_the_history_and_its_result_are_pseudonymised(tmp_path):
    """An OpenAI client sends back the earlier calls it got, and their results, with real values
    (the regression check beside the tools: these were redacted before the tools were)."""
    plain = Tool("send_mail", "Send a mail.", {"type": "object", "properties": {"to": {"type": "string"}}})
    with ProviderServer(reply=lambda body: "Done.") as srv:
        gw = _gateway(tmp_path, srv)
        call = ToolCall.parse("c1", "send_mail", json.dumps({"to": EMAIL}))
        history = [
            ChatMessage("user", "Mail the customer."),
            ChatMessage("assistant", "", (call,)),
            tool_result(call, f"sent to {OTHER}"),
        ]
        gw.chat(history, model="default", tools=[plain])
        assert srv.requests and EMAIL not in _sent(srv) and OTHER not in _sent(srv)
        gw.close()


def test_tool_definitions_sent_through_the_server_are_pseudonymised(workspace, tmp_path):
    """The review's attack: a client's tools on POST /v1/chat/completions to a redacting model."""
    with ProviderServer(reply=lambda body: "Done.") as srv:
        workspace.settings.models = {}
        workspace.settings.models["ext"] = _gateway(tmp_path, srv).settings.models["ext"]
        key = create_key(workspace.store, "acme", ["read"], [])["key"]
        client = TestClient(create_app(workspace=workspace), headers={"Authorization": f"Bearer {key}"})
        res = client.post(
            "/v1/chat/completions",
            json={
                "model": "ext",
                "messages": [{"role": "user", "content": f"Write to {EMAIL} that the order shipped."}],
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": MAIL_TOOL.name,
                            "description": MAIL_TOOL.description,
                            "parameters": MAIL_TOOL.parameters,
                        },
                    }
                ],
            },
        )
        assert res.status_code == 200, res.text
        sent = _sent(srv)
        assert srv.requests and EMAIL not in sent and OTHER not in sent, json.loads(srv.requests[-1].raw)["tools"]


def test_schema_strings_are_redacted_by_their_role_not_their_key():
    """A property called "type" has a schema (its description is prose); a default object's
    "type" is data; "required" and "type" themselves are structure."""
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace(EMAIL, "<E>")

    schema = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "description": f"kind, as {EMAIL} files it"},
            "meta": {"type": "object", "default": {"type": EMAIL, "tags": [EMAIL]}, "pattern": "^a"},
        },
        "required": ["type"],
    }
    out = redact_schema(schema, redact)
    assert out["properties"]["type"]["description"] == "kind, as <E> files it"
    assert out["properties"]["meta"]["default"] == {"type": "<E>", "tags": ["<E>"]}
    assert out["required"] == ["type"] and out["properties"]["meta"]["pattern"] == "^a"
    assert "object" not in seen and "string" not in seen  # structure is never even read


def test_many_short_texts_are_redacted_in_one_pass_unless_an_entity_spans_a_seam():
    calls: list[str] = []

    def redact(text: str) -> str:
        calls.append(text)
        return text.replace(EMAIL, "<E>")

    assert redact_all(["a", EMAIL, "b"], redact) == ["a", "<E>", "b"] and len(calls) == 1

    def greedy(text: str) -> str:  # a detector that takes a whole run of text, seams included
        calls.append(text)
        return "<E>" if SEAM in text else text.replace(EMAIL, "<E>")

    calls.clear()
    assert redact_all(["a", EMAIL], greedy) == ["a", "<E>"] and len(calls) == 3  # joined, then one by one


def test_a_call_too_large_to_redact_is_refused_before_any_work(workspace, tmp_path):
    """The review's attack: one 300 KB chat message to a redacting model held a worker for minutes
    (the name tagger costs ~0.1-1 ms a token). Now a 400 naming [gateway] redact_max_chars, at
    once, and nothing reaches the provider; within the limit the call goes through."""
    import time

    with ProviderServer(reply=lambda body: "Done.") as srv:
        workspace.settings.models = {"ext": _gateway(tmp_path, srv).settings.models["ext"]}
        workspace.settings.gateway.redact_max_chars = 50_000
        key = create_key(workspace.store, "acme", ["read"], [])["key"]
        client = TestClient(create_app(workspace=workspace), headers={"Authorization": f"Bearer {key}"})
        started = time.process_time()
        big = client.post(
            "/v1/chat/completions", json={"model": "ext", "messages": [{"role": "user", "content": "a. " * 100_000}]}
        )
        spent = time.process_time() - started
        small = client.post(
            "/v1/chat/completions", json={"model": "ext", "messages": [{"role": "user", "content": f"Mail {EMAIL}."}]}
        )
        received = len(srv.requests)
    assert big.status_code == 400, big.text
    assert "redact_max_chars" in big.json()["error"]["message"] and "300,000" in big.json()["error"]["message"]
    assert spent < 5  # no redaction ran (it would take minutes)
    assert small.status_code == 200 and received == 1
