"""Chat models behind one small protocol. The OpenAI-compatible wire protocol covers OpenAI,
vLLM, Ollama, llama.cpp and the local SmolLM2 server; the full gateway (routes, fallbacks,
retries, budgets) builds on this protocol."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Sequence

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:
    from ..config import ModelSettings, Settings


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(slots=True)
class ChatResult:
    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    raw: dict = field(default_factory=dict)


class ChatModel(Protocol):
    name: str

    def complete(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0, max_tokens: int = 512
    ) -> ChatResult: ...


class OpenAICompatibleChat:
    """POST {base_url}/chat/completions with httpx; errors become ModelError with the URL and status."""

    def __init__(self, name: str, base_url: str, model: str, api_key: str = "", timeout_s: float = 60.0) -> None:
        import httpx

        self.name = name
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def complete(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0, max_tokens: int = 512
    ) -> ChatResult:
        import httpx

        body = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        started = time.perf_counter()
        try:
            resp = self._client.post(self._url, json=body)
        except httpx.TimeoutException as exc:
            raise ModelError(f"model '{self.name}' at {self._url} timed out: {exc}") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ModelError(f"model '{self.name}' at {self._url} unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise ModelError(f"model '{self.name}' at {self._url} answered {resp.status_code}: {resp.text[:300]}")
        try:
            data = resp.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModelError(f"model '{self.name}' at {self._url} sent an unexpected body: {resp.text[:300]}") from exc
        usage = data.get("usage") or {}
        return ChatResult(
            text=text,
            model=self.name,
            input_tokens=int(usage.get("prompt_tokens", 0) or 0),
            output_tokens=int(usage.get("completion_tokens", 0) or 0),
            latency_ms=(time.perf_counter() - started) * 1000,
            raw=data,
        )


def make_chat_model(settings: Settings, name: str) -> ChatModel:
    """The chat model configured as [models.NAME]; its API key comes from the named variable."""
    spec: ModelSettings | None = settings.models.get(name)
    if spec is None:
        known = ", ".join(sorted(settings.models)) or "none"
        raise ConfigError(f"answer.model = '{name}' names no [models.{name}] section (configured: {known})")
    key = ""
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env, "")
        if not key:
            raise ConfigError(f"[models.{name}] api_key_env names ${spec.api_key_env}, which is not set")
    return OpenAICompatibleChat(name, spec.base_url, spec.model, key, spec.timeout_s)
