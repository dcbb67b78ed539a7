"""Model access beside the pipeline: embedders, and the gateway over chat models."""

from .chat import ChatModel, GatewayChat, make_chat_model
from .embedding import Embedder, LocalMiniLM, OpenAIEmbedder, make_embedder
from .gateway import ChatStream, Gateway
from .types import Attempt, CallContext, CallRecord, ChatMessage, ChatRequest, ChatResult, Usage

__all__ = [
    "Attempt",
    "CallContext",
    "CallRecord",
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResult",
    "ChatStream",
    "Embedder",
    "Gateway",
    "GatewayChat",
    "LocalMiniLM",
    "OpenAIEmbedder",
    "Usage",
    "make_chat_model",
    "make_embedder",
]
