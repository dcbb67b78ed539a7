"""The gateway against real loopback servers speaking the OpenAI and Anthropic protocols, told
to fail in every way a network can fail."""

import threading
import time

import pytest

from ragwright.config import BudgetSettings, GatewaySettings, ModelSettings, RouteSettings, Settings
from ragwright.errors import AllModelsFailed, BudgetExceeded, ConfigError, ProviderError, StreamInterrupted
from ragwright.models import CallContext, ChatMessage, Gateway
from ragwright.store import SqliteStore
from ragwright.store.factory import open_store
from tests.provider_server import (
    ProviderServer,
    context_length_exceeded,
    cut_stream,
    delay,
    drop,
    malformed,
    model_not_found,
    refusal,
    status,
)
from tests.stores import BACKENDS, store_url

HELLO = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello")]


@pytest.fixture
def servers():
    with ProviderServer() as a, ProviderServer(reply=lambda body: "backup says hi") as b:
        yield a, b


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "gw" / "ragwright.db")
    yield s
    s.close()


@pytest.fixture(params=BACKENDS)
def any_store(request, tmp_path):
    """The gateway's store on each backend (PostgreSQL: a fresh database)."""
    with store_url(request.param, request) as url:
        s = open_store(url, default_path=tmp_path / "gw" / "ragwright.db")
        yield s
        s.close()


def make_settings(a, b, *, route=None, gateway=None, **models):
    specs = {
        "primary": ModelSettings(
            base_url=a.base_url + "/v1",
            model="gpt-4o-mini",
            timeout_s=2,
            input_price_per_mtok=0.15,
            output_price_per_mtok=0.60,
        ),
        "backup": ModelSettings(base_url=b.base_url + "/v1", model="backup-model", timeout_s=2),
    }
    specs.update(models)
    defaults = {"retry_base_s": 0.01, "retry_cap_s": 0.05, "breaker_threshold": 100}
    return Settings(
        models=specs,
        routes={"default": route or RouteSettings(models=["primary", "backup"])},
        gateway=GatewaySettings(**{**defaults, **(gateway or {})}),
    )


def test_plain_call_usage_cost_and_record(servers, store):
    a, b = servers
    gw = Gateway(make_settings(a, b), store)
    seen = []
    gw.on_record.append(seen.append)
    result = gw.chat(HELLO, model="default", context=CallContext(key_id="k1", tenant="acme"))
    assert result.text == "echo: Say hello" and result.model == "primary" and not result.cached
    assert result.usage.to_dict() == {"input_tokens": 11, "output_tokens": 7}
    assert result.cost_usd == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6)
    assert [x.to_dict()["status"] for x in result.attempts] == ["ok"]
    body = a.last("/chat/completions").body
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.0 and body["messages"][0]["role"] == "system"
    (record,) = seen
    assert record.key_id == "k1" and record.tenant == "acme" and record.cost_usd == result.cost_usd
    assert store.usage_summary("tenant")[0]["cost_usd"] == pytest.approx(result.cost_usd)


@pytest.mark.parametrize(
    "fault, kind",
    [
        (drop(), "connection"),
        (status(408), "timeout"),
        (status(409), "conflict"),
        (status(429), "rate_limited"),
        (status(500), "server"),
        (status(503), "overloaded"),
        (model_not_found(), "not_found"),
        (malformed(), "malformed"),
        (status(401), "auth"),
    ],
)
def test_falls_back_on_every_failure_kind(servers, fault, kind):
    a, b = servers
    a.fail_always(fault)
    result = Gateway(make_settings(a, b, gateway={"max_retries": 1})).chat(HELLO, model="default")
    assert result.text == "backup says hi" and result.model == "backup"
    kinds = [x.kind for x in result.attempts if x.status == "error"]
    assert kinds and set(kinds) == {kind}
    assert len(kinds) == (
        2 if kind in ("connection", "timeout", "conflict", "rate_limited", "server", "overloaded", "malformed") else 1
    )  # retried once when worth it


def test_bad_request_is_not_retried_or_passed_on(servers):
    a, b = servers
    a.fail_always(status(400, "messages: field required"))
    with pytest.raises(ProviderError, match=r"answered 400 \(bad_request\)") as info:
        Gateway(make_settings(a, b)).chat(HELLO, model="default")
    assert info.value.kind == "bad_request" and b.count() == 0 and a.count() == 1
    # the caller reads why its request was refused (the provider's structured message), as the log does
    assert "field required" in info.value.detail and str(info.value).endswith("(bad_request): messages: field required")


def test_a_refusal_reason_shown_to_callers_never_names_the_address_or_a_key(servers):
    """The provider's message reaches the caller only when every word of it is a plain one: one
    quoting the URL, its password, the host, a Bearer token, a key or an address stays in the log
    whole (review 16b: masking missed IPv6, bare host names, Basic credentials, base64 keys); a
    page that is not an API's structured error never reaches the caller."""
    a, b = servers
    host, port = "127.0.0.1", a.base_url.rsplit(":", 1)[1]
    quoted = (
        f"bad 'temperature' for http://svc:Hunter2pw@{host}:{port}/v1 (Authorization: Bearer abc.def-123) "
        "with key sk-proj-Z9y8X7w6V5u4 at\x1b[2J 10.1.2.3:8000"
    )
    for body in (quoted, b"<html><body>nginx at internal-llm.corp.example</body></html>"):
        a.fail_always(status(400, body))
        with pytest.raises(ProviderError) as info:
            Gateway(make_settings(a, b)).chat(HELLO, model="default")
        assert str(info.value).endswith("answered 400 (bad_request)"), str(info.value)
        logged = info.value.detail  # the operator's log keeps the provider's words
        assert "temperature" in logged or "nginx" in logged


def test_retry_after_is_honoured_then_the_same_model_answers(servers):
    a, b = servers
    a.fail_next(status(429, retry_after=0.4))
    started = time.monotonic()
    result = Gateway(make_settings(a, b)).chat(HELLO, model="default")
    assert result.model == "primary" and time.monotonic() - started >= 0.4 and a.count() == 2


def test_a_retry_after_longer_than_allowed_goes_to_the_next_model(servers):
    a, b = servers
    a.fail_always(status(429, retry_after=120))
    started = time.monotonic()
    result = Gateway(make_settings(a, b)).chat(HELLO, model="default")
    assert result.model == "backup" and time.monotonic() - started < 1.0 and a.count() == 1


def test_context_length_goes_to_a_larger_window(servers):
    a, b = servers
    with ProviderServer(reply=lambda body: "big window") as c:
        a.fail_always(context_length_exceeded())
        settings = make_settings(
            a,
            b,
            route=RouteSettings(models=["primary", "backup", "big"]),
            big=ModelSettings(base_url=c.base_url + "/v1", model="big", context_window=128_000),
        )
        settings.models["primary"].context_window = 8192
        settings.models["backup"].context_window = 8192  # no larger than the one that overflowed: skipped
        result = Gateway(settings).chat(HELLO, model="default")
    assert result.text == "big window" and b.count() == 0
    assert [x.status for x in result.attempts] == ["error", "skipped", "ok"]


def test_refusal_falls_back_only_when_configured(servers):
    a, b = servers
    a.fail_always(refusal())
    kept = Gateway(make_settings(a, b)).chat(HELLO, model="default")
    assert kept.model == "primary" and kept.finish_reason == "refusal" and "can't help" in kept.text
    route = RouteSettings(models=["primary", "backup"], fallback_on_refusal=True)
    assert Gateway(make_settings(a, b, route=route)).chat(HELLO, model="default").model == "backup"


def test_no_call_outlives_its_deadline_and_the_error_names_the_setting(servers):
    a, b = servers
    a.fail_always(delay(5))
    b.fail_always(delay(5))
    route = RouteSettings(models=["primary", "backup"], deadline_s=0.8)
    started = time.monotonic()
    with pytest.raises(AllModelsFailed) as info:
        Gateway(make_settings(a, b, route=route)).chat(HELLO, model="default")
    assert time.monotonic() - started < 1.2
    cut, skipped = info.value.attempts
    assert cut.model == "primary" and cut.kind == "timeout"
    assert (
        "stopped by the call's deadline of 0.8 s (routes.default.deadline_s), before its own "
        "models.primary.timeout_s of 2 s"
    ) in cut.error
    assert (
        skipped.status == "skipped"
        and "the call's deadline of 0.8 s (routes.default.deadline_s) had passed" in skipped.error
    )
    assert "routes.default.deadline_s" in str(info.value)  # what the CLI and the logs show


def test_a_gateway_deadline_is_named_as_the_routes_default(servers):
    a, b = servers
    a.fail_always(delay(5))
    b.fail_always(delay(5))
    with pytest.raises(AllModelsFailed) as info:
        Gateway(make_settings(a, b, gateway={"deadline_s": 0.5})).chat(HELLO, model="default")
    assert (
        "the call's deadline of 0.5 s (gateway.deadline_s, as routes.default.deadline_s is not set)"
        in info.value.attempts[0].error
    )


def test_an_unset_deadline_follows_the_models_timeouts(servers):
    a, b = servers
    gw = Gateway(
        make_settings(a, b, primary=ModelSettings(base_url=a.base_url + "/v1", model="m", timeout_s=7, max_retries=1))
    )
    rule = gw.resolve("default").deadline
    # each model: its whole timeout_s, plus the longest pauses of its retries (0.01 s, then 0.02 s); a second more
    assert rule.seconds == pytest.approx((7 + 0.01) + (2 + 0.01 + 0.02) + 1) and rule.setting is None
    assert gw.resolve("backup").deadline.seconds == pytest.approx(3.03)  # a model named directly
    route = RouteSettings(models=["primary", "backup"], deadline_s=3)
    assert Gateway(make_settings(a, b, route=route)).resolve("default").deadline.seconds == 3
    assert Gateway(make_settings(a, b, gateway={"deadline_s": 4})).resolve("default").deadline.seconds == 4


def test_with_no_deadline_set_each_model_gets_its_whole_timeout(servers):
    a, b = servers
    a.fail_always(delay(5))
    b.fail_always(delay(5))
    slow = {"timeout_s": 0.6, "max_retries": 0}
    settings = make_settings(
        a,
        b,
        primary=ModelSettings(base_url=a.base_url + "/v1", model="m", **slow),
        backup=ModelSettings(base_url=b.base_url + "/v1", model="n", **slow),
    )
    with pytest.raises(AllModelsFailed) as info:
        Gateway(settings).chat(HELLO, model="default")
    first, second = info.value.attempts
    assert first.status == second.status == "error" and first.kind == second.kind == "timeout"
    assert second.latency_ms >= 550  # the backup was not cut short by what the primary used
    assert "deadline" not in str(info.value)  # the models' own timeouts ended it, and the error says only that


def test_circuit_breaker_opens_then_probes(servers):
    a, b = servers
    a.fail_always(status(500))
    gw = Gateway(make_settings(a, b, gateway={"breaker_threshold": 2, "breaker_cooldown_s": 0.3, "max_retries": 0}))
    for _ in range(2):
        gw.chat(HELLO, model="default", use_cache=False)
    assert a.count() == 2 and gw.breaker("primary").state == "open"
    result = gw.chat(HELLO, model="default", use_cache=False)
    assert a.count() == 2 and result.attempts[0].status == "skipped" and "circuit open" in result.attempts[0].error
    time.sleep(0.35)
    a.clear()
    assert gw.chat(HELLO, model="default", use_cache=False).model == "primary"  # the probe succeeded
    assert gw.breaker("primary").state == "closed"


def test_exact_cache(servers, store):
    a, b = servers
    gw = Gateway(make_settings(a, b), store)
    first = gw.chat(HELLO, model="default")
    again = gw.chat([ChatMessage("system", "Be brief. "), ChatMessage("user", "Say hello\r\n")], model="default")
    assert again.cached and again.text == first.text and again.cost_usd == 0 and a.count() == 1
    gw.chat(HELLO, model="default", temperature=0.7)  # sampled requests are not cached
    gw.chat(HELLO, model="default", max_tokens=100)  # other parameters, another entry
    assert a.count() == 3


def test_usage_counted_when_the_provider_omits_it(servers):
    a, b = servers
    a.usage = None
    result = Gateway(make_settings(a, b)).chat(HELLO, model="default")
    assert result.usage.estimated and result.usage.output_tokens == 4  # "echo: Say hello"
    assert result.usage.input_tokens > 5 and result.cost_usd > 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_reasoning_models_thoughts_are_counted_when_the_provider_omits_usage(servers, stream):
    """An OpenAI-compatible reasoning model (vLLM, DeepSeek) bills its reasoning_content as output;
    a reply without usage was estimated from its text alone: 4 tokens for 300 words of thought."""
    from ragwright.models import ledger

    a, b = servers
    a.usage, a.reasoning = None, " ".join(f"thought{i}" for i in range(300))
    gw = Gateway(make_settings(a, b, gateway={"cache": False}))
    if stream:
        with gw.stream(HELLO, model="default") as s:
            shown = "".join(s)
        result = s.result
    else:
        result = gw.chat(HELLO, model="default")
        shown = result.text
    assert shown == "echo: Say hello" and "thought" not in shown  # never shown to the caller
    assert result.usage.estimated
    assert result.usage.output_tokens >= ledger.count_tokens(a.reasoning) + 4  # was 4: the text alone


def test_anthropic_thinking_is_counted_when_usage_is_omitted(servers, monkeypatch):
    from ragwright.models import ledger

    a, b = servers
    with ProviderServer(usage=None, reasoning=" ".join(f"idea{i}" for i in range(200))) as c:
        claude = ModelSettings(provider="anthropic", base_url=c.base_url, model="claude-x", api_key_env="RW_TEST_KEY")
        monkeypatch.setenv("RW_TEST_KEY", "sk-test")
        result = Gateway(make_settings(a, b, claude=claude)).chat(HELLO, model="claude")
    assert result.text == "echo: Say hello" and result.usage.estimated
    assert result.usage.output_tokens >= ledger.count_tokens(c.reasoning) + 4  # was 4: the text alone


def test_concurrent_budget_never_overshoots_by_more_than_one_call(servers, any_store):
    store = any_store
    a, b = servers
    a.latency_s = 0.05
    settings = make_settings(a, b, route=RouteSettings(models=["primary"]))
    settings.budgets = {"acme-daily": BudgetSettings(scope="tenant", subject="acme", limit_usd=0.0005, period="day")}
    gw = Gateway(settings, store)
    per_call_max = None
    outcomes, lock = [], threading.Lock()

    def one(i):
        try:
            r = gw.chat(
                [ChatMessage("user", f"question {i}")],
                model="default",
                max_tokens=50,
                context=CallContext(tenant="acme"),
            )
            with lock:
                outcomes.append(r.cost_usd)
        except BudgetExceeded as exc:
            with lock:
                outcomes.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = store.spent_usd("tenant", "acme")
    errors = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    per_call_max = max(o for o in outcomes if not isinstance(o, BudgetExceeded))
    assert errors and len(outcomes) == 40
    assert spent <= 0.0005 + per_call_max
    assert "acme-daily" in str(errors[0]) and "0.0005 USD per day" in str(errors[0])
    assert f"{errors[0].spent_usd:.6f}" not in str(errors[0])  # what was spent stays with the operator
    other = gw.chat(HELLO, model="default", context=CallContext(tenant="other"))  # other tenants are not limited
    assert other.model == "primary"


def test_streaming_and_fallback_before_the_first_token(servers, store):
    a, b = servers
    gw = Gateway(make_settings(a, b), store)
    with gw.stream(HELLO, model="default") as stream:
        pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == "echo: Say hello" and stream.result.model == "primary"
    assert stream.result.usage.to_dict() == {"input_tokens": 11, "output_tokens": 7}
    a.fail_next(status(500), status(500), status(500))
    stream = gw.stream(HELLO, model="default", use_cache=False)
    assert "".join(stream) == "backup says hi" and stream.result.model == "backup"


def test_a_stream_cut_after_text_is_marked_incomplete(servers):
    a, b = servers
    a.reply = lambda body: "one two three four five six seven"
    a.fail_next(cut_stream(3))
    stream = Gateway(make_settings(a, b)).stream(HELLO, model="default")
    got = []
    with pytest.raises(StreamInterrupted) as info:
        for piece in stream:
            got.append(piece)
    assert info.value.partial_text == "".join(got) == "one two three" and info.value.incomplete
    assert stream.result.incomplete and b.count() == 0  # no silent switch to another model mid-answer


def test_anthropic_provider(servers):
    a, b = servers
    with ProviderServer(reply=lambda body: f"claude saw system={body.get('system')!r}") as c:
        settings = make_settings(
            a,
            b,
            claude=ModelSettings(
                provider="anthropic", base_url=c.base_url, model="claude-x", api_key_env="RW_TEST_ANTHROPIC"
            ),
        )
        import os

        os.environ["RW_TEST_ANTHROPIC"] = "sk-test"
        try:
            gw = Gateway(settings)
            result = gw.chat(HELLO, model="claude", max_tokens=64)
            streamed = gw.stream(HELLO, model="claude", use_cache=False)
            text = "".join(streamed)
        finally:
            del os.environ["RW_TEST_ANTHROPIC"]
    assert result.text == "claude saw system='Be brief.'" and result.usage.to_dict() == {
        "input_tokens": 11,
        "output_tokens": 7,
    }
    assert text == result.text and streamed.result.usage.output_tokens == 7
    req = c.requests[0]
    assert req.headers["x-api-key"] == "sk-test" and req.headers["anthropic-version"]
    assert all(m["role"] != "system" for m in req.body["messages"]) and req.body["max_tokens"] == 64


def test_missing_key_variable_falls_back_and_unknown_names_are_config_errors(servers):
    a, b = servers
    settings = make_settings(a, b)
    settings.models["primary"].api_key_env = "RW_TEST_SURELY_UNSET"
    result = Gateway(settings).chat(HELLO, model="default")
    assert result.model == "backup" and "its API key is not set" in result.attempts[0].error
    assert "RW_TEST_SURELY_UNSET" not in result.attempts[0].error  # the variable's name: the server log's
    with pytest.raises(ConfigError, match=r"no route or model named 'nope'.*routes: default"):
        Gateway(settings).chat(HELLO, model="nope")


def test_lowest_cost_and_lowest_latency_strategies(servers):
    a, b = servers
    cheap_first = Gateway(
        make_settings(a, b, route=RouteSettings(models=["primary", "backup"], strategy="lowest_cost"))
    )
    assert cheap_first.chat(HELLO, model="default").model == "backup"  # backup has no price: cheapest
    a.latency_s = 0.6  # far above what a busy machine adds to the backup's first call
    gw = Gateway(make_settings(a, b, route=RouteSettings(models=["primary", "backup"], strategy="lowest_latency")))
    served = [gw.chat(HELLO, model="default", use_cache=False).model for _ in range(4)]
    assert served[:2] == ["primary", "backup"] and served[2:] == ["backup", "backup"]


def test_stream_aborts_reach_streams_opened_inside_their_scope_even_after_the_abort(servers, store):
    from ragwright.models.streaming import StreamAborts
    from tests.provider_server import stall

    a, b = servers
    gw = Gateway(make_settings(a, b), store)
    aborts = StreamAborts()
    outside = gw.stream(HELLO, model="default", use_cache=False)  # not in the scope: never aborted by it
    with aborts.active():
        a.fail_next(stall(after_tokens=1, seconds=20))
        inside = iter(gw.stream(HELLO, model="default", use_cache=False))
        assert next(inside)
        threading.Timer(0.3, aborts.abort).start()
        started = time.monotonic()
        with pytest.raises(StreamInterrupted):
            list(inside)
        assert time.monotonic() - started < 5
        late = gw.stream(HELLO, model="default", use_cache=False)  # opened after the abort: stopped at once
        sent = len(a.requests)
        with pytest.raises(StreamInterrupted):
            list(late)
        assert len(a.requests) == sent  # its request never went out
    assert not b.requests  # an aborted stream tries no other model
    assert "".join(outside) and outside.result is not None and not outside.result.incomplete
    gw.close()


def test_abort_stops_a_stalled_stream_at_once_and_tries_no_other_model(servers, store):
    """A client that leaves: abort() from another thread ends the read now, not at the timeout."""
    from tests.provider_server import stall

    a, b = servers
    settings = make_settings(a, b)
    settings.models["primary"].timeout_s = 30
    gw = Gateway(settings, store)
    a.fail_next(stall(after_tokens=1, seconds=20))
    stream = gw.stream(HELLO, model="default", use_cache=False)
    pieces = iter(stream)
    assert next(pieces)  # the first word arrived; the model then goes quiet
    threading.Timer(0.3, stream.abort).start()
    started = time.monotonic()
    with pytest.raises(StreamInterrupted):
        list(pieces)
    assert time.monotonic() - started < 5 and not b.requests  # no fallback: nobody is waiting
    assert gw.breaker("primary").allow()  # the model is not blamed
    gw.close()


def test_a_deadline_that_passes_mid_stream_names_its_setting(servers):
    a, b = servers
    a.reply = lambda body: "one two three four"
    route = RouteSettings(models=["primary", "backup"], deadline_s=0.5)
    stream = Gateway(make_settings(a, b, route=route)).stream(HELLO, model="default")
    pieces = iter(stream)
    assert next(pieces) == "one"
    time.sleep(0.6)  # a slow reader: the deadline passes between two pieces
    with pytest.raises(StreamInterrupted) as info:
        list(pieces)
    assert "the call's deadline of 0.5 s (routes.default.deadline_s) passed mid-stream" in str(info.value)
    assert stream.result.incomplete and b.count() == 0


def test_a_model_s_own_retries_count_even_above_the_gateway_s(servers):
    a, b = servers
    a.fail_always(status(500))
    primary = ModelSettings(base_url=a.base_url + "/v1", model="m", timeout_s=2, max_retries=3)
    result = Gateway(make_settings(a, b, gateway={"max_retries": 1}, primary=primary)).chat(HELLO, model="default")
    assert result.model == "backup" and a.count() == 4 and b.count() == 1  # 1 + its own 3 retries; backup: first try


@pytest.mark.parametrize("subject", ["default", ""])
def test_a_routes_budget_holds_when_its_model_is_called_by_name(servers, store, subject):
    """Attack (review 12): route `default` capped; GET /v1/models lists its model `primary`, and
    calls naming it were counted under route 'primary', so they spent on past the cap (40 of 40
    answered after the route's calls were refused). Now a direct call counts against the route
    budgets of every route holding the model, and those count its direct calls."""
    a, b = servers
    settings = make_settings(a, b, route=RouteSettings(models=["primary"]))
    # a call reserves ~3.2e-5 USD (50 tokens out at 0.60/Mtok) and costs ~4e-6: a few fit under 4e-5
    settings.budgets = {"cap": BudgetSettings(scope="route", subject=subject, limit_usd=0.00004, period="day")}
    gw = Gateway(settings, store)
    answered = {"default": 0, "primary": 0}
    for i, target in enumerate(["default"] * 10 + ["primary"] * 10):
        try:
            gw.chat([ChatMessage("user", f"question {i}")], model=target, max_tokens=50)
            answered[target] += 1
        except BudgetExceeded:
            pass
    spent = store.spent_usd("route", "default") + store.spent_usd("route", "primary")
    assert answered["default"] > 0 and answered["primary"] == 0, answered
    assert spent <= 0.00004
    assert gw.chat([ChatMessage("user", "a question")], model="backup", max_tokens=50).text  # in no route: no cap
