"""The small chat contract the pipeline uses (answers, judges), served by the gateway: whatever
route or model is named gets retries, fallbacks, caching, cost accounting and budgets. Every
GatewayChat of a workspace wraps its one gateway (`Workspace.gateway`), so that a model's breaker
and latency figures are the same whichever path calls it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from .types import CallContext, ChatMessage, ChatResult

if TYPE_CHECKING:
    from .gateway import Gateway
    from .tools import Tool


class ChatModel(Protocol):
    name: str

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        sources: Sequence[str] | Mapping[str, str] = (),
    ) -> ChatResult:
        """`sources`: ids of the documents quoted in the messages (cached replies are tied to them),
        or doc_id -> the version read (SearchResult.doc_version)."""


class GatewayChat:
    """A route or model of the gateway, seen as one ChatModel."""

    def __init__(
        self, gateway: Gateway, target: str, context: CallContext = CallContext(), *, cache: bool = True
    ) -> None:
        names = gateway.resolve(target)[0]  # an unknown name fails now, with the names that exist
        self.gateway = gateway
        self.name = target
        specs = gateway.settings.models
        self.model = "+".join(f"{specs[n].provider}:{specs[n].model}" for n in names)  # what actually answers
        self.context = context
        self.cache = cache  # False: replies are neither read from nor written to the gateway's caches

    def uncached(self) -> GatewayChat:
        """The same model, its calls kept out of the caches: for a prompt whose text cannot be tied
        to the documents it quotes, so that deleting one could not take its cached replies along."""
        return GatewayChat(self.gateway, self.name, self.context, cache=False)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        sources: Sequence[str] | Mapping[str, str] = (),
        json_schema: dict[str, Any] | None = None,
        tools: Sequence[Tool] = (),
        tool_choice: str = "auto",
    ) -> ChatResult:
        """`json_schema`: constrain the reply to JSON of this shape where the provider can.
        `tools`: what the model may call; its validated calls are in the result's `tool_calls`."""
        return self.gateway.chat(
            messages,
            **self._asked(temperature, max_tokens, sources),
            json_schema=json_schema,
            schema_name="verdict",
            tools=tools,
            tool_choice=tool_choice,
        )

    def _asked(self, temperature: float, max_tokens: int, sources: Sequence[str] | Mapping[str, str]) -> dict[str, Any]:
        """What complete() and stream() ask the gateway alike: this route, as this caller."""
        versions = tuple(sources.items()) if isinstance(sources, Mapping) else ()
        context = replace(self.context, sources=tuple(sources), versions=versions) if sources else self.context
        return {
            "model": self.name,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "context": context,
            "use_cache": self.cache,
        }

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        sources: Sequence[str] | Mapping[str, str] = (),
    ) -> Iterator[str]:
        """complete()'s text as it arrives: the gateway's streaming path (fallbacks before the first
        text, retries, caching, costs and budgets alike)."""
        with self.gateway.stream(messages, **self._asked(temperature, max_tokens, sources)) as stream:
            yield from stream


__all__ = ["ChatMessage", "ChatModel", "ChatResult", "GatewayChat"]
