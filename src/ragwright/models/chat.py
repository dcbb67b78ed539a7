"""The small chat contract the pipeline uses (answers, judges), served by the gateway: whatever
route or model is named gets retries, fallbacks, caching, cost accounting and budgets."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence

from .types import CallContext, ChatMessage, ChatResult

if TYPE_CHECKING:
    from ..config import Settings
    from .gateway import Gateway


class ChatModel(Protocol):
    name: str

    def complete(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0, max_tokens: int = 512,
        sources: Sequence[str] = (),
    ) -> ChatResult:
        """`sources`: ids of the documents quoted in the messages (cached replies are tied to them)."""


class GatewayChat:
    """A route or model of the gateway, seen as one ChatModel."""

    def __init__(self, gateway: "Gateway", target: str, context: CallContext = CallContext()) -> None:
        names = gateway.resolve(target)[0]  # an unknown name fails now, with the names that exist
        self.gateway = gateway
        self.name = target
        specs = gateway.settings.models
        self.model = "+".join(f"{specs[n].provider}:{specs[n].model}" for n in names)  # what actually answers
        self.context = context

    def complete(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0, max_tokens: int = 512,
        sources: Sequence[str] = (), json_schema: dict | None = None,
    ) -> ChatResult:
        """`json_schema`: constrain the reply to JSON of this shape where the provider can."""
        context = self._with_sources(sources)
        return self.gateway.chat(messages, model=self.name, temperature=temperature, max_tokens=max_tokens,
                                 context=context, json_schema=json_schema, schema_name="verdict")

    def _with_sources(self, sources: Sequence[str]) -> CallContext:
        return replace(self.context, sources=tuple(sources)) if sources else self.context

    def stream(self, messages: Sequence[ChatMessage], *, temperature: float = 0.0, max_tokens: int = 512,
               sources: Sequence[str] = ()) -> Iterator[str]:
        """complete()'s text as it arrives: the gateway's streaming path (fallbacks before the first
        text, retries, caching, costs and budgets alike)."""
        context = self._with_sources(sources)
        with self.gateway.stream(messages, model=self.name, temperature=temperature, max_tokens=max_tokens,
                                 context=context) as stream:
            yield from stream


def make_chat_model(settings: "Settings", name: str, store: Any = None) -> GatewayChat:
    """The route or [models.NAME] called `name`, through a gateway (with `store`: caches, costs, budgets)."""
    from .gateway import Gateway

    return GatewayChat(Gateway(settings, store), name)


__all__ = ["ChatMessage", "ChatModel", "ChatResult", "GatewayChat", "make_chat_model"]
