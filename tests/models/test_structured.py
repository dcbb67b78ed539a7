"""Structured output against a loopback provider: JSON-schema mode on the wire, validation,
re-asking with the errors, typed failure, and partial objects while streaming."""

import json
from typing import Literal

import pytest
from pydantic import BaseModel

from ragwright.config import ModelSettings, Settings
from ragwright.errors import StructuredOutputError
from ragwright.models import ChatMessage, Gateway
from tests.provider_server import ProviderServer


class Person(BaseModel):
    name: str
    age: int
    role: Literal["admin", "user"]


ASK = [ChatMessage("user", "Who is the admin?")]


def gateway(srv, **spec):
    return Gateway(Settings(models={"m": ModelSettings(base_url=srv.base_url + "/v1", model="test-model", **spec)}))


def test_valid_first_time_uses_the_providers_json_schema_mode():
    with ProviderServer(reply=lambda body: '```json\n{"name": "Ada", "age": 36, "role": "admin"}\n```') as srv:
        person = gateway(srv).generate(ASK, schema=Person, model="m")
        body = srv.last("/chat/completions").body
    assert person == Person(name="Ada", age=36, role="admin")
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["role"]["enum"] == ["admin", "user"]
    assert "JSON schema" in body["messages"][0]["content"]  # the schema is in the prompt too


def test_reasks_with_the_validation_error_then_succeeds():
    replies = iter(['{"name": "Ada", "age": "old", "role": "boss"}', '{"name": "Ada", "age": 36, "role": "admin"}'])
    with ProviderServer(reply=lambda body: next(replies)) as srv:
        person = gateway(srv).generate(ASK, schema=Person, model="m", max_retries=2)
        second = srv.requests[1].body["messages"]
    assert person.age == 36 and len(srv.requests) == 2
    assert second[-2]["role"] == "assistant" and "boss" in second[-2]["content"]
    assert "age" in second[-1]["content"] and "role" in second[-1]["content"]


def test_gives_up_with_a_typed_error():
    with (
        ProviderServer(reply=lambda body: "I am not JSON at all") as srv,
        pytest.raises(StructuredOutputError) as info,
    ):
        gateway(srv).generate(ASK, schema=Person, model="m", max_retries=1)
    assert len(srv.requests) == 2 and info.value.last_output == "I am not JSON at all" and info.value.errors


def test_json_object_mode_for_llama_cpp_servers():
    with ProviderServer(reply=lambda body: '{"name": "Ada", "age": 36, "role": "user"}') as srv:
        gateway(srv, json_mode="json_object").generate(ASK, schema=Person, model="m")
        fmt = srv.last("/chat/completions").body["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["required"] == ["name", "age", "role"]


def test_streams_partial_objects():
    reply = json.dumps({"name": "Ada Lovelace", "age": 36, "role": "admin"})
    with ProviderServer(reply=lambda body: reply) as srv:
        stream = gateway(srv).generate_stream(ASK, schema=Person, model="m")
        partials = list(stream)
    assert len(partials) >= 2 and partials[0] != partials[-1]
    assert partials[-1] == {"name": "Ada Lovelace", "age": 36, "role": "admin"}
    assert any("name" in p and "role" not in p for p in partials)  # seen before it was whole
    assert stream.value == Person(name="Ada Lovelace", age=36, role="admin")
