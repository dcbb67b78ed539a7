"""Plain data that crosses the gateway's boundary: requests, results, usage, and the record of
each call that observers (traces, cost reports) receive. Tool definitions are in tools.py; a
tool call and the messages that carry calls and results are here, beside the messages they are."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import Access
    from .tools import Tool


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call a model asked for. `arguments` is `raw_arguments` parsed ({} when it is not a JSON
    object: the gateway re-asks before such a call reaches a caller, see tool_calls.py); the raw
    string is kept because that is what a provider must be shown again, byte for byte."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str = "{}"

    @classmethod
    def parse(cls, id: str, name: str, raw: str | dict[str, Any] | None) -> ToolCall:
        """From a provider's wire form: OpenAI sends a JSON string, Anthropic an object."""
        if isinstance(raw, dict):
            return cls(id, name, raw, json.dumps(raw, ensure_ascii=False))
        text = raw or ""
        try:
            parsed = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError):  # not JSON, an integer over 4300 digits, "[" nested 100000 deep
            parsed = None
        return cls(id, name, parsed if isinstance(parsed, dict) else {}, text or "{}")

    def to_openai(self) -> dict[str, Any]:
        """As OpenAI's `tool_calls[]` item (the server's replies and the OpenAI wire format)."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.raw_arguments}}


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """role "system" | "user" | "assistant" | "tool". An assistant turn that called tools carries
    them in `tool_calls` (its `content` may be empty); a "tool" message is one call's result:
    `tool_call_id` says which, `name` the tool, `error` that the tool failed (Anthropic's
    is_error). Build results with tools.tool_result()."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    error: bool = False

    @property
    def size(self) -> int:
        """Characters the message puts before a model, calls included (context-window checks)."""
        return len(self.content) + sum(len(c.name) + len(c.raw_arguments) + 30 for c in self.tool_calls)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    temperature: float = 0.0
    max_tokens: int = 512
    json_schema: dict[str, Any] | None = None  # ask for output that follows this JSON schema
    schema_name: str = "output"
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: str = "auto"  # "auto" | "none" | "required" | the name of one tool
    parallel_tool_calls: bool | None = None  # False: at most one call per reply; None: the provider's default

    def wire_messages(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]

    @property
    def has_tools(self) -> bool:
        """Whether tools are offered, or calls and results are part of the conversation."""
        return bool(self.tools) or any(m.tool_calls or m.role == "tool" for m in self.messages)


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
    tool_calls: list[ToolCall] = field(default_factory=list)  # validated against their tools' schemas
    reasked: int = 0  # re-asks made because a tool call did not validate (tool_calls.py)

    @property
    def message(self) -> ChatMessage:
        """The reply as the next turn's assistant message (its tool calls included)."""
        return ChatMessage("assistant", self.text, tuple(self.tool_calls))

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
            **({"tool_calls": [c.to_openai() for c in self.tool_calls]} if self.tool_calls else {}),
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
    """Who is calling: budgets and cost reports are kept per key, tenant and route; cached replies
    per tenant and reader (`reader`: what the caller may read, its groups and admin-ness, so that
    a reply made for one reader's prompt never serves another's; None: kept per key)."""

    key_id: str | None = None
    tenant: str | None = None
    sources: tuple[str, ...] = ()  # documents quoted in the request: a cached reply is deleted with them
    reader: str | None = None
    versions: tuple[tuple[str, str], ...] = ()  # (doc_id, version read) of sources, where known

    def quoted(self) -> dict[str, str]:
        """The documents quoted, each with the version it was read at ("" unknown): a trace or a
        cached reply made from one replaced meanwhile is not kept (store/quoted.py)."""
        read = dict(self.versions)
        return {d: read.get(d, "") for d in self.sources}

    @classmethod
    def of_key(cls, key_id: str | None, access: Access) -> CallContext:
        """The context of a key's calls (or, key_id None, a library call reading as `access`): its
        id, tenant, and what it may read."""
        reader = "\n".join(["admin" if access.admin else "", *access.scope_groups()])  # one group a line
        return cls(key_id=key_id, tenant=access.tenant, reader=reader)
