"""Budgets and context windows count input with ledger.count_tokens. It was a WordPiece count that
made any word over 100 characters, or a run of characters outside the vocabulary, ONE token
(review 13, finding 1): a key capped at $0.02 a day was billed $0.20 by one call of 20,000 emoji,
$1.60 by eight at once, and a provider that sends no usage was booked 157x under its bill. These
are those attacks against the gateway, on both store backends, and the count's own bounds."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ragwright.config import BudgetSettings, GatewaySettings, ModelSettings, RouteSettings, Settings
from ragwright.errors import AllModelsFailed, BudgetExceeded
from ragwright.models import CallContext, ChatMessage, Gateway, ledger
from tests.models import test_gateway
from tests.provider_server import ProviderServer, text_of

PRICE = 10.0  # USD per million tokens, input and output
LIMIT = 0.02  # USD a day for each key
EMOJI = "\U0001f600"
any_store = test_gateway.any_store  # the fixture: the gateway's store on each backend

# max(cl100k_base, o200k_base) token counts, measured with a BPE tokenizer when this was written
MEASURED = [
    (EMOJI * 2000, 4000),
    ("a" * 20000, 2500),
    ("ab" * 5000, 5000),
    ("\U00020000\U00020001\U00020002\U00020003" * 500, 6000),  # rare CJK, four bytes: 1.5 tokens a character
    ("a" + "\u0301" * 5000, 5001),  # combining marks, deleted by the embedder's normaliser
    ("".join(chr(c) for c in range(1, 32)) * 160, 4800),  # control characters, deleted likewise
    (" \n\t" * 3000, 3001),
]
ENGLISH = (
    "Budgets are checked before a call by reserving the call's largest possible cost, input tokens plus "
    "max_tokens of output, in one store transaction, and settled with the real cost afterwards. "
) * 20


@pytest.mark.parametrize(("text", "real"), MEASURED, ids=lambda v: str(v)[:12])
def test_the_count_bounds_a_bpe_count_of_runs_the_vocabulary_does_not_know(text, real):
    assert ledger.count_tokens(text) >= real  # was 1 (or 0) for every one of these
    assert ledger.count_tokens(text) <= ledger.utf8_bytes(text) + 1  # input_bytes relies on it


def test_the_count_stays_close_for_english_prose():
    """cl100k_base and o200k_base both count this text as 761 tokens."""
    assert 761 <= ledger.count_tokens(ENGLISH) <= 761 * 1.3


def test_a_lone_surrogate_is_counted_not_raised():
    assert ledger.count_tokens("\ud800" * 10) >= 10


@pytest.fixture
def billing():
    """A provider billing what a real one would for the message (at least a token a character),
    and the dollars it billed."""
    billed: list[float] = []
    lock = threading.Lock()

    def usage(body, text):
        n = sum(len(text_of(m.get("content"))) for m in body["messages"]) + 5
        with lock:
            billed.append((n + 5) * PRICE / 1e6)
        return (n, 5)

    with ProviderServer(reply=lambda body: "ok", usage=usage, tools=False, latency_s=0.2) as srv:
        yield srv, billed


def priced_model(srv, context_window=128_000) -> ModelSettings:
    """Model "m" of `srv`, at PRICE per million tokens in and out."""
    return ModelSettings(
        base_url=srv.base_url + "/v1",
        model="m",
        timeout_s=10,
        tools=False,
        context_window=context_window,
        input_price_per_mtok=PRICE,
        output_price_per_mtok=PRICE,
    )


def capped_gateway(srv, store, *, context_window=128_000, budgets=True):
    settings = Settings(
        models={"m": priced_model(srv, context_window)},
        routes={"default": RouteSettings(models=["m"])},
        gateway=GatewaySettings(max_retries=0, cache=False),
    )
    if budgets:
        settings.budgets = {"per_key": BudgetSettings(scope="key", limit_usd=LIMIT, period="day")}
    return Gateway(settings, store) if store is not None else Gateway(settings)


def test_a_call_the_cap_cannot_pay_for_is_refused_before_it_is_sent(billing, any_store):
    srv, billed = billing
    gw = capped_gateway(srv, any_store)
    with pytest.raises(BudgetExceeded):  # 20,000 emoji: $0.20 or more at $10 per million tokens
        gw.chat([ChatMessage("user", EMOJI * 20_000)], model="default", max_tokens=16, context=CallContext("k1"))
    assert srv.count() == 0 and billed == []  # was sent and billed $0.20 against the $0.02 cap


def test_concurrent_calls_together_stay_within_the_cap(billing, any_store):
    """Eight calls at once of 400 emoji ($0.004 each at a token an emoji): each reservation holds its
    estimate, so at most what the cap pays for is sent (was: all eight sent, $1.60 for 20,000 emoji)."""
    srv, billed = billing
    gw = capped_gateway(srv, any_store)

    def one(_: int) -> object:
        try:
            gw.chat([ChatMessage("user", EMOJI * 400)], model="default", max_tokens=16, context=CallContext("k2"))
        except BudgetExceeded as exc:
            return exc
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(8)))
    assert len(outcomes) == 8 and any(isinstance(o, BudgetExceeded) for o in outcomes)
    assert "ok" in outcomes  # not refused early either
    assert sum(billed) <= LIMIT  # reserved from above: no call's estimate fell short of its bill
    assert any_store.spent_usd("key_id", "k2") <= LIMIT


def test_a_provider_without_usage_is_booked_at_least_a_token_an_emoji(any_store):
    """Each call sends 200 emoji and gets 90 back; 15 of them bill $0.044 or more at a token an
    emoji (the ledger booked 7 + 1 tokens a call, so all 15 were sent against the $0.02 cap)."""
    with ProviderServer(reply=lambda body: EMOJI * 90, usage=None, tools=False) as srv:
        gw = capped_gateway(srv, any_store)
        results = []
        for _ in range(15):
            try:
                message = ChatMessage("user", EMOJI * 200)
                results.append(gw.chat([message], model="default", max_tokens=100, context=CallContext("k3")))
            except BudgetExceeded:
                pass
        assert results and results[0].usage.estimated
        assert results[0].usage.input_tokens >= 200 and results[0].usage.output_tokens >= 90  # was 7 and 1
        assert srv.count() * (200 + 90) * PRICE / 1e6 <= LIMIT


def test_the_context_window_check_counts_bytes_not_characters(tmp_path):
    """6,000 emoji are 6,000 characters (under an 8,192 window, so the old character bound let them
    through without counting) but 12,000 cl100k tokens; 120,000 characters passed too (a3)."""
    with ProviderServer(reply=lambda body: "ok", tools=False) as srv:
        gw = capped_gateway(srv, None, context_window=8192, budgets=False)
        for text in (EMOJI * 6_000, "Attachment: " + EMOJI * 120_000):
            with pytest.raises(AllModelsFailed, match="context window 8192 too small"):
                gw.chat([ChatMessage("user", text)], model="default", max_tokens=256)
        assert srv.count() == 0
        assert gw.chat([ChatMessage("user", ENGLISH)], model="default", max_tokens=256).text == "ok"


def test_input_bytes_bounds_the_estimate():
    from ragwright.models.tools import Tool

    tool = Tool("lookup", "Find a thing — vite", {"type": "object", "properties": {"q": {"type": "string"}}})
    for messages in (
        [ChatMessage("user", EMOJI * 300)],
        [ChatMessage("system", ENGLISH), ChatMessage("user", "ab" * 400 + " \n\t" * 30)],
        [ChatMessage("user", "\U00020000" * 100 + "ü" * 50)],
    ):
        assert ledger.input_bytes(messages, [tool]) >= ledger.estimate_input_tokens(messages, [tool])
