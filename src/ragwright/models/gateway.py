"""One call, many models: the gateway resolves a route to an ordered list of models and tries
them until one answers, with retries, a deadline, circuit breakers, caches, cost accounting and
budgets. Every call, answered or not, leaves a CallRecord for whoever traces requests.

    gw = Gateway(settings, store)
    result = gw.chat([ChatMessage("user", "Hello")], model="default")
    with gw.stream(messages, model="default") as stream:
        for text in stream: print(text, end="")
    result = gw.chat(messages, model="default", tools=[Tool.from_model(Search)])  # result.tool_calls

A turn with tools is checked by tool_calls.py: every call names an offered tool and its arguments
fit the tool's schema, or the model is re-asked once with what was wrong (ToolCallError after).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pydantic import BaseModel

from ..config import Settings
from ..errors import ConfigError
from ..observe import current_trace, note_sent, span
from . import ledger
from ._call import Call
from .cache import ExactCache, SemanticCache
from .guards import Guards
from .providers import Provider, make_provider
from .resilience import CircuitBreaker, DeadlineRule, RetryPolicy
from .screen import screen
from .tool_calls import checked_turn
from .tools import check_choice
from .types import CallContext, CallRecord, ChatMessage, ChatRequest, ChatResult

if TYPE_CHECKING:
    from ..store.contract import GatewayStore  # the contract only, never a backend (tests/test_public_api.py)
    from .streaming import ChatStream
    from .structured import StructuredStream
    from .tools import Tool

T = TypeVar("T", bound=BaseModel)
DERIVED_MARGIN_S = 1.0  # added to a deadline derived from the models' timeouts


class Target(NamedTuple):
    """What a route or model name resolves to."""

    models: list[str]
    strategy: str
    deadline: DeadlineRule
    fallback_on_refusal: bool


class Gateway:
    """`guards`: the guard's injection detector and redaction (see models/guards.py), needed by
    routes with `injection` and models with `privacy = "redact"`; `Workspace.gateway` passes them."""

    def __init__(
        self,
        settings: Settings,
        store: GatewayStore | None = None,
        *,
        embedder: Any = None,
        providers: dict[str, Provider] | None = None,
        seed: int | None = None,
        guards: Guards = Guards(),
    ) -> None:
        guards.check(settings)
        self.settings = settings
        self.store = store
        self.guards = guards
        self.on_record: list[Callable[[CallRecord], None]] = []
        g = settings.gateway
        self._policy = RetryPolicy(g.max_retries, g.retry_base_s, g.retry_cap_s, g.max_retry_after_s)
        self._providers: dict[str, Provider] = dict(providers or {})
        self._breakers = {name: CircuitBreaker(g.breaker_threshold, g.breaker_cooldown_s) for name in settings.models}
        self._latency_ms: dict[str, float] = {}  # moving average per model, for lowest_latency routes
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._exact = ExactCache(store, g.cache_ttl_s) if store is not None and g.cache else None
        self._semantic: SemanticCache | None = None
        if store is not None and g.semantic_cache:
            from .embedding import make_embedder
            from .private_embedding import private_embedder

            built = private_embedder(embedder or make_embedder(settings.embedding), settings, guards.redaction)
            self._semantic = SemanticCache(store, built, g.semantic_threshold, g.cache_ttl_s)
        if settings.budgets and store is None:
            raise ConfigError("budgets are configured but the gateway has no store to keep spending in")

    @property
    def records(self) -> GatewayStore:
        """The store, where budgets are reserved and cache entries linked to their documents: only
        asked for when budgets or caches are on, and both need a store (checked above)."""
        if self.store is None:
            raise ConfigError("budgets and caches need the gateway to have a store")
        return self.store

    # -- targets ---------------------------------------------------------------------------------

    def resolve(self, target: str) -> Target:
        """The models, strategy, deadline and refusal policy of a route name or a model name."""
        route = self.settings.routes.get(target)
        if route is not None:
            unknown = [m for m in route.models if m not in self.settings.models]
            if unknown:
                raise ConfigError(
                    f"[routes.{target}] names models without a [models.NAME] section: {', '.join(unknown)}"
                )
            rule = self.deadline_rule(route.models, route.deadline_s, f"routes.{target}.deadline_s")
            return Target(list(route.models), route.strategy, rule, route.fallback_on_refusal)
        if target in self.settings.models:
            return Target([target], "priority", self.deadline_rule([target], None, "gateway.deadline_s"), False)
        routes = ", ".join(sorted(self.settings.routes)) or "none"
        models = ", ".join(sorted(self.settings.models)) or "none"
        raise ConfigError(f"no route or model named '{target}' (routes: {routes}; models: {models})")

    def deadline_rule(self, names: Sequence[str], explicit: float | None, key: str) -> DeadlineRule:
        """The route's own deadline, else the gateway's, else one that follows the models: each gets
        one full timeout_s plus its retries' longest pauses, and the call a second more for the
        work between attempts (without it, the last model's timeout would be cut by milliseconds).
        A fixed default would cut a slow model (the bundled SmolLM2 on a laptop, timeout_s = 300)
        short of the timeout it was given."""
        if explicit is not None:
            return DeadlineRule(explicit, key, key)
        if self.settings.gateway.deadline_s is not None:
            return DeadlineRule(self.settings.gateway.deadline_s, "gateway.deadline_s", key)
        total = DERIVED_MARGIN_S
        for name in names:
            spec = self.settings.models[name]
            total += spec.timeout_s + self._policy.longest_pauses_s(self._policy.retries(spec.max_retries))
        return DeadlineRule(total, None, key)

    def _ordered(self, names: list[str], strategy: str, request: ChatRequest, call: Call) -> list[str]:
        if strategy == "lowest_latency":
            return sorted(names, key=lambda n: self._latency_ms.get(n, 0.0))  # unmeasured first: it gets measured
        if strategy == "lowest_cost":
            return sorted(
                names, key=lambda n: ledger.max_cost_usd(self.settings.models[n], call.input_tokens, request.max_tokens)
            )
        return names

    def screen(self, target: str, messages: Sequence[ChatMessage]) -> None:
        """The route's injection policy on every user turn and tool result of the conversation
        (verdicts kept process-wide, so a repeated message costs a lookup; see screen.py): "flag"
        notes each verdict in the trace, "block" refuses the call before any model sees it."""
        screen(self.settings, self.guards, target, messages)

    def provider(self, name: str) -> Provider:
        with self._lock:
            if name not in self._providers:
                self._providers[name] = make_provider(name, self.settings.models[name])
            return self._providers[name]

    def breaker(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = self._breakers.setdefault(name, CircuitBreaker())
        return breaker

    # -- calls -----------------------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str,
        temperature: float = 0.0,
        max_tokens: int = 512,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "output",
        context: CallContext = CallContext(),
        use_cache: bool = True,
        tools: Sequence[Tool] = (),
        tool_choice: str = "auto",
        parallel_tool_calls: bool | None = None,
    ) -> ChatResult:
        """`tools`: what the model may call (`tool_choice`: "auto", "none", "required" or a tool's
        name); the reply's `tool_calls` are validated against them (tool_calls.py).
        `parallel_tool_calls`: False asks for at most one call per reply (sent to the provider,
        and a reply with more is re-asked); None leaves the provider's default."""
        request = _request(
            messages, temperature, max_tokens, json_schema, schema_name, tools, tool_choice, parallel_tool_calls
        )
        self.screen(model, messages)
        if request.tools:
            return checked_turn(self, request, model, context, use_cache)
        return self.turn(request, model, context, use_cache)

    def turn(self, request: ChatRequest, model: str, context: CallContext, use_cache: bool = True) -> ChatResult:
        """One call of the route, as a "model.call" span: every attempt, fallback and retry inside."""
        with span("model.call", route=model, max_tokens=request.max_tokens) as outer:
            note_sent(context.quoted())
            call = Call(self, model, request, context, stream=False)
            if current_trace() is not None:
                outer.set(input=call.transcript())
            result = self._chat(call, request, use_cache)
            outer.set(**call.span_fields(result))
            return result

    def _chat(self, call: Call, request: ChatRequest, use_cache: bool) -> ChatResult:
        cached = call.cached() if use_cache else None
        if cached is not None:
            return cached
        for attempt in call.tries():
            with attempt:
                spec = attempt.spec
                reply = call.restored(
                    spec, self.provider(attempt.name).complete(call.request_for(spec), call.attempt_timeout(spec))
                )
                if not call.refused(attempt.name, reply, attempt.started):
                    return call.succeeded(attempt.name, spec, reply, attempt.started, use_cache)
        raise call.exhausted()

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str,
        temperature: float = 0.0,
        max_tokens: int = 512,
        context: CallContext = CallContext(),
        use_cache: bool = True,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "output",
        tools: Sequence[Tool] = (),
        tool_choice: str = "auto",
        parallel_tool_calls: bool | None = None,
    ) -> ChatStream:
        """Text as it arrives; with `tools`, the stream's `result.tool_calls` once it has ended
        (validated whole, and re-asked once, as chat() does: see tool_calls.py); `parallel_tool_calls`
        as chat() takes it."""
        from .streaming import ChatStream

        request = _request(
            messages, temperature, max_tokens, json_schema, schema_name, tools, tool_choice, parallel_tool_calls
        )
        self.screen(model, messages)
        return ChatStream(Call(self, model, request, context, stream=True), use_cache)

    def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: type[T],
        model: str,
        max_retries: int = 2,
        temperature: float = 0.0,
        max_tokens: int = 512,
        context: CallContext = CallContext(),
    ) -> T:
        """A validated `schema` instance (see structured.py), or StructuredOutputError."""
        from .structured import generate

        return generate(
            self,
            messages,
            schema,
            model=model,
            max_retries=max_retries,
            temperature=temperature,
            max_tokens=max_tokens,
            context=context,
        )

    def generate_stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: type[BaseModel],
        model: str,
        temperature: float = 0.0,
        max_tokens: int = 512,
        context: CallContext = CallContext(),
    ) -> StructuredStream:
        from .structured import StructuredStream

        return StructuredStream(
            self, messages, schema, model=model, temperature=temperature, max_tokens=max_tokens, context=context
        )

    @property
    def recording(self) -> bool:
        return self.store is not None or bool(self.on_record)

    def record(self, record: CallRecord, reservation: str | None) -> None:
        if self.store is not None:
            self.store.record_call(record.to_dict(), reservation)
        for hook in list(self.on_record):
            hook(record)

    def observe_latency(self, name: str, ms: float) -> None:
        with self._lock:
            old = self._latency_ms.get(name)
            self._latency_ms[name] = ms if old is None else 0.8 * old + 0.2 * ms

    def close(self) -> None:
        for p in self._providers.values():
            p.close()


def _request(
    messages: Sequence[ChatMessage],
    temperature: float,
    max_tokens: int,
    json_schema: dict[str, Any] | None,
    schema_name: str,
    tools: Sequence[Tool],
    tool_choice: str,
    parallel_tool_calls: bool | None = None,
) -> ChatRequest:
    """The request of a chat or a stream; tools and their choice checked before any model is asked."""
    if tools:
        check_choice(tools, tool_choice)
    return ChatRequest(
        tuple(messages),
        temperature,
        max_tokens,
        json_schema,
        schema_name,
        tools=tuple(tools),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel_tool_calls,
    )
