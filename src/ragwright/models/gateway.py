"""One call, many models: the gateway resolves a route to an ordered list of models and tries
them until one answers, with retries, a deadline, circuit breakers, caches, cost accounting and
budgets. Every call, answered or not, leaves a CallRecord for whoever traces requests.

    gw = Gateway(settings, store)
    result = gw.chat([ChatMessage("user", "Hello")], model="default")
    with gw.stream(messages, model="default") as stream:
        for text in stream: print(text, end="")
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

from pydantic import BaseModel

from ..config import ModelSettings, Settings
from ..errors import AllModelsFailed, BudgetExceeded, ConfigError, InjectionBlocked, ProviderError
from . import ledger
from ..observe import add_cost, current_trace, note_documents, span
from .cache import ExactCache, SemanticCache
from .providers import Provider, ProviderReply, make_provider
from .resilience import CircuitBreaker, Deadline, RetryPolicy
from .types import Attempt, CallContext, CallRecord, ChatMessage, ChatRequest, ChatResult, Usage

if TYPE_CHECKING:
    from .streaming import ChatStream
    from .structured import StructuredStream

T = TypeVar("T", bound=BaseModel)
_SCOPE_COLUMN = {"key": "key_id", "tenant": "tenant", "route": "route", "model": "model", "global": "1"}


class Gateway:
    def __init__(self, settings: Settings, store: Any = None, *, embedder: Any = None,
                 providers: dict[str, Provider] | None = None, seed: int | None = None) -> None:
        self.settings = settings
        self.store = store
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

            self._semantic = SemanticCache(store, embedder or make_embedder(settings.embedding), g.semantic_threshold,
                                           g.cache_ttl_s)
        if settings.budgets and store is None:
            raise ConfigError("budgets are configured but the gateway has no store to keep spending in")

    # -- targets ---------------------------------------------------------------------------------

    def resolve(self, target: str) -> tuple[list[str], str, float, bool]:
        """(models, strategy, deadline, fallback on refusal) for a route name or a model name."""
        g = self.settings.gateway
        route = self.settings.routes.get(target)
        if route is not None:
            unknown = [m for m in route.models if m not in self.settings.models]
            if unknown:
                raise ConfigError(f"[routes.{target}] names models without a [models.NAME] section: {', '.join(unknown)}")
            return list(route.models), route.strategy, route.deadline_s or g.deadline_s, route.fallback_on_refusal
        if target in self.settings.models:
            return [target], "priority", g.deadline_s, False
        routes = ", ".join(sorted(self.settings.routes)) or "none"
        models = ", ".join(sorted(self.settings.models)) or "none"
        raise ConfigError(f"no route or model named '{target}' (routes: {routes}; models: {models})")

    def _ordered(self, names: list[str], strategy: str, request: ChatRequest, call: "_Call") -> list[str]:
        if strategy == "lowest_latency":
            return sorted(names, key=lambda n: self._latency_ms.get(n, 0.0))  # unmeasured first: it gets measured
        if strategy == "lowest_cost":
            return sorted(names, key=lambda n: ledger.max_cost_usd(self.settings.models[n], call.input_tokens,
                                                                   request.max_tokens))
        return names

    def screen(self, target: str, messages: Sequence[ChatMessage]) -> None:
        """The route's injection policy on the user's latest message: "flag" notes it in the trace,
        "block" refuses the call before any model sees it."""
        route = self.settings.routes.get(target)
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if route is None or route.injection == "off" or not user:
            return
        from ..guard.injection import default_detector

        verdict = default_detector().check(user, "user")
        with span("guard.injection", policy=route.injection, score=verdict.score, flagged=verdict.flagged,
                  reasons=verdict.reasons):
            if verdict.flagged and route.injection == "block":
                raise InjectionBlocked(f"refused by route '{target}': the message looks like a prompt injection "
                                       f"({', '.join(verdict.reasons)})")

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

    def chat(self, messages: Sequence[ChatMessage], *, model: str, temperature: float = 0.0, max_tokens: int = 512,
             json_schema: dict | None = None, schema_name: str = "output", context: CallContext = CallContext(),
             use_cache: bool = True) -> ChatResult:
        request = ChatRequest(tuple(messages), temperature, max_tokens, json_schema, schema_name)
        self.screen(model, messages)
        with span("model.call", route=model, max_tokens=max_tokens) as outer:
            note_documents(context.sources)
            call = _Call(self, model, request, context, stream=False)
            if current_trace() is not None:
                outer.set(input=call.transcript())
            result = self._chat(call, request, use_cache)
            outer.set(model=result.model, output=call.traced_output(result.text), cached=result.cached,
                      cost_usd=result.cost_usd,
                      input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens)
            return result

    def _chat(self, call: "_Call", request: ChatRequest, use_cache: bool) -> ChatResult:
        cached = call.cached() if use_cache else None
        if cached is not None:
            return cached
        for name, spec in call.candidates():
            retries = self._policy.max_retries if spec.max_retries is None else spec.max_retries
            for attempt_no in range(retries + 1):
                started = time.perf_counter()
                with span("model.attempt", model=name, attempt=attempt_no + 1) as s:
                    try:
                        reply = call.restored(spec, self.provider(name).complete(call.request_for(spec),
                                                                                 call.attempt_timeout(spec)))
                        failure = None
                    except ProviderError as exc:
                        failure = exc
                        s.set(status="error", error=str(exc), kind=exc.kind)
                if failure is not None:
                    if call.failed(name, spec, failure, started, attempt_no):
                        continue
                    break
                if call.refused(name, reply, started):
                    break
                return call.succeeded(name, spec, reply, started, use_cache)
        raise call.exhausted()

    def stream(self, messages: Sequence[ChatMessage], *, model: str, temperature: float = 0.0, max_tokens: int = 512,
               context: CallContext = CallContext(), use_cache: bool = True, json_schema: dict | None = None,
               schema_name: str = "output") -> "ChatStream":
        from .streaming import ChatStream

        request = ChatRequest(tuple(messages), temperature, max_tokens, json_schema, schema_name)
        self.screen(model, messages)
        return ChatStream(_Call(self, model, request, context, stream=True), use_cache)

    def generate(self, messages: Sequence[ChatMessage], *, schema: type[T], model: str, max_retries: int = 2,
                 temperature: float = 0.0, max_tokens: int = 512, context: CallContext = CallContext()) -> T:
        """A validated `schema` instance (see structured.py), or StructuredOutputError."""
        from .structured import generate

        return generate(self, messages, schema, model=model, max_retries=max_retries, temperature=temperature,
                        max_tokens=max_tokens, context=context)

    def generate_stream(self, messages: Sequence[ChatMessage], *, schema: type[BaseModel], model: str,
                        temperature: float = 0.0, max_tokens: int = 512,
                        context: CallContext = CallContext()) -> "StructuredStream":
        from .structured import StructuredStream

        return StructuredStream(self, messages, schema, model=model, temperature=temperature, max_tokens=max_tokens,
                                context=context)

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


def _transcript(messages: Sequence[ChatMessage]) -> str:
    return "\n\n".join(f"{m.role}: {m.content}" for m in messages)


class _Call:
    """The bookkeeping of one gateway call: attempts, deadline, budget reservation, record."""

    def __init__(self, gw: Gateway, target: str, request: ChatRequest, context: CallContext, stream: bool) -> None:
        self.gw, self.target, self.request, self.context, self.stream = gw, target, request, context, stream
        self.names, strategy, deadline_s, self.refusal_fallback = gw.resolve(target)
        self.deadline = Deadline(deadline_s)
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        self.call_id = "c" + secrets.token_hex(8)
        self._input_tokens: int | None = None
        # Counting tokens costs ~2 ms on a RAG-sized prompt: a character count bounds it from above
        # and settles most context-window checks; the exact count is made only when needed.
        self.input_bound = sum(len(m.content) + ledger.MESSAGE_OVERHEAD_TOKENS for m in request.messages) + 2
        self.names = gw._ordered(self.names, strategy, request, self)
        self.attempts: list[Attempt] = []
        self.reservation: str | None = None
        self.budget_error: BudgetExceeded | None = None
        self.last_error: Exception | None = None
        self.min_window = 0  # after a context-length error, only larger windows are worth trying
        self.privacy: Any = None  # a CallPrivacy, once a redacting model is tried
        self.raw_text: str | None = None

    @property
    def cache_target(self) -> str:
        """Cached replies are kept per tenant: one tenant's answers never serve another."""
        return f"{self.target}|{self.context.tenant or ''}"

    @property
    def input_tokens(self) -> int:
        if self._input_tokens is None:
            self._input_tokens = ledger.estimate_input_tokens(self.request.messages)
        return self._input_tokens

    # -- privacy: what a `privacy = "redact"` model may see, and its answer restored ------------

    def request_for(self, spec: ModelSettings) -> ChatRequest:
        if spec.privacy != "redact":
            return self.request
        if self.privacy is None:
            from .privacy import CallPrivacy

            self.privacy = CallPrivacy()
        return self.privacy.request(self.request, spec.privacy_entities)

    def restored(self, spec: ModelSettings, reply: ProviderReply) -> ProviderReply:
        if spec.privacy != "redact" or self.privacy is None:
            return reply
        self.raw_text = reply.text
        return dataclasses.replace(reply, text=self.privacy.restore(reply.text))

    @property
    def redacting(self) -> ModelSettings | None:
        """The first model of the route that redacts: traces keep what it would be sent."""
        return next((s for s in (self.gw.settings.models[n] for n in self.names) if s.privacy == "redact"), None)

    def transcript(self) -> str:
        spec = self.redacting
        return _transcript((self.request_for(spec) if spec else self.request).messages)

    def traced_output(self, text: str) -> str:
        """A redacting route's trace keeps the answer as the model wrote it, placeholders and all."""
        return self.raw_text if self.redacting is not None and self.raw_text is not None else text

    def cached(self) -> ChatResult | None:
        gw, hit = self.gw, None
        if gw._exact is not None and self.request.temperature == 0:
            hit = gw._exact.get(self.cache_target, self.request)
        if hit is None and gw._semantic is not None and self.request.temperature == 0:
            found = gw._semantic.get(self.cache_target, self.request)
            hit = found[0] if found else None
        if hit is None:
            return None
        hit.attempts = [Attempt(hit.model, "cached", latency_ms=(time.perf_counter() - self.t0) * 1000)]
        hit.latency_ms = hit.attempts[0].latency_ms
        hit.usage = Usage(hit.usage.input_tokens, hit.usage.output_tokens, hit.usage.estimated)
        self._record(hit.model, hit.usage, 0.0, cached=True)
        return hit

    def candidates(self) -> Iterator[tuple[str, ModelSettings]]:
        for name in self.names:
            spec = self.gw.settings.models[name]
            if self.deadline.expired():
                self.attempts.append(Attempt(name, "skipped", "the call's deadline has passed"))
                continue
            if spec.context_window <= self.min_window:
                self.attempts.append(Attempt(name, "skipped", f"context window {spec.context_window} no larger "
                                                              "than one that overflowed"))
                continue
            needed = self.request.max_tokens + (self.input_bound if self.input_bound + self.request.max_tokens
                                                <= spec.context_window else self.input_tokens)
            if spec.context_window < needed:
                self.attempts.append(Attempt(name, "skipped", f"context window {spec.context_window} too small "
                                                              f"(needs about {needed})"))
                continue
            if not self.gw.breaker(name).allow():
                self.attempts.append(Attempt(name, "skipped", "circuit open after repeated failures"))
                continue
            if not self._reserve(name, spec):
                continue
            yield name, spec
            self._release()

    def _reserve(self, name: str, spec: ModelSettings) -> bool:
        budgets = ledger.applicable(self.gw.settings.budgets, self.target, name, self.context)
        if not budgets:
            return True
        amount = ledger.max_cost_usd(spec, self.input_tokens, self.request.max_tokens)
        since = {n: ledger.period_start(b.period) for n, b, _ in budgets}
        checks = [(n, _SCOPE_COLUMN[b.scope], subject, since[n], b.limit_usd) for n, b, subject in budgets]
        reservation = "v" + secrets.token_hex(8)
        over = self.gw.store.reserve_budget(reservation, checks, amount)
        if over is None:
            self.reservation = reservation
            return True
        budget, used, limit = over
        period = self.gw.settings.budgets[budget].period
        self.budget_error = BudgetExceeded(budget, limit, period, used, amount)
        self.gw.breaker(name).release()
        self.attempts.append(Attempt(name, "skipped", str(self.budget_error)))
        return False

    def _release(self) -> None:
        if self.reservation is not None:
            self.gw.store.release_budget(self.reservation)
            self.reservation = None

    def attempt_timeout(self, spec: ModelSettings) -> float:
        return max(0.001, min(spec.timeout_s, self.deadline.remaining()))

    def failed(self, name: str, spec: ModelSettings, exc: ProviderError, started: float, attempt_no: int) -> bool:
        """Note a failed attempt; True when the same model should be tried again (after a pause)."""
        self.last_error = exc
        self.attempts.append(Attempt(name, "error", str(exc), (time.perf_counter() - started) * 1000, exc.kind))
        breaker = self.gw.breaker(name)
        if exc.kind in ("connection", "timeout", "server", "overloaded", "rate_limited", "malformed", "auth"):
            breaker.failure()
        else:
            breaker.release()
        if exc.kind == "context_length":
            self.min_window = max(self.min_window, spec.context_window)
        if exc.kind not in ProviderError.FALLBACK:
            self._release()
            self._record(None, Usage(), 0.0, error=str(exc))
            raise exc  # a bad request fails on every model alike: say so at once
        if not exc.retryable or breaker.state == "open":
            return False
        limit = spec.max_retries if spec.max_retries is not None else self.gw._policy.max_retries
        if attempt_no >= limit:
            return False
        if exc.kind == "timeout" and self.deadline.remaining() < 2 * spec.timeout_s:
            return False  # another full timeout here would leave nothing for the models after it
        pause = self.gw._policy.delay(attempt_no + 1, exc.retry_after, self.gw._rng)
        if pause is None or pause >= self.deadline.remaining():
            return False
        time.sleep(pause)
        return True

    def refused(self, name: str, reply: ProviderReply, started: float) -> bool:
        if reply.refusal is None or not self.refusal_fallback:
            return False
        self.attempts.append(Attempt(name, "error", f"model '{name}' refused: {reply.refusal[:200]}",
                                     (time.perf_counter() - started) * 1000, "refusal"))
        return True

    def succeeded(self, name: str, spec: ModelSettings, reply: ProviderReply, started: float, use_cache: bool,
                  incomplete: bool = False) -> ChatResult:
        latency = (time.perf_counter() - started) * 1000
        self.gw.breaker(name).success()
        self.gw.observe_latency(name, latency)
        self.attempts.append(Attempt(name, "ok", None, latency))
        usage = reply.usage or Usage(self.input_tokens, ledger.count_tokens(reply.text), estimated=True)
        cost = ledger.cost_usd(spec, usage)
        result = ChatResult(text=reply.text if reply.refusal is None else (reply.text or reply.refusal), model=name,
                            usage=usage, latency_ms=(time.perf_counter() - self.t0) * 1000,
                            finish_reason="refusal" if reply.refusal else reply.finish_reason, cost_usd=cost,
                            attempts=self.attempts, incomplete=incomplete)
        self._record(name, usage, cost, error="incomplete stream" if incomplete else None)
        if use_cache and not incomplete and reply.refusal is None and self.request.temperature == 0:
            for cache in (self.gw._exact, self.gw._semantic):
                entry = cache.put(self.cache_target, self.request, result) if cache is not None else None
                if entry is not None and self.context.sources:
                    self.gw.store.cache_link(*entry, self.context.sources)
        return result

    def exhausted(self) -> Exception:
        self._release()
        error: Exception = AllModelsFailed(self.target, self.attempts, self.last_error)
        if self.budget_error is not None and not any(a.status == "error" for a in self.attempts):
            error = self.budget_error
        self._record(None, Usage(), 0.0, error=str(error))
        return error

    def _record(self, model: str | None, usage: Usage, cost: float, *, cached: bool = False,
                error: str | None = None) -> None:
        add_cost(cost, usage.input_tokens, usage.output_tokens)
        if not self.gw.recording:
            return
        record = CallRecord(self.call_id, self.target, model, self.started_at, (time.perf_counter() - self.t0) * 1000,
                            list(self.attempts), usage, cost, cached, error, self.stream, self.context.key_id,
                            self.context.tenant)
        reservation, self.reservation = self.reservation, None
        self.gw.record(record, reservation)
