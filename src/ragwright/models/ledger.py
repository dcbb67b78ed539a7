"""What calls cost, and budgets that hold under concurrency.

Cost comes from the provider's usage (or a token count made here when it is absent) and the
price table in `ragwright.toml`. A budget is checked before a call by reserving the call's
largest possible cost (input tokens plus `max_tokens` of output) in one store transaction,
and settled with the real cost afterwards: concurrent calls see each other's reservations, so
together they cannot overshoot a limit by more than one call's estimate error."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..config import BudgetSettings, ModelSettings, RouteSettings
from .types import CallContext, ChatMessage, ToolCall, Usage

if TYPE_CHECKING:
    from .tools import Tool

MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per message, as chat templates add them


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    from .embedding import TOKENIZER_FILE, TOKENIZER_PACKAGE, TOKENIZER_SHA256, _packaged_file

    tok = Tokenizer.from_file(str(_packaged_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(text: str) -> int:
    """A WordPiece count (the bundled MiniLM vocabulary): close to BPE counts for English text,
    used only when a provider does not report usage."""
    if not text:
        return 0
    return len(_tokenizer().encode(text, add_special_tokens=False).ids)  # the Rust tokenizer is thread-safe


def _calls_text(calls: Sequence[ToolCall]) -> str:
    return "".join(f" {c.name} {c.raw_arguments}" for c in calls)


def tools_text(tools: Sequence[Tool]) -> str:
    """What offering the tools puts before a model: their names, descriptions and schemas."""
    return "".join(f"{t.name} {t.description} {json.dumps(t.parameters)}" for t in tools)


def tools_chars(tools: Sequence[Tool]) -> int:
    return sum(t.size for t in tools)


def estimate_input_tokens(messages: Sequence[ChatMessage], tools: Sequence[Tool] = ()) -> int:
    schemas = count_tokens(tools_text(tools)) if tools else 0
    return (
        sum(count_tokens(m.content + _calls_text(m.tool_calls)) + MESSAGE_OVERHEAD_TOKENS for m in messages)
        + 2
        + schemas
    )


def count_output(text: str, calls: Sequence[ToolCall] = ()) -> int:
    """A reply's tokens when the provider did not count them: its text and its calls."""
    return count_tokens(text + _calls_text(calls))


def cost_usd(spec: ModelSettings, usage: Usage) -> float:
    return (usage.input_tokens * spec.input_price_per_mtok + usage.output_tokens * spec.output_price_per_mtok) / 1e6


def max_cost_usd(spec: ModelSettings, input_tokens: int, max_tokens: int) -> float:
    return cost_usd(spec, Usage(input_tokens, max_tokens))


def period_start(period: str, now: datetime | None = None) -> float:
    """Budgets reset on calendar boundaries in UTC; "total" never resets."""
    now = now or datetime.now(UTC)
    if period == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
    elif period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elif period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        return 0.0
    return start.timestamp()


def applicable(
    budgets: dict[str, BudgetSettings],
    route: str,
    model: str,
    ctx: CallContext,
    routes: Mapping[str, RouteSettings] | None = None,
) -> list[tuple[str, BudgetSettings, str | None, tuple[str, ...]]]:
    """The budgets a call counts against, each with the subject it is kept for and the `route`
    values whose calls count against it (empty: the subject's alone). A model called by its own
    name (`route` is no route of `routes`) also counts against the route budgets of every route
    that contains it, and those count its direct calls: naming the model spent on past a route's
    budget (any read key could, GET /v1/models lists it)."""
    routes = routes or {}
    direct = [] if route in routes else [r for r, spec in routes.items() if model in spec.models]
    out: list[tuple[str, BudgetSettings, str | None, tuple[str, ...]]] = []
    for name, b in budgets.items():
        if b.scope == "route":
            for r in direct:
                if not b.subject or b.subject == r:
                    out.append((name, b, r, (r, *routes[r].models)))
        subject = {"key": ctx.key_id, "tenant": ctx.tenant, "route": route, "model": model, "global": None}[b.scope]
        if b.scope == "global" or (subject is not None and (not b.subject or b.subject == subject)):
            counted = (route, *routes[route].models) if b.scope == "route" and route in routes else ()
            out.append((name, b, subject, counted))
    return out
