"""Plain data that crosses the gateway's boundary: requests, results, usage, and the record of
each call that observers (traces, cost reports) receive."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    temperature: float = 0.0
    max_tokens: int = 512
    json_schema: dict[str, Any] | None = None  # ask for output that follows this JSON schema
    schema_name: str = "output"
    stop: tuple[str, ...] = ()

    def wire_messages(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False  # counted here because the provider did not say

    def to_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass(slots=True)
class ChatResult:
    text: str
    model: str  # the configured model name that answered
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    finish_reason: str = ""
    cost_usd: float = 0.0
    cached: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    incomplete: bool = False

    @property
    def input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.usage.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """The object `ragwright chat --json` prints."""
        return {
            "text": self.text,
            "model": self.model,
            "attempts": [a.to_dict() for a in self.attempts],
            "usage": self.usage.to_dict(),
            "cost_usd": round(self.cost_usd, 10),
            "cached": self.cached,
        }


@dataclass(slots=True)
class Attempt:
    model: str
    status: str  # "ok" | "error" | "skipped" | "cached"
    error: str | None = None
    latency_ms: float = 0.0
    kind: str = ""  # the ProviderError kind, when it failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass(slots=True)
class CallRecord:
    """One call through the gateway, as traces and cost reports see it."""

    call_id: str
    route: str
    model: str | None
    started_at: float
    latency_ms: float
    attempts: list[Attempt]
    usage: Usage
    cost_usd: float
    cached: bool
    error: str | None = None
    stream: bool = False
    key_id: str | None = None
    tenant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling: budgets and cost reports are kept per key, tenant and route."""

    key_id: str | None = None
    tenant: str | None = None
    sources: tuple[str, ...] = ()  # documents quoted in the request: a cached reply is deleted with them
