"""Model access beside the pipeline: embedders, and the gateway over chat models. Names load on
first use: the gateway alone needs neither numpy nor onnxruntime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ChatModel": "chat", "GatewayChat": "chat",
    "Embedder": "embedding", "LocalMiniLM": "embedding", "OpenAIEmbedder": "embedding", "make_embedder": "embedding",
    "ChatStream": "streaming", "Gateway": "gateway",
    "Attempt": "types", "CallContext": "types", "CallRecord": "types", "ChatMessage": "types", "ChatRequest": "types",
    "ChatResult": "types", "Usage": "types",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .chat import ChatModel, GatewayChat
    from .embedding import Embedder, LocalMiniLM, OpenAIEmbedder, make_embedder
    from .gateway import Gateway
    from .streaming import ChatStream
    from .types import Attempt, CallContext, CallRecord, ChatMessage, ChatRequest, ChatResult, Usage
