"""The bookkeeping of one gateway call (`Gateway.chat`, `.stream`, `.generate`): which models
to try in what order, the deadline, budget reservations, privacy, the cache and the CallRecord
left behind. Private to the gateway; split out so that each file reads on its own."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ..config import ModelSettings
from ..errors import AllModelsFailed, BudgetExceeded, ProviderError
from ..observe import add_cost, span
from ..store.contract.data import BudgetCheck
from . import ledger
from .privacy import CallPrivacy
from .providers import ProviderReply
from .resilience import Deadline
from .types import Attempt, CallContext, CallRecord, ChatMessage, ChatRequest, ChatResult, Usage

if TYPE_CHECKING:
    from .gateway import Gateway

_SCOPE_COLUMN = {"key": "key_id", "tenant": "tenant", "route": "route", "model": "model", "global": "1"}


def _line(m: ChatMessage) -> str:
    calls = "".join(f"\n-> {c.name}({c.raw_arguments}) [{c.id}]" for c in m.tool_calls)
    role = f"tool {m.name} [{m.tool_call_id}]" if m.role == "tool" else m.role
    return f"{role}: {m.content}{calls}"


def _transcript(messages: Sequence[ChatMessage]) -> str:
    return "\n\n".join(_line(m) for m in messages)


class Call:
    """The bookkeeping of one gateway call: attempts, deadline, budget reservation, record."""

    def __init__(self, gw: Gateway, target: str, request: ChatRequest, context: CallContext, stream: bool) -> None:
        self.gw, self.target, self.request, self.context, self.stream = gw, target, request, context, stream
        self.names, strategy, rule, self.refusal_fallback = gw.resolve(target)
        self.deadline = Deadline(rule.seconds, rule)
        self.cut_short = False  # the last attempt's timeout was the deadline's remainder, not the model's own
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        self.call_id = "c" + secrets.token_hex(8)
        self._input_tokens: int | None = None
        # Counting tokens costs ~2 ms on a RAG-sized prompt: the UTF-8 bytes bound the estimate from
        # above and settle most context-window checks; the estimate is made only when needed.
        self.input_bound = ledger.input_bytes(request.messages, request.tools)
        self.names = gw._ordered(self.names, strategy, request, self)
        self.attempts: list[Attempt] = []
        self.reservation: str | None = None
        self.budget_error: BudgetExceeded | None = None
        self.last_error: Exception | None = None
        self.min_window = 0  # after a context-length error, only larger windows are worth trying
        self.privacy: CallPrivacy | None = None  # once a redacting model is tried
        self.raw_text: str | None = None

    @property
    def cache_target(self) -> str:
        """Cached replies, exact and semantic, are kept per route, tenant and reader (what the
        caller may read: `CallContext.reader`, else its key). Per tenant alone, a semantic hit
        served one key the reply made for another's prompt (the follow-up rewriter's prompt is a
        whole conversation: another group's, about another person), and an exact hit told a key
        that someone of its tenant had sent the very same conversation. Readers of the same
        groups share their entries; a call with no key (the operator's, a library's) is kept per
        tenant."""
        context = self.context
        reader = context.reader if context.reader is not None else f"key:{context.key_id or ''}"
        return json.dumps([self.target, context.tenant or "", reader])

    @property
    def input_tokens(self) -> int:
        if self._input_tokens is None:
            self._input_tokens = ledger.estimate_input_tokens(self.request.messages, self.request.tools)
        return self._input_tokens

    # -- privacy: what a `privacy = "redact"` model may see, and its answer restored ------------

    def request_for(self, spec: ModelSettings) -> ChatRequest:
        if spec.privacy != "redact":
            return self.request
        if self.privacy is None:
            redaction = self.gw.guards.new_redaction(f'{spec.model}\'s privacy = "redact"')
            self.privacy = CallPrivacy(redaction, self.gw.settings.gateway.redact_max_chars)
        return self.privacy.request(self.request, spec.privacy_entities)

    def restored(self, spec: ModelSettings, reply: ProviderReply) -> ProviderReply:
        if spec.privacy != "redact" or self.privacy is None:
            return reply
        self.raw_text = reply.text
        calls = self.privacy.restore_calls(reply.tool_calls)
        return dataclasses.replace(reply, text=self.privacy.restore(reply.text), tool_calls=calls)

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

    def span_fields(self, result: ChatResult) -> dict[str, Any]:
        """What the call's "model.call" span records of its result (tool calls as OpenAI writes them)."""
        calls = {"tool_calls": [c.to_openai() for c in result.tool_calls]} if result.tool_calls else {}
        return {
            **calls,
            "model": result.model,
            "output": self.traced_output(result.text),
            "cached": result.cached,
            "cost_usd": result.cost_usd,
            "input_tokens": result.usage.input_tokens,
            "output_tokens": result.usage.output_tokens,
        }

    def cached(self) -> ChatResult | None:
        gw, hit = self.gw, None
        if gw._exact is not None and self.request.temperature == 0:
            hit = gw._exact.get(self.cache_target, self.request)
        # the semantic cache never answers a turn with tools: a similar prompt is not the same call
        if hit is None and gw._semantic is not None and self.request.temperature == 0 and not self.request.has_tools:
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
                self.attempts.append(Attempt(name, "skipped", f"{self.deadline.describe()} had passed"))
                continue
            if self.request.tools and not spec.tools:
                self.attempts.append(Attempt(name, "skipped", f"takes no tools (models.{name}.tools = false)"))
                continue
            if spec.context_window <= self.min_window:
                self.attempts.append(
                    Attempt(name, "skipped", f"context window {spec.context_window} no larger than one that overflowed")
                )
                continue
            needed = self.request.max_tokens + (
                self.input_bound
                if self.input_bound + self.request.max_tokens <= spec.context_window
                else self.input_tokens
            )
            if spec.context_window < needed:
                self.attempts.append(
                    Attempt(name, "skipped", f"context window {spec.context_window} too small (needs about {needed})")
                )
                continue
            if not self.gw.breaker(name).allow():
                self.attempts.append(Attempt(name, "skipped", "circuit open after repeated failures"))
                continue
            if not self._reserve(name, spec):
                continue
            try:
                yield name, spec
            finally:  # also when the attempts stop here (a stream closed mid-answer): never left to expire
                self._release()

    def _reserve(self, name: str, spec: ModelSettings) -> bool:
        budgets = ledger.applicable(self.gw.settings.budgets, self.target, name, self.context, self.gw.settings.routes)
        if not budgets:
            return True
        amount = ledger.max_cost_usd(spec, self.input_tokens, self.request.max_tokens)
        checks = [
            BudgetCheck(n, _SCOPE_COLUMN[b.scope], subject, ledger.period_start(b.period), b.limit_usd, counted)
            for n, b, subject, counted in budgets
        ]
        reservation = "v" + secrets.token_hex(8)
        over = self.gw.records.reserve_budget(reservation, checks, amount)
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
            self.gw.records.release_budget(self.reservation)
            self.reservation = None

    def attempt_timeout(self, spec: ModelSettings) -> float:
        remaining = self.deadline.remaining()
        self.cut_short = remaining < spec.timeout_s
        return max(0.001, min(spec.timeout_s, remaining))

    def _explained(self, name: str, spec: ModelSettings, exc: ProviderError) -> str:
        """A timeout the deadline imposed says so: a model given timeout_s = 300 that "did not
        answer in time" after 60 s otherwise reads like a slow model, not like a setting to change."""
        if exc.kind != "timeout" or not self.cut_short:
            return str(exc)
        return (
            f"{exc}: stopped by {self.deadline.describe()}, before its own models.{name}.timeout_s of "
            f"{spec.timeout_s:g} s"
        )

    def tries(self) -> Iterator[Try]:
        """The attempts of this call in turn, for `with attempt:` around one provider request: the
        route's models in order (those the deadline, context window, breaker and budget allow),
        each tried again while retry_same_model() says so. The one attempt loop of the gateway,
        streaming or not."""
        for name, spec in self.candidates():
            number = 0
            while True:
                attempt = Try(self, name, spec, number)
                yield attempt
                if not attempt.again:
                    break
                number += 1

    def note_failure(self, name: str, spec: ModelSettings, exc: ProviderError, started: float) -> None:
        """Record a failed attempt and tell the model's breaker; re-raise a failure that every
        model would share (a bad request), after recording the call."""
        self.last_error = exc
        self.attempts.append(
            Attempt(name, "error", self._explained(name, spec, exc), (time.perf_counter() - started) * 1000, exc.kind)
        )
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

    def retry_same_model(self, name: str, spec: ModelSettings, exc: ProviderError, number: int) -> bool:
        """After failed attempt `number` (0-based): True, once the pause before the next attempt
        at the same model has passed; False when the call should move on to the next model."""
        if not exc.retryable or self.gw.breaker(name).state == "open":
            return False
        if number >= self.gw._policy.retries(spec.max_retries):
            return False
        if exc.kind == "timeout" and self.deadline.remaining() < 2 * spec.timeout_s:
            return False  # another full timeout here would leave nothing for the models after it
        pause = self.gw._policy.delay(number + 1, exc.retry_after, self.gw._rng)
        if pause is None or pause >= self.deadline.remaining():
            return False
        time.sleep(pause)
        return True

    def refused(self, name: str, reply: ProviderReply, started: float) -> bool:
        if reply.refusal is None or not self.refusal_fallback:
            return False
        self.attempts.append(
            Attempt(
                name,
                "error",
                f"model '{name}' refused: {reply.refusal[:200]}",
                (time.perf_counter() - started) * 1000,
                "refusal",
            )
        )
        return True

    def succeeded(
        self,
        name: str,
        spec: ModelSettings,
        reply: ProviderReply,
        started: float,
        use_cache: bool,
        incomplete: bool = False,
    ) -> ChatResult:
        latency = (time.perf_counter() - started) * 1000
        self.gw.breaker(name).success()
        self.gw.observe_latency(name, latency)
        self.attempts.append(Attempt(name, "ok", None, latency))
        usage = reply.usage or Usage(
            self.input_tokens, ledger.count_output(reply.text, reply.tool_calls, reply.hidden), estimated=True
        )
        cost = ledger.cost_usd(spec, usage)
        result = ChatResult(
            text=reply.text if reply.refusal is None else (reply.text or reply.refusal),
            model=name,
            usage=usage,
            latency_ms=(time.perf_counter() - self.t0) * 1000,
            finish_reason="refusal" if reply.refusal else reply.finish_reason,
            cost_usd=cost,
            attempts=self.attempts,
            incomplete=incomplete,
            tool_calls=list(reply.tool_calls),
        )
        self._record(name, usage, cost, error="incomplete stream" if incomplete else None)
        if self.cacheable(reply, use_cache, incomplete):
            for cache in (self.gw._exact, None if self.request.has_tools else self.gw._semantic):
                if cache is not None:  # linked to its documents in the same transaction
                    cache.put(self.cache_target, self.request, result, self.context.quoted())
        return result

    def cacheable(self, reply: ProviderReply, use_cache: bool, incomplete: bool) -> bool:
        """A reply that calls tools is never cached: the gateway cannot know whether a tool acts on
        the world (a cached call would be run again by a caller that retries), nor make a provider's
        temperature 0 deterministic. A text reply to a turn with tools is cached by the exact cache
        only, keyed by the tools, the choice and every call and result before it (cache.request_key),
        and only when the choice is "auto" or "none": a text reply to a turn that required a call
        fails validation, and cached it would fail every identical request for the cache's lifetime.
        A re-ask's reply is never cached either (tool_calls.settle asks without the cache)."""
        if not use_cache or incomplete or reply.refusal is not None or self.request.temperature != 0:
            return False
        return not reply.tool_calls and self.request.tool_choice in ("auto", "none")

    def exhausted(self) -> Exception:
        self._release()
        error: Exception = AllModelsFailed(self.target, self.attempts, self.last_error)
        if self.budget_error is not None and not any(a.status == "error" for a in self.attempts):
            error = self.budget_error
        self._record(None, Usage(), 0.0, error=str(error))
        return error

    def _record(
        self, model: str | None, usage: Usage, cost: float, *, cached: bool = False, error: str | None = None
    ) -> None:
        add_cost(cost, usage.input_tokens, usage.output_tokens)
        if not self.gw.recording:
            return
        record = CallRecord(
            self.call_id,
            self.target,
            model,
            self.started_at,
            (time.perf_counter() - self.t0) * 1000,
            list(self.attempts),
            usage,
            cost,
            cached,
            error,
            self.stream,
            self.context.key_id,
            self.context.tenant,
        )
        reservation, self.reservation = self.reservation, None
        self.gw.record(record, reservation)


class _Settable(Protocol):
    """A span, or the stand-in outside a trace."""

    def set(self, **attributes: Any) -> None: ...


class Try:
    """One attempt at one model, as the context around its provider request (`Call.tries()`).
    A ProviderError inside is noted (the attempt, the breaker, the "model.attempt" span) and does
    not propagate; `again` then says whether the same model is tried next. Anything else, and a
    failure no other model would escape, propagates."""

    def __init__(self, call: Call, name: str, spec: ModelSettings, number: int) -> None:
        self.call, self.name, self.spec, self.number = call, name, spec, number
        self.started = 0.0
        self.again = False
        self._context: AbstractContextManager[_Settable] | None = None
        self._span: _Settable | None = None

    def __enter__(self) -> Try:
        self._context = span("model.attempt", model=self.name, attempt=self.number + 1)
        self._span = self._context.__enter__()
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        assert self._context is not None and self._span is not None
        if not isinstance(exc, ProviderError):
            self._context.__exit__(kind, exc, tb)
            return False
        self._span.set(status="error", error=str(exc), kind=exc.kind)
        self._context.__exit__(None, None, None)  # the attempt failed, the span's work did not
        self.call.note_failure(self.name, self.spec, exc, self.started)
        self.again = self.call.retry_same_model(self.name, self.spec, exc, self.number)
        return True
