"""Any OpenAI-compatible `/embeddings` endpoint as an embedder (chosen by configuration:
models/embedding.make_embedder)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError
from ._vectors import normalise as _normalise


class OpenAIEmbedder:
    """Any OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama, llama.cpp, TEI...)."""

    def __init__(
        self, base_url: str, model: str, api_key: str = "", batch_size: int = 64, timeout_s: float = 30.0
    ) -> None:
        import httpx

        self.name = f"openai:{model}"
        self.model = model
        self.dim = 0  # learnt from the first response
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = base_url.rstrip("/") + "/embeddings"
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import httpx

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                resp = self._client.post(self._url, json={"model": self.model, "input": batch})
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                name = type(exc).__name__
                raise self._failed(f"is unreachable ({name})", f"unreachable: {name}: {exc}") from exc
            if resp.status_code != 200:
                code = resp.status_code
                raise self._failed(f"answered {code}", f"answered {code}: {resp.text[:200]}")
            try:
                data = sorted(resp.json()["data"], key=lambda d: d["index"])
                rows.extend(d["embedding"] for d in data)
            except (KeyError, TypeError, ValueError) as exc:
                raise self._failed("sent an unexpected body", f"sent an unexpected body: {exc}") from exc
            if len(data) != len(batch):
                raise self._failed(f"returned {len(data)} vectors for {len(batch)} texts")
        if not rows:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        arr = np.asarray(rows, dtype=np.float32)
        if not np.isfinite(arr).all():  # JSON NaN/Infinity parse: such a vector would poison every search
            raise self._failed("sent a vector with NaN or infinite values")
        self.dim = arr.shape[1]
        return _normalise(arr)

    def _failed(self, public: str, detail: str | None = None) -> ModelError:
        """Callers (a search's 502, an agent's tool result) read what failed; the server log reads
        where, the URL's credentials masked: as a chat model's failure (providers/base.failure)."""
        from .providers.base import log, scrubbed, shown_url

        error = ModelError(
            f"the embedding endpoint {public}",
            detail=f"embedding endpoint {shown_url(self._url)} {scrubbed(detail or public, self._url)}",
        )
        log.warning("%s", error.detail)
        return error
