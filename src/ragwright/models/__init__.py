"""Model access beside the pipeline: embedders and chat models behind small protocols."""

from .chat import ChatMessage, ChatModel, ChatResult, OpenAICompatibleChat, make_chat_model
from .embedding import Embedder, LocalMiniLM, OpenAIEmbedder, make_embedder

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatResult",
    "Embedder",
    "LocalMiniLM",
    "OpenAICompatibleChat",
    "OpenAIEmbedder",
    "make_chat_model",
    "make_embedder",
]
