"""A stream its reader closes before the end (a `for` loop that breaks, a server whose client went
away) is still a call the provider bills: it was left unrecorded (no model_calls row, no cost), its
budget reservation held for 10 minutes and then dropped, and a half-open breaker whose probe it was
kept its probe forever. Closing it now books the partial call (the prompt and the text received),
settles the reservation and frees the breaker, at once (review 14, finding 1)."""

import json
import threading
import time

import pytest

from ragwright.config import BudgetSettings, GatewaySettings, RouteSettings, Settings
from ragwright.errors import AllModelsFailed, StreamInterrupted
from ragwright.models import CallContext, ChatMessage, Gateway, Tool, ledger
from ragwright.models.providers import AnthropicProvider, Delta, OpenAIProvider, ProviderReply
from ragwright.models.types import ChatRequest
from ragwright.store import SqliteStore
from tests.models import test_gateway
from tests.models.test_token_bound import LIMIT, PRICE, capped_gateway, priced_model
from tests.models.test_tools import SEARCH, script
from tests.provider_server import ProviderServer, refusal, stall, status, tool_call

any_store = test_gateway.any_store  # the fixture: the gateway's store on each backend
LONG = " ".join(f"word{i}" for i in range(3000))
ASK = [ChatMessage("user", "Write a long story.")]


def test_a_stream_closed_mid_answer_is_booked_and_its_reservation_settled(any_store):
    with ProviderServer(reply=lambda body: LONG, usage=(50, 3000), tools=False) as srv:
        gw = capped_gateway(srv, any_store)  # $0.02 a day for each key, at $10 per million tokens
        # a reservation of $0.0151 (1,500 tokens out): two held at once pass the $0.02 cap
        stream = gw.stream(ASK, model="default", max_tokens=1500, context=CallContext("k1"))
        pieces = iter(stream)
        read = "".join(next(pieces) for _ in range(5))
        pieces.close()  # the reader stops here

        [row] = any_store.usage_summary("key_id")  # was: no row at all
        assert row["calls"] == 1 and row["errors"] == 1
        tokens = ledger.estimate_input_tokens(ASK, None) + ledger.count_tokens(read)
        assert row["input_tokens"] + row["output_tokens"] == tokens  # the prompt and the text received
        assert row["cost_usd"] == tokens * PRICE / 1e6 > 0
        assert stream.result is not None and stream.result.incomplete and stream.result.text == read
        assert any_store.spent_usd("key_id", "k1") == row["cost_usd"]
        # the reservation was settled with the booking: the same call again fits the cap
        # (was: refused with BudgetExceeded for 10 minutes, the closed stream's $0.0151 still held)
        again = gw.chat(ASK, model="default", max_tokens=1500, context=CallContext("k1"))
        assert again.text.startswith("word0 word1") and any_store.spent_usd("key_id", "k1") <= LIMIT + again.cost_usd


def test_a_probe_stream_closed_mid_answer_lets_the_next_probe_go(any_store):
    with ProviderServer(reply=lambda body: LONG, usage=(50, 3000), tools=False) as srv:
        settings = Settings(
            models={"m": priced_model(srv)},
            routes={"default": RouteSettings(models=["m"])},
            gateway=GatewaySettings(max_retries=0, cache=False, breaker_threshold=1, breaker_cooldown_s=0.2),
            budgets={"per_key": BudgetSettings(scope="key", limit_usd=1.0, period="day")},
        )
        gw = Gateway(settings, any_store)
        srv.fail_next(status(500))
        with pytest.raises(AllModelsFailed):  # the failure that opens the breaker
            gw.chat(ASK, model="default", max_tokens=16)
        assert gw.breaker("m").state == "open"
        time.sleep(0.3)  # half-open: the next call is the one probe
        pieces = iter(gw.stream(ASK, model="default", max_tokens=16))
        next(pieces)
        pieces.close()
        # the probe ended without a verdict on the model: another one may go (was: skipped for good,
        # "circuit open after repeated failures", the closed probe never let go)
        assert gw.chat(ASK, model="default", max_tokens=16).text.startswith("word0")


# A word of text, then one call whose arguments are ~60 KB: what a caller asks for to make the
# model write much more than the text a closed stream used to be booked for (review 14b, F1).
BIG = " ".join(f"line{i} of the file" for i in range(4000))
WRITE = Tool(
    "write_file",
    "Write a file.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)
CALLED = "write_file" + json.dumps({"text": BIG})  # the call's name and arguments, as streamed


def tool_model(srv, provider: str) -> Settings:
    model = priced_model(srv).model_copy(update={"provider": provider, "tools": True})
    return Settings(
        models={"m": model},
        routes={"default": RouteSettings(models=["m"])},
        gateway=GatewaySettings(max_retries=0, cache=False),
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_aborted_after_a_tool_call_is_billed_for_the_call(provider, tmp_path):
    with ProviderServer(reply=lambda body: ("ok", [tool_call("write_file", {"text": BIG})]), usage=(50, 20000)) as srv:
        store = SqliteStore(tmp_path / "ragwright.db")
        gw = Gateway(tool_model(srv, provider), store)
        srv.fail_next(stall(after_tokens=10**6, seconds=2))  # all of the reply, then silence: still writing
        stream = gw.stream(ASK, model="default", tools=[WRITE], max_tokens=30000, context=CallContext("k1"))
        pieces = iter(stream)
        assert next(pieces) == "ok"
        threading.Timer(0.4, stream.abort).start()  # the client leaves once the call has arrived
        with pytest.raises(StreamInterrupted):
            next(pieces)

        [row] = store.usage_summary("key_id")
        assert row["calls"] == 1 and row["errors"] == 1
        # the text, the call's name and its arguments (was 1: the text alone, against 20,000 billed)
        assert row["output_tokens"] == ledger.count_tokens("ok") + ledger.count_tokens(CALLED) > 25_000
        assert row["cost_usd"] == (row["input_tokens"] + row["output_tokens"]) * PRICE / 1e6
        # none of the call reached the reader
        assert stream.text == stream.result.text == "ok" and stream.result.incomplete
        store.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_provider_stream_yields_the_pieces_it_does_not_show(provider):
    """What the reader is not sent is yielded all the same (`shown=False`), to be billed."""
    make = OpenAIProvider if provider == "openai" else AnthropicProvider
    request = ChatRequest((ChatMessage("user", "Say ok, then write the file."),), max_tokens=30000, tools=(WRITE,))
    with ProviderServer(reply=lambda body: ("ok", [tool_call("write_file", {"text": BIG})])) as srv:
        items = list(make("m", srv.base_url + "/v1", "m", "key").stream(request, 10))
    shown = [i.text for i in items if isinstance(i, Delta) and i.shown]
    unseen = [i.text for i in items if isinstance(i, Delta) and not i.shown]
    assert shown == ["ok"] and "".join(unseen) == CALLED  # was: no unseen piece at all
    assert isinstance(items[-1], ProviderReply) and items[-1].text == "ok" and len(items[-1].tool_calls) == 1


def test_an_openai_refusal_streamed_is_yielded_unshown():
    ask = ChatRequest((ChatMessage("user", "Do something bad."),))
    with ProviderServer() as srv:
        srv.fail_next(refusal("I can't help with that, not today and not tomorrow."))
        items = list(OpenAIProvider("m", srv.base_url + "/v1", "m", "key").stream(ask, 10))
    unseen = "".join(i.text for i in items if isinstance(i, Delta) and not i.shown)
    assert unseen == items[-1].refusal == "I can't help with that, not today and not tomorrow."
    assert not any(isinstance(i, Delta) and i.shown for i in items)


# Review 14b, F2: a stream closed at its settled text (a turn that must call a tool, or a re-asked
# reply), after its call was booked, was booked again: close() raised StoreError (the same call_id
# twice), and its result lost its tool calls.
@pytest.mark.parametrize("choice", ["required", "search"])
def test_a_held_stream_closed_at_its_text_is_booked_once(choice, tmp_path):
    reply = lambda body: ("I will look it up.", [tool_call("search", {"query": "tea"})])  # noqa: E731
    with ProviderServer(reply=reply, usage=(50, 20)) as srv:
        store = SqliteStore(tmp_path / "ragwright.db")
        gw = Gateway(tool_model(srv, "openai"), store)
        stream = gw.stream(ASK, model="default", tools=[SEARCH], tool_choice=choice, context=CallContext("k1"))
        pieces = iter(stream)
        assert next(pieces) == "I will look it up."
        pieces.close()  # was: StoreError, UNIQUE constraint failed: model_calls.call_id
        [row] = store.usage_summary("key_id")
        assert row["calls"] == 1 and row["errors"] == 0 and row["output_tokens"] == 20
        assert stream.result is not None and not stream.result.incomplete
        assert [c.arguments for c in stream.result.tool_calls] == [{"query": "tea"}]  # was: none
        store.close()


def test_a_re_asked_stream_closed_at_its_settled_text_is_booked_once(tmp_path):
    with ProviderServer(
        reply=script(("Let me look.", [tool_call("nope", {})]), "Tea is green."), usage=(50, 20)
    ) as srv:
        store = SqliteStore(tmp_path / "ragwright.db")
        gw = Gateway(tool_model(srv, "openai"), store)
        stream = gw.stream(ASK, model="default", tools=[SEARCH], context=CallContext("k1"))
        pieces = iter(stream)
        read = [next(pieces) for _ in range(3)]  # the draft, as the model writes it
        assert "".join(read) == "Let me look." and next(pieces) == "\n\nTea is green."  # then the settled reply
        pieces.close()  # was: StoreError
        [row] = store.usage_summary("key_id")
        assert row["calls"] == 2 and row["errors"] == 0  # the draft and the re-ask, once each
        assert stream.result is not None and stream.result.text == "Tea is green." and stream.result.reasked == 1
        assert not stream.result.incomplete
        store.close()
