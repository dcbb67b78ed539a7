"""Tool calls through the gateway, against real loopback servers speaking the OpenAI and
Anthropic protocols (tests/provider_server.py), which check tool turns as the real APIs do."""

import json
import re

import pytest
from pydantic import BaseModel, Field

from ragwright.config import BudgetSettings, GatewaySettings, ModelSettings, RouteSettings, Settings
from ragwright.errors import AllModelsFailed, BudgetExceeded, ConfigError, ToolCallError
from ragwright.models import ChatMessage, Gateway, Tool, ToolCall, tool_result
from ragwright.observe import start_trace
from ragwright.store import SqliteStore
from tests.provider_server import ProviderServer, cut_stream, status, tool_call, tool_turns


class Search(BaseModel):
    """Search the documents."""

    query: str = Field(min_length=1)
    k: int = Field(5, ge=1, le=20)


SEARCH = Tool.from_model(Search)
ASK = [ChatMessage("system", "Use the tools."), ChatMessage("user", "What do the documents say about tea?")]


def script(*steps):
    """A reply function that answers with each step in turn (the last one from then on)."""
    seen = []

    def reply(body):
        seen.append(body)
        return steps[min(len(seen), len(steps)) - 1]

    return reply


def settings(a, b=None, *, primary_provider="openai", backup_provider="openai", primary=None, backup=None, **extra):
    models = {
        "primary": ModelSettings(
            provider=primary_provider,
            base_url=a.base_url + "/v1",
            model="m1",
            **{"timeout_s": 2, **(primary or {})},
        )
    }
    names = ["primary"]
    if b is not None:
        models["backup"] = ModelSettings(
            provider=backup_provider,
            base_url=b.base_url + "/v1",
            model="m2",
            **{"timeout_s": 2, **(backup or {})},
        )
        names.append("backup")
    return Settings(
        models=models,
        routes={"default": RouteSettings(models=names)},
        gateway=GatewaySettings(retry_base_s=0.01, retry_cap_s=0.02, max_retries=0, breaker_threshold=100),
        **extra,
    )


def test_tool_from_a_pydantic_model():
    assert SEARCH.name == "search" and SEARCH.description == "Search the documents."
    assert SEARCH.parameters["required"] == ["query"] and "title" not in SEARCH.parameters
    call = ToolCall.parse("c1", "search", '{"query": "tea", "k": 3}')
    assert SEARCH.errors(call) == [] and SEARCH.parse(call) == Search(query="tea", k=3)
    with pytest.raises(ConfigError):
        Tool("auto")
    with pytest.raises(ConfigError):
        Tool("has space")


@pytest.mark.parametrize("raw", ["[" * 100000, '{"x": ' + "9" * 5000 + "}"])
def test_arguments_nested_too_deep_or_a_number_too_long_are_a_problem_not_an_exception(raw):
    call = ToolCall.parse("c1", "t", raw)
    assert call.arguments == {} and call.raw_arguments == raw
    assert Tool("t").errors(call) == [
        "the arguments are not JSON a tool can take (a number too long or nesting too deep)"
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_tool_call_round_trip(stream):
    with ProviderServer(reply=script([tool_call("search", {"query": "tea", "k": 3})], "Tea is good [1].")) as srv:
        gw = Gateway(settings(srv))
        if stream:
            s = gw.stream(ASK, model="default", tools=[SEARCH], use_cache=False)
            assert list(s) == []
            first = s.result
        else:
            first = gw.chat(ASK, model="default", tools=[SEARCH])
        (call,) = first.tool_calls
        assert call.name == "search" and call.arguments == {"query": "tea", "k": 3} and call.id.startswith("call_")
        assert first.finish_reason == "tool_calls" and first.usage.input_tokens == 11 and first.reasked == 0
        body = srv.last("/chat/completions").body
        assert body["tools"] == [
            {
                "type": "function",
                "function": {"name": "search", "description": "Search the documents.", "parameters": SEARCH.parameters},
            }
        ]
        assert body["tool_choice"] == "auto"
        history = [*ASK, first.message, tool_result(call, "[1] Tea is a drink.")]
        final = gw.chat(history, model="default", tools=[SEARCH])
        assert final.text == "Tea is good [1]." and final.tool_calls == []
        sent = srv.last("/chat/completions").body["messages"]
        assert sent[2]["tool_calls"][0]["function"] == {"name": "search", "arguments": '{"query": "tea", "k": 3}'}
        assert sent[3] == {"role": "tool", "tool_call_id": call.id, "content": "[1] Tea is a drink."}


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_use_blocks(stream):
    more = [tool_call("search", {"query": "more tea"})]
    with ProviderServer(reply=script(("Let me look.", [tool_call("search", {"query": "tea"})]), more)) as srv:
        gw = Gateway(settings(srv, primary_provider="anthropic"))
        if stream:
            s = gw.stream(ASK, model="default", tools=[SEARCH], tool_choice="required", use_cache=False)
            assert "".join(s) == "Let me look."
            first = s.result
        else:
            first = gw.chat(ASK, model="default", tools=[SEARCH], tool_choice="required")
        assert first.text == "Let me look." and first.finish_reason == "tool_calls"
        assert [(c.name, c.arguments) for c in first.tool_calls] == [("search", {"query": "tea"})]
        body = srv.last("/messages").body
        assert body["tools"][0]["input_schema"] == SEARCH.parameters and body["tool_choice"] == {"type": "any"}
        final = gw.chat(
            [*ASK, first.message, tool_result(first.tool_calls[0], "nothing", error=True)],
            model="default",
            tools=[SEARCH],
            tool_choice="search",
        )
        assert final.tool_calls[0].arguments == {"query": "more tea"}
        sent = srv.last("/messages").body
        assert sent["tool_choice"] == {"type": "tool", "name": "search"}
        assert sent["messages"][1]["content"][1]["type"] == "tool_use"
        assert sent["messages"][2]["content"] == [
            {"type": "tool_result", "tool_use_id": first.tool_calls[0].id, "content": "nothing", "is_error": True}
        ]


def test_fallback_replays_an_openai_history_validly_to_anthropic():
    """The OpenAI-format history (a turn with two calls, their results as "tool" messages, then
    a user message) goes to an Anthropic model after the OpenAI one fails: the strict server
    accepts it, with both results in one user turn before the text."""
    calls = (
        ToolCall.parse("call_a1", "search", '{"query": "tea"}'),
        ToolCall.parse("call.b:2", "search", '{"query": "milk"}'),
    )
    history = [
        *ASK,
        ChatMessage("assistant", "", calls),
        tool_result(calls[0], "tea passage"),
        tool_result(calls[1], "milk passage"),
        ChatMessage("user", "And with sugar?"),
    ]
    with ProviderServer() as a, ProviderServer(reply=lambda body: f"saw {tool_turns(body)} results") as b:
        a.fail_always(status(500))
        result = gw_chat = Gateway(settings(a, b, backup_provider="anthropic")).chat(
            history, model="default", tools=[SEARCH]
        )
        assert gw_chat.model == "backup" and result.text == "saw 2 results"
        sent = b.last("/messages").body
        assert sent["system"] == "Use the tools."
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
        assert [blk["type"] for blk in sent["messages"][2]["content"]] == ["tool_result", "tool_result", "text"]
        assert sent["messages"][1]["content"][1]["id"] == "call_b_2"  # made valid for Anthropic's id pattern
        assert sent["messages"][2]["content"][1]["tool_use_id"] == "call_b_2"
        assert a.last("/chat/completions").body["messages"][3]["tool_call_id"] == "call_a1"


def test_a_history_with_calls_but_no_tools_now_reaches_anthropic_as_text():
    """Anthropic takes tool_use/tool_result blocks only in a request that defines tools (the
    loopback server refuses them as the API does): a follow-up without tools sends them as text."""
    call = ToolCall.parse("c1", "search", '{"query": "tea"}')
    history = [*ASK, ChatMessage("assistant", "", (call,)), tool_result(call, "tea passage")]
    history.append(ChatMessage("user", "Sum it up."))
    with ProviderServer() as srv:
        result = Gateway(settings(srv, primary_provider="anthropic")).chat(history, model="default")
        assert result.text.startswith("echo: ") and result.text.endswith("Sum it up.")
        sent = srv.last("/messages").body
        assert "tools" not in sent and all(isinstance(m["content"], str) for m in sent["messages"])
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
        assert '{"tool": "search", "arguments": {"query": "tea"}}' in sent["messages"][1]["content"]
        assert "tea passage" in sent["messages"][2]["content"]


def test_a_cut_history_is_repaired_for_both_protocols():
    """A result whose call was cut from the history, and a call left unanswered: both servers,
    strict as the real APIs, accept what the gateway sends."""
    orphan = ChatMessage("tool", "old result", tool_call_id="gone", name="search")
    unanswered = ChatMessage("assistant", "", (ToolCall.parse("c9", "search", '{"query": "x"}'),))
    history = [ASK[1], orphan, unanswered, ChatMessage("user", "go on")]
    with ProviderServer() as srv:
        for provider in ("openai", "anthropic"):
            result = Gateway(settings(srv, primary_provider=provider)).chat(history, model="default", tools=[SEARCH])
            assert result.text == "echo: go on"


@pytest.mark.parametrize(
    "bad, problem",
    [
        (tool_call("lookup", {"query": "tea"}), "lookup: no such tool"),
        (tool_call("search", '{"query": "tea", '), "search: the arguments are not JSON"),
        (tool_call("search", {"query": "", "k": 99}), "search: arguments.query"),
    ],
)
def test_an_invalid_call_is_re_asked_once_with_the_error(bad, problem):
    good = tool_call("search", {"query": "tea"})
    with ProviderServer(reply=script([bad], [good])) as srv:
        gw = Gateway(settings(srv))
        records = []
        gw.on_record.append(records.append)
        result = gw.chat(ASK, model="default", tools=[SEARCH])
        assert [c.arguments for c in result.tool_calls] == [{"query": "tea"}] and result.reasked == 1
        assert srv.count("/chat/completions") == 2 and len(records) == 2
        assert result.usage.input_tokens == 22  # both calls' usage
        reask = srv.last("/chat/completions").body["messages"]
        assert reask[-1]["role"] == "user" and problem in reask[-1]["content"]
        assert reask[-2]["role"] == "assistant" and bad.name in reask[-2]["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_still_invalid_after_the_re_ask_is_a_typed_error(stream):
    with ProviderServer(reply=lambda body: [tool_call("search", {"k": 0})]) as srv:
        gw = Gateway(settings(srv))
        with pytest.raises(ToolCallError, match="no valid tool call after a re-ask") as info:
            if stream:
                list(gw.stream(ASK, model="default", tools=[SEARCH]))
            else:
                gw.chat(ASK, model="default", tools=[SEARCH])
        assert srv.count("/chat/completions") == 2
        assert any("arguments.query" in p for p in info.value.problems)


def test_a_streamed_re_ask_sends_the_settled_text_and_a_required_call_holds_the_draft():
    with ProviderServer(reply=script(("Let me look.", [tool_call("nope", {})]), "Tea is green.")) as srv:
        with Gateway(settings(srv)).stream(ASK, model="default", tools=[SEARCH], use_cache=False) as s:
            streamed = "".join(s)
        assert streamed == s.text == "Let me look.\n\nTea is green." and s.result.text == "Tea is green."
    with ProviderServer(reply=script("I will not.", ("Searching.", [tool_call("search", {"query": "tea"})]))) as srv:
        gw = Gateway(settings(srv))
        with gw.stream(ASK, model="default", tools=[SEARCH], tool_choice="required", use_cache=False) as s:
            assert list(s) == ["Searching."]  # the rejected text-only draft never reaches the client
        assert s.result.reasked == 1 and [c.name for c in s.result.tool_calls] == ["search"]


def test_a_call_made_when_tool_choice_is_none_is_re_asked_then_a_typed_error():
    with ProviderServer(reply=script([tool_call("search", {"query": "tea"})], "Tea is green.")) as srv:
        result = Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH], tool_choice="none")
        assert result.text == "Tea is green." and result.tool_calls == [] and result.reasked == 1
        reasked = srv.last("/chat/completions").body["messages"][-1]["content"]
        assert "no tool call was allowed" in reasked and reasked.endswith("Answer in text, without calling a tool.")
    with (
        ProviderServer(reply=lambda body: [tool_call("search", {"query": "tea"})]) as srv,
        pytest.raises(ToolCallError, match="no tool call was allowed"),
    ):
        Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH], tool_choice="none")


def test_a_required_call_that_is_not_made_is_re_asked():
    with ProviderServer(reply=script("I would rather talk.", [tool_call("search", {"query": "tea"})])) as srv:
        result = Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH], tool_choice="required")
        assert result.tool_calls[0].name == "search" and srv.count() == 2
        assert "a tool call was required" in srv.last().body["messages"][-1]["content"]


def test_a_tool_result_too_large_for_the_context_is_a_typed_error():
    call = ToolCall.parse("c1", "search", '{"query": "tea"}')
    history = [*ASK, ChatMessage("assistant", "", (call,)), tool_result(call, "tea " * 3000)]
    with ProviderServer() as srv:
        gw = Gateway(settings(srv, primary={"context_window": 1024}))
        with pytest.raises(ToolCallError, match=r"result of tool search .* too large"):
            gw.chat(history, model="default", tools=[SEARCH])
        assert srv.count() == 0


def test_a_provider_without_tools_falls_back_to_one_with_them():
    with (
        ProviderServer(tools=False) as a,
        ProviderServer(reply=lambda body: [tool_call("search", {"query": "q"})]) as b,
    ):
        result = Gateway(settings(a, b)).chat(ASK, model="default", tools=[SEARCH])
        assert result.model == "backup" and result.tool_calls[0].name == "search"
        (failed,) = [x for x in result.attempts if x.status == "error"]
        assert failed.kind == "unsupported" and "does not support tools" in failed.error
        # declared in the settings: not even asked
        a.clear(requests=True)
        result = Gateway(settings(a, b, primary={"tools": False})).chat(ASK, model="default", tools=[SEARCH])
        assert result.model == "backup" and a.count() == 0
        assert "takes no tools" in result.attempts[0].error
        # and alone, a clear error; a plain chat still reaches it
        with pytest.raises(AllModelsFailed, match="does not support tools"):
            Gateway(settings(a)).chat(ASK, model="default", tools=[SEARCH])
        assert Gateway(settings(a)).chat(ASK, model="default").text.startswith("echo:")


def test_tool_calls_are_not_cached_but_a_text_reply_is_keyed_by_the_tools(tmp_path):
    store = SqliteStore(tmp_path / "gw.db")
    with ProviderServer(
        reply=lambda body: [tool_call("search", {"query": "q"})] if len(body["tools"]) == 1 else "text"
    ) as srv:
        gw = Gateway(settings(srv), store)
        for _ in range(2):
            assert gw.chat(ASK, model="default", tools=[SEARCH]).tool_calls
        assert srv.count() == 2  # a reply with calls is never served from the cache
        other = Tool("weather", "The weather.", {"type": "object", "properties": {"city": {"type": "string"}}})
        first = gw.chat(ASK, model="default", tools=[SEARCH, other])
        again = gw.chat(ASK, model="default", tools=[SEARCH, other])
        assert first.text == again.text == "text" and again.cached and srv.count() == 3
        gw.chat(ASK, model="default", tools=[other, SEARCH])  # other tools (here: another order): another key
        assert srv.count() == 4
    store.close()


@pytest.mark.parametrize("choice", ["required", "search"])
def test_a_text_reply_to_a_turn_that_required_a_call_is_not_cached(tmp_path, choice):
    store = SqliteStore(tmp_path / "gw.db")
    comply = {"now": False}
    with ProviderServer(reply=lambda body: [tool_call("search", {"query": "q"})] if comply["now"] else "No.") as srv:
        gw = Gateway(settings(srv), store)
        with pytest.raises(ToolCallError):
            gw.chat(ASK, model="default", tools=[SEARCH], tool_choice=choice)
        comply["now"] = True  # the model complies now: the request must reach it, not a cached refusal
        again = gw.chat(ASK, model="default", tools=[SEARCH], tool_choice=choice)
        assert [c.name for c in again.tool_calls] == ["search"] and not again.cached and srv.count() == 3
    store.close()


def test_a_re_asked_reply_is_not_cached(tmp_path):
    store = SqliteStore(tmp_path / "gw.db")

    def reply(body):  # a wrong call at first; text once re-asked
        return "Tea is green." if "not valid" in body["messages"][-1]["content"] else [tool_call("nope", {})]

    with ProviderServer(reply=reply) as srv:
        gw = Gateway(settings(srv), store)
        for n in (2, 4):  # the same conversation twice: each re-ask reaches the model
            result = gw.chat(ASK, model="default", tools=[SEARCH])
            assert result.text == "Tea is green." and result.reasked == 1 and srv.count() == n
    store.close()


def test_budgets_costs_and_traces_cover_tool_turns(tmp_path):
    store = SqliteStore(tmp_path / "gw.db")
    with ProviderServer(reply=script([tool_call("nope", {})], [tool_call("search", {"query": "tea"})])) as srv:
        cfg = settings(
            srv,
            primary={"input_price_per_mtok": 1000.0, "output_price_per_mtok": 1000.0},
            budgets={"all": BudgetSettings(limit_usd=0.3, period="day", scope="global")},
        )
        gw = Gateway(cfg, store)
        traces = []
        with start_trace("chat", input={}, sink=traces.append):
            result = gw.chat(ASK, model="default", tools=[SEARCH], max_tokens=16)
        assert result.cost_usd == pytest.approx(2 * (11 + 7) * 1000 / 1e6)
        (trace,) = traces
        names = [s.name for s in trace.spans]
        assert names.count("model.call") == 2 and "model.tool_reask" in names
        calls = [s for s in trace.spans if s.name == "model.call"]
        assert calls[1].attributes["tool_calls"][0]["function"]["name"] == "search"
        assert "search" in calls[0].attributes["input"] or "tea" in calls[0].attributes["input"]
        with pytest.raises(BudgetExceeded):
            for _ in range(20):
                gw.chat(ASK, model="default", tools=[SEARCH], max_tokens=16)
    store.close()


def test_a_bad_tool_choice_or_duplicate_names_fail_before_any_request():
    with ProviderServer() as srv:
        gw = Gateway(settings(srv))
        with pytest.raises(ConfigError, match="tool_choice"):
            gw.chat(ASK, model="default", tools=[SEARCH], tool_choice="weather")
        with pytest.raises(ConfigError, match="share a name"):
            gw.chat(ASK, model="default", tools=[SEARCH, SEARCH])
        assert srv.count() == 0


def test_arguments_reach_the_caller_as_written():
    raw = '{"query": "th\\u00e9", "k": 2}'
    with ProviderServer(reply=lambda body: [tool_call("search", raw)]) as srv:
        (call,) = Gateway(settings(srv)).chat(ASK, model="default", tools=[SEARCH]).tool_calls
        assert call.raw_arguments == raw and call.arguments == json.loads(raw)


def test_a_redacting_model_sees_placeholders_in_tool_turns_and_the_caller_gets_values(tmp_path):
    from ragwright.guard.policy import gateway_guards

    email = "maria.keller@example.org"

    def reply(body):
        sent = json.dumps(body["messages"])
        placeholder = re.search(r"<EMAIL_ADDRESS_\d+>", sent).group(0)
        return [tool_call("search", {"query": f"orders of {placeholder}"})]

    call = ToolCall.parse("c1", "search", json.dumps({"query": email}))
    history = [
        ChatMessage("user", f"I am {email}"),
        ChatMessage("assistant", "", (call,)),
        tool_result(call, f"{email}: 2 orders"),
    ]
    with ProviderServer(reply=reply) as srv:
        cfg = settings(srv, primary={"privacy": "redact", "timeout_s": 30})
        (made,) = Gateway(cfg, guards=gateway_guards()).chat(history, model="default", tools=[SEARCH]).tool_calls
        assert email not in srv.last().raw.decode()
        assert made.arguments == {"query": f"orders of {email}"}


def test_a_retry_and_a_stream_cut_inside_the_call_cover_tool_turns():
    """A 500 is retried on the same model; a stream cut while the call's arguments arrive has sent
    no text, so it is tried again (here: the next model, retries spent), and no half-assembled
    call reaches the caller."""
    calls = [tool_call("search", {"query": "tea", "k": 2})]
    with ProviderServer(reply=lambda body: calls) as a, ProviderServer(reply=lambda body: calls) as b:
        cfg = settings(a, b)
        cfg.gateway.max_retries = 1
        gw = Gateway(cfg)
        a.fail_next(status(500))
        result = gw.chat(ASK, model="default", tools=[SEARCH])
        assert result.model == "primary" and a.count() == 2 and result.tool_calls[0].arguments["k"] == 2
        a.fail_next(cut_stream(3), cut_stream(3))  # the role chunk, the call's head, one argument fragment
        stream = gw.stream(ASK, model="default", tools=[SEARCH], use_cache=False)
        assert list(stream) == [] and stream.result.model == "backup"
        assert stream.result.tool_calls[0].arguments == {"query": "tea", "k": 2}
        assert [x.kind for x in stream.result.attempts if x.status == "error"] == ["connection", "connection"]


def test_gateway_chat_passes_tools_through():
    from ragwright.models import GatewayChat

    with ProviderServer(reply=lambda body: [tool_call("search", {"query": "tea"})]) as srv:
        chat = GatewayChat(Gateway(settings(srv)), "default")
        (call,) = chat.complete(ASK, tools=[SEARCH], tool_choice="search").tool_calls
        assert call.arguments == {"query": "tea"}
        assert srv.last().body["tool_choice"] == {"type": "function", "function": {"name": "search"}}
