"""Errors a person can act on: each names what went wrong and, where it helps, what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class RagwrightError(Exception):
    """Base class: every error ragwright raises on purpose derives from it."""


class ConfigError(RagwrightError):
    """A configuration file or environment variable holds a key or value that is not allowed."""


class IngestError(RagwrightError):
    """One file could not be ingested; the others go on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class QuestionError(RagwrightError, ValueError):
    """A question or query that cannot be answered as given (empty, too long)."""


class InjectionBlocked(QuestionError):
    """The route's injection policy is "block" and the detector flagged the request."""


class ModelError(RagwrightError):
    """A configured model or embedding endpoint failed or could not be reached. Its text is what a
    caller may be shown (HTTP errors, an answer's note, a trace a key reads): the model's name and
    what went wrong, never the endpoint's address or credentials. `detail` is the operator's (the
    server log): it may name the URL, its credentials masked."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = message if detail is None else detail


class StoreError(RagwrightError):
    """The store cannot be opened or written (schema too new, disk full, locked)."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached now (restarting, network down, every pooled connection
    busy): the request may succeed if tried again, which a server says with 503 and Retry-After."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFoundError(RagwrightError, LookupError):
    """A document id or path that the store does not hold."""


class ProviderError(ModelError):
    """One model call failed. `kind` says how, and decides what the gateway does next:
    retry the same model, fall back to the next one, or give up."""

    RETRYABLE = frozenset({"connection", "timeout", "rate_limited", "overloaded", "server", "conflict", "malformed"})
    # unsupported: the model cannot do what was asked (tools): another model of the route may
    FALLBACK = RETRYABLE | {"not_found", "context_length", "auth", "refusal", "unsupported"}

    def __init__(
        self,
        model: str,
        kind: str,
        message: str,
        *,
        detail: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """`message`: what a caller may read (never an address); `detail`: the operator's."""
        super().__init__(f"model '{model}': {message}", detail=None if detail is None else f"model '{model}': {detail}")
        self.model = model
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in self.RETRYABLE


class Tried(Protocol):
    """One model's attempt, as AllModelsFailed reports it (models.types.Attempt)."""

    @property
    def model(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> str | None: ...

    @property
    def kind(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class AllModelsFailed(ModelError):
    """Every model of a route failed or was skipped; `attempts` says what each did."""

    def __init__(self, route: str, attempts: Sequence[Tried], last: Exception | None = None) -> None:
        tried = "; ".join(f"{a.model}: {a.error or a.status}" for a in attempts) or "no model could be tried"
        super().__init__(f"'{route}': every model failed ({tried})")
        self.route = route
        self.attempts = attempts
        self.last = last


class StreamInterrupted(ModelError):
    """A stream broke after text had been sent: `partial_text` is what arrived, and it is incomplete."""

    def __init__(self, model: str, partial_text: str, cause: str) -> None:
        super().__init__(
            f"model '{model}': the stream broke after {len(partial_text)} characters ({cause}); the text is incomplete"
        )
        self.model = model
        self.partial_text = partial_text
        self.incomplete = True
        self.cause = cause


class BudgetExceeded(ModelError):
    """A call would take a budget past its limit; nothing was sent. The message leaves out what
    was spent (`spent_usd` keeps it): a budget of a route or model is shared by every key and
    tenant, and its spend would tell any caller how busy the others are."""

    def __init__(self, budget: str, limit_usd: float, period: str, spent_usd: float, needed_usd: float) -> None:
        super().__init__(
            f"budget '{budget}' ({limit_usd:.4f} USD per {period}) has too little left for this call, "
            f"which may cost up to {needed_usd:.6f} USD"
        )
        self.budget = budget
        self.limit_usd = limit_usd
        self.period = period
        self.spent_usd = spent_usd
        self.needed_usd = needed_usd


class StructuredOutputError(ModelError):
    """The model's output did not validate against the schema, even after re-asking."""

    def __init__(self, message: str, last_output: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.last_output = last_output
        self.errors = errors


class ToolCallError(ModelError):
    """A model's tool call named no offered tool, or its arguments were not JSON or failed the
    tool's schema, and still did after one re-ask with the errors (models/tool_calls.py), or a
    tool result cannot fit the context. `problems`: one line per fault, "tool: what"."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems
