"""What of a caller's tool settings reaches a provider, against the loopback servers that speak the
OpenAI and Anthropic protocols (tests/provider_server.py): `parallel_tool_calls` forwarded (and
held to when a provider ignores it), and nothing of tools sent to a model configured without them."""

import pytest

from ragwright.errors import ToolCallError
from ragwright.models import ChatMessage, Gateway, ToolCall, tool_result
from tests.models.test_tools import ASK, SEARCH, script, settings
from tests.provider_server import ProviderServer, tool_call

ONE = [tool_call("search", {"query": "tea"})]
TWO = [tool_call("search", {"query": "tea"}), tool_call("search", {"query": "coffee"})]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("parallel", [None, True, False])
def test_parallel_tool_calls_reaches_an_openai_server_only_when_set(parallel, stream):
    with ProviderServer(reply=lambda body: ONE) as srv:
        gw = Gateway(settings(srv))
        if stream:
            s = gw.stream(ASK, model="default", tools=[SEARCH], parallel_tool_calls=parallel)
            list(s)
            assert len(s.result.tool_calls) == 1
        else:
            assert len(gw.chat(ASK, model="default", tools=[SEARCH], parallel_tool_calls=parallel).tool_calls) == 1
        body = srv.last("/chat/completions").body
        assert body.get("parallel_tool_calls", "absent") == ("absent" if parallel is None else parallel)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        ("search", {"type": "tool", "name": "search", "disable_parallel_tool_use": True}),
        ("none", {"type": "none"}),
    ],
)
def test_parallel_tool_calls_false_is_anthropics_disable_parallel_tool_use(choice, expected):
    with ProviderServer(reply=lambda body: "fine" if choice == "none" else ONE) as srv:
        gw = Gateway(settings(srv, primary_provider="anthropic"))
        gw.chat(ASK, model="default", tools=[SEARCH], tool_choice=choice, parallel_tool_calls=False)
        assert srv.last("/messages").body["tool_choice"] == expected
        gw.chat(ASK, model="default", tools=[SEARCH], tool_choice=choice, parallel_tool_calls=True)
        assert "disable_parallel_tool_use" not in srv.last("/messages").body["tool_choice"]


def test_two_calls_when_one_was_asked_for_are_re_asked_then_a_typed_error():
    """A server that ignores the flag (llama.cpp's, an older vLLM) still gives a caller one call."""
    with ProviderServer(reply=script(TWO, ONE)) as srv:
        result = Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH], parallel_tool_calls=False)
        assert [c.arguments for c in result.tool_calls] == [{"query": "tea"}] and result.reasked == 1
        assert "one tool call at a time" in srv.last("/chat/completions").body["messages"][-1]["content"]
    with ProviderServer(reply=lambda body: TWO) as srv:
        assert len(Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH]).tool_calls) == 2
        with pytest.raises(ToolCallError, match="reply made 2"):
            Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH], parallel_tool_calls=False)


def test_a_model_configured_without_tools_gets_earlier_calls_and_results_as_text():
    """`tools = false`: no `tools` (the gateway passes the model over when tools are offered) and
    no tool turns either, which a server without tool support may refuse or mangle."""
    call = ToolCall.parse("c1", "search", '{"query": "tea"}')
    history = [
        *ASK,
        ChatMessage("assistant", "", (call,)),
        tool_result(call, "tea passage"),
        ChatMessage("user", "So?"),
    ]
    with ProviderServer(tools=False) as plain, ProviderServer(reply=lambda body: ONE) as good:
        gw = Gateway(settings(plain, good, primary={"tools": False}))
        assert gw.chat(history, model="default").model == "primary"
        sent = plain.last("/chat/completions").body
        assert "tools" not in sent and [m["role"] for m in sent["messages"]] == [
            "system",
            "user",
            "assistant",
            "user",
            "user",
        ]
        assert not any("tool_calls" in m for m in sent["messages"])
        assert "tea passage" in sent["messages"][3]["content"]
        plain.clear(requests=True)
        result = gw.chat(history, model="default", tools=[SEARCH])
        assert result.model == "backup" and plain.count() == 0
