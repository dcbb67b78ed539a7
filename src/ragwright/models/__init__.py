"""Model access beside the pipeline: embedders, and the gateway over chat models. Names load on
first use: the gateway alone needs neither numpy nor onnxruntime."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ChatModel": "chat", "GatewayChat": "chat", "make_chat_model": "chat",
    "Embedder": "embedding", "LocalMiniLM": "embedding", "OpenAIEmbedder": "embedding", "make_embedder": "embedding",
    "ChatStream": "streaming", "Gateway": "gateway",
    "Attempt": "types", "CallContext": "types", "CallRecord": "types", "ChatMessage": "types", "ChatRequest": "types",
    "ChatResult": "types", "Usage": "types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ragwright.models' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .chat import ChatModel, GatewayChat, make_chat_model
    from .embedding import Embedder, LocalMiniLM, OpenAIEmbedder, make_embedder
    from .gateway import Gateway
    from .streaming import ChatStream
    from .types import Attempt, CallContext, CallRecord, ChatMessage, ChatRequest, ChatResult, Usage
