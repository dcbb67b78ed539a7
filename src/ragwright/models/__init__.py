"""Model access beside the pipeline: embedders, and the gateway over chat models and the tools
they may call (Tool, ToolCall, tool_result). Names load on first use: the gateway alone needs
neither numpy nor onnxruntime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ChatModel": "chat",
    "GatewayChat": "chat",
    "Embedder": "embedding",
    "LocalMiniLM": "embedding",
    "OpenAIEmbedder": "openai_embedding",
    "make_embedder": "embedding",
    "ChatStream": "streaming",
    "Gateway": "gateway",
    "Attempt": "types",
    "CallContext": "types",
    "CallRecord": "types",
    "ChatMessage": "types",
    "ChatRequest": "types",
    "ChatResult": "types",
    "ToolCall": "types",
    "Usage": "types",
    "Tool": "tools",
    "tool_result": "tools",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    # `X as X`: re-exported for type checkers (the names are loaded lazily at run time)
    from .chat import ChatModel as ChatModel
    from .chat import GatewayChat as GatewayChat
    from .embedding import Embedder as Embedder
    from .embedding import LocalMiniLM as LocalMiniLM
    from .embedding import make_embedder as make_embedder
    from .gateway import Gateway as Gateway
    from .openai_embedding import OpenAIEmbedder as OpenAIEmbedder
    from .streaming import ChatStream as ChatStream
    from .tools import Tool as Tool
    from .tools import tool_result as tool_result
    from .types import Attempt as Attempt
    from .types import CallContext as CallContext
    from .types import CallRecord as CallRecord
    from .types import ChatMessage as ChatMessage
    from .types import ChatRequest as ChatRequest
    from .types import ChatResult as ChatResult
    from .types import ToolCall as ToolCall
    from .types import Usage as Usage
