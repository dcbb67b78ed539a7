"""What calls cost, and budgets that hold under concurrency.

Cost comes from the provider's usage (or a token count made here when it is absent) and the
price table in `ragwright.toml`. A budget is checked before a call by reserving the call's
largest possible cost (input tokens, counted from above by count_tokens, plus `max_tokens` of
output) in one store transaction, and settled with the real cost afterwards: concurrent calls
see each other's reservations, each held until its call is recorded, so together they cannot
overshoot a limit by more than one call's estimate error. The estimate must not fall short: a
WordPiece count did by 10-160x for emoji or long runs (review 13), and N calls at once each
reserved a pittance."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..config import BudgetSettings, ModelSettings, RouteSettings
from .types import CallContext, ChatMessage, ToolCall, Usage

if TYPE_CHECKING:
    from .tools import Tool

MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per message, as chat templates add them
ASCII_BYTES_PER_TOKEN = 4  # the floor's rates: see count_tokens
OTHER_BYTES_PER_TOKEN = 2
_SPACING = re.compile(r"\s{2,}|[^\S ]")  # a run of spacing, or a newline, tab or control character


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    """The bundled MiniLM WordPiece vocabulary, normalised without cleaning or accent stripping:
    control characters and combining marks then stay in their word and make it unknown, where the
    embedder's normaliser deletes them (20,000 of them counted as nothing)."""
    from tokenizers import Tokenizer, normalizers

    from .embedding import TOKENIZER_FILE, TOKENIZER_PACKAGE, TOKENIZER_SHA256, _packaged_file

    tok = Tokenizer.from_file(str(_packaged_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=True
    )
    tok.no_truncation()
    tok.no_padding()
    return tok


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def count_tokens(text: str) -> int:
    """An estimate of a provider's token count that bounds it from above for the texts a budget
    must not trust: used for budget reservations, context-window checks and the ledger when a
    provider reports no usage.

    It is the larger of two counts. (1) WordPiece pieces of the bundled vocabulary, where each
    unknown piece (`[UNK]`: a character outside the vocabulary, or any word over 100 characters)
    counts one token per UTF-8 byte of what it covers, plus ceil(n / 2) for each run of spacing
    (two or more, or any newline, tab or control character). Byte-level BPE (OpenAI-style) gives
    at most one token per byte, so unknown runs are bounded whatever they hold; a plain WordPiece
    count made 20,000 emoji or 'a' * 20,000 one token. (2) A floor of one token per 4 ASCII bytes
    and per 2 other bytes, for known characters that BPE splits finer than WordPiece.

    Measured against the larger of cl100k_base and o200k_base (estimate / real, the worst text and
    the whole set): SciFact abstracts 0.93 / 1.19; the pgdocs pages in 1,500-character pieces
    0.67 / 1.19 (the worst a 6-byte piece, 2 for 3); gettext catalogues (/usr/share/locale, ~300 KB
    each) in German, French, Spanish, Polish, Turkish 1.2-1.35 / 1.5-1.65, Russian 1.6 / 2.1,
    Chinese, Japanese, Korean, Hindi, Vietnamese 1.35-1.75 / 1.6-2.3, Thai 2.2 / 2.8, Hebrew
    0.87 / 0.90 (the one script under 1). Adversarial runs (emoji, rare CJK, private-use, control
    and combining characters, base64, hex, digits, random ASCII) 1.0-4.0 and whitespace 1.5-3.9,
    never under. Bytes alone (the hard bound) would be 4.7x for English; bytes / 2 is 0.7x for
    random emoji and 0.5x for rare CJK. Other providers' tokenizers were not measured: read the
    estimate as a bound on unusual input and as about 1.2x for English prose."""
    if not text:
        return 0
    try:
        encoding = _tokenizer().encode(text, add_special_tokens=False)  # the Rust tokenizer is thread-safe
    except TypeError:  # a lone surrogate (JSON may carry one): as U+FFFD, the same three bytes
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        encoding = _tokenizer().encode(text, add_special_tokens=False)
    ids = encoding.ids
    count = len(ids)
    unknown = _unknown_id()
    if unknown in ids:
        count += sum(utf8_bytes(text[a:b]) - 1 for i, (a, b) in zip(ids, encoding.offsets, strict=True) if i == unknown)
    count += sum(-(-len(m.group()) // 2) for m in _SPACING.finditer(text))
    total = utf8_bytes(text)
    ascii_bytes = total if text.isascii() else len(text.encode("ascii", "ignore"))
    other_bytes = total - ascii_bytes
    floor = -(-(ascii_bytes + other_bytes * ASCII_BYTES_PER_TOKEN // OTHER_BYTES_PER_TOKEN) // ASCII_BYTES_PER_TOKEN)
    return max(count, floor)


@lru_cache(maxsize=1)
def _unknown_id() -> int:
    found = _tokenizer().token_to_id("[UNK]")
    return -1 if found is None else int(found)


def _calls_text(calls: Sequence[ToolCall]) -> str:
    return "".join(f" {c.name} {c.raw_arguments}" for c in calls)


def tools_text(tools: Sequence[Tool]) -> str:
    """What offering the tools puts before a model: their names, descriptions and schemas."""
    return "".join(f"{t.name} {t.description} {json.dumps(t.parameters)}" for t in tools)


def input_bytes(messages: Sequence[ChatMessage], tools: Sequence[Tool] = ()) -> int:
    """An upper bound of `estimate_input_tokens` that costs no tokenizing: count_tokens is at most
    a text's UTF-8 bytes plus one (each piece covers a byte or more, unknown ones count their bytes,
    the floor is under a byte a token). Settles most context-window checks at once; a character
    count did not (one emoji is four bytes and up to four tokens)."""
    text = sum(utf8_bytes(m.content + _calls_text(m.tool_calls)) + 1 + MESSAGE_OVERHEAD_TOKENS for m in messages)
    # a tool's JSON schema is ASCII (json.dumps escapes the rest): its size in characters is in bytes
    schemas = sum(t.size + 2 + utf8_bytes(t.name + t.description) - len(t.name + t.description) for t in tools)
    return text + 2 + (schemas + 1 if tools else 0)


def estimate_input_tokens(messages: Sequence[ChatMessage], tools: Sequence[Tool] = ()) -> int:
    schemas = count_tokens(tools_text(tools)) if tools else 0
    return (
        sum(count_tokens(m.content + _calls_text(m.tool_calls)) + MESSAGE_OVERHEAD_TOKENS for m in messages)
        + 2
        + schemas
    )


def count_output(text: str, calls: Sequence[ToolCall] = (), hidden: str = "") -> int:
    """A reply's tokens when the provider did not count them: its text, its calls and what it
    wrote that the reply does not carry (`hidden`: reasoning, a refusal), all of it billed."""
    return count_tokens(text + hidden + _calls_text(calls))


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


def period_end(period: str, now: datetime | None = None) -> float | None:
    """When a budget's period ends and its spending starts again from nothing; None for "total"."""
    now = now or datetime.now(UTC)
    if period not in ("hour", "day", "month"):
        return None
    start = datetime.fromtimestamp(period_start(period, now), UTC)
    if period == "hour":
        return (start + timedelta(hours=1)).timestamp()
    if period == "day":
        return (start + timedelta(days=1)).timestamp()
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1).timestamp()


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
