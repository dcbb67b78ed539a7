"""Wire protocols behind one small contract (see base.Provider)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...errors import ProviderError
from .anthropic import AnthropicProvider
from .base import Delta, Provider, ProviderReply, StreamCancel, failure
from .openai import OpenAIProvider

if TYPE_CHECKING:
    from ...config import ModelSettings
    from ..types import ChatRequest

__all__ = ["AnthropicProvider", "Delta", "OpenAIProvider", "Provider", "ProviderReply", "StreamCancel", "make_provider"]


def make_provider(name: str, spec: ModelSettings) -> Provider:
    """The provider for [models.NAME]. A key variable that is not set makes the model fail with
    kind "auth" (so a route falls back to the next model) instead of failing the whole call."""
    key = ""
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env, "")
        if not key:
            return _Unusable(name, f"[models.{name}] api_key_env names ${spec.api_key_env}, which is not set")
    if spec.provider == "anthropic":
        return AnthropicProvider(name, spec.base_url, spec.model, key)
    if spec.provider == "local":
        from .local import LocalProvider

        return LocalProvider(name, spec.keep_alive_s)
    # tools = false: a server without tool support gets no `tools` (the gateway passes the model
    # over when tools are offered: _call.Call.candidates) and earlier calls and results as text
    return OpenAIProvider(name, spec.base_url, spec.model, key, json_mode=spec.json_mode, native_tool_turns=spec.tools)


class _Unusable:
    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    def _error(self) -> ProviderError:
        """Callers read that the key is missing; the log names the variable."""
        return failure(self.name, "auth", "not usable: its API key is not set", self.why)

    def complete(self, request: ChatRequest, timeout: float) -> ProviderReply:
        raise self._error()

    def stream(self, request: ChatRequest, timeout: float, cancel: Any = None) -> Iterator[Delta | ProviderReply]:
        raise self._error()
        yield  # pragma: no cover

    def close(self) -> None:
        pass
